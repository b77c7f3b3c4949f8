"""Raw mode for a Windows console through ctypes (Python has no console-mode API).

Read-modify-write of the console modes, restored to exactly what was saved. A handle that is not a
console (mintty and other pipe-based terminals) gets no raw mode; that is not an error.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Tuple

ENABLE_PROCESSED_INPUT = 0x0001
ENABLE_LINE_INPUT = 0x0002
ENABLE_ECHO_INPUT = 0x0004
ENABLE_WINDOW_INPUT = 0x0008
ENABLE_MOUSE_INPUT = 0x0010
ENABLE_INSERT_MODE = 0x0020
ENABLE_QUICK_EDIT_MODE = 0x0040
ENABLE_EXTENDED_FLAGS = 0x0080
ENABLE_VIRTUAL_TERMINAL_INPUT = 0x0200
ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004
DISABLE_NEWLINE_AUTO_RETURN = 0x0008


def _kernel32() -> Any:
    if sys.platform != "win32":
        return None
    import ctypes

    return ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]


def _handle(fd: int) -> Any:
    import msvcrt

    return msvcrt.get_osfhandle(fd)  # type: ignore[attr-defined]


def _get_mode(k32: Any, handle: Any) -> Optional[int]:
    import ctypes

    mode = ctypes.c_uint32()
    if not k32.GetConsoleMode(handle, ctypes.byref(mode)):
        return None
    return int(mode.value)


def make_raw(in_fd: Optional[int], out_fd: Optional[int]) -> Optional[Tuple[Any, ...]]:
    """Put the console in raw, VT mode; return what ``restore`` needs, or None if not a console."""
    k32 = _kernel32()
    if k32 is None:
        return None
    saved = []
    if in_fd is not None:
        h = _handle(in_fd)
        mode = _get_mode(k32, h)
        if mode is not None:
            new = mode & ~(
                ENABLE_ECHO_INPUT
                | ENABLE_LINE_INPUT
                | ENABLE_MOUSE_INPUT
                | ENABLE_WINDOW_INPUT
                | ENABLE_PROCESSED_INPUT
            )
            new |= ENABLE_EXTENDED_FLAGS | ENABLE_INSERT_MODE | ENABLE_QUICK_EDIT_MODE
            if not k32.SetConsoleMode(h, new | ENABLE_VIRTUAL_TERMINAL_INPUT):
                k32.SetConsoleMode(h, new)  # consoles older than Windows 10 lack VT input
            saved.append((h, mode))
    if out_fd is not None:
        h = _handle(out_fd)
        mode = _get_mode(k32, h)
        if mode is not None:
            k32.SetConsoleMode(
                h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING | DISABLE_NEWLINE_AUTO_RETURN
            )
            saved.append((h, mode))
    return tuple(saved) or None


def restore(saved: Tuple[Any, ...]) -> None:
    k32 = _kernel32()
    if k32 is None:
        return
    for handle, mode in saved:
        k32.SetConsoleMode(handle, mode)


WAIT_OBJECT_0 = 0


def is_console(fd: int) -> bool:
    k32 = _kernel32()
    return k32 is not None and _get_mode(k32, _handle(fd)) is not None


def wait_input(fd: int, timeout_ms: int) -> bool:
    """Wait up to ``timeout_ms`` for console input on ``fd``; True when there is some."""
    k32 = _kernel32()
    return bool(k32.WaitForSingleObject(_handle(fd), timeout_ms) == WAIT_OBJECT_0)
