"""Run Python code in a child process under a real pseudo-terminal, type into it, read from it.

The tests of anything a terminal does (raw mode, echo, window size, SIGWINCH) go through this:
the child really has a controlling terminal (it is a session leader whose fds 0-2 are the pty
slave), and a resize here really makes the kernel send SIGWINCH to its foreground process group.

Typical use::

    with PtyChild("import os; print(os.get_terminal_size())") as p:
        p.expect(r"columns=70, lines=20")
        assert p.wait() == 0

Every blocking call takes a timeout (default: the one given to the constructor) and raises
``AssertionError`` with the tail of the cleaned transcript when it runs out, so a failing test
shows what the child printed instead of hanging.

``screen()`` needs the optional ``pyte`` package; everything else needs only ``pexpect``.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import termios
import time
from types import TracebackType
from typing import Any, Dict, List, Optional, Type, Union

import pexpect

try:
    import pyte
except ImportError:  # pragma: no cover - screen() explains what is missing
    pyte = None  # type: ignore[assignment]

_ANSI = re.compile(
    rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC ... BEL or ST (window titles)
    rb"|\x1b[P^_X].*?\x1b\\"  # DCS / PM / APC / SOS ... ST
    rb"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor motion, colours, modes (?1049h, ?2004h, ...)
    rb"|\x1b[ -/]*[0-~]"  # other escapes: ESC ( B, ESC =, ESC 7, ESC M, ...
    rb"|[\x00\x07]",  # NUL, a lone BEL
    re.DOTALL,
)
_CRLF = re.compile(rb"\r+\n")

# How long wait() lets one read block before checking again whether the child is still alive
# (a grandchild holding the pty open would otherwise hide the child's exit until the deadline).
_POLL = 0.05


def strip_ansi(data: Union[bytes, str]) -> str:
    """Drop terminal control sequences and turn line ends (``\\r\\n``, ``\\r\\r\\n``) into ``\\n``.

    ``\\r\\r\\n`` is what a line looks like after two ONLCR translations, e.g. a container's pty
    and then the local one.
    """
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return _CRLF.sub(b"\n", _ANSI.sub(b"", raw)).decode("utf-8", "replace")


class _Spawn(pexpect.spawn):  # type: ignore[misc]
    """``pexpect.spawn`` whose ``isalive()`` never blocks.

    On end of file pexpect sets ``flag_eof``, and ``ptyprocess.isalive()`` then calls a
    *blocking* ``waitpid()`` (an old Linux workaround). So ``expect(EOF)`` hangs, timeout or not,
    for as long as a child that has closed its terminal keeps running. ``WNOHANG`` reports
    zombies fine on Linux and macOS, so always use it; callers poll with a deadline.
    """

    def isalive(self) -> bool:
        eof = self.ptyproc.flag_eof
        self.ptyproc.flag_eof = False
        try:
            return bool(super().isalive())
        finally:
            self.ptyproc.flag_eof = eof


class _Recorder:
    """pexpect's ``logfile_read``: receives every chunk read from the pty exactly once.

    The screen is rendered on demand, not per chunk: pyte is pure Python, and rendering every
    byte of a test that never looks at the screen cost seconds per hundred KiB.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.screen: Any = None
        self.stream: Any = None
        self._rendered = 0

    def write(self, chunk: bytes) -> None:
        self.data += chunk

    def flush(self) -> None:
        pass

    def render(self) -> None:
        """Bring the screen up to everything read so far (before a resize, and to look)."""
        if self.stream is not None and self._rendered < len(self.data):
            self.stream.feed(bytes(self.data[self._rendered :]))
            self._rendered = len(self.data)


class PtyChild:
    """A child Python process running ``code`` under a real PTY of the given size.

    The child is ``[sys.executable, "-c", code]`` with the pty's default settings (echo on,
    canonical mode), the environment ``os.environ`` plus ``env``, and this checkout first on
    ``PYTHONPATH`` so it imports the working tree's ``threadpty``. ``proc`` is the underlying
    ``pexpect.spawn`` (bytes mode), for the odd thing this class does not wrap, e.g.
    ``proc.kill(signal.SIGINT)``; ``pid`` is the child's pid (also its session and process group).
    """

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
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, full_env.get("PYTHONPATH", "")) if p
        )
        self.timeout = timeout
        self._rec = _Recorder()
        if pyte is not None:
            self._rec.screen = pyte.Screen(cols, rows)
            self._rec.stream = pyte.ByteStream(self._rec.screen)
        self.proc: Any = _Spawn(
            sys.executable,
            ["-c", code],
            dimensions=(rows, cols),
            env=full_env,
            timeout=timeout,
            encoding=None,
            logfile=None,
        )
        self.proc.logfile_read = self._rec
        self.pid: int = self.proc.pid

    def __enter__(self) -> PtyChild:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    # -- input ---------------------------------------------------------------------------------

    def send(self, data: Union[str, bytes]) -> None:
        """Type raw bytes, e.g. ``"\\x10\\x11"`` for C-p C-q (str is UTF-8 encoded)."""
        self.proc.send(data.encode() if isinstance(data, str) else data)

    def sendline(self, line: Union[str, bytes] = "") -> None:
        """Type ``line`` and Enter: a carriage return, as a terminal sends (ICRNL makes it \\n)."""
        self.send((line.encode() if isinstance(line, str) else line) + b"\r")

    # -- output --------------------------------------------------------------------------------

    def _timeout(self, timeout: Optional[float]) -> float:
        return self.timeout if timeout is None else timeout

    def _failure(self, what: str) -> AssertionError:
        tail = self.transcript()[-2000:]
        return AssertionError(f"{what}; the child printed (cleaned, last 2000 chars):\n{tail}")

    def _expect(self, method: Any, wanted: Union[str, bytes], timeout: Optional[float]) -> bytes:
        raw = wanted.encode() if isinstance(wanted, str) else wanted
        limit = self._timeout(timeout)
        try:
            method(raw, timeout=limit)
        except pexpect.TIMEOUT:
            raise self._failure(f"{wanted!r} did not appear within {limit}s") from None
        except pexpect.EOF:
            raise self._failure(
                f"the child closed its terminal (exited?) before {wanted!r} appeared"
            ) from None
        return bytes(self.proc.before or b"") + bytes(self.proc.after or b"")

    def expect(self, pattern: Union[str, bytes], timeout: Optional[float] = None) -> bytes:
        """Wait for a regular expression (bytes regex on the raw output, ``re.DOTALL``).

        Returns the raw output since the previous match, up to and including this one.
        """
        return self._expect(self.proc.expect, pattern, timeout)

    def expect_exact(self, text: Union[str, bytes], timeout: Optional[float] = None) -> bytes:
        """Like ``expect`` but for a literal string."""
        return self._expect(self.proc.expect_exact, text, timeout)

    def transcript(self) -> str:
        """Everything read from the child so far, through ``strip_ansi``.

        Output is read only by ``expect*`` and ``wait``, which may read past their match.
        """
        return strip_ansi(bytes(self._rec.data))

    def screen(self) -> List[str]:
        """The terminal's screen as rendered by ``pyte``: ``rows`` lines, trailing blanks cut.

        Everything read so far, each piece at the size in force when it was read, so it is
        what a real terminal would show now.
        """
        if self._rec.screen is None:
            raise RuntimeError("PtyChild.screen() needs the 'pyte' package")
        self._rec.render()
        return [line.rstrip() for line in self._rec.screen.display]

    # -- terminal ------------------------------------------------------------------------------

    def resize(self, rows: int, cols: int) -> None:
        """Set the window size on the pty master.

        The kernel sends SIGWINCH to the foreground process group of the terminal (the child,
        unless it started another group) - but only if the size actually changes.
        """
        self.proc.setwinsize(rows, cols)
        if self._rec.screen is not None:
            self._rec.render()  # what came before the resize, at the size it came at
            self._rec.screen.resize(rows, cols)

    def termios_attrs(self) -> List[Any]:
        """``termios.tcgetattr`` of the child's terminal, read through the pty master.

        Found empirically and by the kernel source (Linux ``tty_mode_ioctl`` answers TCGETS on a
        pty master with the *slave's* termios, ``tty->link``): the master reports exactly what
        the child set on its side - ``tty.setraw(0)`` in the child clears ECHO/ICANON/ISIG, ICRNL
        and OPOST here, and restoring brings back attributes equal to the originals.

        It keeps working after the child has exited and closed the slave: the slave's termios
        live as long as the master is open, which ``wait()`` leaves open (only ``close()``
        closes it). So "did the child leave its terminal in raw mode?" is
        ``attrs_after_wait == attrs_before``. ``/proc/<pid>/fd/0`` would only work while the
        child lives, and having the child print ``stty -g`` only while it cooperates.

        Take the "before" reading after the child has printed something (Python is then past
        start-up and has not touched the terminal yet), not right after construction.
        Only verified on Linux; BSD and macOS ptys share one termios between both ends too.
        """
        if self.proc.closed:
            raise RuntimeError("termios_attrs() after close(): the pty is gone")
        return termios.tcgetattr(self.proc.child_fd)

    # -- end -----------------------------------------------------------------------------------

    def _status(self) -> int:
        if self.proc.exitstatus is not None:
            return int(self.proc.exitstatus)
        return -int(self.proc.signalstatus or 0)

    def wait(self, timeout: Optional[float] = None) -> int:
        """Read the child's output to the end, reap it, return its exit status.

        Returns the exit code, or ``-N`` when signal N killed it (like ``subprocess``). Reading
        all the while keeps the child from blocking on a full pty. On timeout the child is
        killed first, then ``AssertionError``. The master stays open for ``termios_attrs()``.
        """
        limit = self._timeout(timeout)
        deadline = time.monotonic() + limit
        if self.proc.closed:
            if self.proc.terminated:
                return self._status()
            raise RuntimeError("wait() after close() of a child never reaped")
        while not (self.proc.terminated and self.proc.flag_eof):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise self._failure(f"the child did not exit within {limit}s")
            if not self.proc.flag_eof:
                # Returns on EOF, and also soon after the child dies without one (a grandchild
                # still holding the pty): pexpect's read then finds it dead and reports EOF.
                try:
                    self.proc.expect(pexpect.EOF, timeout=min(_POLL, remaining))
                except pexpect.TIMEOUT:
                    pass
            elif self.proc.isalive():
                # The terminal is closed but the child still runs: poll for its exit.
                time.sleep(min(_POLL, remaining))
        return self._status()

    def close(self) -> None:
        """Kill the child's process group if it is alive, close the pty. Always safe."""
        if self.proc.closed:
            return
        if not self.proc.terminated and self.proc.isalive():
            for kill in (os.killpg, os.kill):
                try:
                    kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proc.ptyproc.delayafterclose = 0.01
        self.proc.close(force=True)


def settle_size(p: PtyChild, rows: int, cols: int, tries: int = 40) -> None:
    """Type `stty size` into the shell in ``p`` until it reports rows x cols.

    A size reaches the container asynchronously (signal, coordinator thread, API call), so a
    test asks until the answer is right instead of sleeping.
    """
    want = f"{rows} {cols}".encode()
    for _ in range(tries):
        p.sendline("stty size")
        # busybox's stty has been seen failing once while a resize landed: ask again then.
        if want in p.expect(rb"\r+\n(?:\d+ \d+|stty: [^\r\n]*)\r+\n"):
            return
    raise AssertionError(f"the size never became {rows} {cols}")
