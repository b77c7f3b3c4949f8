"""Figure 7: many sessions at once in one process (threadpty) beside as many ``docker exec``
processes: all correct, wall time, memory per session.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from typing import Any, Dict, List, Tuple

from rig import MiB, Rig, log, reap


def run(rig: Rig) -> None:
    store = rig.samples.setdefault("scale", {})
    n = rig.scale_n
    line = "session NNN says hello, and this line is echoed back\n"
    lines = 100
    # Each session echoes its input, then waits until every session is up (a file appears
    # in the bind mount), then streams the file: all of them run at once.
    go = os.path.join(rig.data, "go")
    cmd = ["sh", "-c", "cat; while [ ! -e /b/go ]; do sleep 0.02; done; cat /b/p4"]
    p4 = rig.p16[: rig.scale_mib * MiB]
    inputs = [line.replace("NNN", f"{i:03d}").encode() * lines for i in range(n)]
    expected = [(hashlib.sha256(inp + p4).hexdigest(), len(inp) + len(p4)) for inp in inputs]
    for r in range(rig.scale_rounds):
        got = rig.py_peer(
            {
                "mode": "scale",
                "target": rig.box,
                "sessions": n,
                "cmd": cmd,
                "expected": expected,
                "input_line": line,
                "input_lines": lines,
                "go": go,
            }
        )
        if os.path.exists(go):
            os.unlink(go)
        got["round"] = r
        store.setdefault("threadpty", []).append(got)
        if "error" in got:
            log(f"scale threadpty FAILED {got['error']}")
            rig.failures.append(f"scale threadpty round {r + 1}: {got['error']}")
        else:
            log(
                f"scale threadpty: {got['correct']}/{n} correct in {got['wall']:.2f} s, added "
                f"RSS {(got['rss_peak_kib'] - got['rss_base_kib']) / n:.0f} KiB/session"
            )
        cli = scale_cli(rig, n, cmd, inputs, expected, go)
        if os.path.exists(go):
            os.unlink(go)
        cli["round"] = r
        store.setdefault("cli", []).append(cli)
        log(
            f"scale cli: {cli['correct']}/{n} correct in {cli['wall']:.2f} s, RSS "
            f"{cli['rss_sum_kib'] / n:.0f} KiB/process"
        )


def scale_cli(
    rig: Rig, n: int, cmd: List[str], inputs: List[bytes], expected: List[Tuple[str, int]], go: str
) -> Dict[str, Any]:
    import selectors

    sel = selectors.DefaultSelector()
    procs = []
    t0 = time.perf_counter()
    for i in range(n):
        p = subprocess.Popen(
            ["docker", "exec", "-i", rig.box] + cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(inputs[i])  # smaller than a pipe's buffer: never blocks
        p.stdin.close()
        os.set_blocking(p.stdout.fileno(), False)
        sel.register(p.stdout, selectors.EVENT_READ, i)
        procs.append(p)
    hashes = [hashlib.sha256() for _ in range(n)]
    counts = [0] * n
    open_ = n

    def read_ready() -> None:
        """Read what the processes have ready; close the output of those that ended."""
        nonlocal open_
        for key, _ in sel.select(timeout=60):
            i = key.data
            try:
                data = os.read(key.fd, MiB)
            except BlockingIOError:
                continue
            if data:
                hashes[i].update(data)
                counts[i] += len(data)
            else:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_ -= 1

    # Every process is up once its echo is back (the sessions wait for the go file).
    while sum(1 for i in range(n) if counts[i] >= len(inputs[i])) < n:
        read_ready()
    start_all = time.perf_counter() - t0
    t_go = time.perf_counter()
    open(go, "w").close()
    while open_:
        read_ready()
    rss = cpu = 0.0
    good = 0
    for i, p in enumerate(procs):
        code, c, maxrss = reap(p, 60)
        rss += maxrss
        cpu += c
        exp_sha, exp_len = expected[i]
        if code == 0 and counts[i] == exp_len and hashes[i].hexdigest() == exp_sha:
            good += 1
    wall = time.perf_counter() - t_go
    return {
        "sessions": n,
        "correct": good,
        "wall": wall,
        "bytes": sum(counts),
        "rss_sum_kib": rss,
        "cpu": cpu,
        "start_all": start_all,
    }
