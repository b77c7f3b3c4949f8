"""Figure 5: from the call to the first byte of output, in process (threadpty, dockerpty, the raw
loop) beside the Docker CLI's whole process, for an exec and a run.
"""

from __future__ import annotations

import time

from rig import IMAGE, LABEL, Rig, log, ms
from stats import median


def run(rig: Rig) -> None:
    store = rig.samples.setdefault("setup", {})
    reps = 1 if rig.quick else 3
    for r in range(rig.rounds):
        got = rig.py_peer({"mode": "setup", "target": rig.box, "image": IMAGE, "reps": reps})
        if "error" in got:
            rig.failures.append(f"setup round {r + 1}: {got['error']}")
            log(f"setup round {r + 1} FAILED {got['error']}")
            continue
        for key in list(got):
            if "/" in key:
                for e in got[key]:
                    e["round"] = r
                store.setdefault(key, []).extend(got[key])
        for kind in ("exec", "run"):
            for _ in range(reps):
                if kind == "exec":
                    argv = ["docker", "exec", rig.box, "echo", "ready"]
                else:
                    argv = [
                        "docker",
                        "run",
                        "--network",
                        "none",
                        "--log-driver",
                        "none",
                        "--label",
                        f"{LABEL}={rig.run_id}",
                        IMAGE,
                        "echo",
                        "ready",
                    ]
                t0 = time.perf_counter()
                c = rig.cli_peer(argv)
                e = {
                    "first": (c["first"] - t0) if c["first"] else None,
                    "total": c["wall"],
                    "ok": c["small"] == b"ready\n" and c["status"] == 0,
                    "round": r,
                    "cpu": c["cpu"],
                }
                store.setdefault(f"cli/{kind}", []).append(e)
        log(
            f"round {r + 1}/{rig.rounds} setup: threadpty exec "
            f"{ms(median(e['first'] for e in store['threadpty/exec']))} ms, cli exec "
            f"{ms(median(e['total'] for e in store['cli/exec']))} ms"
        )
    for c in rig.client.containers(all=True, filters={"label": f"{LABEL}={rig.run_id}"}):
        if c["Id"] != rig.box:
            rig.client.remove_container(c["Id"], force=True)
