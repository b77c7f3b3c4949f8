"""threadpty beside the Docker CLI, dockerpty 0.4.1 and a raw socket loop, in one interleaved run.

    .venv-bench/bin/python bench/run.py [--quick] [--rounds N] [--out FILE] [--only FIGS]

Every round runs every peer once per case, in an order rotated each round (the machine is shared
and noisy), and every figure is checked (byte counts, sha256, exit codes) before it counts. The
report gives medians, min-max and the medians of the per-round paired ratios threadpty/peer.

Each figure is a module of ``bench/figures/`` with a ``run(rig)``; ``bench/rig.py`` holds what
they share (the container, the files, the runners that time one peer once), ``bench/stats.py``
the statistics, and ``bench/report.py`` writes ``bench/results/RESULTS.md`` from the samples
(kept beside it as ``RESULTS.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

from figures import latency, resize, scale, setup, startup, streams
from rig import HERE, ROOT, Rig, log

RESULTS = os.path.join(HERE, "results")

# ``--only`` names figures by number; 1, 2 and 3 are one run of the stream cases.
FIGURES = [
    ({"1", "2", "3"}, streams.run),
    ({"4"}, latency.run),
    ({"5"}, setup.run),
    ({"6"}, resize.run),
    ({"7"}, scale.run),
    ({"8"}, startup.run),
]


def run(rig: Rig) -> None:
    """The figures ``--only`` asks for, in order, around the rig's fixtures."""
    t0 = time.time()
    rig.prepare()
    try:
        for numbers, figure in FIGURES:
            if rig.only & numbers:
                figure(rig)
    finally:
        rig.cleanup()
    rig.elapsed = time.time() - t0


def tree_state() -> str:
    """Which threadpty was measured: the commit, and whether its package had local changes."""

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    dirty = git("status", "--porcelain", "--", "threadpty").strip()
    return f"commit {head}" + (
        " with uncommitted changes in threadpty/ (measured as they were)" if dirty else ""
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, smaller payloads (~2 min)")
    ap.add_argument("--rounds", type=int, default=0, help="rounds (default 5, quick 2)")
    ap.add_argument("--only", help="comma-separated figures to run, e.g. 1,3 (default all)")
    ap.add_argument(
        "--out",
        help="results file (default bench/results/RESULTS.md; quick: RESULTS-quick.md there)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile threadpty's stream sessions into bench/profile-*.pstats",
    )
    args = ap.parse_args()
    from report import write_report  # bench/report.py

    rig = Rig(args)
    tree_before = tree_state()
    run(rig)
    tree_after = tree_state()
    out = args.out or os.path.join(RESULTS, "RESULTS-quick.md" if args.quick else "RESULTS.md")
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "engine": rig.client.version().get("Version"),
        "api": rig.api_version,
        "cli": subprocess.run(
            ["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        ).stdout.strip(),
        "command": "make bench" + (" BENCH_ARGS=--quick" if args.quick else "")
        if os.environ.get("MAKELEVEL")
        else " ".join(shlex.quote(a) for a in sys.argv),
        "tree": tree_before
        if tree_after == tree_before
        else f"{tree_before} at the start, {tree_after} at the end",
        "elapsed": rig.elapsed,
        "rounds": rig.rounds,
        "sizes": {
            "out_mib": rig.out_k * 16,
            "tty_mib": rig.tty_k * 16,
            "in_mib": rig.in_mib,
            "keys": rig.keys,
            "scale_n": rig.scale_n,
            "scale_mib": rig.scale_mib,
        },
    }
    raw_path = os.path.splitext(out)[0] + ".json"
    with open(raw_path, "w") as f:
        json.dump(
            {"meta": meta, "samples": rig.samples, "failures": rig.failures},
            f,
            default=lambda o: o.decode(errors="replace") if isinstance(o, bytes) else str(o),
        )
    text = write_report(meta, rig.samples, rig.failures, streams.mibs, streams.cpu_per_gib)
    with open(out, "w") as f:
        f.write(text)
    print(text)
    log(f"wrote {out} and {raw_path} in {rig.elapsed:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
