"""Unit tests of the process-wide SIGWINCH dispatcher (no engine needed)."""

from __future__ import annotations

import os
import queue
import signal
import threading
from typing import Any, List

import pytest

import threadpty
from threadpty._winch import WINCH, dispatcher

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGWINCH"), reason="no SIGWINCH here")


@pytest.fixture
def previous() -> Any:
    calls: List[int] = []

    def handler(signum: int, frame: Any) -> None:
        calls.append(signum)

    old = signal.signal(signal.SIGWINCH, handler)
    handler.calls = calls  # type: ignore[attr-defined]
    yield handler
    signal.signal(signal.SIGWINCH, old)


def test_one_handler_for_many_subscribers_and_chained(previous: Any) -> None:
    queues: List[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(3)]
    for q in queues:
        assert dispatcher.subscribe(q)
    assert signal.getsignal(signal.SIGWINCH) == dispatcher._handle
    os.kill(os.getpid(), signal.SIGWINCH)
    for q in queues:
        assert q.get(timeout=5) is WINCH
    assert previous.calls == [signal.SIGWINCH]
    for q in queues[:-1]:
        dispatcher.unsubscribe(q)
        assert signal.getsignal(signal.SIGWINCH) == dispatcher._handle
    dispatcher.unsubscribe(queues[-1])
    assert signal.getsignal(signal.SIGWINCH) is previous


def subscribe_from_a_thread(q: queue.SimpleQueue) -> bool:
    """What ``dispatcher.subscribe`` answers when called from a thread other than the main one."""
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(dispatcher.subscribe(q)))
    t.start()
    t.join(timeout=10)
    return got[0]


def test_no_handler_from_another_thread(previous: Any) -> None:
    assert subscribe_from_a_thread(queue.SimpleQueue()) is False
    assert signal.getsignal(signal.SIGWINCH) is previous


def test_sigwinch_context_lets_threads_subscribe(previous: Any) -> None:
    with threadpty.sigwinch() as w:
        assert w.installed
        q: queue.SimpleQueue = queue.SimpleQueue()
        assert subscribe_from_a_thread(q) is True
        dispatcher.unsubscribe(q)
        assert signal.getsignal(signal.SIGWINCH) == dispatcher._handle
    assert signal.getsignal(signal.SIGWINCH) is previous


def test_fallback_mode_never_installs(previous: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("THREADPTY_FALLBACK", "1")
    q: queue.SimpleQueue = queue.SimpleQueue()
    assert not dispatcher.subscribe(q)
    assert signal.getsignal(signal.SIGWINCH) is previous
