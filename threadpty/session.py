"""A session: one container's or exec's terminal, carried by named threads.

- ``threadpty-output-<id>`` reads the hijacked connection in 64 KiB chunks and writes to the
  session's stdout (TTY: bytes as they come) or to stdout and stderr (no TTY: frames split by
  stream). When the output ends, so does the session.
- ``threadpty-input-<id>`` reads the caller's input object and sends it, watching for the detach
  keys; with ``stdin=PIPE`` there is no such thread: ``session.stdin.write`` sends from the
  writer's own thread.
- ``threadpty-resize-<id>`` applies window sizes (see ``_resize``).
- ``threadpty-signals-<id>`` forwards signals with ``sig_proxy``.

A session goes NEW → STARTING → RUNNING → ENDING → ENDED. Whatever ends it first (the output's end,
a detach, ``close()``, an error, the reader going away) is the one outcome it has; ``_end`` wakes
every thread and ``_finish`` collects them, fetches the exit status after a natural end, and marks
the session ended.
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from typing_extensions import TypedDict, Unpack

from ._detach import DEFAULT_DETACH_KEYS, DetachMatcher, parse_detach_keys
from ._pipes import DEFAULT_LIMIT, PIPE, STDOUT, InputPipe, OutputPipe, reader, writer
from ._pump import Pump
from ._resize import Resizer
from ._signals import SignalProxy
from ._streams import PipeSink, Source, isatty, make_sink
from ._winch import dispatcher
from .errors import EngineError, ThreadptyError
from .target import Channel, ContainerTarget, ExecTarget, Target
from .tty import Terminal, size

log = logging.getLogger("threadpty")

# How long join() waits at a time, so that Ctrl-C reaches a caller blocked in it on every OS.
_JOIN_SLICE = 0.1
# How long the session waits for the input thread once woken (longer only for an input object
# that cannot be woken, see Source).
_INPUT_JOIN = 2.0
# How long close() lets the output thread finish before it ends the session without it: past
# that, the thread is inside the caller's own write, which only the caller can end.
_CLOSE_GRACE = 0.5
# How long input waits for the window sizes asked for before it to be applied.
_RESIZE_WAIT = 2.0


class State(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"


class StreamOptions(TypedDict, total=False):
    """What every way of making a session accepts (see :class:`Session`)."""

    interactive: bool
    stdin: Any
    stdout: Any
    stderr: Any
    detach_keys: Optional[str]
    size: Optional[Tuple[int, int]]
    bufsize: int
    text: bool
    encoding: Optional[str]
    errors: Optional[str]


class _Cancelled(Exception):
    """close() came while start() was still under way."""


class Session:
    """One interactive session with a container or an exec; also a context manager.

    ``Session(client, container)`` attaches to a container (starting it if needed), like
    ``docker start -ai``; ``Session(client, container, command)`` runs ``command`` in it, like
    ``docker exec``. :meth:`run`/:meth:`attach`, :meth:`exec` and :meth:`start_exec` say the
    same by name; ``Session(target)`` takes any :class:`~threadpty.target.Target`, such as a
    dockerpty ``RunOperation``.

    Streams, as with ``subprocess.Popen``: ``stdin``, ``stdout`` and ``stderr`` take a file
    object (None: the process's own), ``PIPE`` (then ``session.stdin`` is a binary writable file
    and ``session.stdout``/``session.stderr`` binary readable ones, text with ``text=True``), or,
    for output, a callable that gets each chunk of bytes; ``stderr=STDOUT`` merges it into stdout.
    A PIPE holds at most ``bufsize`` bytes (1 MiB): a reader that falls behind holds the container
    back, never grows memory.

    ``join`` returns the exit status (None after a detach or ``close``); ``exit_code`` and
    ``detached`` keep the outcome. The caller's terminal is raw only while the session runs, and
    only when the session has a TTY and stdin is a terminal.
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
        operation = target if container is None and isinstance(target, Target) else None
        # A dockerpty operation carries its streams; they are the defaults for its session.
        carried = getattr(operation, "session_options", None)
        if carried is not None:
            options = {**carried(), **options}
        interactive = bool(options.get("interactive", True))
        stdin, stdout, stderr = options.get("stdin"), options.get("stdout"), options.get("stderr")
        self._detach_keys = options.get("detach_keys")
        # Everything the caller gave is checked before the engine is asked anything.
        self._detach_bytes = parse_detach_keys(self._detach_keys or DEFAULT_DETACH_KEYS)
        self._size = _check_size(options.get("size"))
        if stdout is STDOUT:
            raise ValueError("STDOUT is for stderr only")
        if stdin is STDOUT:
            raise ValueError("STDOUT is for stderr only")
        if stdin is PIPE and not interactive:
            raise ValueError("stdin=PIPE needs interactive=True")
        readable = hasattr(stdin, "read") or hasattr(stdin, "fileno")
        if stdin is not None and stdin is not PIPE and not readable:
            raise TypeError(
                "expected a file object to read, PIPE or None for stdin, "
                f"got {type(stdin).__name__}"
            )
        bufsize = int(options.get("bufsize", DEFAULT_LIMIT))
        text = bool(options.get("text", False) or options.get("encoding") or options.get("errors"))
        encoding, errors = options.get("encoding"), options.get("errors")
        stdin_obj = sys.stdin if stdin is None else stdin
        out_pipe = OutputPipe(bufsize) if stdout is PIPE else None
        err_pipe = OutputPipe(bufsize) if stderr is PIPE else None
        out_sink = (
            PipeSink(out_pipe) if out_pipe else make_sink(sys.stdout if stdout is None else stdout)
        )
        err_sink = (
            out_sink
            if stderr is STDOUT
            else PipeSink(err_pipe)
            if err_pipe
            else make_sink(sys.stderr if stderr is None else stderr)
        )

        if operation is not None:
            self.target: Target = operation
        elif command is None:
            if tty is not None or environment or workdir or user or privileged:
                raise TypeError("tty, environment, workdir, user and privileged are for an exec")
            self.target = ContainerTarget(target, container, logs=logs)
        else:
            if logs is not None:
                raise TypeError("logs is for attaching to a container, not for an exec")
            if tty is None:
                tty = interactive and isatty(stdin_obj) and isatty(out_sink.obj)
            self.target = ExecTarget.create(
                target,
                container,
                command,
                stdin=interactive,
                tty=tty,
                detach_keys=self._detach_keys,
                environment=environment,
                workdir=workdir,
                user=user,
                privileged=privileged,
            )
        self.operation = self.target  # dockerpty's name for it
        tgt = self.target
        if interactive and stdin is not None and not tgt.stdin_open:
            kind = "exec" if isinstance(tgt, ExecTarget) else "container"
            raise ThreadptyError(
                f"{kind} {tgt.name} was created without stdin open, so it cannot take the input "
                "given; create it with stdin_open=True (exec: stdin=True), or pass "
                "interactive=False"
            )
        self.takes_input = interactive and tgt.stdin_open
        self._sockets = sockets
        self._sig_proxy = sig_proxy

        self.stdin: Any = None
        self.stdout: Any = reader(out_pipe, text, encoding, errors) if out_pipe else None
        self.stderr: Any = reader(err_pipe, text, encoding, errors) if err_pipe else None
        self._source: Optional[Source] = None
        if self.takes_input and stdin is PIPE:
            self.stdin = writer(InputPipe(self._send, self._end_input), text, encoding, errors)
        elif self.takes_input:
            self._source = Source(stdin_obj)
        self._out, self._err = out_sink, err_sink
        self._matcher = DetachMatcher(self._detach_bytes) if tgt.tty else None

        raw = tgt.tty and self._source is not None and isatty(stdin_obj)
        self.terminal = Terminal(stdin_obj, raw=raw, out_fd=out_sink.obj)
        # The caller's terminal, where the window size comes from (None: sized by the program).
        self._size_from = next(
            (o for o in (out_sink.obj, stdin_obj if self._source else None) if isatty(o)), None
        )

        self.exit_code: Optional[int] = None
        self.detached = False
        self._state = State.NEW
        self._why: Optional[str] = None  # what ended it: exit, detach, close, error, broken
        self._closing = False
        self._error: Optional[BaseException] = None
        self._start_error: Optional[BaseException] = None
        self._lock = threading.Lock()
        self._finish_lock = threading.Lock()
        self._done = threading.Event()
        self._conn: Optional[Channel] = None
        self._resizer: Optional[Resizer] = None
        self._subscribed = False
        self._proxy: Optional[SignalProxy] = None
        self._output: Optional[threading.Thread] = None
        self._input: Optional[threading.Thread] = None
        self._pump: Optional[Pump] = None

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

        ``logs=True`` replays its earlier output first. ``sig_proxy=True`` forwards SIGINT,
        SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that this process receives to the
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

        ``tty=None`` gives a TTY when ``interactive`` and both stdin and stdout are terminals,
        as ``docker exec -it`` would be used at a terminal.
        """
        return cls(
            client,
            container,
            command,
            tty=tty,
            environment=environment,
            workdir=workdir,
            user=user,
            privileged=privileged,
            **options,
        )

    @classmethod
    def start_exec(cls, client: Any, exec_id: Any, **options: Unpack[StreamOptions]) -> "Session":
        """Start an exec made earlier with ``exec_create`` and attach to it."""
        return cls(ExecTarget(client, exec_id), **options)

    # Life cycle --------------------------------------------------------------------------------

    def __enter__(self) -> "Session":
        if self._state is State.NEW:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self.close()
            return
        self.join()

    @property
    def state(self) -> State:
        return self._state

    @property
    def running(self) -> bool:
        return self._state in (State.STARTING, State.RUNNING, State.ENDING)

    def start(self) -> "Session":
        """Open the connection, start the container or exec, and start the threads."""
        with self._lock:
            if self._state is not State.NEW:
                raise RuntimeError("a session can be started only once")
            self._state = State.STARTING
        tgt = self.target
        name = tgt.name
        try:
            conn = self._sockets
            if conn is None:
                conn = tgt.connect(self.takes_input, self._detach_keys)
            with self._lock:
                self._conn = conn
            self._checkpoint()
            self.terminal.start()
            tgt.begin()
            if tgt.tty:
                size_from = self._size_from
                self._resizer = Resizer(
                    f"threadpty-resize-{name}",
                    tgt.resize,
                    tgt.is_gone,
                    terminal_size=(lambda: size(size_from)) if size_from is not None else None,
                    initial=self._size,
                    redraw=tgt.redraw,
                )
                if size_from is not None:
                    self._subscribed = dispatcher.subscribe(self._resizer.queue)
                self._resizer.start(poll=not self._subscribed)
            if self._sig_proxy:
                self._proxy = SignalProxy(f"threadpty-signals-{name}", tgt.kill)
                if not self._proxy.install():
                    self._proxy = None
            self._pump = Pump(conn, tgt.tty, self._out, self._err)
            self._output = threading.Thread(
                target=self._run_output, name=f"threadpty-output-{name}", daemon=True
            )
            if self._source is not None:
                self._input = threading.Thread(
                    target=self._run_input, name=f"threadpty-input-{name}", daemon=True
                )
            with self._lock:
                if self._closing:
                    raise _Cancelled()
                self._state = State.RUNNING
                if self._input is not None:
                    self._input.start()
                self._output.start()
        except _Cancelled:
            self._abandon("close")
        except BaseException as exc:
            # Nothing may stay behind a failed start: not raw mode, not a thread, not a socket.
            self._start_error = exc
            self._abandon("error")
            raise
        return self

    def _checkpoint(self) -> None:
        with self._lock:
            if self._closing:
                raise _Cancelled()

    def _abandon(self, why: str) -> None:
        """End a session whose start did not finish: no output thread runs to do it."""
        self._output = self._input = None
        self._end(why)
        self._finish()
        if self._conn is not None:
            self._conn.close()

    def join(self, timeout: Optional[float] = None) -> Optional[int]:
        """Wait for the session to end; return the exit status (None after a detach or close).

        Raises what any worker thread raised, or what made ``start`` fail. With ``timeout``,
        returns None if the session is still running then (see :attr:`running`).
        ``KeyboardInterrupt`` while waiting closes the session, restores the terminal, and is
        raised again.
        """
        if self._state is State.NEW:
            raise RuntimeError("the session has not been started")
        if self._start_error is not None:
            raise self._start_error
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._done.is_set():
                wait = _JOIN_SLICE
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        return None
                self._done.wait(wait)
            output = self._output
            if output is not None and output is not threading.current_thread():
                # Past _finish it only closes the connection, unless it is still inside the
                # caller's own write after a close().
                output.join(None if self._why != "close" else _CLOSE_GRACE)
        except BaseException:
            self.close()
            raise
        finally:
            self._give_back_handlers()
        if self._error is not None:
            raise self._error
        return self.exit_code

    def close(self) -> None:
        """End the session now (the container keeps running), restore the terminal, and wait.

        Safe from any thread and at any time, also while ``start`` runs; it returns promptly even
        when the output thread is stuck inside the caller's stdout.
        """
        with self._lock:
            if self._state is State.NEW:
                return
            self._closing = True
            starting = self._state is State.STARTING
            conn = self._conn
        if starting:
            # start() sees the flag at its next step and ends the session itself.
            if conn is not None:
                conn.abort()
            self._done.wait()
            self._give_back_handlers()
            return
        self._end("close")
        output = self._output
        if output is not None and output is not threading.current_thread():
            output.join(_CLOSE_GRACE)
        self._finish()
        self._give_back_handlers()

    def communicate(self, input: Any = None, timeout: Optional[float] = None) -> Tuple[Any, Any]:
        """Send ``input``, read the PIPEs to their end and wait, as ``Popen.communicate`` does.

        Starts the session if needed. ``input`` goes to ``stdin=PIPE`` (bytes, or text with
        ``text=True``), which is then closed. Returns ``(stdout, stderr)``: what each PIPE held,
        None for a stream that is not a PIPE. Past ``timeout`` seconds the session is closed and
        ``subprocess.TimeoutExpired`` raised. Errors of the session are raised as from ``join``.
        """
        if self._state is State.NEW:
            self.start()
        results: Dict[str, Any] = {}
        errors: List[BaseException] = []

        def guarded(work: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    work()
                except BaseException as exc:  # noqa: BLE001 - raised below, in the caller
                    errors.append(exc)

            return run

        def feed() -> None:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass  # it ended without reading everything, as a process may

        def drain(name: str, stream: Any) -> Callable[[], None]:
            return guarded(lambda: results.update({name: stream.read()}))

        jobs = [
            (name, drain(name, stream))
            for name, stream in (("stdout", self.stdout), ("stderr", self.stderr))
            if stream is not None
        ]
        if self.stdin is not None:
            jobs.append(("stdin", guarded(feed)))
        elif input:
            raise ValueError("input needs stdin=PIPE")
        threads = [
            threading.Thread(target=job, name=f"threadpty-communicate-{name}", daemon=True)
            for name, job in jobs
        ]
        for thread in threads:
            thread.start()
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> Optional[float]:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        for thread in threads:
            thread.join(left())
        timed_out = any(thread.is_alive() for thread in threads)
        if not timed_out:
            self.join(left())
            timed_out = self.running
        if timed_out:
            self.close()  # ends the session: the readers get the end, the writer a broken pipe
            for thread in threads:
                thread.join()
            import subprocess

            raise subprocess.TimeoutExpired(self.target.name, timeout or 0.0)
        if errors:
            raise errors[0]
        return results.get("stdout"), results.get("stderr")

    def resize(self, rows: int, cols: int) -> None:
        """Set the TTY's size (rows, columns), from any thread.

        Before ``start`` it is the first size. Calls in quick succession cost one or two API
        calls and the last wins; so does the caller's terminal when it resizes later. A session
        without a TTY has no size: the call does nothing.
        """
        wanted = _check_size((rows, cols))
        assert wanted is not None
        with self._lock:
            if self._state is State.NEW:
                self._size = wanted
                return
            resizer = self._resizer if self._why is None else None
        if resizer is not None:
            resizer.request(*wanted)

    # The threads -------------------------------------------------------------------------------

    def _run_output(self) -> None:
        conn, pump = self._conn, self._pump
        assert conn is not None and pump is not None
        stdout, stderr = self._out, self._err
        try:
            pump.run()
            if pump.parser is not None and self._why is None:
                pump.parser.close()
            self._end("exit")
        except BrokenPipeError:
            # Whoever read our output has gone (`| head`, a closed PIPE): end quietly, leave the
            # container be.
            self._end("broken")
        except BaseException as exc:  # noqa: BLE001 - re-raised from join()
            self._fail(exc)
        finally:
            for sink in (stdout, stderr):
                try:
                    sink.finish()
                except (BrokenPipeError, ValueError):
                    pass
                except BaseException as exc:  # noqa: BLE001
                    self._fail(exc)
            self._finish()
            conn.close()  # the only reader, so only now is it safe

    def _run_input(self) -> None:
        source = self._source
        assert source is not None
        try:
            while True:
                data = source.read()
                if not data:
                    break
                self._send(data)
                if self._why is not None:
                    return
            self._end_input()
        except (BrokenPipeError, ConnectionResetError):
            return  # the container's side closed: the output thread decides the outcome
        except OSError as exc:
            if self._why is None:
                self._fail(exc)
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)

    def _send(self, data: bytes) -> None:
        """Send input on (from the input thread or a ``session.stdin`` writer)."""
        conn = self._conn
        if conn is None or self._state is State.STARTING:
            raise ThreadptyError("start the session before writing to its stdin")
        if self._why is not None:
            raise BrokenPipeError("the session has ended")
        resizer = self._resizer
        if resizer is not None and not resizer.settled.is_set():
            # Input waits (at most a moment) for the sizes asked for before it, the first one
            # included (an exec cannot be sized before its process runs): what is typed after a
            # resize() is answered at the new size, as on a local terminal.
            resizer.settled.wait(_RESIZE_WAIT)
        detach = False
        if self._matcher is not None:
            data, detach = self._matcher.feed(data)
        try:
            if data:
                conn.sendall(data)
        except OSError as exc:
            if self._why is not None:
                raise BrokenPipeError("the session has ended") from exc
            raise
        if detach:
            self._end("detach")

    def _end_input(self) -> None:
        """End of input: pass it on where the engine makes it the container's end of file."""
        conn = self._conn
        if conn is None or self._why is not None:
            return
        if self._matcher is not None:
            held = self._matcher.flush()
            if held:
                conn.sendall(held)
        if self.target.half_close_at_eof:
            conn.close_write()

    # Ending ------------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = exc
        self._end("error")

    def _end(self, why: str) -> bool:
        """The session's one ending: record why, restore the terminal, wake every thread.

        Safe from any thread; only the first call counts, so a session that detached has no exit
        status and one that exited was not detached.
        """
        with self._lock:
            if self._why is not None:
                return False
            self._why = why
            self.detached = why == "detach"
            if self._state in (State.STARTING, State.RUNNING):
                self._state = State.ENDING
        self.terminal.stop()
        if self._subscribed and self._resizer is not None:
            dispatcher.unsubscribe(self._resizer.queue)
        for stoppable in (self._resizer, self._proxy, self._source):
            if stoppable is not None:
                stoppable.stop()
        if self._pump is not None:
            self._pump.stop()
        self._out.abort()
        self._err.abort()
        if self._conn is not None:
            self._conn.abort()
        return True

    def _finish(self) -> None:
        """Collect the helper threads, fetch the exit status after a natural end, mark it ended."""
        with self._finish_lock:
            if self._done.is_set():
                return
            try:
                if self._why == "exit" and self._error is None:
                    self.exit_code = self.target.exit_code()
            except BaseException as exc:  # noqa: BLE001
                self._fail(_engine_gone(exc) if _lost_engine(exc) else exc)
            finally:
                if self._input is not None and self._input is not threading.current_thread():
                    self._input.join(timeout=_INPUT_JOIN)
                    if self._input.is_alive():
                        log.debug("the input object cannot be woken; its thread ends later")
                for helper in (self._resizer, self._proxy):
                    if helper is not None and helper.thread.ident is not None:
                        helper.thread.join()
                if self._source is not None and (self._input is None or not self._input.is_alive()):
                    self._source.close()
                with self._lock:
                    self._state = State.ENDED
                self._done.set()

    def _give_back_handlers(self) -> None:
        """Signal handlers can only change in the main thread: put the caller's back from there."""
        if threading.current_thread() is not threading.main_thread() or not self._done.is_set():
            return
        if self._proxy is not None:
            self._proxy.uninstall()
        dispatcher.settle()


def _check_size(value: Any) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    try:
        rows, cols = value
    except (TypeError, ValueError):
        raise ValueError(f"a size is (rows, cols), got {value!r}") from None
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536 for v in (rows, cols)
    ):
        raise ValueError(f"a size is two positive integers (rows, cols), got {value!r}")
    return rows, cols


def _lost_engine(exc: BaseException) -> bool:
    """Whether ``exc`` says the engine cannot be reached (the SDK raises requests' kind)."""
    import requests.exceptions

    return isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError))


def _engine_gone(exc: BaseException) -> EngineError:
    error = EngineError(f"lost the Docker engine before the exit status was known: {exc}")
    error.__cause__ = exc
    return error
