"""A session's output path: the output thread, from the connection to the caller's sinks.

The thread (``threadpty-output-<id>``) runs a :class:`~threadpty._pump.ConnectionReader` to the
connection's end, which lends the connection to a PIPE's reader on the way. How the output ended
is the session's outcome to record: the end of the stream is an exit, a reader that went away
(``| head``) a broken pipe, anything else an error. On its way out the thread finishes the sinks,
lets the session finish, and only then closes the connection: it is the one reader.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from ._lifecycle import Ending, Lifecycle
from ._plan import Streams
from ._pump import ConnectionReader
from .target import Channel, Target


class OutputForwarder:
    """Passes a session's output on, on a thread of its own (:meth:`start`).

    How the output ended ends the session, through ``life``; ``finish`` is the session's last
    step, which the thread runs on its way out.
    """

    def __init__(
        self,
        target: Target,
        conn: Channel,
        streams: Streams,
        life: Lifecycle,
        finish: Callable[[], None],
    ) -> None:
        self._target = target
        self._conn = conn
        self._out, self._err = out, err = streams.out, streams.err
        self._life = life
        self._finish = finish
        self.reader = ConnectionReader(conn, target.tty, out, err)
        self.thread = threading.Thread(
            target=self._run, name=f"threadpty-output-{target.name}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """The session is ending: the output thread takes the lease back (see ``_pump``)."""
        self.reader.stop()

    def join(self, timeout: Optional[float]) -> None:
        """Wait for the thread, unless it is the caller's own or was never started."""
        thread = self.thread
        if thread.ident is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        reader = self.reader
        try:
            reader.run()
            if reader.parser is not None and not self._life.ended:
                reader.parser.close()
            self._life.end(Ending.EXIT)
        except BrokenPipeError:
            # Whoever read our output has gone (`| head`): end quietly, leave the container be.
            # (A closed PIPE is not this: it drops what comes, and the command runs on.)
            self._life.end(Ending.BROKEN)
        except BaseException as exc:  # noqa: BLE001 - re-raised from join()
            explain = getattr(self._target, "explain", None)
            self._life.fail(explain(exc) if explain is not None else exc)
        finally:
            for sink in (self._out, self._err):
                try:
                    sink.finish()
                except (BrokenPipeError, ValueError):
                    pass
                except BaseException as exc:  # noqa: BLE001
                    self._life.fail(exc)
            self._finish()
            self._conn.close()  # the only reader, so only now is it safe
