"""A session: one container's or exec's terminal, carried by named threads.

- ``threadpty-output-<id>`` reads the hijacked connection in 64 KiB chunks and writes to the
  session's stdout (TTY: bytes as they come) or to stdout and stderr (no TTY: frames split by
  stream). When the output ends, so does the session.
- ``threadpty-input-<id>`` reads the caller's input object and sends it, watching for the detach
  keys (see ``_input``); with ``stdin=PIPE`` there is no such thread: ``session.stdin.write``
  sends from the writer's own thread.
- ``threadpty-resize-<id>`` applies window sizes (see ``_resize``).
- ``threadpty-signals-<id>`` forwards signals with ``sig_proxy``.

What a session is given is checked and planned in ``_plan`` before anything runs. This module
keeps the ways to make one, its life cycle and its one ending: a session goes NEW → STARTING →
RUNNING → ENDING → ENDED (``_lifecycle``). Whatever ends it first (the output's end, a detach,
``close()``, an error, the reader going away) is the one outcome it has (an ``Ending``); the first
ending calls ``_wake``, which wakes every thread, and ``_finish`` collects them, fetches the exit
status after a natural end, and marks the session ended.
"""

from __future__ import annotations

import subprocess
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Tuple, Type, TypedDict

from . import _plan
from ._input import InputForwarder
from ._lifecycle import Cancelled, Ending, Lifecycle, State
from ._output import OutputForwarder
from ._pipes import Exchange
from ._resize import Resizer
from ._signals import SignalProxy
from ._winch import dispatcher
from .target import Channel, ExecTarget
from .tty import Terminal

__all__ = ["Session", "State", "StreamOptions"]

if TYPE_CHECKING:
    # Only in annotations: typing_extensions is a large import that only the type checker needs.
    from typing_extensions import Unpack

# How long join() waits at a time, so that Ctrl-C reaches a caller blocked in it on every OS.
_JOIN_SLICE = 0.1
# How long close() lets the output thread finish before it ends the session without it: past
# that, the thread is inside the caller's own write, which only the caller can end.
_CLOSE_GRACE = 0.5


class StreamOptions(TypedDict, total=False):
    """What every way of making a session accepts (see :class:`Session`).

    ``record`` takes a path or a file object (text or binary) and records the session there as
    an asciicast v2 file, which ``asciinema play`` replays: the output as it is delivered to the
    caller (with a TTY its one stream; without, stdout and stderr both, as output events), each
    size applied to the TTY (the header's is the first, or 80x24 when none is known), and, only
    with ``record_input=True``, the input sent (keystrokes may be passwords). A file the session
    opened it closes when the session ends; one given stays open. The file is bounded (64 MiB):
    past that, events are no longer written and its last line says so. ``TypeError`` or
    ``ValueError`` for a bad ``record`` before anything is asked of the engine; a path that
    cannot be opened fails ``start`` before anything is started.
    """

    interactive: bool
    stdin: Any
    stdout: Any
    stderr: Any
    detach_keys: Optional[str]
    size: Optional[Tuple[int, int]]
    bufsize: Optional[int]
    text: bool
    encoding: Optional[str]
    errors: Optional[str]
    record: Any
    record_input: bool


class _Deadline:
    """The time left of a ``timeout`` (None: no limit) spanning several waits."""

    def __init__(self, timeout: Optional[float]) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout

    def left(self) -> Optional[float]:
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def wait(self, event: threading.Event) -> bool:
        """Wait for ``event`` until the deadline, in slices so that Ctrl-C gets in on every OS;
        whether it is set."""
        while not event.is_set():
            left = self.left()
            if left is not None and left <= 0:
                return False
            event.wait(_JOIN_SLICE if left is None else min(_JOIN_SLICE, left))
        return True


class Session:
    """One interactive session with a container or an exec; also a context manager.

    ``Session(client, container)`` attaches to a container (starting it if needed), like
    ``docker start -ai``; ``Session(client, container, command)`` runs ``command`` in it, like
    ``docker exec``. :meth:`run`/:meth:`attach`, :meth:`exec` and :meth:`start_exec` say the
    same by name; ``Session(target)`` takes any :class:`~threadpty.target.Target`.

    Streams, as with ``subprocess.Popen``: ``stdin``, ``stdout`` and ``stderr`` take a file
    object (None: the process's own), ``PIPE`` (then ``session.stdin`` is a binary writable file
    and ``session.stdout``/``session.stderr`` binary readable ones, text with ``text=True``), or,
    for output, a callable that gets each chunk of bytes; ``stderr=STDOUT`` merges it into stdout.
    A PIPE holds at most ``bufsize`` bytes (1 MiB): a reader that falls behind holds the container
    back, never grows memory. Leaving a ``with`` block closes the output PIPEs, then stdin, then
    waits, as Popen's does; an output PIPE once closed drops what comes.

    ``join`` returns the exit status (None after a detach or ``close``); ``exit_code`` and
    ``detached`` keep the outcome. The caller's terminal is raw only while the session runs, and
    only when the session has a TTY and stdin is a terminal. ``record``: see :class:`StreamOptions`.
    """

    def __init__(
        self,
        target: Any,
        container: Any = None,
        command: Any = None,
        *,
        sockets: Optional[Channel] = None,
        logs: Optional[bool] = None,
        sig_proxy: bool = False,
        tty: Optional[bool] = None,
        environment: Any = None,
        workdir: Optional[str] = None,
        user: str = "",
        privileged: bool = False,
        **options: Unpack[StreamOptions],
    ) -> None:
        # Everything the caller gave is checked before the engine is asked anything.
        streams = self._streams = _plan.plan_streams(options)
        self.target = tgt = _plan.make_target(
            target, container, command, streams, logs=logs, tty=tty, environment=environment,
            workdir=workdir, user=user, privileged=privileged,
        )  # fmt: skip
        self.takes_input = _plan.takes_input(tgt, streams)
        self._sockets, self._sig_proxy, self._size = sockets, sig_proxy, streams.size
        self.stdout, self.stderr = _plan.readers(streams)
        self._life = Lifecycle(self._wake)
        self._input = InputForwarder(tgt, streams, self.takes_input, self._life)
        self.stdin: Any = self._input.stdin
        reads = self._input.reads
        raw = _plan.wants_raw(tgt, streams, reads)
        self.terminal = Terminal(streams.stdin_obj, raw=raw, out_fd=streams.out.obj)
        # The caller's terminal, where the window size comes from (None: sized by the program).
        self._size_from = _plan.size_source(streams, reads)
        self.exit_code: Optional[int] = None
        self._start_error: Optional[BaseException] = None
        self._finish_lock = threading.Lock()
        self._done = threading.Event()
        self._resizer: Optional[Resizer] = None
        self._proxy: Optional[SignalProxy] = None
        self._output: Optional[OutputForwarder] = None

    # Ways to make one ------------------------------------------------------------------------

    @classmethod
    def run(
        cls,
        client: Any,
        container: Any,
        *,
        logs: Optional[bool] = None,
        sig_proxy: bool = False,
        **options: Unpack[StreamOptions],
    ) -> "Session":
        """Attach to ``container`` (created or running), starting it if it is not running.

        Makes the session without starting it. Raises ``docker.errors.NotFound`` for an unknown
        container, :class:`~threadpty.ThreadptyError` for input to a container created without
        stdin, ``ValueError``/``TypeError`` for a bad stream, size or option; all before anything
        is started. ``logs=True`` replays its earlier output first. ``sig_proxy=True`` forwards
        SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that this process receives to the
        container while the session runs, when it is started from the main thread.
        """
        return cls(client, container, logs=logs, sig_proxy=sig_proxy, **options)

    attach = run

    @classmethod
    def exec(
        cls,
        client: Any,
        container: Any,
        command: Any,
        *,
        tty: Optional[bool] = None,
        environment: Any = None,
        workdir: Optional[str] = None,
        user: str = "",
        privileged: bool = False,
        **options: Unpack[StreamOptions],
    ) -> "Session":
        """Run ``command`` in the running ``container``, like ``docker exec``.

        Creates the exec (an engine call) without starting it; raises as :meth:`run` does.
        ``tty=None`` gives a TTY when ``interactive`` and both stdin and stdout are terminals,
        as ``docker exec -it`` would be used at a terminal.
        """
        return cls(
            client, container, command, tty=tty, environment=environment, workdir=workdir,
            user=user, privileged=privileged, **options,
        )  # fmt: skip

    @classmethod
    def start_exec(cls, client: Any, exec_id: Any, **options: Unpack[StreamOptions]) -> "Session":
        """Start an exec made earlier with ``exec_create`` and attach to it.

        Inspects the exec (an engine call); raises :class:`~threadpty.ThreadptyError` if it has
        been started already, before anything else is done.
        """
        return cls(ExecTarget(client, exec_id), **options)

    def __enter__(self) -> "Session":
        """Start the session if it is new."""
        if self._life.state is State.NEW:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """As Popen's: close the output PIPEs (what comes later is dropped, so an unread one no
        longer holds the container back), then stdin (the end of input), then ``join``; on an
        exception in the block, ``close`` first instead of waiting."""
        if exc_type is not None:
            self.close()
        for pipe in (self.stdout, self.stderr):
            if pipe is not None:
                pipe.close()
        try:
            if self.stdin is not None:
                self.stdin.close()
        except BrokenPipeError:
            pass  # it ended first: there is no input left to end
        finally:
            if exc_type is None:
                self.join()

    @property
    def state(self) -> State:
        """new, starting, running, ending or ended; read without waiting, from any thread."""
        return self._life.state

    @property
    def running(self) -> bool:
        """Started and not yet ended (starting, running or ending)."""
        return self._life.running

    @property
    def detached(self) -> bool:
        """Whether the session ended by a detach (it then has no exit status)."""
        return self._life.ending is Ending.DETACH

    def start(self) -> "Session":
        """Open the connection, start the container or exec, and start the threads; return self.

        Blocks for the engine's answers (attach, start, the first resize), not for the session:
        the session then runs in its threads. Raises ``RuntimeError`` if called twice, and what
        the engine raised (``docker.errors.APIError`` and kin), after undoing everything it did:
        no raw terminal, thread or socket stays behind. ``close()`` from another thread during
        ``start`` makes it return early, with the session ended.
        """
        self._life.begin()
        tgt = self.target
        try:
            rec = _plan.start_recording(tgt, self._streams, self._size, self._size_from)
            conn, sized = self._sockets, None
            if conn is None:
                sized = _plan.size_at_start(tgt, self._size, self._size_from)
                conn = tgt.connect(self.takes_input, self._streams.detach_keys)
            self._life.opened(conn)
            self.terminal.start()
            tgt.begin()
            resizer = _plan.make_resizer(tgt, self._size_from, self._size, sized, rec)
            self._resizer = self._input.resizer = resizer
            if resizer is not None:
                resizer.follow()
            if self._sig_proxy:
                self._proxy = SignalProxy.installed(f"threadpty-signals-{tgt.name}", tgt.kill)
            self._output = OutputForwarder(tgt, conn, self._streams, self._life, self._finish)
            with self._life.go():
                self._input.start()
                self._output.start()
        except Cancelled:
            self._abandon(Ending.CLOSE)
        except BaseException as exc:
            # Nothing may stay behind a failed start: not raw mode, not a thread, not a socket.
            self._start_error = exc
            self._abandon(Ending.ERROR)
            raise
        return self

    def _abandon(self, why: Ending) -> None:
        """End a session whose start did not finish: no output thread runs to do it."""
        self._life.end(why)
        self._finish()
        if self._life.conn is not None:
            self._life.conn.close()

    def join(self, timeout: Optional[float] = None) -> Optional[int]:
        """Wait for the session to end; return the exit status (None after a detach or close).

        Raises what any worker thread raised (a callable's exception, an ``OSError`` of the
        caller's stream, :class:`~threadpty.EngineError` when the engine went away), or what made
        ``start`` fail; ``RuntimeError`` before ``start``. With ``timeout``, returns None if the
        session is still running then (see :attr:`running`); it may be called again.
        ``KeyboardInterrupt`` while waiting closes the session, restores the terminal, and is
        raised again.

        With ``stdout=PIPE`` or ``stderr=PIPE`` and nobody reading, this waits for ever: once a
        pipe is full the container is held back until it is read. Read the pipes in other
        threads, or use :meth:`communicate`, as with ``Popen.wait``.
        """
        if self._life.state is State.NEW:
            raise RuntimeError("the session has not been started")
        if self._start_error is not None:
            raise self._start_error
        try:
            if not _Deadline(timeout).wait(self._done):
                return None
            if self._output is not None:
                # Past _finish it only closes the connection, unless it is still inside the
                # caller's own write after a close().
                closed = self._life.ending is Ending.CLOSE
                self._output.join(_CLOSE_GRACE if closed else None)
        except BaseException:
            self.close()
            raise
        finally:
            self._give_back_handlers()
        if self._life.error is not None:
            raise self._life.error
        return self.exit_code

    def close(self) -> None:
        """End the session now (the container keeps running), restore the terminal, and wait.

        Safe from any thread and at any time, also while ``start`` runs; it returns promptly even
        when the output thread is stuck inside the caller's stdout (it waits half a second for it,
        then leaves it to end when that write returns). A session not yet started is left as it
        is. Raises nothing of the session's: ``join`` still reports an error that ended it.
        """
        found = self._life.close()
        if found is State.STARTING:
            self._done.wait()  # start() sees ``closing`` at its next step and ends the session
        elif found is not None:
            self._life.end(Ending.CLOSE)
            if self._output is not None:
                self._output.join(_CLOSE_GRACE)
            self._finish()
        self._give_back_handlers()

    def communicate(self, input: Any = None, timeout: Optional[float] = None) -> Tuple[Any, Any]:
        """Send ``input``, read the PIPEs to their end and wait, as ``Popen.communicate`` does.

        Starts the session if needed. ``input`` goes to ``stdin=PIPE`` (bytes, or text with
        ``text=True``), which is then closed. Returns ``(stdout, stderr)``: what each PIPE held,
        None for a stream that is not a PIPE. Past ``timeout`` seconds the session is closed and
        ``subprocess.TimeoutExpired`` raised. Errors of the session are raised as from ``join``;
        ``ValueError`` for ``input`` without ``stdin=PIPE``. Blocks until the output ends (or the
        timeout): the pipes are read in threads of its own, so none of them can fill up and hold
        the container back meanwhile.
        """
        if self._life.state is State.NEW:
            self.start()
        if input and self.stdin is None:
            raise ValueError("input needs stdin=PIPE")
        exchange = Exchange(self.stdin, self.stdout, self.stderr, input)
        deadline = _Deadline(timeout)
        timed_out = not exchange.join(deadline.left)
        if not timed_out:
            self.join(deadline.left())
            timed_out = self.running
        if timed_out:
            self.close()  # ends the session: the readers get the end, the writer a broken pipe
            exchange.join()
            raise subprocess.TimeoutExpired(self.target.name, timeout or 0.0)
        return exchange.result()

    def resize(self, rows: int, cols: int) -> None:
        """Set the TTY's size (rows, columns), from any thread.

        Before ``start`` it is the first size. Calls in quick succession cost one or two API
        calls and the last wins; so does the caller's terminal when it resizes later. A session
        without a TTY has no size: the call does nothing. Never blocks: the session's resize
        thread makes the API call (input written afterwards waits, at most 2 s, until it has).
        Raises ``ValueError`` for a size that is not two integers from 1 to 65535.
        """
        wanted = _plan.check_size((rows, cols))
        with self._life.lock:
            if self._life.state is State.NEW:
                self._size = wanted
                return
            resizer = self._resizer if self._life.ending is None else None
        if resizer is not None:
            resizer.request(*wanted)

    # The one ending ------------------------------------------------------------------------------

    def _wake(self) -> None:
        """The first ending's wake-ups (``Lifecycle.end``): restore the terminal, and wake every
        thread from whatever blocking call it is in."""
        self.terminal.stop()
        for stoppable in (self._resizer, self._proxy, self._input, self._output):
            if stoppable is not None:
                stoppable.stop()
        self._streams.out.abort()
        self._streams.err.abort()
        if self._life.conn is not None:
            self._life.conn.abort()

    def _finish(self) -> None:
        """Collect the helper threads, fetch the exit status after a natural end, mark it ended."""
        with self._finish_lock:
            if self._done.is_set():
                return
            try:
                if self._life.ending is Ending.EXIT and self._life.error is None:
                    self.exit_code = self.target.exit_code()
            except BaseException as exc:  # noqa: BLE001
                self._life.fail(exc)
            finally:
                self._input.finish()
                for helper in (self._resizer, self._proxy):
                    if helper is not None and helper.thread.ident is not None:
                        helper.thread.join()
                _plan.end_recording(self._streams)
                self._life.collected()
                self._done.set()

    def _give_back_handlers(self) -> None:
        """Signal handlers can only change in the main thread: put the caller's back from there."""
        if threading.current_thread() is not threading.main_thread() or not self._done.is_set():
            return
        if self._proxy is not None:
            self._proxy.uninstall()
        dispatcher.settle()


def run_to_end(session: Session) -> Optional[int]:
    """``session.start().join()``, closing the session on whatever is raised between the two.

    ``start`` undoes itself when interrupted and ``join`` closes the session, but a Ctrl-C that
    lands after ``start`` returned and before ``join`` began would leave the terminal raw and
    the threads running (``subprocess.call`` guards the same gap the same way).
    """
    try:
        return session.start().join()
    except BaseException:
        session.close()
        raise
