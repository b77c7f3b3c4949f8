"""threadpty: the pseudo-terminal of a Docker container or exec, inside this process.

dockerpty's API, name for name, on a thread-per-stream engine: ``import threadpty as dockerpty``
is enough to move. New code can use :class:`Session` for exit codes, detach, and streams that are
Python objects.
"""

from __future__ import annotations

from typing import Any, Optional

from ._winch import sigwinch
from .errors import EngineError, ProtocolError, ThreadptyError
from .io import Demuxer, Pump, Stream, select, set_blocking
from .operations import ExecOperation, RunOperation, exec_create
from .pty import PseudoTerminal, WINCHHandler
from .session import Session
from .tty import Terminal, size

__version__ = "0.1.0"

__all__ = [
    "Demuxer",
    "EngineError",
    "ExecOperation",
    "ProtocolError",
    "PseudoTerminal",
    "Pump",
    "RunOperation",
    "Session",
    "Stream",
    "Terminal",
    "ThreadptyError",
    "WINCHHandler",
    "exec_command",
    "exec_create",
    "select",
    "set_blocking",
    "sigwinch",
    "size",
    "start",
    "start_exec",
]


def start(
    client: Any,
    container: Any,
    interactive: bool = True,
    stdout: Any = None,
    stderr: Any = None,
    stdin: Any = None,
    logs: Any = None,
) -> Optional[int]:
    """Present the PTY of ``container`` inside this process, starting it if needed.

    Blocks until the container's output ends or the user detaches; returns the container's exit
    status, or None after a detach.
    """
    operation = RunOperation(client, container, interactive, stdout, stderr, stdin, logs)
    return PseudoTerminal(client, operation).start()


def exec_command(
    client: Any,
    container: Any,
    command: Any,
    interactive: bool = True,
    stdout: Any = None,
    stderr: Any = None,
    stdin: Any = None,
) -> Optional[int]:
    """Run ``command`` in ``container`` through the exec API; return its exit code."""
    exec_id = exec_create(client, container, command, interactive=interactive)
    return start_exec(client, exec_id, interactive, stdout, stderr, stdin)


def start_exec(
    client: Any,
    exec_id: Any,
    interactive: bool = True,
    stdout: Any = None,
    stderr: Any = None,
    stdin: Any = None,
) -> Optional[int]:
    """Start the exec ``exec_id`` (made with :func:`exec_create`); return its exit code."""
    operation = ExecOperation(client, exec_id, interactive, stdout, stderr, stdin)
    return PseudoTerminal(client, operation).start()
