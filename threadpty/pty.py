"""dockerpty's ``PseudoTerminal`` and ``WINCHHandler``, as thin layers over the core."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Optional, Tuple, Type

from . import _docker, io, tty
from ._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from ._resize import Resizer
from .operations import ExecOperation, RunOperation, _Streams, exec_create
from .session import Session, run_to_end
from .target import Channel
from .tty import size as tty_size

# dockerpty.pty's names, so that ``from dockerpty.pty import RunOperation`` (docker-compose) and
# friends work with this module in its place.
Operation = _Streams

__all__ = [
    "ExecOperation",
    "Operation",
    "PseudoTerminal",
    "RunOperation",
    "WINCHHandler",
    "exec_command",
    "exec_create",
    "io",
    "start",
    "start_exec",
    "tty",
]


class WINCHHandler:
    """Calls ``pty.resize()`` whenever the window size changes, while in use.

    dockerpty installed a SIGWINCH handler per instance and resized inside it. This one drives a
    :class:`~threadpty._resize.Resizer` fed by threadpty's process-wide dispatcher (or polling,
    off the main thread or without SIGWINCH), on a thread of its own, ``threadpty-winch``, so it
    works from any thread and costs few calls while a window is dragged.
    """

    def __init__(self, pty: Any) -> None:
        self.pty = pty
        self.original_handler: Any = None
        self._resizer: Optional[Resizer] = None

    def __enter__(self) -> "WINCHHandler":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Follow the terminal's size on the ``threadpty-winch`` thread (SIGWINCH, or a poll)."""
        if self._resizer is not None:
            return
        stdout = getattr(getattr(self.pty, "operation", None), "stdout", None)
        self._resizer = Resizer(
            "threadpty-winch",
            lambda rows, cols: self.pty.resize((rows, cols)),
            lambda: False,
            terminal_size=lambda: tty_size(stdout),
        )
        self._resizer.follow()

    def stop(self) -> None:
        """Stop following the size, and wait for the thread (unless called from it)."""
        resizer, self._resizer = self._resizer, None
        if resizer is None:
            return
        resizer.stop()
        if resizer.thread is not threading.current_thread():
            resizer.thread.join()


class PseudoTerminal:
    """Wraps the pseudo-terminal of an operation (``RunOperation`` or ``ExecOperation``).

    ``detach_keys`` (Docker's syntax, e.g. ``"ctrl-x,x"``) overrides the operation's.
    """

    def __init__(self, client: Any, operation: Any, detach_keys: Optional[str] = None) -> None:
        if detach_keys is not None:
            parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
        self.client = _docker.api_client(client)
        self.operation = operation
        self.detach_keys = detach_keys

    def sockets(self) -> Channel:
        """Open the operation's connection, so that the caller can start the container after."""
        return self.operation.sockets()  # type: ignore[no-any-return]

    def start(self, sockets: Optional[Channel] = None) -> Optional[int]:
        """Run the session until it ends; return the exit status (None after a detach)."""
        # The operation carries its streams: they are the session's.
        carried = getattr(self.operation, "session_options", None)
        options = dict(carried()) if carried is not None else {}
        if self.detach_keys is not None:
            options["detach_keys"] = self.detach_keys
        session = Session(self.operation, sockets=sockets, **options)
        return run_to_end(session)

    def resize(self, size: Optional[Tuple[int, int]] = None) -> None:
        """Resize the container's TTY to ``size`` (rows, cols), by default the terminal's."""
        if not self.operation.israw():
            return
        size = size or tty_size(self.operation.stdout)
        if size is not None:
            rows, cols = size
            try:
                self.operation.resize(height=rows, width=cols)
            except OSError:
                pass


# dockerpty's module-level functions.


def start(
    client: Any,
    container: Any,
    interactive: bool = True,
    stdout: Any = None,
    stderr: Any = None,
    stdin: Any = None,
    logs: Any = None,
    *,
    detach_keys: Optional[str] = None,
) -> Optional[int]:
    """Present the PTY of ``container`` inside this process, starting it if needed.

    Blocks until the container's output ends or the user detaches; returns the container's exit
    status, or None after a detach.
    """
    operation = RunOperation(
        client, container, interactive, stdout, stderr, stdin, logs, detach_keys=detach_keys
    )
    return PseudoTerminal(client, operation).start()


def exec_command(
    client: Any,
    container: Any,
    command: Any,
    interactive: bool = True,
    stdout: Any = None,
    stderr: Any = None,
    stdin: Any = None,
    *,
    detach_keys: Optional[str] = None,
) -> Optional[int]:
    """Run ``command`` in ``container`` through the exec API; return its exit code."""
    exec_id = exec_create(client, container, command, interactive, detach_keys=detach_keys)
    return start_exec(client, exec_id, interactive, stdout, stderr, stdin, detach_keys=detach_keys)


def start_exec(
    client: Any,
    exec_id: Any,
    interactive: bool = True,
    stdout: Any = None,
    stderr: Any = None,
    stdin: Any = None,
    *,
    detach_keys: Optional[str] = None,
) -> Optional[int]:
    """Start the exec ``exec_id`` (made with :func:`exec_create`); return its exit code."""
    operation = ExecOperation(
        client, exec_id, interactive, stdout, stderr, stdin, detach_keys=detach_keys
    )
    return PseudoTerminal(client, operation).start()
