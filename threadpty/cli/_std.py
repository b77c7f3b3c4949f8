"""The command's standard streams, its one-line messages and its log format."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict


class Std:
    """The standard streams to use: a closed one (``>&-``) reads as empty or swallows writes.

    Python makes ``sys.stdout`` None when descriptor 1 is closed at start. The descriptor is given
    ``/dev/null`` at once, so that nothing opened later (the engine's socket) lands on 0, 1 or 2.
    """

    inp: Any = sys.stdin
    out: Any = sys.stdout
    err: Any = sys.stderr
    replaced = (False, False, False)

    @classmethod
    def setup(cls) -> None:
        replaced = []
        for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
            try:
                os.fstat(fd)
                replaced.append(False)
                continue
            except OSError:
                pass
            new = os.open(os.devnull, flags)
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
            replaced.append(True)
        cls.replaced = (replaced[0], replaced[1], replaced[2])
        cls.inp = sys.stdin if sys.stdin is not None else open(0, "rb", closefd=False)
        cls.out = sys.stdout if sys.stdout is not None else open(1, "wb", closefd=False)
        cls.err = sys.stderr if sys.stderr is not None else open(2, "w", closefd=False)


def replaced_streams() -> Dict[str, Any]:
    """Only the streams that stand in for closed ones: the rest are the library's defaults."""
    names = ("stdin", "stdout", "stderr")
    given = (Std.inp, Std.out, Std.err)
    return {n: s for n, s, r in zip(names, given, Std.replaced) if r}


class OnePrefix(logging.Formatter):
    """``threadpty: message``, once, also for a message that already starts with it."""

    PREFIX = "threadpty: "

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if text.startswith(self.PREFIX) else self.PREFIX + text


def say(message: str) -> None:
    try:
        Std.err.write(message + "\n")
        Std.err.flush()
    except (OSError, ValueError):
        pass


def flush() -> None:
    for stream in (Std.out, Std.err):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def silence_stdout() -> None:
    try:
        Std.out.flush()
    except (BrokenPipeError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
