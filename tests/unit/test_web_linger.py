"""A session's life across connections (``threadpty.web._bridge.WebSession``), with a fake terminal
and fake connections: no engine, no sockets. Who owns the session, where output goes while
nobody is attached, what a reattaching page is sent, and when the session ends."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, List, Optional, Tuple

import pytest

pytest.importorskip("websockets")

from threadpty.web._bridge import Bridge, WebSession  # noqa: E402
from threadpty.web._sessions import TAKEN_CODE  # noqa: E402
from threadpty.web._websocket import Closed  # noqa: E402


class FakeWS:
    def __init__(self) -> None:
        self.sent: List[Any] = []
        self.closed: Optional[int] = None

    def send(self, message: Any) -> None:
        if self.closed is not None:
            raise Closed()
        self.sent.append(bytes(message) if not isinstance(message, str) else message)

    def close(self, code: int = 1000, reason: str = "", wait: float = 0) -> None:
        self.closed = code

    def cut(self) -> None:
        self.closed = self.closed or 1006

    def output(self) -> bytes:
        return b"".join(m for m in self.sent if isinstance(m, bytes))

    def controls(self) -> List[dict]:
        return [json.loads(m) for m in self.sent if isinstance(m, str)]


class FakeTerminal:
    container = "c0ffee"

    def __init__(self, output: Callable[[memoryview], None], over: Any) -> None:
        self.output = output
        self.over = over
        self.sizes: List[Tuple[int, int]] = []
        self.ended = threading.Event()
        self.closed = threading.Event()

    def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))

    def write(self, data: bytes) -> None:
        pass

    def end(self) -> None:
        self.ended.set()

    def close(self) -> None:
        self.closed.set()


def make(linger: float = 30.0, replay: int = 1024) -> Tuple[WebSession, List[FakeTerminal], list]:
    terminals: List[FakeTerminal] = []
    freed: list = []

    def opener(size: Tuple[int, int], output: Any, over: Any) -> Any:
        terminal = FakeTerminal(output, over)
        terminals.append(terminal)
        return terminal

    session = WebSession(
        1, ("exec", 0, "c"), opener, linger=linger, replay=replay, on_free=freed.append
    )
    return session, terminals, freed


def connection(n: int) -> Tuple[Bridge, FakeWS]:
    ws = FakeWS()
    return Bridge(ws, n), ws  # type: ignore[arg-type]


def lingering(session: WebSession, bridge: Bridge) -> threading.Thread:
    """The connection's thread giving the session up, as when its page goes."""
    thread = threading.Thread(target=session.release, args=(bridge,), name="test-release")
    thread.start()
    return thread


def test_a_new_session_tells_its_page_its_id_first() -> None:
    session, terminals, freed = make()
    first, ws1 = connection(1)
    session.begin(first, (24, 80))
    [hello] = ws1.controls()
    assert hello == {"type": "session", "id": session.key, "resumed": False, "linger": 30.0}
    assert len(session.key) >= 32 and session.owner is first and terminals


@pytest.fixture
def started() -> Any:
    session, terminals, freed = make()
    first, ws1 = connection(1)
    session.begin(first, (24, 80))
    return session, terminals[0], freed, first, ws1


def test_a_page_reattaching_gets_the_replay_then_a_redraw(started: Any) -> None:
    session, terminal, freed, first, ws1 = started
    terminal.output(memoryview(b"before "))
    ws1.closed = 1006
    session.gone(first)  # the page went, as the watch thread sees it
    thread = lingering(session, first)
    terminal.output(memoryview(b"while away"))  # flows, to the replay only
    assert session.view(0).viewers == 0
    second, ws2 = connection(2)
    assert session.attach(second, (30, 100))
    thread.join(5)
    assert not thread.is_alive(), "the old connection's thread did not leave"
    assert ws2.controls() == [
        {"type": "session", "id": session.key, "resumed": True, "linger": 30.0}
    ]
    assert ws2.output() == b"before while away"
    assert terminal.sizes[-2:] == [(30, 99), (30, 100)]  # the page's size last
    terminal.output(memoryview(b"!"))
    assert ws2.output().endswith(b"!")
    assert not terminal.closed.is_set() and freed == []
    assert session.owner is second


def test_a_second_page_takes_over_a_live_one(started: Any) -> None:
    session, terminal, freed, first, ws1 = started
    second, ws2 = connection(2)
    assert session.attach(second, (24, 80))
    assert ws1.closed == TAKEN_CODE
    # The first connection's thread, once its close is through, leaves the session be.
    session.release(first)
    assert not terminal.closed.is_set() and freed == []


def test_the_linger_time_ends_the_session(started: Any) -> None:
    session, terminal, freed, first, ws1 = started
    session.linger = 0.2
    session.release(first)  # waits the linger time, then ends it
    assert terminal.closed.is_set() and freed == [session]
    assert session.wait(0)
    second, _ = connection(2)
    assert not session.attach(second, (24, 80)), "an ended session was reattached"


def test_the_end_of_its_process_ends_a_lingering_session(started: Any) -> None:
    session, terminal, freed, first, ws1 = started
    thread = lingering(session, first)
    terminal.over(0, None)
    thread.join(5)
    assert not thread.is_alive() and terminal.closed.is_set() and freed == [session]


def test_the_index_and_the_stop_end_a_lingering_session(started: Any) -> None:
    session, terminal, freed, first, ws1 = started
    thread = lingering(session, first)
    session.stop()
    thread.join(5)
    assert not thread.is_alive() and terminal.closed.is_set() and freed == [session]


def test_without_linger_the_session_ends_with_its_connection() -> None:
    session, terminals, freed = make(linger=0)
    first, ws1 = connection(1)
    session.begin(first, (24, 80))
    assert ws1.controls() == []  # nothing said of a session that will not be kept
    terminals[0].output(memoryview(b"x"))
    assert len(session._replay) == 0
    session.release(first)
    assert terminals[0].closed.is_set() and freed == [session]
