"""What a session is attached to: the engine side of a terminal, behind one small protocol.

A :class:`Target` opens the one hijacked connection, starts what must be started, resizes the TTY,
and tells the exit status afterwards. :class:`ContainerTarget` (``docker run``/``attach``) and
:class:`ExecTarget` (``docker exec``) are the two the engine has; a test double or another engine
is a third kind, and a :class:`~threadpty.Session` needs nothing else from it.

Targets know nothing of the caller's streams or terminal: those belong to the session.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Protocol, Tuple, Union, runtime_checkable

from . import _docker
from ._connection import open_attach, open_exec
from .errors import EngineError, ProtocolError, ThreadptyError

# How long to wait for an exec to report that it is no longer running, once its output ended.
EXEC_EXIT_WAIT = 10.0

# Podman passes a resize to conmon through a control FIFO, and conmon before containers/conmon#566
# (June 2025; Podman 4.x ships older ones) applies only the first message of each read of it: two
# sizes sent back to back, as an attach's redraw nudge and its real size are, can leave the
# terminal at the first for good. Sizes for one TTY are sent this far apart there, so that conmon
# reads each alone.
PODMAN_RESIZE_GAP = 0.1


class _ResizeSpacing:
    """Keeps one TTY's resize calls ``PODMAN_RESIZE_GAP`` apart on Podman (asked lazily, on the
    resize thread, so that no start waits for the engine's name); nothing elsewhere. Only the
    session's resize thread calls it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._gap: Optional[float] = None
        self._last = float("-inf")

    def call(self, resize: Any, *args: Any, **kwargs: Any) -> None:
        if self._gap is None:
            self._gap = PODMAN_RESIZE_GAP if _docker.engine(self._client).is_podman else 0.0
        if self._gap:
            wait = self._last + self._gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        try:
            _docker.call(resize, *args, **kwargs)
        finally:
            self._last = time.monotonic()


@runtime_checkable
class Channel(Protocol):
    """The hijacked connection as a session uses it: one reader thread, one writer at a time."""

    def readinto(self, buf: memoryview) -> int:
        """Block until something arrives; fill ``buf``; 0 means the end of the output."""

    def sendall(self, data: bytes) -> None:
        """Send all of ``data``, blocking while the other side does not read."""

    def close_write(self) -> bool:
        """Half-close: end the input; False where the transport cannot."""

    def abort(self) -> None:
        """Wake a thread blocked in ``readinto`` or ``sendall``; from any thread, any time."""

    def close(self) -> None:
        """Release it, once no thread is inside ``readinto`` any more."""


@runtime_checkable
class Target(Protocol):
    """The engine side of a session.

    ``tty``: the target has a TTY (output is one raw stream, not frames). ``stdin_open``: it
    takes input. ``half_close_at_eof``: a half-close reaches the process as end of input (where
    it would end the output instead, the session just stops sending). ``redraw``: the program is
    already running, so the session nudges the size once to make it repaint. ``name`` is short,
    for thread names.
    """

    name: str
    tty: bool
    stdin_open: bool
    half_close_at_eof: bool
    redraw: bool

    def connect(self, stdin: bool, detach_keys: Optional[str]) -> Channel:
        """Open the connection (``stdin``: attach the input too); called by ``Session.start``."""

    def begin(self) -> None:
        """Start what must run once the connection is open (a container not yet running).

        Called by ``Session.start`` after ``connect``, so no early output is lost.
        """

    def resize(self, height: int, width: int) -> None:
        """Set the TTY's size; called on the session's resize thread, may raise (it is retried
        for the first size, then logged)."""

    def exit_code(self) -> Optional[int]:
        """The exit status once the output has ended; None when it cannot be known.

        Called once, after a natural end, by the thread that finishes the session (the output
        thread, or ``close``); it may block for the engine's answer. What it raises is what
        ``join`` raises: :class:`~threadpty.EngineError` for an engine that cannot be reached.
        """

    def is_gone(self) -> bool:
        """Whether the process has ended (a failing resize is then no error)."""

    def kill(self, signum: int) -> None:
        """Send a signal to the process; raise ``ThreadptyError`` where the engine cannot.

        Called on the session's signal-forwarding thread (``sig_proxy``).
        """


class ContainerTarget:
    """A container, as ``docker run -a``/``docker attach`` see it: attach, start if needed.

    ``container`` is an id, a name, the dict ``create_container`` returns, or a ``Container``.
    ``logs`` replays the container's earlier output before the live stream (None: no replay, as
    ``docker attach`` does).
    """

    def __init__(
        self, client: Any, container: Any, logs: Optional[Union[bool, int]] = None
    ) -> None:
        self.client = _docker.api_client(client)
        self.logs = logs
        info = _docker.call(self.client.inspect_container, _docker.container_id(container))
        self.container: str = info["Id"]
        self.name = self.container[:12]
        config = info.get("Config") or {}
        self.tty = bool(config.get("Tty"))
        self.stdin_open = bool(config.get("OpenStdin"))
        # Docker closes the container's stdin on a half-close only without a TTY and with
        # StdinOnce; otherwise it ends the *output*, and later output would be lost
        # (moby/moby#38457). Podman passes a half-close on as end of input whatever StdinOnce
        # says (and it always says false), so there it is sent. Which engine it is (a /version
        # call) is asked only of a container that can take input at all.
        self.half_close_at_eof = not self.tty and (
            bool(config.get("StdinOnce"))
            or (self.stdin_open and _docker.engine(self.client).is_podman)
        )
        state = info.get("State") or {}
        self._running = bool(state.get("Running"))
        # Who else may start it between now and begin() (compose does, after sockets()): the
        # start time tells, since a container started and already ended is no longer running.
        self._started_at = state.get("StartedAt")
        log_config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        self._log_driver = log_config.get("Type") or ""
        self.redraw = self._running and self.tty
        self._spacing = _ResizeSpacing(self.client)

    def connect(self, stdin: bool, detach_keys: Optional[str] = None) -> Channel:
        """Attach to the container's streams (one connection for all of them)."""
        params: Dict[str, Any] = {
            "stdin": 1 if stdin else 0,
            "stdout": 1,
            "stderr": 1,
            "stream": 1,
            # The none driver keeps no logs, and asking for them makes the attach fail.
            "logs": 1 if self.logs and self._log_driver != "none" else 0,
        }
        if detach_keys:
            params["detachKeys"] = detach_keys
        return open_attach(self.client, self.container, params)

    def explain(self, exc: BaseException) -> BaseException:
        """The error to report for ``exc``, which ended the stream: an engine's known fault
        named where it is the cause."""
        replaying = self.logs and self._log_driver != "none" and not self.tty
        if isinstance(exc, ProtocolError) and replaying and _docker.engine(self.client).is_podman:
            engine = _docker.engine(self.client)
            return ProtocolError(
                f"{engine.name} {engine.version} sent a malformed stream: with logs=True it "
                "replays earlier output in frames whose headers count one byte fewer than they "
                "carry (a bug of Podman's Docker-compatible attach, not of this stream). Attach "
                f"without logs=True on this engine ({exc})"
            )
        return exc

    def begin(self) -> None:
        """Start the container unless it runs, or someone started it since this was made."""
        if self._running:
            return
        state = _docker.call(self.client.inspect_container, self.container).get("State") or {}
        if not state.get("Running") and state.get("StartedAt") == self._started_at:
            _docker.call(self.client.start, self.container)
        self._running = True

    def resize(self, height: int, width: int) -> None:
        """The engine's container resize call."""
        self._spacing.call(self.client.resize, self.container, height=height, width=width)

    def exit_code(self) -> Optional[int]:
        """The engine's ``wait`` (blocks until the container has exited); None if it was
        removed as it ended."""
        import docker.errors

        with _docker.asking_exit_status():
            try:
                return int(_docker.call(self.client.wait, self.container)["StatusCode"])
            except docker.errors.NotFound:
                return None  # removed as it ended (auto-remove): the status is gone with it

    def is_gone(self) -> bool:
        """Whether the container has stopped (or cannot be inspected)."""
        try:
            info = _docker.call(self.client.inspect_container, self.container)
        except Exception:  # noqa: BLE001 - any failure here means we cannot resize it either
            return True
        return not (info.get("State") or {}).get("Running")

    def kill(self, signum: int) -> None:
        """Send ``signum`` to the container's main process."""
        _docker.call(self.client.kill, self.container, signal=signum)


class ExecTarget:
    """An exec created earlier (not yet started): attaching starts it.

    ``exec_id`` is the id or the dict ``exec_create`` returns.
    """

    def __init__(
        self, client: Any, exec_id: Any, *, _created: Optional[Dict[str, Any]] = None
    ) -> None:
        self.client = _docker.api_client(client)
        self.exec_id = _docker.exec_id(exec_id)
        # An exec this process has just created is known already: no inspect round trip.
        info = (
            _created
            if _created is not None
            else _docker.call(self.client.exec_inspect, self.exec_id)
        )
        self.name = self.exec_id[:12]
        self.container = info.get("ContainerID", "")
        self.tty = bool((info.get("ProcessConfig") or {}).get("tty"))
        self.stdin_open = bool(info.get("OpenStdin"))
        self.half_close_at_eof = not self.tty
        self.redraw = False
        self._spacing = _ResizeSpacing(self.client)
        # The size to start the process at, where the engine takes one (see size_at_start).
        self._start_size: Optional[Tuple[int, int]] = None
        if _started(info):
            raise ThreadptyError(f"exec {self.name} has already been started; create a new one")

    @classmethod
    def create(
        cls,
        client: Any,
        container: Any,
        command: Any,
        *,
        stdin: bool,
        tty: bool,
        detach_keys: Optional[str] = None,
        **options: Any,
    ) -> "ExecTarget":
        """Create an exec of ``command`` in ``container`` and return it, not yet started."""
        api = _docker.api_client(client)
        cid = _docker.container_id(container)
        created = _docker.call(
            api.exec_create,
            cid,
            command,
            stdout=True,
            stderr=True,
            stdin=stdin,
            tty=tty,
            detach_keys=detach_keys,
            **options,
        )
        known = {"ContainerID": cid, "ProcessConfig": {"tty": tty}, "OpenStdin": stdin}
        return cls(api, created, _created=known)

    def size_at_start(self, height: int, width: int) -> bool:
        """Ask for the TTY to have this size from the first byte; False where the engine cannot
        (API before 1.42, which has no ``ConsoleSize`` at exec start): resize it once started.

        Called before :meth:`connect`."""
        if not self.tty or not _docker.api_at_least(self.client, "1.42"):
            return False
        self._start_size = (height, width)
        return True

    def connect(self, stdin: bool, detach_keys: Optional[str] = None) -> Channel:
        """Start the exec and take its connection (detach keys were given at creation)."""
        # Exec detach keys are given when the exec is created.
        return open_exec(self.client, self.exec_id, self.tty, self._start_size)

    def begin(self) -> None:
        """Nothing: an exec starts as it is attached."""

    def resize(self, height: int, width: int) -> None:
        """The engine's exec resize call (it fails until the exec's process runs)."""
        self._spacing.call(self.client.exec_resize, self.exec_id, height=height, width=width)

    def _inspect(self) -> Dict[str, Any]:
        return dict(_docker.call(self.client.exec_inspect, self.exec_id))

    def exit_code(self) -> Optional[int]:
        """The exec's exit status, waiting a moment for the engine to record it (None past
        that); raises :class:`~threadpty.EngineError` if the exec vanished."""
        with _docker.asking_exit_status():
            return self._exit_code()

    def _exit_code(self) -> Optional[int]:
        # The output can end a moment before the engine records the exit.
        import docker.errors

        deadline = time.monotonic() + EXEC_EXIT_WAIT
        delay = 0.005
        while True:
            try:
                info = self._inspect()
            except docker.errors.NotFound as exc:
                raise EngineError(
                    f"exec {self.name} vanished before its exit status was known "
                    "(did the engine restart?)"
                ) from exc
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            if time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def is_gone(self) -> bool:
        """Whether the exec's process has ended (or the exec cannot be inspected).

        Not yet running is not gone: under load an exec's process starts well after its
        connection is open, and its first size must wait for it, not be dropped."""
        try:
            info = self._inspect()
        except Exception:  # noqa: BLE001
            return True
        return not info.get("Running") and _started(info)

    def kill(self, signum: int) -> None:
        """Always raises :class:`~threadpty.ThreadptyError`: the engine has no kill for execs."""
        raise ThreadptyError("the engine cannot signal an exec (it has no kill API for execs)")


def _started(info: Dict[str, Any]) -> bool:
    """Whether an exec's inspect shows it started: running, a process id, or a non-zero status.

    Docker answers ``ExitCode: null`` for an exec created and not started, Podman ``0`` (and Pid
    0), so a status of 0 alone says nothing; an exec that ran and exited 0 keeps its Pid.
    """
    return bool(info.get("Running") or info.get("Pid") or info.get("ExitCode"))
