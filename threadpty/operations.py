"""What a session attaches to: a container (``RunOperation``) or an exec (``ExecOperation``).

An operation validates everything against the engine when it is made, before any terminal is
touched, and knows how to open the one hijacked connection, start what needs starting, resize, and
find the exit status afterwards. dockerpty's ``israw``, ``sockets``, ``start`` and ``resize`` keep
their interface.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, List, Optional, Union

from . import _docker
from ._connection import Connection, open_attach, open_exec
from ._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from ._streams import isatty
from .errors import EngineError, ThreadptyError
from .io import Demuxer, Pump, Stream

# How long to wait for an exec to report that it is no longer running, once its output ended.
EXEC_EXIT_WAIT = 10.0


class _Operation:
    """What run and exec have in common."""

    client: Any
    interactive: bool
    stdin: Any
    stdout: Any
    stderr: Any
    detach_keys: Optional[str]
    tty: bool
    stdin_open: bool
    name: str

    def _init_streams(
        self,
        client: Any,
        interactive: bool,
        stdout: Any,
        stderr: Any,
        stdin: Any,
        detach_keys: Optional[str],
    ) -> None:
        self.client = _docker.api_client(client)
        self.interactive = bool(interactive)
        self._stdin_given = stdin is not None
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        # Checked now, so a bad sequence fails before anything is started.
        self.detach_bytes = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
        self.detach_keys = detach_keys

    def _check_stdin(self, what: str) -> None:
        if self.interactive and self._stdin_given and not self.stdin_open:
            raise ThreadptyError(
                f"{what} was created without stdin open, so it cannot take the input given; "
                "create it with stdin_open=True (exec: stdin=True), or pass interactive=False"
            )

    # Whether the end of our input may be passed on by half-closing the connection. The engine
    # closes the container's stdin on it only without a TTY (and, for a run, with StdinOnce);
    # in every other case it ends the *output* instead, and what the container prints after that
    # would be lost (moby/moby#38457). There the input simply stops and the output goes on.
    half_close_at_eof = False

    @property
    def takes_input(self) -> bool:
        """Whether the session sends input: asked for, and the container/exec has stdin open."""
        return self.interactive and self.stdin_open and self.stdin is not None

    def israw(self) -> bool:
        """True when the terminal should be raw: stdout is a terminal and there is a TTY."""
        return isatty(self.stdout) and self.tty

    def _pumps(self, conn: Connection) -> List[Pump]:
        stream = Stream(conn)
        out: List[Pump] = []
        if self.takes_input:
            out.append(Pump(Stream(self.stdin), stream, wait_for_output=False))
        if self.tty:
            out.append(Pump(stream, Stream(self.stdout), propagate_close=False))
        else:
            out.append(Pump(Demuxer(stream), Stream(self.stdout), propagate_close=False))
        return out

    def sockets(self) -> Connection:
        """Open the one connection that carries stdin, stdout and stderr.

        For an exec this also starts it: an exec starts as it is attached.
        """
        return self.connect()

    # Used by Session; each subclass fills them in.
    def connect(self) -> Connection:
        raise NotImplementedError

    def begin(self) -> None:
        """Start whatever must run once the connection is open."""

    def exit_code(self) -> Optional[int]:
        raise NotImplementedError

    def is_gone(self) -> bool:
        raise NotImplementedError

    redraw = False

    def resize(self, height: int, width: int, **kwargs: Any) -> None:
        raise NotImplementedError


class RunOperation(_Operation):
    """``docker run -it`` / ``docker attach``: attach to a container, starting it if needed.

    ``container`` is an id, a name, the dict ``create_container`` returns, or a ``Container``.
    ``logs`` replays the container's earlier output before the live stream; None (the default)
    means no replay, as ``docker attach`` and ``docker start -a`` do.
    """

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
        self._init_streams(client, interactive, stdout, stderr, stdin, detach_keys)
        self.container = _docker.container_id(container)
        self.logs = logs
        info = self.client.inspect_container(self.container)
        self.container = info["Id"]
        self.name = self.container[:12]
        config = info.get("Config") or {}
        self.tty = bool(config.get("Tty"))
        self.stdin_open = bool(config.get("OpenStdin"))
        self.half_close_at_eof = not self.tty and bool(config.get("StdinOnce"))
        state = info.get("State") or {}
        self._running = bool(state.get("Running"))
        self._started_at = state.get("StartedAt")
        log_config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        self._log_driver = log_config.get("Type") or ""
        self._check_stdin(f"container {self.name}")
        self.redraw = self._running and self.tty

    def connect(self) -> Connection:
        params: Dict[str, Any] = {
            "stdin": 1 if self.takes_input else 0,
            "stdout": 1,
            "stderr": 1,
            "stream": 1,
            # The none driver keeps no logs, and asking for them makes the attach fail.
            "logs": 1 if self.logs and self._log_driver != "none" else 0,
        }
        if self.detach_keys:
            params["detachKeys"] = self.detach_keys
        return open_attach(self.client, self.container, params)

    def start(self, sockets: Optional[Connection] = None) -> List[Pump]:
        """Attach (unless ``sockets`` is given), start the container if needed, return pumps."""
        conn = sockets if sockets is not None else self.connect()
        self.begin()
        return self._pumps(conn)

    def begin(self) -> None:
        if self._running:
            return
        # The caller may have started it since this operation was made: dockerpty's documented
        # order (``sockets()``, start the container yourself, ``start(sockets)``) is what
        # docker-compose does. A short container may have ended already, so "not running" is not
        # enough; a StartedAt that moved is. Starting one that runs is harmless (the engine: 304).
        state = self.client.inspect_container(self.container).get("State") or {}
        if not state.get("Running") and state.get("StartedAt") == self._started_at:
            self.client.start(self.container)
        self._running = True

    def resize(self, height: int, width: int, **kwargs: Any) -> None:
        self.client.resize(self.container, height=height, width=width)

    def exit_code(self) -> Optional[int]:
        import docker.errors

        try:
            return int(self.client.wait(self.container)["StatusCode"])
        except docker.errors.NotFound:
            return None  # removed as it ended (auto-remove): the status is gone with it

    def is_gone(self) -> bool:
        try:
            info = self.client.inspect_container(self.container)
        except Exception:  # noqa: BLE001 - any failure here means we cannot resize it either
            return True
        return not (info.get("State") or {}).get("Running")


class ExecOperation(_Operation):
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
        _created: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._init_streams(client, interactive, stdout, stderr, stdin, detach_keys)
        self.exec_id = _docker.exec_id(exec_id)
        # An exec the caller has just created is known already: no inspect round trip.
        info = _created if _created is not None else self.client.exec_inspect(self.exec_id)
        self.name = self.exec_id[:12]
        self.container = info.get("ContainerID", "")
        self.tty = bool((info.get("ProcessConfig") or {}).get("tty"))
        self.stdin_open = bool(info.get("OpenStdin"))
        self.half_close_at_eof = not self.tty
        if info.get("Running") or info.get("Pid") or info.get("ExitCode") is not None:
            raise ThreadptyError(f"exec {self.name} has already been started; create a new one")
        self._check_stdin(f"exec {self.name}")

    def connect(self) -> Connection:
        return open_exec(self.client, self.exec_id, self.tty)

    def is_process_tty(self) -> bool:
        """Whether the exec was created with a TTY (dockerpty's name for it)."""
        return self.tty

    def start(self, sockets: Optional[Connection] = None) -> List[Pump]:
        conn = sockets if sockets is not None else self.connect()
        return self._pumps(conn)

    def resize(self, height: int, width: int, **kwargs: Any) -> None:
        self.client.exec_resize(self.exec_id, height=height, width=width)

    def _inspect(self) -> Dict[str, Any]:
        return dict(self.client.exec_inspect(self.exec_id))

    def exit_code(self) -> Optional[int]:
        # The output can end a moment before the engine records the exit.
        import docker.errors

        deadline = time.monotonic() + EXEC_EXIT_WAIT
        delay = 0.005
        while True:
            try:
                info = self._inspect()
            except docker.errors.NotFound as exc:
                raise EngineError(
                    f"exec {self.name} vanished before its exit status was known "
                    "(did the engine restart?)"
                ) from exc
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            if time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def is_gone(self) -> bool:
        try:
            return not self._inspect().get("Running")
        except Exception:  # noqa: BLE001
            return True


def exec_create(client: Any, container: Any, command: Any, interactive: bool = True) -> Any:
    """Create an exec of ``command`` in ``container`` (a TTY and stdin when ``interactive``)."""
    api = _docker.api_client(client)
    return api.exec_create(
        _docker.container_id(container), command, tty=interactive, stdin=interactive
    )
