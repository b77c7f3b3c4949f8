"""A hang-up waits for the tabs starting in its container, a bounded while, and only there.

Its exec beside 50 starting execs made both slow (26 s for the hang-up, and half the new tabs had
no prompt until it ended), so a hang-up lets the starts go first. The engine is not needed: the
exec that hangs up is the runner, given here, which records when and with what it ran.
"""

from __future__ import annotations

import threading
import time
from typing import Any, List, Sequence, Tuple

import pytest

from threadpty.web._terminal import WebTerminal, _HangUps

pytestmark = pytest.mark.timeout(30)

# Long enough that a test finishing well inside it did not reach it.
LONG = 20.0
# How long a hang-up must stay held back to count as held back.
HELD = 0.3


class Runner:
    """The hang-up exec, played: each run's container and marks, and an event per run."""

    def __init__(self) -> None:
        self.runs: List[Tuple[str, List[str], float]] = []
        self.ran = threading.Event()

    def __call__(self, client: Any, container: str, marks: Sequence[str]) -> None:
        self.runs.append((container, list(marks), time.monotonic()))
        self.ran.set()


def hang_up(hang_ups: _HangUps, container: str, mark: str) -> threading.Thread:
    t = threading.Thread(
        target=hang_ups.run, args=(CLIENT, container, mark), name="test-hang-up", daemon=True
    )
    t.start()
    return t


CLIENT = object()


def test_a_hang_up_waits_while_a_tab_starts_and_goes_when_it_has() -> None:
    runner = Runner()
    hang_ups = _HangUps(runner, start_wait=LONG)
    start = hang_ups.starting(CLIENT, "box")
    t = hang_up(hang_ups, "box", "m1")
    assert not runner.ran.wait(HELD), "the hang-up ran beside a starting tab"
    over = time.monotonic()
    start.over()
    assert runner.ran.wait(5)
    t.join(5)
    [(container, marks, when)] = runner.runs
    assert (container, marks) == ("box", ["m1"])
    assert when - over < 1.0


def test_it_waits_for_every_start_in_its_container() -> None:
    runner = Runner()
    hang_ups = _HangUps(runner, start_wait=LONG)
    first = hang_ups.starting(CLIENT, "box")
    second = hang_ups.starting(CLIENT, "box")
    hang_up(hang_ups, "box", "m1")
    first.over()
    first.over()  # twice is once: the other start still holds it
    assert not runner.ran.wait(HELD)
    second.over()
    assert runner.ran.wait(5)


def test_a_hang_up_goes_after_the_cap_if_a_start_never_ends() -> None:
    runner = Runner()
    cap = 0.5
    hang_ups = _HangUps(runner, start_wait=cap)
    hang_ups.starting(CLIENT, "box")  # never over
    asked = time.monotonic()
    t = hang_up(hang_ups, "box", "m1")
    assert runner.ran.wait(10), "the hang-up waited past its cap"
    t.join(5)
    waited = runner.runs[0][2] - asked
    assert cap <= waited < cap + 5


def test_hang_ups_in_other_containers_are_not_delayed() -> None:
    runner = Runner()
    hang_ups = _HangUps(runner, start_wait=LONG)
    hang_ups.starting(CLIENT, "busy")
    hang_ups.starting(object(), "quiet")  # the same name through another engine's client
    t = hang_up(hang_ups, "quiet", "m1")
    assert runner.ran.wait(5)
    t.join(5)
    assert [r[:2] for r in runner.runs] == [("quiet", ["m1"])]


def test_tabs_closed_during_the_wait_go_in_the_same_exec() -> None:
    runner = Runner()
    hang_ups = _HangUps(runner, start_wait=LONG)
    start = hang_ups.starting(CLIENT, "box")
    threads = [hang_up(hang_ups, "box", "m1")]
    assert not runner.ran.wait(HELD)
    threads.append(hang_up(hang_ups, "box", "m2"))
    # m2 has joined the batch once its thread waits: poll the batch (no event for it).
    deadline = time.monotonic() + 5
    while len(hang_ups._queued[(id(CLIENT), "box")].marks) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    start.over()
    for t in threads:
        t.join(5)
        assert not t.is_alive()
    assert [r[:2] for r in runner.runs] == [("box", ["m1", "m2"])]


def test_a_tab_that_ends_is_no_longer_starting() -> None:
    """A tab closed while it starts must not hold back its own hang-up."""
    runner = Runner()
    hang_ups = _HangUps(runner, start_wait=LONG)
    start = hang_ups.starting(CLIENT, "box")
    terminal = WebTerminal(
        CLIENT, object(), "mark", "box", lambda _: None, lambda *_: None, starting=start
    )
    terminal.end()
    assert start.ended
    t = hang_up(hang_ups, "box", "mark")
    assert runner.ran.wait(5)
    t.join(5)
