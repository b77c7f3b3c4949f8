"""One container terminal for a browser tab: bytes in, a callable for bytes out, a size.

Built on threadpty's targets (:mod:`threadpty.target`) rather than :class:`threadpty.Session`,
because a tab needs less and pays for every thread and buffer it has: one thread of its own, the
output thread, which reads the engine's connection and hands each chunk to ``on_output`` (the
page's socket) and, after a natural end, the exit status to ``on_over``. Input, resizes and the
end are the caller's thread's (the tab's connection thread): ``write`` sends straight to the
engine, ``resize`` makes the API call there and then (a resize is applied before the input that
follows it, as on a local terminal). The exec (or, for ``--run``, the container) starts at the size
the browser asked for: with the start where the engine takes it, else applied as soon as the
process runs, before any input is sent.
"""

from __future__ import annotations

import logging
import mmap
import secrets
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from threadpty._docker import call
from threadpty.target import Channel, ContainerTarget, ExecTarget

from ._recordings import TabRecording

log = logging.getLogger("threadpty.web")

# Set in the environment of every exec we start, so that the exec can be found and hung up when
# its tab goes: the engine has no call that ends an exec, and closing (or half-closing) the exec's
# connection leaves the process running (seen with the engine here: the shell stays).
MARK = "THREADPTY_WEB_SESSION"

# Run in the container, as a separate exec, to hang up the processes carrying any of the marks
# given as arguments: what the kernel would do when a real terminal closes. One grep reads every
# process's environment (a shell loop forking per process made 50 hang-ups at once take minutes on
# a loaded machine); the loop is the fallback for a grep without -z, found by asking grep itself
# (its count of one NUL-ended line), never by grep's status on /proc: a process that ends while
# grep reads it makes that status 2 although every match was printed, and taking that for "no -z"
# sent 50 tabs' hang-up down the loop, 15 s on a loaded machine.
_HANGUP = (
    'marks="$*"; n=$#; for m do set -- "$@" -e "$m"; done; shift "$n"; '
    "if [ \"$(printf 'x\\000' | grep -cFxz -e x 2>/dev/null)\" = 1 ]; then "
    'pids=$(grep -lFxz "$@" /proc/[0-9]*/environ 2>/dev/null); '
    "else pids=$(for d in /proc/[0-9]*; do "
    'e=$(tr "\\000" "\\n" < "$d/environ" 2>/dev/null); for m in $marks; do '
    'case "$e" in *"$m"*) echo "$d/environ"; break;; esac; done; done); fi; '
    'for f in $pids; do p=${f#/proc/}; kill -HUP "${p%/environ}" 2>/dev/null; done'
)


# The longest a hang-up waits for the tabs starting in its container (see _HangUps).
_HANGUP_START_WAIT_FOR = 10.0


class _Batch:
    def __init__(self) -> None:
        self.marks: List[str] = []
        self.done = False


_Key = Tuple[int, str]
# Runs the hang-up exec in a container for the marks given: (client, container, marks).
Runner = Callable[[Any, str, Sequence[str]], None]


def _exec_hang_up(client: Any, container: str, marks: Sequence[str]) -> None:
    created = call(client.exec_create, container, ["/bin/sh", "-c", _HANGUP, "hangup", *marks])
    call(client.exec_start, created["Id"])


class _Start:
    """One tab's start, counted against its container until ``over`` (idempotent, any thread)."""

    def __init__(self, owner: "_HangUps", key: _Key) -> None:
        self._owner = owner
        self.key = key
        self.ended = False

    def over(self) -> None:
        self._owner._start_over(self)


class _HangUps:
    """Hang-ups of one container's tabs, gathered: one exec for all the marks queued meanwhile.

    An exec costs the engine a process start in the container; 50 tabs closed at once on a
    loaded 2-core machine took 6.5 s as 50 execs. Here at most one hang-up exec runs per
    container at a time, and whoever asked first among the waiting runs the next one for all
    of them (no thread of its own).

    A hang-up also waits (``start_wait`` at most) for the tabs starting in its container: its
    exec beside theirs slowed both, a hang-up beside 50 starting tabs took 26 s instead of 0.3 s
    and held half of the new tabs' prompts back until it ended. A hang-up has nobody waiting on
    it; a starting tab has a page waiting for its prompt. Marks queued during the wait go in the
    same exec.
    """

    def __init__(
        self, runner: Runner = _exec_hang_up, start_wait: float = _HANGUP_START_WAIT_FOR
    ) -> None:
        self._cond = threading.Condition()
        self._queued: Dict[_Key, _Batch] = {}
        self._busy: Set[_Key] = set()
        # Tabs whose exec is created or started but not yet running, per container.
        self._starting: Dict[_Key, int] = {}
        self._runner = runner
        self._start_wait = start_wait

    def starting(self, client: Any, container: str) -> _Start:
        """Count a tab as starting in ``container`` until the returned start's ``over``."""
        key = (id(client), container)
        with self._cond:
            self._starting[key] = self._starting.get(key, 0) + 1
        return _Start(self, key)

    def _start_over(self, start: _Start) -> None:
        with self._cond:
            if start.ended:
                return
            start.ended = True
            left = self._starting[start.key] - 1
            if left:
                self._starting[start.key] = left
            else:
                del self._starting[start.key]
                self._cond.notify_all()

    def run(self, client: Any, container: str, mark: str) -> None:
        key = (id(client), container)
        with self._cond:
            batch = self._queued.get(key)
            if batch is None:
                batch = self._queued[key] = _Batch()
            batch.marks.append(mark)
            while not batch.done and key in self._busy:
                self._cond.wait()
            if batch.done:
                return
            self._busy.add(key)
            deadline = time.monotonic() + self._start_wait
            while key in self._starting:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            del self._queued[key]
        try:
            self._runner(client, container, batch.marks)
        finally:
            with self._cond:
                batch.done = True
                self._busy.discard(key)
                self._cond.notify_all()


_hang_ups = _HangUps()

# An exec not yet running this long after its hang-up is taken never to start (its connection
# went before the engine started it). One still running after a pass gets another this much
# later (the engine takes a moment to see a process end), and is given up on after the last.
_HANGUP_START_WAIT = 1.0
_HANGUP_AGAIN = 0.5
_HANGUP_TRIES_FOR = 10.0
# The first size, where the engine cannot take it with the start: tried (from FIRST_DELAY,
# doubling to FIRST_DELAY_MAX) until the process runs, for this long at most.
_FIRST_SIZE_FOR = 30.0
_FIRST_DELAY = 0.005
_FIRST_DELAY_MAX = 0.25
# What one read of the engine's connection takes at most (a flood comes in chunks of this).
_CHUNK = 64 * 1024
# How long close() waits for the output thread: past that it is inside a send to a page that
# does not read, which the tab's end cuts (the send fails and the thread ends).
_OUTPUT_JOIN = 1.0


class WebTerminal:
    """A started terminal; ``write`` and ``resize`` from the tab's thread, ``end`` and ``close``
    from any."""

    def __init__(
        self,
        client: Any,
        target: Any,
        exec_mark: Optional[str],
        container: str,
        on_output: Callable[[memoryview], None],
        on_over: Callable[[Optional[int], Optional[BaseException]], None],
        recording: Optional[TabRecording] = None,
        starting: Optional[_Start] = None,
    ) -> None:
        self.client = client
        self.target = target
        self.container = container
        self._exec_mark = exec_mark
        self._on_output = on_output
        self._on_over = on_over
        # Output, input and each size the engine took, as they pass; closed with the terminal.
        self.recording = recording
        self._conn: Optional[Channel] = None
        self._output: Optional[threading.Thread] = None
        # Set by end(): the output thread's end is then ours, and the first size stops trying.
        self._ended = threading.Event()
        self._size: Optional[Tuple[int, int]] = None
        self._close_lock = threading.Lock()
        self._closed = False
        # This tab's exec counted as starting in its container (hang-ups there wait for it),
        # until its process runs, its first output comes, or the tab ends.
        self._starting = starting

    @classmethod
    def exec(
        cls,
        client: Any,
        container: str,
        command: List[str],
        size: Tuple[int, int],
        on_output: Callable[[memoryview], None],
        on_over: Callable[[Optional[int], Optional[BaseException]], None],
        recording: Optional[TabRecording] = None,
    ) -> "WebTerminal":
        mark = f"{MARK}={secrets.token_hex(8)}"
        starting = _hang_ups.starting(client, container)
        try:
            target = ExecTarget.create(
                client, container, command, stdin=True, tty=True, environment=[mark]
            )
        except BaseException:
            starting.over()
            raise
        terminal = cls(client, target, mark, container, on_output, on_over, recording, starting)
        try:
            terminal._start(size)
        except BaseException:
            terminal.close()  # the exec's process may have started all the same
            raise
        return terminal

    @classmethod
    def run(
        cls,
        client: Any,
        container: str,
        size: Tuple[int, int],
        on_output: Callable[[memoryview], None],
        on_over: Callable[[Optional[int], Optional[BaseException]], None],
        recording: Optional[TabRecording] = None,
    ) -> "WebTerminal":
        target = ContainerTarget(client, container)
        terminal = cls(client, target, None, container, on_output, on_over, recording)
        try:
            terminal._start(size)
        except BaseException:
            terminal.close()
            raise
        return terminal

    def _start(self, size: Tuple[int, int]) -> None:
        target = self.target
        sized = target.size_at_start(*size) if hasattr(target, "size_at_start") else False
        self._conn = target.connect(True, None)
        target.begin()
        self._output = threading.Thread(
            target=self._pump, name=f"threadpty-web-output-{target.name}", daemon=True
        )
        self._output.start()
        if sized:
            self._size = size
        else:
            self._first_size(size)
            self._start_over()  # the process runs (or never will)

    def _start_over(self) -> None:
        if self._starting is not None:
            self._starting.over()

    def _first_size(self, size: Tuple[int, int]) -> None:
        """Apply the first size, trying until the process runs (an exec cannot be resized
        before; under load that takes seconds). Input waits for it meanwhile: a shell that read
        its first line at 0x0 would answer at that size."""
        delay = _FIRST_DELAY
        since = time.monotonic()
        while not self._ended.is_set():
            try:
                self.target.resize(*size)
                self._size = size
                if self.recording is not None:
                    self.recording.resize(*size)
                return
            except Exception as exc:  # noqa: BLE001 - the engine's errors vary by version
                if self._ended.is_set() or self.target.is_gone():
                    return
                if time.monotonic() - since > _FIRST_SIZE_FOR:
                    log.warning("the tty's first size is not applied: %s", exc)
                    return
            self._ended.wait(delay)
            delay = min(delay * 2, _FIRST_DELAY_MAX)

    def _pump(self) -> None:
        """The output thread: the engine's output to ``on_output`` until it ends; then, unless
        end() was called, the exit status (or what went wrong) to ``on_over``."""
        conn = self._conn
        assert conn is not None
        # Anonymous memory: its pages are the kernel's zeros until a read fills them, so a tab
        # that shows a prompt holds one page of it, not all 64 KiB (a bytearray is zeroed, all of
        # it, as it is made).
        buffer = mmap.mmap(-1, _CHUNK)
        view = memoryview(buffer)
        send = self._on_output
        record = self.recording.output if self.recording is not None else None
        error: Optional[BaseException] = None
        code: Optional[int] = None
        try:
            n = conn.readinto(view)
            self._start_over()
            while n:
                if record is not None:
                    record(view[:n])
                send(view[:n])
                n = conn.readinto(view)
        except BaseException as exc:  # noqa: BLE001 - the end of the tab, told below
            error = exc
        finally:
            self._start_over()
            view.release()
        try:
            if self._ended.is_set():
                return
            self._ended.set()
            if error is None:
                try:
                    code = self.target.exit_code()
                except Exception as exc:  # noqa: BLE001 - told to the page
                    error = exc
            self._on_over(code, error)
        finally:
            buffer.close()
            conn.close()  # the only reader, so only now is it safe

    def write(self, data: bytes) -> None:
        """Send input; raises BrokenPipeError once the terminal has ended."""
        conn = self._conn
        if conn is None or self._ended.is_set():
            raise BrokenPipeError("the session has ended")
        try:
            conn.sendall(data)
        except OSError as exc:
            raise BrokenPipeError("the session has ended") from exc
        if self.recording is not None:
            self.recording.input(data)

    def resize(self, rows: int, cols: int) -> None:
        """Set the size now (an API call), unless it is the size already; failures are logged."""
        if (rows, cols) == self._size or self._ended.is_set():
            return
        try:
            self.target.resize(rows, cols)
            self._size = (rows, cols)
            if self.recording is not None:
                self.recording.resize(rows, cols)
        except Exception as exc:  # noqa: BLE001 - a tab goes on at its old size
            log.warning("failed to resize the tty to %dx%d: %s", rows, cols, exc)

    def end(self) -> None:
        """End it now: the output thread and a write blocked on the engine wake. Never waits;
        from any thread."""
        self._ended.set()
        self._start_over()  # its own hang-up must not wait for it
        conn = self._conn
        if conn is not None:
            conn.abort()

    def close(self) -> None:
        """End it and wait for the output thread; an exec's processes get SIGHUP, as from a
        closed terminal.

        Whatever state it is in: the output may have ended it already (a send to a page that
        has gone fails), and the shell and its jobs still run then. Safe from any thread; only
        the first call does anything.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.end()
            output = self._output
            if output is None:
                if self._conn is not None:
                    self._conn.close()  # no reader was ever started
            elif output is not threading.current_thread():
                output.join(_OUTPUT_JOIN)
        finally:
            if self.recording is not None:
                # Whole, even while an output thread still sends: the recording takes no more.
                self.recording.close()
            if self._exec_mark is not None:
                self.hang_up()

    def hang_up(self) -> None:
        """SIGHUP to every process carrying this terminal's mark, until the exec has ended.

        One pass is not always enough: a tab closed as its exec starts can be hung up before the
        engine has started the exec's process, which then runs with nobody to end it. So the
        exec is watched (a cheap inspect) and hung up again if it runs on.
        """
        exec_id = getattr(self.target, "exec_id", None)
        delay = 0.02
        try:
            self._hang_up_pass()
            # Timed from the first pass's end: it may have waited for other tabs' starts.
            started = last_pass = time.monotonic()
            while exec_id is not None:
                info = call(self.client.exec_inspect, exec_id)
                now = time.monotonic()
                if info.get("ExitCode") is not None and not info.get("Running"):
                    return
                if not info.get("Running") and now - started > _HANGUP_START_WAIT:
                    return  # its connection went before the engine started it: it never will
                if now - started > _HANGUP_TRIES_FOR:
                    log.warning("the exec in %s outlived its hang-up", self.container[:12])
                    return
                if info.get("Running") and now - last_pass > _HANGUP_AGAIN:
                    self._hang_up_pass()
                    last_pass = time.monotonic()
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        except Exception as exc:  # noqa: BLE001 - the container may be gone; nothing to hang up
            log.debug("could not hang up the exec in %s: %s", self.container[:12], exc)

    def _hang_up_pass(self) -> None:
        assert self._exec_mark is not None
        _hang_ups.run(self.client, self.container, self._exec_mark)
