"""Figure 4: keystroke to echo through a real PTY, alone and while another session floods.

Each client runs ``cat`` in the bench's container under a pseudo-terminal this process holds; a
key is written, and the time until it comes back is one sample.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List

from rig import Rig, log
from stats import median, pct, rotated


def latency_once(rig: Rig, peer: str, flood: bool) -> Dict[str, Any]:
    child, result, flood_proc = rig.spawn_tty(peer, ["cat"], flood)
    fd = child.child_fd
    times: List[float] = []
    problem = None
    try:
        rig.wait_raw(child)
        letters = b"abcdefghijklmnopqrstuvwxyz"
        for i in range(20 + rig.keys):
            ch = letters[i % 26 : i % 26 + 1]
            t0 = time.perf_counter()
            os.write(fd, ch)
            rig.read_until(fd, ch)
            dt = time.perf_counter() - t0
            if i >= 20:
                times.append(dt)
        os.write(fd, b"\r")
        rig.read_until(fd, b"\r\n", 10)
        os.write(fd, b"\x04")
    except (RuntimeError, OSError) as exc:
        problem = str(exc)
        child.terminate(force=True)
    out = rig.finish_tty(child, result, flood_proc)
    if problem is None and len(times) != rig.keys:
        problem = "keystrokes lost"
    if flood and peer != "cli" and problem is None and not out.get("flood_bytes"):
        problem = "the flood session moved nothing"
    out.update(times=times, ok=problem is None, problem=problem)
    return out


def run(rig: Rig) -> None:
    variants = [
        ("cli", False),
        ("threadpty", False),
        ("dockerpty", False),
        ("cli", True),
        ("threadpty", True),
    ]
    store = rig.samples.setdefault("latency", {})
    for r in range(rig.rounds):
        for peer, flood in rotated(variants, r):
            key = peer + ("+flood" if flood else "")
            got = latency_once(rig, peer, flood)
            got["round"] = r
            store.setdefault(key, []).append(got)
            if got["ok"]:
                t = sorted(got["times"])
                log(
                    f"round {r + 1}/{rig.rounds} latency {key:16s} median "
                    f"{median(t) * 1e3:.3f} ms p99 {pct(t, 99) * 1e3:.3f} ms"
                )
            else:
                log(f"round {r + 1}/{rig.rounds} latency {key:16s} FAILED {got['problem']}")
                rig.failures.append(f"latency {key} round {r + 1}: {got['problem']}")
