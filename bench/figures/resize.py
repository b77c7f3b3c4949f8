"""Figure 6: a burst of ten window sizes: how many resize calls reach the engine, and whether the
last size wins.
"""

from __future__ import annotations

import os
import re
import select
import time
from typing import Any, Dict

from rig import Rig, log
from stats import rotated


def resize_once(rig: Rig, peer: str) -> Dict[str, Any]:
    child, result, _ = rig.spawn_tty(peer, ["sh"], False)
    fd = child.child_fd
    problem = None
    final = None
    sizes = [(30 + i, 100 + i) for i in range(10)]
    t_burst = t_end = 0.0
    try:
        rig.wait_raw(child)
        rig.read_until(fd, b"# ", 10)
        time.sleep(0.5)  # the initial resize is not part of the burst
        t_burst = time.time()
        for rows, cols in sizes:
            child.setwinsize(rows, cols)
            time.sleep(0.01)
        t_end = time.time()
        time.sleep(1.0)
        # Drain what the burst made the shell print (it redraws its prompt), then ask.
        while select.select([fd], [], [], 0.1)[0]:
            os.read(fd, 65536)
        os.write(fd, b"stty size\r")
        got = b""
        deadline = time.monotonic() + 10
        m = None
        while m is None and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                got += os.read(fd, 4096)
            m = re.search(rb"\n(\d+) (\d+)\r\n", got)
        final = (int(m.group(1)), int(m.group(2))) if m else None
        os.write(fd, b"exit\r")
    except (RuntimeError, OSError) as exc:
        problem = str(exc)
        child.terminate(force=True)
    out = rig.finish_tty(child, result, None)
    calls = [t for t in out.get("resizes", []) if t >= t_burst]
    out.update(
        calls=len(calls),
        final=final,
        burst_ms=(t_end - t_burst) * 1e3,
        ok=problem is None and final is not None,
        problem=problem,
        last_wins=final == sizes[-1],
    )
    return out


def run(rig: Rig) -> None:
    store = rig.samples.setdefault("resize", {})
    for r in range(rig.rounds):
        for peer in rotated(["threadpty", "dockerpty"], r):
            got = resize_once(rig, peer)
            got["round"] = r
            store.setdefault(peer, []).append(got)
            log(
                f"round {r + 1}/{rig.rounds} resize {peer:10s} calls {got['calls']} final "
                f"{got['final']} (burst {got['burst_ms']:.0f} ms) {got['problem'] or ''}"
            )
