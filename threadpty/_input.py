"""A session's input path: from the caller's input to the connection, and its end.

Input comes from an object the session reads on its input thread (``threadpty-input-<id>``), or
from ``session.stdin`` (``stdin=PIPE``: an ``InputPipe`` whose writes call :meth:`send` from the
writer's own thread). Either way it waits for the window sizes asked for before it, goes through
the detach-key matcher, and is sent; the end of input becomes a half-close where the engine makes
that the container's end of file. What ends the session is the session's to decide: this path
only tells it (a detach, an error).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from ._detach import DetachMatcher
from ._lifecycle import Ending, Lifecycle, State
from ._pipes import PIPE, InputPipe, writer
from ._plan import Streams
from ._resize import Resizer
from ._streams import Source
from .errors import ThreadptyError
from .target import Channel, Target

log = logging.getLogger("threadpty")

# How long the session waits for the input thread once woken (longer only for an input object
# that cannot be woken, see Source).
INPUT_JOIN = 2.0
# How long input waits for the window sizes asked for before it to be applied.
RESIZE_WAIT = 2.0
# ... and for the first size, which cannot be applied before the process runs.
FIRST_SIZE_WAIT = 30.0


def _current(thread: threading.Thread) -> bool:
    return thread is threading.current_thread()


class InputForwarder:
    """Sends a session's input on: the input thread's work, and ``session.stdin``'s.

    With ``takes_input``, input is read from ``streams.stdin_obj`` on the input thread, or, with
    ``stdin=PIPE``, written to :attr:`stdin` (a file object over :meth:`send` and :meth:`end`).
    A detach or an error ends the session through ``life``, which also holds the connection
    once it is open. The session sets ``resizer`` once it has one; input sent goes to the
    streams' recording, if the session has one (it records input only when asked to).
    """

    def __init__(
        self, target: Target, streams: Streams, takes_input: bool, life: Lifecycle
    ) -> None:
        reads = takes_input and streams.stdin is not PIPE
        self._source = Source(streams.stdin_obj) if reads else None
        self._matcher = DetachMatcher(streams.detach_bytes) if target.tty else None
        self._half_close = target.half_close_at_eof
        self._life = life
        self._streams = streams
        self.resizer: Optional[Resizer] = None
        self.thread: Optional[threading.Thread] = None
        if self._source is not None:
            name = f"threadpty-input-{target.name}"
            self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.stdin: Any = None
        if takes_input and streams.stdin is PIPE:
            pipe = InputPipe(self.send, self.end)
            self.stdin = writer(pipe, streams.text, streams.encoding, streams.errors)

    @property
    def reads(self) -> bool:
        """Whether input is read from an object, on the input thread."""
        return self._source is not None

    def _run(self) -> None:
        source = self._source
        assert source is not None
        try:
            while True:
                data = source.read()
                if not data:
                    break
                self.send(data)
                if self._life.ended:
                    return
            self.end()
        except (BrokenPipeError, ConnectionResetError):
            return  # the container's side closed: the output thread decides the outcome
        except OSError as exc:
            if not self._life.ended:
                self._life.fail(exc)
        except BaseException as exc:  # noqa: BLE001
            self._life.fail(exc)

    def send(self, data: bytes) -> None:
        """Send input on (from the input thread or a ``session.stdin`` writer)."""
        conn: Optional[Channel] = self._life.conn
        if conn is None or self._life.state is State.STARTING:
            raise ThreadptyError("start the session before writing to its stdin")
        if self._life.ended:
            raise BrokenPipeError("the session has ended")
        resizer = self.resizer
        if resizer is not None and not resizer.settled.is_set():
            # Input waits (at most a moment) for the sizes asked for before it, the first one
            # included (an exec cannot be sized before its process runs): what is typed after a
            # resize() is answered at the new size, as on a local terminal. The first size is
            # retried until the process runs, which under load takes seconds: a shell that read
            # its input before would answer at 0x0.
            resizer.settled.wait(RESIZE_WAIT if resizer.first_done else FIRST_SIZE_WAIT)
        detach = False
        if self._matcher is not None:
            data, detach = self._matcher.feed(data)
        try:
            if data:
                conn.sendall(data)
        except OSError as exc:
            if self._life.ended:
                raise BrokenPipeError("the session has ended") from exc
            raise
        recording = self._streams.recording
        if recording is not None and data:
            recording.input(data)
        if detach:
            self._life.end(Ending.DETACH)

    def end(self) -> None:
        """End of input: pass it on where the engine makes it the container's end of file."""
        conn: Optional[Channel] = self._life.conn
        if conn is None or self._life.ended:
            return
        if self._matcher is not None:
            held = self._matcher.flush()
            if held:
                conn.sendall(held)
        if self._half_close:
            conn.close_write()

    def start(self) -> None:
        """Start the input thread, if input is read from an object."""
        if self.thread is not None:
            self.thread.start()

    def stop(self) -> None:
        """Wake the input thread (the session is ending)."""
        if self._source is not None:
            self._source.stop()

    def finish(self) -> None:
        """Wait for the input thread (a moment: an object that cannot be woken is left to end at
        its read's return), then let go of the source."""
        thread = self.thread
        if thread is not None and thread.ident is not None and not _current(thread):
            thread.join(timeout=INPUT_JOIN)
            if thread.is_alive():
                log.debug("the input object cannot be woken; its thread ends later")
        if self._source is not None and (thread is None or not thread.is_alive()):
            self._source.close()
