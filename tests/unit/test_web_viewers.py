"""Viewers of a shared session (``threadpty.web._viewers``, ``WebSession.join``), with fake
connections and a fake terminal: no engine, no sockets. Every viewer gets the output in order; a
viewer that does not read costs its bound and no more, is resynchronised from the replay buffer,
then dropped; viewers neither take the session over, nor size it, nor (unless allowed) type."""

from __future__ import annotations

import json
import threading
from typing import Any, List, Optional, Tuple

import pytest

pytest.importorskip("websockets")

from test_web_linger import FakeWS, connection, make  # noqa: E402

from threadpty.web._bridge import Bridge, WebSession  # noqa: E402
from threadpty.web._protocol import BadMessage, parse_control  # noqa: E402
from threadpty.web._viewers import (  # noqa: E402
    DROPPED_CODE,
    MIN_BACKLOG,
    Viewer,
    backlog_for,
)

pytestmark = pytest.mark.timeout(30)

WAIT = 10.0


class Page:
    """A viewer's page: what it was sent, and a gate that holds its sends (a page that does not
    read) until opened."""

    def __init__(self, reading: bool = True) -> None:
        self.sent: List[Any] = []
        self.closed: Optional[Tuple[int, str]] = None
        self.gate = threading.Event()
        if reading:
            self.gate.set()
        self.blocked = threading.Event()  # set once a send waits at the gate
        self.got = threading.Condition()

    def send(self, message: Any) -> None:
        if not self.gate.is_set():
            self.blocked.set()
            assert self.gate.wait(WAIT), "the test never let the page read"
        with self.got:
            self.sent.append(message)
            self.got.notify_all()

    def close(self, code: int, reason: str) -> None:
        with self.got:
            self.closed = (code, reason)
            self.got.notify_all()

    def wait_closed(self) -> Tuple[int, str]:
        with self.got:
            assert self.got.wait_for(lambda: self.closed is not None, WAIT), self.sent
            assert self.closed is not None
            return self.closed

    def wait_for(self, predicate: Any) -> None:
        with self.got:
            assert self.got.wait_for(lambda: predicate(self.sent), WAIT), self.sent

    def controls(self) -> List[dict]:
        return [json.loads(m) for m in self.sent if isinstance(m, str)]

    def output(self) -> bytes:
        return b"".join(m for m in self.sent if isinstance(m, bytes))


def viewer(page: Page, limit: int = 100) -> Viewer:
    v = Viewer(1, page.send, page.close, limit)
    v.start([])
    return v


def test_output_and_controls_go_in_order() -> None:
    page = Page()
    v = viewer(page)
    v.output(b"one ", lambda: b"")
    v.control('{"type":"size","rows":5,"cols":6}')
    v.output(b"two", lambda: b"")
    v.finish(1000, "", '{"type":"exit","code":0}')
    assert page.wait_closed() == (1000, "")
    assert page.sent == [b"one ", '{"type":"size","rows":5,"cols":6}', b"two",
                         '{"type":"exit","code":0}']  # fmt: skip
    v.stop(lambda: None)


def test_a_viewer_that_does_not_read_is_resynchronised_then_dropped() -> None:
    page = Page(reading=False)
    v = viewer(page, limit=100)
    v.output(b"a" * 10, lambda: b"")
    assert page.blocked.wait(WAIT)  # its thread holds that chunk, stuck in the send
    replay = b"R" * 40
    for _ in range(9):
        v.output(b"b" * 10, lambda: replay)  # 90 bytes queued: within the bound
    assert v.resyncs == 0 and v._queued == 90
    v.output(b"c" * 20, lambda: replay)  # past it: the backlog goes, the replay comes
    assert v.resyncs == 1 and not v.closing
    assert list(v._items) == ['{"type": "resync"}', replay] and v._queued == 40
    for _ in range(6):
        v.output(b"d" * 10, lambda: replay)
    assert v._queued == 100
    v.output(b"e", lambda: replay)  # behind again, never having caught up: dropped
    assert v.closing and v.resyncs == 1 and v._queued == 0
    v.output(b"f" * 50, lambda: replay)  # nothing more is kept for it
    assert v._queued == 0
    page.gate.set()
    assert page.wait_closed()[0] == DROPPED_CODE
    assert page.output() == b"a" * 10  # the one chunk it was sending, and nothing after
    [error] = page.controls()
    assert error["type"] == "error" and "fell behind" in error["message"]
    v.stop(lambda: None)


def test_a_viewer_that_caught_up_is_resynchronised_again_not_dropped() -> None:
    page = Page(reading=False)
    v = viewer(page, limit=100)
    v.output(b"a", lambda: b"")
    assert page.blocked.wait(WAIT)
    v.output(b"b" * 101, lambda: b"RR")
    assert v.resyncs == 1
    page.gate.set()  # it reads now, and catches up
    page.wait_for(lambda sent: sent[-1:] == [b"RR"])
    page.gate.clear()
    page.blocked.clear()
    v.output(b"c", lambda: b"")
    assert page.blocked.wait(WAIT)
    v.output(b"d" * 101, lambda: b"SS")
    assert v.resyncs == 2 and not v.closing
    page.gate.set()
    page.wait_for(lambda sent: sent[-1:] == [b"SS"])
    v.stop(lambda: None)
    assert page.wait_closed() == (1000, "")


def test_a_page_gone_ends_the_viewer_thread() -> None:
    cut = threading.Event()

    def send(message: Any) -> None:
        raise OSError("gone")

    closes: List[int] = []
    v = Viewer(7, send, lambda code, reason: closes.append(code), 100)
    v.start([b"x"])
    assert v._thread.name == "threadpty-web-view-7"
    v._thread.join(WAIT)
    assert not v._thread.is_alive() and v.closing and closes == []
    v.stop(cut.set)
    assert not cut.is_set()


def test_a_stuck_viewer_is_cut_when_its_connection_ends() -> None:
    page = Page(reading=False)
    v = viewer(page)
    v.output(b"x", lambda: b"")
    assert page.blocked.wait(WAIT)
    v.stop(page.gate.set, timeout=0.1)  # the cut: here, the send returns
    assert not v._thread.is_alive()
    assert v.overdue(float("inf"))


def test_the_backlog_has_room_for_a_replay_and_as_much_after_it() -> None:
    assert backlog_for(256 * 1024) == 512 * 1024
    assert backlog_for(0) == 2 * MIN_BACKLOG


def test_a_start_may_ask_to_view() -> None:
    start = parse_control('{"type":"start","rows":2,"cols":3,"session":"k","join":"view"}')
    assert start["join"] == "view"
    for bad in ('"join":"take"', '"join":"view","session":null', '"join":"view"'):
        with pytest.raises(BadMessage):
            parse_control('{"type":"start","rows":2,"cols":3,' + bad + "}")


# Viewers of a session ------------------------------------------------------------------------


def shared(max_viewers: int = 2, writers: bool = False, replay: int = 1024) -> Any:
    session, terminals, freed = make(replay=replay)
    session.max_viewers = max_viewers
    session.shared_writers = writers
    owner, ws1 = connection(1)
    session.begin(owner, (24, 80))
    return session, terminals[0], owner, ws1


class Written(List[bytes]):
    def __call__(self, data: bytes) -> None:
        self.append(data)


class ViewerWS(FakeWS):
    """A viewer's connection: what its thread sent (waited for on a condition), and the frames
    its page sends, read by its connection's thread until none is left (then it ends)."""

    def __init__(self, frames: Optional[List[Any]] = None) -> None:
        super().__init__()
        self.frames: List[Any] = list(frames or [])
        self.socket = None
        self.changed = threading.Condition()

    def recv(self) -> Any:
        return self.frames.pop(0) if self.frames else None

    def send(self, message: Any) -> None:
        with self.changed:
            super().send(message)
            self.changed.notify_all()

    def close(self, code: int = 1000, reason: str = "", wait: float = 0) -> None:
        with self.changed:
            super().close(code, reason, wait)
            self.changed.notify_all()

    def wait(self, predicate: Any) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), WAIT), self.sent


def join(
    session: WebSession, n: int, frames: Optional[List[Any]] = None
) -> Tuple[Bridge, ViewerWS, threading.Thread]:
    """A viewer joined, and its connection's thread (not started)."""
    ws = ViewerWS(frames)
    bridge = Bridge(ws, n)  # type: ignore[arg-type]
    assert session.join(bridge)
    return bridge, ws, threading.Thread(target=bridge.watch_session, args=(session,))


def test_a_viewer_joins_beside_the_page_and_follows_its_size() -> None:
    session, terminal, owner, ws1 = shared()
    terminal.output(memoryview(b"before "))
    bridge, ws2, _ = join(session, 2)
    # The owner's page is neither closed nor replaced.
    assert ws1.closed is None and session.owner is owner and session._conn is owner
    terminal.output(memoryview(b"after"))
    session.resize(owner, (30, 100))
    session.resize(bridge, (5, 5))  # a viewer's size changes nothing
    assert terminal.sizes == [(30, 100)]
    ws2.wait(lambda ws: len(ws.sent) >= 5)
    assert ws2.controls() == [
        {"type": "session", "id": session.key, "resumed": True, "linger": 30.0,
         "view": True, "write": False},
        {"type": "size", "rows": 24, "cols": 80},
        {"type": "size", "rows": 30, "cols": 100},
    ]  # fmt: skip
    assert ws2.output() == b"before after" and ws1.output() == b"before after"
    assert session.view(0).viewers == 2
    session.leave(bridge)
    assert session.view(0).viewers == 1
    assert bridge.viewer is not None
    bridge.viewer.stop(ws2.cut)


def test_a_read_only_viewer_types_nothing_and_a_shared_writer_does() -> None:
    for writers in (False, True):
        session, terminal, owner, ws1 = shared(writers=writers)
        written = Written()
        terminal.write = written  # type: ignore[method-assign]
        frames = [b"typed", '{"type":"resize","rows":3,"cols":4}', '{"type":"pause"}']
        bridge, ws2, thread = join(session, 2, frames)
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert written == ([b"typed"] if writers else [])
        assert terminal.sizes == [] and session._flowing.is_set()
        assert session.view(0).viewers == 1  # it left as its connection ended
        assert ws2.closed == 1000


def test_viewers_are_capped_and_told_the_end() -> None:
    session, terminal, owner, ws1 = shared(max_viewers=1)
    bridge, ws2, _ = join(session, 2)
    with pytest.raises(BadMessage, match="maximum of 1 viewers"):
        session.join(connection(3)[0])
    terminal.over(0, None)  # the process ended
    ws2.wait(lambda ws: ws.closed == 1000)
    assert ws2.controls()[-1] == {"type": "exit", "code": 0}
    assert not session.join(connection(4)[0])  # nothing left to view


def test_the_index_end_closes_the_viewers_too() -> None:
    session, terminal, owner, ws1 = shared()
    bridge, ws2, _ = join(session, 2)
    session.end()
    ws2.wait(lambda ws: ws.closed == 4000)
