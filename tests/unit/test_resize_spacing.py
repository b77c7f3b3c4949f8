"""On Podman one TTY's resize calls go ``PODMAN_RESIZE_GAP`` apart (its conmon keeps only the first
of the sizes it reads at once); on Docker they go at once."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from threadpty import target


class Clock:
    """``time`` for the target module: sleeping moves the clock, and is written down."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: List[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Client:
    def __init__(self, component: str) -> None:
        self.component = component
        self.calls: List[Tuple[float, Dict[str, Any]]] = []
        self.clock: Clock

    def attach_socket(self) -> None:  # what makes it an APIClient to threadpty
        raise AssertionError("not used")

    def version(self, api_version: bool = True) -> Dict[str, Any]:
        return {"Components": [{"Name": self.component, "Version": "4.3.1"}]}

    def resize(self, container: str, height: int, width: int) -> None:
        self.calls.append((self.clock.now, {"height": height, "width": width}))


@pytest.mark.parametrize(
    "component, gap", [("Podman Engine", target.PODMAN_RESIZE_GAP), ("Engine", 0.0)]
)
def test_back_to_back_sizes(monkeypatch: Any, component: str, gap: float) -> None:
    clock = Clock()
    monkeypatch.setattr(target, "time", clock)
    client = Client(component)
    client.clock = clock
    spacing = target._ResizeSpacing(client)
    spacing.call(client.resize, "c", height=21, width=71)  # an attach's redraw nudge...
    clock.now += 0.01
    spacing.call(client.resize, "c", height=20, width=70)  # ...and its size, at once
    clock.now += 1.0
    spacing.call(client.resize, "c", height=30, width=90)  # a later change waits for nothing
    times = [t for t, _ in client.calls]
    assert [c["height"] for _, c in client.calls] == [21, 20, 30]
    assert times[1] - times[0] == pytest.approx(max(gap, 0.01))
    assert len(clock.slept) == (1 if gap else 0)
