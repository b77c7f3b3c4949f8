"""The resize policy (``threadpty._resize.ResizePlan``) on a fake clock: no thread, no engine.

Each test drives the plan as ``Resizer``'s thread does (``due``, then ``applied``/``failed``;
``next_wakeup``, then ``take`` or ``waited``) and moves the clock by hand, so bursts, backoffs and
the settled count are checked to the millisecond in milliseconds. ``Drive`` plays the thread: it
applies what is due against a fake engine and waits as the thread would, by moving the clock.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, List, Optional, Tuple

import pytest

from threadpty import _resize, _winch
from threadpty._resize import (
    BURST_MAX,
    BURST_QUIET,
    FIRST_DELAY,
    FIRST_DELAY_MAX,
    FIRST_WARN_AFTER,
    POLL_INTERVAL,
    READ_SIZE,
    Failure,
    ResizePlan,
    Resizer,
)

Size = Tuple[int, int]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Drive:
    """The resize thread's loop over a plan, with a fake engine and a fake clock."""

    def __init__(self, plan: ResizePlan, clock: Clock, fails: int = 0, gone: bool = False):
        self.plan, self.clock = plan, clock
        self.calls: List[Tuple[float, Size]] = []
        self.failures: List[Failure] = []
        self.fails = fails  # how many calls fail before they start to succeed
        self.gone = gone

    def apply_due(self) -> None:
        """Apply everything due now (as the thread does before it waits)."""
        while True:
            size = self.plan.due()
            if size is None:
                return
            self.calls.append((self.clock.now, size))
            if self.fails:
                self.fails -= 1
                self.failures.append(self.plan.failed(self.gone))
            else:
                self.plan.applied(size)

    def wait(self, seconds: float) -> None:
        """No item comes for ``seconds``: the thread wakes at each ``next_wakeup`` on the way."""
        end = self.clock.now + seconds
        while True:
            self.apply_due()
            wakeup = self.plan.next_wakeup()
            if wakeup is None or self.clock.now + wakeup > end:
                self.clock.now = end
                self.apply_due()
                return
            self.clock.advance(wakeup)
            self.plan.waited()  # the queue's get timed out

    def take(self, item: Any) -> None:
        self.apply_due()
        self.plan.take(item)
        self.apply_due()

    def sizes(self) -> List[Size]:
        return [size for _, size in self.calls]


def make(
    read: Optional[Callable[[], Optional[Size]]] = None,
    fails: int = 0,
    gone: bool = False,
    **kw: Any,
) -> Tuple[ResizePlan, Clock, Drive]:
    clock = Clock()
    plan = ResizePlan(read, clock=clock, **kw)
    return plan, clock, Drive(plan, clock, fails=fails, gone=gone)


# The first size ----------------------------------------------------------------------------------


def test_the_first_size_is_the_programs_then_the_terminals() -> None:
    plan, _, drive = make(lambda: (24, 80), initial=(30, 100))
    drive.apply_due()
    assert drive.sizes() == [(30, 100)] and plan.current == (30, 100) and plan.first_done
    plan, _, drive = make(lambda: (24, 80))
    drive.apply_due()
    assert drive.sizes() == [(24, 80)]


def test_no_terminal_and_no_size_is_no_call() -> None:
    plan, _, drive = make()
    drive.apply_due()
    assert drive.calls == [] and plan.first_done and plan.idle
    assert plan.next_wakeup() is None  # nothing to poll: wait for a request


def test_a_size_given_with_the_start_is_not_set_again() -> None:
    plan, _, drive = make(lambda: (24, 80), current=(24, 80))
    drive.apply_due()
    assert drive.calls == [] and plan.first_done
    drive.take(READ_SIZE)  # the same size again: nothing to do
    assert drive.calls == []


def test_a_running_program_is_nudged_once_first() -> None:
    plan, _, drive = make(lambda: (24, 80), redraw=True)
    drive.apply_due()
    assert drive.sizes() == [(25, 81), (24, 80)] and plan.current == (24, 80)


def test_the_first_size_is_retried_with_a_doubling_backoff() -> None:
    plan, clock, drive = make(initial=(24, 80), fails=8)
    start = clock.now
    drive.apply_due()
    assert not plan.first_done and plan.next_wakeup() == pytest.approx(FIRST_DELAY)
    drive.wait(5.0)
    times = [round(t - start, 4) for t, _ in drive.calls]
    gaps = [round(b - a, 4) for a, b in zip(times, times[1:])]
    assert gaps == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25]
    assert max(gaps) == FIRST_DELAY_MAX
    assert plan.first_done and plan.current == (24, 80) and drive.failures == [Failure.RETRY] * 8


def test_a_first_size_still_failing_is_reported_late_once() -> None:
    plan, clock, drive = make(initial=(24, 80), fails=10**6)
    drive.apply_due()
    drive.wait(FIRST_WARN_AFTER + 3)
    assert drive.failures.count(Failure.LATE) == 1
    late = drive.failures.index(Failure.LATE)
    assert drive.calls[late][0] - drive.calls[0][0] >= FIRST_WARN_AFTER
    assert drive.calls[late - 1][0] - drive.calls[0][0] < FIRST_WARN_AFTER
    assert not plan.first_done  # still trying


def test_a_first_size_is_given_up_when_the_process_is_gone() -> None:
    plan, _, drive = make(initial=(24, 80), fails=1, gone=True)
    drive.apply_due()
    assert drive.failures == [Failure.GONE] and plan.first_done and plan.current is None
    assert plan.idle


def test_a_newer_size_replaces_the_first_being_retried() -> None:
    plan, clock, drive = make(initial=(24, 80), fails=1)
    drive.apply_due()
    clock.advance(0.001)  # before the backoff is over
    drive.take((40, 120))  # tried at once, not after the backoff
    assert drive.sizes() == [(24, 80), (40, 120)]
    assert drive.calls[1][0] == clock.now and plan.current == (40, 120)


# Bursts ------------------------------------------------------------------------------------------


def test_a_lone_request_is_applied_at_once() -> None:
    plan, clock, drive = make()
    drive.apply_due()
    drive.take((30, 90))
    assert drive.calls == [(clock.now, (30, 90))]
    drive.wait(1.0)
    assert drive.sizes() == [(30, 90)] and plan.idle


def test_a_burst_costs_two_calls_and_the_last_wins() -> None:
    plan, clock, drive = make()
    drive.apply_due()
    for i in range(10):
        drive.take((20 + i, 80))
        clock.advance(0.005)
    drive.wait(1.0)
    assert drive.sizes() == [(20, 80), (29, 80)] and plan.current == (29, 80)


def test_the_last_of_a_burst_waits_for_quiet() -> None:
    plan, clock, drive = make()
    drive.apply_due()
    drive.take((20, 80))
    clock.advance(0.01)
    drive.take((21, 80))
    assert plan.next_wakeup() == pytest.approx(BURST_QUIET)
    drive.wait(BURST_QUIET - 0.001)
    assert drive.sizes() == [(20, 80)]
    drive.wait(0.002)
    assert drive.sizes() == [(20, 80), (21, 80)]


def test_a_burst_that_never_pauses_is_applied_at_its_longest() -> None:
    plan, clock, drive = make()
    drive.apply_due()
    began = clock.now
    drive.take((20, 80))
    for i in range(100):
        clock.advance(BURST_QUIET / 2)
        drive.take((21 + i, 80))
        if len(drive.calls) == 2:
            break
    assert drive.calls[1][0] - began == pytest.approx(BURST_MAX, abs=BURST_QUIET / 2)


def test_a_burst_back_to_the_size_applied_costs_nothing_more() -> None:
    plan, clock, drive = make(initial=(24, 80))
    drive.apply_due()
    drive.take((30, 90))
    drive.take((24, 80))
    drive.take((30, 90))
    drive.wait(1.0)
    assert drive.sizes() == [(24, 80), (30, 90)]


def test_the_terminal_is_read_when_the_burst_ends_not_when_it_signalled() -> None:
    sizes = [(24, 80)]
    plan, clock, drive = make(lambda: sizes[-1])
    drive.apply_due()
    sizes.append((25, 80))
    drive.take(_winch.WINCH)  # the dispatcher's token: read the terminal
    sizes.append((26, 80))
    drive.take(_winch.WINCH)
    sizes.append((27, 80))  # no signal yet for this one: still read at the burst's end
    drive.wait(1.0)
    assert drive.sizes() == [(24, 80), (25, 80), (27, 80)]


def test_a_later_size_that_fails_is_dropped_not_retried() -> None:
    plan, clock, drive = make(initial=(24, 80))
    drive.apply_due()
    drive.fails = 1
    drive.take((30, 90))
    drive.wait(1.0)
    assert drive.failures == [Failure.DROPPED] and plan.current == (24, 80)
    assert drive.sizes() == [(24, 80), (30, 90)]


def test_a_request_after_the_first_size_was_given_up_is_retried() -> None:
    plan, clock, drive = make(initial=(24, 80), fails=1, gone=True)
    drive.apply_due()
    drive.gone = False
    drive.fails = 2
    drive.take((30, 90))
    drive.wait(1.0)
    assert drive.failures == [Failure.GONE, Failure.RETRY, Failure.RETRY]
    assert plan.current == (30, 90)


# Polling and the settled count -------------------------------------------------------------------


def test_polling_reads_the_terminal_when_idle() -> None:
    sizes = [(24, 80)]
    plan, clock, drive = make(lambda: sizes[-1], poll=True)
    drive.apply_due()
    assert plan.next_wakeup() == POLL_INTERVAL
    sizes.append((50, 150))
    drive.wait(POLL_INTERVAL * 1.5)
    assert drive.sizes() == [(24, 80), (50, 150)]


def test_settled_only_once_every_request_taken_is_applied() -> None:
    plan, clock, drive = make(initial=(24, 80), fails=1)
    drive.apply_due()
    plan.requested()  # resize() before the first size applied
    assert not plan.settle()  # the first size is still being tried
    drive.take((30, 90))  # replaces it, and is applied
    assert plan.current == (30, 90) and plan.settle()
    plan.requested()
    assert not plan.settle()  # asked for, not yet taken off the queue
    drive.take((31, 90))
    assert plan.current == (31, 90) and not plan.settle()  # applied, its burst still open
    drive.wait(1.0)
    assert plan.settle()


def test_the_terminals_changes_are_not_counted() -> None:
    plan, clock, drive = make(lambda: (24, 80))
    drive.apply_due()
    drive.take(READ_SIZE)
    drive.wait(1.0)
    assert plan.settle()


# The thread around it ----------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_the_resizer_thread_applies_and_settles() -> None:
    applied: "queue.SimpleQueue[Size]" = queue.SimpleQueue()
    resizer = Resizer("threadpty-resize-test", lambda r, c: applied.put((r, c)), lambda: False)
    resizer.start()
    try:
        resizer.request(30, 90)
        assert applied.get(timeout=5) == (30, 90)
        assert resizer.settled.wait(5) and resizer.first_done and resizer.calls == 1
    finally:
        resizer.stop()
        resizer.thread.join(5)
    assert not resizer.thread.is_alive()


@pytest.mark.timeout(10)
def test_a_stop_does_not_wait_for_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_resize, "FIRST_DELAY", 60.0)
    tried = threading.Event()

    def fail(rows: int, cols: int) -> None:
        tried.set()
        raise OSError("not yet")

    resizer = Resizer("threadpty-resize-test", fail, lambda: False, initial=(24, 80))
    resizer.start()
    assert tried.wait(5)
    resizer.stop()
    resizer.thread.join(5)
    assert not resizer.thread.is_alive() and resizer.calls == 1
