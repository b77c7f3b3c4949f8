"""A session: one container's or exec's terminal, carried by three named threads.

- ``threadpty-output-<id>`` reads the hijacked connection in 64 KiB chunks and writes to the
  caller's stdout (TTY: bytes as they come) or to stdout and stderr (no TTY: frames split by
  stream). Its end is the session's end: it restores the terminal, stops the other two threads,
  fetches the exit status and joins them.
- ``threadpty-input-<id>`` reads the caller's input and sends it, watching for the detach keys; at
  end of input it half-closes the connection so the container sees end of file.
- ``threadpty-resize-<id>`` applies window sizes (see ``_resize``).

An exception in any of them ends the session and is raised again from ``join``.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType
from typing import Any, Optional, Type

from . import _docker
from ._connection import Connection
from ._detach import DEFAULT_DETACH_KEYS, DetachMatcher, parse_detach_keys
from ._frames import STDERR, FrameParser
from ._resize import Resizer
from ._signals import SignalProxy
from ._streams import CHUNK, Sink, Source, isatty
from ._winch import dispatcher
from .errors import EngineError
from .operations import ExecOperation, RunOperation, _Operation
from .tty import Terminal, size

log = logging.getLogger("threadpty")

# How long join() waits at a time, so that Ctrl-C reaches a caller blocked in it on every OS.
_JOIN_SLICE = 0.1
# How long the output thread waits for the input thread once woken (longer only for an input object
# that cannot be woken, see Source).
_INPUT_JOIN = 2.0


class Session:
    """One interactive session with a container or an exec; also a context manager.

    Make one with :meth:`run`, :meth:`exec` or :meth:`start_exec` (or from an operation), then
    ``start()`` it and ``join()`` it; ``with`` does both ends::

        with threadpty.Session.exec(client, "web", ["sh"]) as session:
            code = session.join()

    ``join`` returns the exit status (None after a detach); ``exit_code`` and ``detached`` keep the
    outcome. The caller's terminal is raw only while the session runs, and only when the session has
    a TTY and both stdin and stdout are terminals.
    """

    def __init__(
        self, operation: _Operation, sockets: Optional[Connection] = None, sig_proxy: bool = False
    ) -> None:
        self.operation = operation
        self._sig_proxy = sig_proxy and not operation.tty and isinstance(operation, RunOperation)
        self._proxy: Optional[SignalProxy] = None
        self.exit_code: Optional[int] = None
        self.detached = False
        self._sockets = sockets
        self._conn: Optional[Connection] = None
        self._error: Optional[BaseException] = None
        self._lock = threading.Lock()
        self._started = False
        self._ending = False
        self._output_broken = False
        self._done = threading.Event()
        self._source: Optional[Source] = None
        self._resizer: Optional[Resizer] = None
        self._subscribed = False
        self._output: Optional[threading.Thread] = None
        self._input: Optional[threading.Thread] = None
        self.terminal = Terminal(operation.stdin, raw=self._wants_raw(), out_fd=operation.stdout)

    # Ways to make one ------------------------------------------------------------------------

    @classmethod
    def run(
        cls,
        client: Any,
        container: Any,
        *,
        interactive: bool = True,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        logs: Optional[bool] = None,
        detach_keys: Optional[str] = None,
        sig_proxy: bool = False,
    ) -> "Session":
        """Attach to ``container`` (created or running), starting it if it is not running.

        ``sig_proxy=True`` forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that
        this process receives to the container while the session runs, when the container has no
        TTY (with a TTY, Ctrl-C already travels as a byte) and the session is started from the
        main thread.
        """
        return cls(
            RunOperation(
                client,
                container,
                interactive,
                stdout,
                stderr,
                stdin,
                logs,
                detach_keys=detach_keys,
            ),
            sig_proxy=sig_proxy,
        )

    attach = run

    @classmethod
    def exec(
        cls,
        client: Any,
        container: Any,
        command: Any,
        *,
        interactive: bool = True,
        tty: Optional[bool] = None,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        detach_keys: Optional[str] = None,
        environment: Any = None,
        workdir: Optional[str] = None,
        user: str = "",
        privileged: bool = False,
    ) -> "Session":
        """Run ``command`` in the running ``container``, like ``docker exec``.

        ``tty=None`` gives a TTY when ``interactive`` and both stdin and stdout are terminals,
        as ``docker exec -it`` would be used at a terminal.
        """
        api = _docker.api_client(client)
        if tty is None:
            tty = (
                interactive
                and isatty(stdin if stdin is not None else sys.stdin)
                and isatty(stdout if stdout is not None else sys.stdout)
            )
        # Checked before the exec is created, so a bad sequence leaves nothing behind.
        parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
        created = api.exec_create(
            _docker.container_id(container),
            command,
            stdout=True,
            stderr=True,
            stdin=interactive,
            tty=tty,
            environment=environment,
            workdir=workdir,
            user=user,
            privileged=privileged,
            detach_keys=detach_keys,
        )
        known = {
            "ContainerID": _docker.container_id(container),
            "ProcessConfig": {"tty": tty},
            "OpenStdin": interactive,
        }
        return cls(
            ExecOperation(
                api,
                created,
                interactive,
                stdout,
                stderr,
                stdin,
                detach_keys=detach_keys,
                _created=known,
            )
        )

    @classmethod
    def start_exec(
        cls,
        client: Any,
        exec_id: Any,
        *,
        interactive: bool = True,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        detach_keys: Optional[str] = None,
    ) -> "Session":
        """Start an exec made earlier with ``exec_create`` and attach to it."""
        return cls(
            ExecOperation(
                client, exec_id, interactive, stdout, stderr, stdin, detach_keys=detach_keys
            )
        )

    # Life cycle --------------------------------------------------------------------------------

    def __enter__(self) -> "Session":
        if not self._started:
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

    def start(self) -> "Session":
        """Open the connection, start the container or exec, and start the threads."""
        with self._lock:
            if self._started:
                raise RuntimeError("a session can be started only once")
            self._started = True
        op = self.operation
        name = op.name
        try:
            self._conn = self._sockets if self._sockets is not None else op.connect()
            stdout = Sink(op.stdout)
            stderr = stdout if op.tty else Sink(op.stderr)
            if op.takes_input:
                self._source = Source(op.stdin)
            self.terminal.start()
            op.begin()
            size_from = op.stdout if isatty(op.stdout) else op.stdin if isatty(op.stdin) else None
            if op.tty and size_from is not None:
                # Started before the stream threads, so that whichever ends the session can join it.
                self._resizer = Resizer(
                    f"threadpty-resize-{name}",
                    lambda: size(size_from),
                    op.resize,
                    op.is_gone,
                    redraw=op.redraw,
                )
                self._subscribed = dispatcher.subscribe(self._resizer.queue)
                self._resizer.start(poll=not self._subscribed)
            # Like the resizer, in place before a stream thread can end the session.
            if self._sig_proxy:
                run_op = op
                assert isinstance(run_op, RunOperation)
                self._proxy = SignalProxy(
                    f"threadpty-signals-{name}",
                    lambda signum: run_op.client.kill(run_op.container, signal=signum),
                )
                if not self._proxy.install():
                    self._proxy = None
        except BaseException:
            # Nothing may stay behind a failed start: not raw mode, not a thread, not a socket.
            self._stop()
            self._join_workers()
            self._release()
            raise
        self._output = threading.Thread(
            target=self._run_output,
            args=(stdout, stderr),
            name=f"threadpty-output-{name}",
            daemon=True,
        )
        if self._source is not None:
            self._input = threading.Thread(
                target=self._run_input, name=f"threadpty-input-{name}", daemon=True
            )
            self._input.start()
        self._output.start()
        return self

    def join(self, timeout: Optional[float] = None) -> Optional[int]:
        """Wait for the session to end; return the exit status (None after a detach).

        Raises what any worker thread raised. With ``timeout``, returns None if the session is
        still running then (see :attr:`running`). ``KeyboardInterrupt`` while waiting closes the
        session, restores the terminal, and is raised again.
        """
        if not self._started:
            raise RuntimeError("the session has not been started")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._done.is_set():
                wait = _JOIN_SLICE
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        return None
                self._done.wait(wait)
            if self._output is not None:
                self._output.join()
        except BaseException:
            self.close()
            raise
        finally:
            if self._done.is_set() and self._proxy is not None:
                self._proxy.uninstall()
        if self._error is not None:
            raise self._error
        return self.exit_code

    def close(self) -> None:
        """End the session now (the container keeps running), restore the terminal, and wait."""
        if not self._started:
            return
        self._stop()
        if self._output is not None and self._output is not threading.current_thread():
            self._output.join(timeout=5)
        if self._proxy is not None:
            self._proxy.uninstall()

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    # The threads -------------------------------------------------------------------------------

    def _wants_raw(self) -> bool:
        op = self.operation
        return op.tty and op.takes_input and isatty(op.stdout) and isatty(op.stdin)

    def _run_output(self, stdout: Sink, stderr: Sink) -> None:
        conn = self._conn
        assert conn is not None
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            if self.operation.tty:
                write = stdout.write
                while True:
                    n = conn.readinto(view)
                    if not n:
                        break
                    write(view[:n])
            else:
                parser = FrameParser()
                while True:
                    n = conn.readinto(view)
                    if not n:
                        break
                    for stream, piece in parser.feed(view[:n]):
                        (stderr if stream == STDERR else stdout).write(piece)
                if not self._ending:
                    parser.close()
        except BrokenPipeError:
            # Whoever read our output has gone (`| head`): end quietly, leave the container be.
            self._output_broken = True
        except BaseException as exc:  # noqa: BLE001 - re-raised from join()
            self._fail(exc)
        finally:
            self._finish(stdout, stderr)

    def _finish(self, stdout: Sink, stderr: Sink) -> None:
        for sink in (stdout, stderr):
            try:
                sink.finish()
            except (BrokenPipeError, ValueError):
                pass
            except BaseException as exc:  # noqa: BLE001
                self._fail(exc)
        natural = not (self._ending or self._output_broken)
        self._stop()
        try:
            if natural and self._error is None:
                self.exit_code = self.operation.exit_code()
        except BaseException as exc:  # noqa: BLE001
            self._fail(_engine_gone(exc) if _lost_engine(exc) else exc)
        finally:
            self._join_workers()
            self._release()

    def _join_workers(self) -> None:
        if self._input is not None:
            self._input.join(timeout=_INPUT_JOIN)
            if self._input.is_alive():
                log.debug("threadpty: the input object cannot be woken; its thread ends later")
        for helper in (self._resizer, self._proxy):
            if helper is not None and helper.thread.ident is not None:  # it may not have started
                helper.thread.join()
        if self._proxy is not None:
            self._proxy.uninstall()  # a no-op off the main thread; join() does it there

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._source is not None and (self._input is None or not self._input.is_alive()):
            self._source.close()
        self._done.set()

    def _run_input(self) -> None:
        conn, source = self._conn, self._source
        assert conn is not None and source is not None
        op = self.operation
        matcher = DetachMatcher(op.detach_bytes) if op.tty else None
        try:
            while True:
                data = source.read()
                if not data:
                    break
                if matcher is not None:
                    data, detach = matcher.feed(data)
                    if detach:
                        if data:
                            conn.sendall(data)
                        self.detached = True
                        self._stop()
                        return
                if data:
                    conn.sendall(data)
            if self._ending:
                return
            if matcher is not None:
                held = matcher.flush()
                if held:
                    conn.sendall(held)
            if op.half_close_at_eof:
                conn.close_write()
        except OSError as exc:
            if self._ending or isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                return  # the container's side closed: the output thread decides the outcome
            self._fail(exc)
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)

    # Ending ------------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = exc
        self._stop()

    def _stop(self) -> None:
        """Restore the terminal and wake every thread; safe from any thread, any number of times."""
        with self._lock:
            first = not self._ending
            self._ending = True
        self.terminal.stop()
        if not first:
            return
        if self._subscribed and self._resizer is not None:
            dispatcher.unsubscribe(self._resizer.queue)
        if self._resizer is not None:
            self._resizer.stop()
        if self._proxy is not None:
            self._proxy.stop()
        if self._source is not None:
            self._source.stop()
        if self._conn is not None:
            self._conn.abort()


def _lost_engine(exc: BaseException) -> bool:
    """Whether ``exc`` says the engine cannot be reached (the SDK raises requests' kind)."""
    import requests.exceptions

    return isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError))


def _engine_gone(exc: BaseException) -> EngineError:
    error = EngineError(f"lost the Docker engine before the exit status was known: {exc}")
    error.__cause__ = exc
    return error
