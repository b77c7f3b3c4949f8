"""threadpty: the pseudo-terminal of a Docker container or exec, inside this process.

dockerpty's API, name for name, on a thread-per-stream engine: ``import threadpty as dockerpty``
is enough to move. New code uses :class:`Session`: exit codes, detach, ``PIPE`` streams and
callables as with ``subprocess``, ``resize`` from any thread.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._pipes import PIPE, STDOUT
from ._winch import sigwinch
from .errors import EngineError, ProtocolError, ThreadptyError
from .session import Session, State
from .target import Channel, ContainerTarget, ExecTarget, Target
from .tty import Terminal, size

if TYPE_CHECKING:
    from .io import Demuxer, Pump, Stream, select, set_blocking
    from .operations import ExecOperation, RunOperation, exec_create
    from .pty import PseudoTerminal, WINCHHandler, exec_command, start, start_exec

# dockerpty's names live in the compatibility modules, imported only when first used: the core
# (``Session`` and what it needs) never loads them.
_COMPAT = {
    "Demuxer": "io",
    "Pump": "io",
    "Stream": "io",
    "select": "io",
    "set_blocking": "io",
    "ExecOperation": "operations",
    "RunOperation": "operations",
    "exec_create": "operations",
    "PseudoTerminal": "pty",
    "WINCHHandler": "pty",
    "exec_command": "pty",
    "start": "pty",
    "start_exec": "pty",
}

__version__ = "0.1.0"

# A library's warnings (a size the engine refused, say) are for the program's logging set-up to
# show or not; without a handler Python would print them on the program's stderr.
logging.getLogger("threadpty").addHandler(logging.NullHandler())

__all__ = [
    "PIPE",
    "STDOUT",
    "Channel",
    "ContainerTarget",
    "Demuxer",
    "EngineError",
    "ExecOperation",
    "ExecTarget",
    "ProtocolError",
    "PseudoTerminal",
    "Pump",
    "RunOperation",
    "Session",
    "State",
    "Stream",
    "Target",
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


def __getattr__(name: str) -> Any:
    module = _COMPAT.get(name)
    if module is None:
        raise AttributeError(f"module 'threadpty' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_COMPAT))
