"""What this platform offers for terminals, decided once at import.

threadpty must import everywhere: on Windows there is no termios, fcntl, tty or SIGWINCH. The
environment variable ``THREADPTY_FALLBACK=1`` forces the degraded mode on POSIX too, so that the
path Windows takes is tested on every machine.
"""

from __future__ import annotations

import os
import signal
import sys
from types import ModuleType
from typing import Optional


def _try_import(name: str) -> Optional[ModuleType]:
    try:
        return __import__(name)
    except ImportError:
        return None


termios = _try_import("termios")
fcntl = _try_import("fcntl")
IS_WINDOWS = sys.platform == "win32"


def forced_fallback() -> bool:
    """True when the caller asked for the degraded (Windows-like) mode on a POSIX machine."""
    return os.environ.get("THREADPTY_FALLBACK", "") not in ("", "0")


def have_termios() -> bool:
    return termios is not None and not forced_fallback()


def have_fcntl() -> bool:
    return fcntl is not None and not forced_fallback()


def have_sigwinch() -> bool:
    return hasattr(signal, "SIGWINCH") and not forced_fallback()
