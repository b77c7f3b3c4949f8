"""Run Python code in a child process under a real pseudo-terminal, type into it, read from it.

The tests of anything a terminal does (raw mode, echo, window size, SIGWINCH) go through this:
the child really has a controlling terminal, and a resize here really makes the kernel send it
SIGWINCH.
"""

from __future__ import annotations

import os
import re
import sys
from types import TracebackType
from typing import Dict, Optional, Type, Union

import pexpect

_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|\x1b\][^\x07]*\x07")


def strip_ansi(data: Union[bytes, str]) -> str:
    """Drop terminal control sequences and turn ``\\r\\n`` into ``\\n``."""
    raw = data.encode() if isinstance(data, str) else data
    return _ANSI.sub(b"", raw).replace(b"\r\n", b"\n").decode("utf-8", "replace")


class PtyChild:
    """A child Python process running ``code`` under a real PTY of the given size."""

    def __init__(
        self,
        code: str,
        rows: int = 20,
        cols: int = 70,
        env: Optional[Dict[str, str]] = None,
        timeout: float = 30.0,
    ) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        # The child imports threadpty from this checkout, whatever the working directory.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, full_env.get("PYTHONPATH", "")) if p
        )
        self.timeout = timeout
        self._log = bytearray()
        self.proc = pexpect.spawn(
            sys.executable,
            ["-c", code],
            dimensions=(rows, cols),
            env=full_env,
            timeout=timeout,
            encoding=None,
        )

    def __enter__(self) -> "PtyChild":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def send(self, data: Union[str, bytes]) -> None:
        self.proc.send(data.encode() if isinstance(data, str) else data)

    def sendline(self, line: str) -> None:
        """Type ``line`` and Enter (a terminal sends a carriage return)."""
        self.send(line + "\r")

    def _take(self) -> bytes:
        got = (self.proc.before or b"") + (
            self.proc.after if isinstance(self.proc.after, bytes) else b""
        )
        self._log += got
        return got

    def _fail(self, what: str) -> AssertionError:
        self._log += self.proc.before or b""
        tail = strip_ansi(bytes(self._log))[-2000:]
        return AssertionError(f"{what} did not appear; the child printed:\n{tail}")

    def expect(self, pattern: Union[str, bytes], timeout: Optional[float] = None) -> bytes:
        """Wait for a regular expression; return the output up to and including it."""
        pat = pattern.encode() if isinstance(pattern, str) else pattern
        try:
            self.proc.expect(pat, timeout=timeout or self.timeout)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise self._fail(repr(pattern)) from None
        return self._take()

    def expect_exact(self, text: Union[str, bytes], timeout: Optional[float] = None) -> bytes:
        raw = text.encode() if isinstance(text, str) else text
        try:
            self.proc.expect_exact(raw, timeout=timeout or self.timeout)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise self._fail(repr(text)) from None
        return self._take()

    def resize(self, rows: int, cols: int) -> None:
        """Set the window size; the kernel sends SIGWINCH to the child's process group."""
        self.proc.setwinsize(rows, cols)

    def wait(self, timeout: Optional[float] = None) -> int:
        """Read to the end of the child's output and return its exit status."""
        try:
            self.proc.expect(pexpect.EOF, timeout=timeout or self.timeout)
        except pexpect.TIMEOUT:
            self.close()
            raise self._fail("the end of the child") from None
        self._log += self.proc.before or b""
        self.proc.close()
        status = self.proc.exitstatus
        if status is None:
            return -(self.proc.signalstatus or 0)
        return int(status)

    def transcript(self) -> str:
        return strip_ansi(bytes(self._log))

    def close(self) -> None:
        if self.proc.isalive():
            self.proc.terminate(force=True)
        self.proc.close(force=True)
