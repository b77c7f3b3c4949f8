"""The statistics every bench script reports with, each defined once so that figures agree.

The machine the bench runs on is shared and noisy, so the scripts interleave their peers in rounds
(``rotated``: a different peer goes first each round), report medians with their min-max, and
compare peers by the median of per-round paired ratios (``by_round``, ``paired``), which a slow
round affects on both sides alike.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TypeVar

T = TypeVar("T")


def median(xs: Iterable[Optional[float]]) -> Optional[float]:
    """The median of the values that are not None; None when there are none."""
    ys = [x for x in xs if x is not None]
    return statistics.median(ys) if ys else None


def pct(xs: Iterable[float], p: float) -> float:
    """The ``p``-th percentile by nearest rank (a value that was measured); NaN when empty."""
    s = sorted(xs)
    if not s:
        return math.nan
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def rotated(items: Sequence[T], shift: int) -> List[T]:
    """``items`` starting at ``shift`` (modulo their number): the order of one round."""
    if not items:
        return []
    k = shift % len(items)
    return list(items[k:]) + list(items[:k])


def by_round(
    entries: Iterable[Dict[str, Any]], value: Callable[[Dict[str, Any]], Optional[float]]
) -> Dict[int, float]:
    """``value`` of each entry (a sample with its ``"round"``), by round; None values left out."""
    out: Dict[int, float] = {}
    for e in entries:
        v = value(e)
        if v is not None:
            out[e["round"]] = v
    return out


def paired(a: Dict[int, float], b: Dict[int, float]) -> List[float]:
    """Per-round ratios ``a / b``, over the rounds both have."""
    return [a[r] / b[r] for r in sorted(a) if r in b and b[r]]


def ratios(a: Sequence[float], b: Sequence[float]) -> List[float]:
    """Ratios ``a[i] / b[i]`` of samples taken in pairs (one of each per repetition)."""
    return [x / y for x, y in zip(a, b) if y]


def ratio_cell(rs: Sequence[float]) -> str:
    """``median× (min–max)`` of ratios; ``—`` when there are none."""
    if not rs:
        return "—"
    return f"{statistics.median(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})"
