"""What a session is attached to: the engine side of a terminal, behind one small protocol.

A :class:`Target` opens the one hijacked connection, starts what must be started, resizes the TTY,
and tells the exit status afterwards. :class:`ContainerTarget` (``docker run``/``attach``) and
:class:`ExecTarget` (``docker exec``) are the two the engine has; a test double or another engine
is a third kind, and a :class:`~threadpty.Session` needs nothing else from it.

Targets know nothing of the caller's streams or terminal: those belong to the session.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Union

from typing_extensions import Protocol, runtime_checkable

from . import _docker
from ._connection import open_attach, open_exec
from .errors import EngineError, ThreadptyError

# How long to wait for an exec to report that it is no longer running, once its output ended.
EXEC_EXIT_WAIT = 10.0


@runtime_checkable
class Channel(Protocol):
    """The hijacked connection as a session uses it: one reader thread, one writer at a time."""

    def readinto(self, buf: memoryview) -> int:
        """Block until something arrives; fill ``buf``; 0 means the end of the output."""

    def sendall(self, data: bytes) -> None: ...

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
        """Open the connection (``stdin``: attach the input too)."""

    def begin(self) -> None:
        """Start what must run once the connection is open (a container not yet running)."""

    def resize(self, height: int, width: int) -> None: ...

    def exit_code(self) -> Optional[int]:
        """The exit status once the output has ended; None when it cannot be known."""

    def is_gone(self) -> bool:
        """Whether the process has ended (a failing resize is then no error)."""

    def kill(self, signum: int) -> None:
        """Send a signal to the process; raise ``ThreadptyError`` where the engine cannot."""


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
        info = self.client.inspect_container(_docker.container_id(container))
        self.container: str = info["Id"]
        self.name = self.container[:12]
        config = info.get("Config") or {}
        self.tty = bool(config.get("Tty"))
        self.stdin_open = bool(config.get("OpenStdin"))
        # The engine closes the container's stdin on a half-close only without a TTY and with
        # StdinOnce; otherwise it ends the *output*, and later output would be lost
        # (moby/moby#38457).
        self.half_close_at_eof = not self.tty and bool(config.get("StdinOnce"))
        state = info.get("State") or {}
        self._running = bool(state.get("Running"))
        # Who else may start it between now and begin() (compose does, after sockets()): the
        # start time tells, since a container started and already ended is no longer running.
        self._started_at = state.get("StartedAt")
        log_config = (info.get("HostConfig") or {}).get("LogConfig") or {}
        self._log_driver = log_config.get("Type") or ""
        self.redraw = self._running and self.tty

    def connect(self, stdin: bool, detach_keys: Optional[str] = None) -> Channel:
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

    def begin(self) -> None:
        if self._running:
            return
        state = self.client.inspect_container(self.container).get("State") or {}
        if not state.get("Running") and state.get("StartedAt") == self._started_at:
            self.client.start(self.container)
        self._running = True

    def resize(self, height: int, width: int) -> None:
        self.client.resize(self.container, height=height, width=width)

    def exit_code(self) -> Optional[int]:
        import docker.errors

        try:
            return int(self.client.wait(self.container)["StatusCode"])
        except docker.errors.NotFound:
            return None  # removed as it ended (auto-remove): the status is gone with it

    def is_gone(self) -> bool:
        try:
            info = self.client.inspect_container(self.container)
        except Exception:  # noqa: BLE001 - any failure here means we cannot resize it either
            return True
        return not (info.get("State") or {}).get("Running")

    def kill(self, signum: int) -> None:
        self.client.kill(self.container, signal=signum)


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
        info = _created if _created is not None else self.client.exec_inspect(self.exec_id)
        self.name = self.exec_id[:12]
        self.container = info.get("ContainerID", "")
        self.tty = bool((info.get("ProcessConfig") or {}).get("tty"))
        self.stdin_open = bool(info.get("OpenStdin"))
        self.half_close_at_eof = not self.tty
        self.redraw = False
        if info.get("Running") or info.get("Pid") or info.get("ExitCode") is not None:
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
        created = api.exec_create(
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

    def connect(self, stdin: bool, detach_keys: Optional[str] = None) -> Channel:
        # Exec detach keys are given when the exec is created.
        return open_exec(self.client, self.exec_id, self.tty)

    def begin(self) -> None:
        """Nothing: an exec starts as it is attached."""

    def resize(self, height: int, width: int) -> None:
        self.client.exec_resize(self.exec_id, height=height, width=width)

    def _inspect(self) -> Dict[str, Any]:
        return dict(self.client.exec_inspect(self.exec_id))

    def exit_code(self) -> Optional[int]:
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
        try:
            return not self._inspect().get("Running")
        except Exception:  # noqa: BLE001
            return True

    def kill(self, signum: int) -> None:
        raise ThreadptyError("the engine cannot signal an exec (it has no kill API for execs)")
