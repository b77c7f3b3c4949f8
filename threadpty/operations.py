"""dockerpty's operations: ``RunOperation``, ``ExecOperation`` and ``exec_create`` (compatibility).

Each is a core :mod:`~threadpty.target` that also carries dockerpty's streams and methods
(``israw``, ``sockets``, ``start``, ``resize``). :class:`~threadpty.pty.PseudoTerminal` runs a
session with those streams; a :class:`~threadpty.Session` made from one directly takes the
streams it is given, like any target's (``Session(op, **op.session_options())`` takes the
operation's).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Union

from . import _docker
from ._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from ._streams import isatty
from .io import Demuxer, Pump, Stream
from .target import Channel, ContainerTarget, ExecTarget


class _Streams:
    """The streams and detach keys a dockerpty operation is made with."""

    interactive: bool
    stdin: Any
    stdout: Any
    stderr: Any
    detach_keys: Optional[str]
    tty: bool
    stdin_open: bool

    def _init_streams(
        self, interactive: bool, stdout: Any, stderr: Any, stdin: Any, detach_keys: Optional[str]
    ) -> None:
        self.interactive = bool(interactive)
        self._given = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        # Checked now, so a bad sequence fails before anything is started.
        self.detach_bytes = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
        self.detach_keys = detach_keys

    def session_options(self) -> Dict[str, Any]:
        """The streams and detach keys of this operation, as ``Session`` options."""
        return {"interactive": self.interactive, "detach_keys": self.detach_keys, **self._given}

    @property
    def takes_input(self) -> bool:
        return self.interactive and self.stdin_open and self.stdin is not None

    def israw(self) -> bool:
        """True when the terminal should be raw: stdout is a terminal and there is a TTY."""
        return isatty(self.stdout) and self.tty

    def _pumps(self, conn: Channel) -> List[Pump]:
        stream = Stream(conn)
        out: List[Pump] = []
        if self.takes_input:
            out.append(Pump(Stream(self.stdin), stream, wait_for_output=False))
        source = stream if self.tty else Demuxer(stream)
        out.append(Pump(source, Stream(self.stdout), propagate_close=False))
        return out


class RunOperation(_Streams, ContainerTarget):
    """``docker run -it`` / ``docker attach``: attach to a container, starting it if needed."""

    def __init__(
        self,
        client: Any,
        container: Any,
        interactive: bool = True,
        stdout: Any = None,
        stderr: Any = None,
        stdin: Any = None,
        logs: Optional[Union[bool, int]] = None,
        *,
        detach_keys: Optional[str] = None,
    ) -> None:
        self._init_streams(interactive, stdout, stderr, stdin, detach_keys)
        ContainerTarget.__init__(self, client, container, logs=logs)

    def sockets(self) -> Channel:
        """Open the one connection that carries stdin, stdout and stderr."""
        return self.connect(self.takes_input, self.detach_keys)

    def start(self, sockets: Optional[Channel] = None) -> List[Pump]:
        """Attach (unless ``sockets`` is given), start the container if needed, return pumps."""
        conn = sockets if sockets is not None else self.sockets()
        self.begin()
        return self._pumps(conn)

    def resize(self, height: int, width: int, **kwargs: Any) -> None:
        """Resize the container's TTY (dockerpty's extra keyword arguments are ignored)."""
        ContainerTarget.resize(self, height, width)


class ExecOperation(_Streams, ExecTarget):
    """``docker exec``: start an exec created earlier and attach to it.

    ``exec_id`` is the id or the dict ``exec_create`` returns; the exec must not have been started.
    """

    def __init__(
        self,
        client: Any,
        exec_id: Any,
        interactive: bool = True,
        stdout: Any = None,
        stderr: Any = None,
        stdin: Any = None,
        *,
        detach_keys: Optional[str] = None,
    ) -> None:
        self._init_streams(interactive, stdout, stderr, stdin, detach_keys)
        ExecTarget.__init__(self, client, exec_id)

    def sockets(self) -> Channel:
        """Open the connection; for an exec this also starts it."""
        return self.connect(self.takes_input, self.detach_keys)

    def start(self, sockets: Optional[Channel] = None) -> List[Pump]:
        """Start the exec (unless ``sockets`` is given) and return the pumps, as dockerpty did."""
        conn = sockets if sockets is not None else self.sockets()
        return self._pumps(conn)

    def resize(self, height: int, width: int, **kwargs: Any) -> None:
        """Resize the exec's TTY (dockerpty's extra keyword arguments are ignored)."""
        ExecTarget.resize(self, height, width)

    def is_process_tty(self) -> bool:
        """Whether the exec was created with a TTY."""
        return self.tty


def exec_create(
    client: Any,
    container: Any,
    command: Any,
    interactive: bool = True,
    *,
    detach_keys: Optional[str] = None,
) -> Any:
    """Create an exec of ``command`` in ``container`` (a TTY and stdin when ``interactive``)."""
    parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    api = _docker.api_client(client)
    return _docker.call(
        api.exec_create,
        _docker.container_id(container),
        command,
        tty=interactive,
        stdin=interactive,
        detach_keys=detach_keys,
    )
