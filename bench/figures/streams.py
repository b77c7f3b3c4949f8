"""Figures 1-3: throughput and client CPU of output (exec, run; TTY or not) and of input.

Every peer streams the same file through ``cat`` (or into ``wc -c``), and an empty session of the
same kind is run beside each, so that CPU per GiB is net of setting the session up. A PIPE peer
(threadpty through ``stdout=PIPE``/``stdin=PIPE``) joins the exec cases.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from typing import Any, Dict, Optional, Tuple

import docker

from rig import HERE, GiB, MiB, Rig, log
from stats import rotated

PEERS = ["threadpty", "raw", "cli", "dockerpty"]
# threadpty driven through PIPEs (``stdout=PIPE`` read with ``read1``; ``stdin=PIPE`` written in
# 1 MiB pieces), beside the file-object path ("threadpty") in the same rounds: exec cases only.
PIPE_PEER = "pipe"
PIPE_CASES = ("exec-out", "exec-outtty", "exec-in")


def stream_once(rig: Rig, peer: str, case: str, empty: bool) -> Dict[str, Any]:
    kind, mode = case.split("-", 1)  # exec-out, exec-outtty, run-out, run-outtty, exec-in
    tty = mode == "outtty"
    is_in = mode == "in"
    if is_in:
        cmd = ["wc", "-c"]
        path = os.path.join(rig.data, "empty" if empty else "input")
        size = 0 if empty else rig.in_mib * MiB
    else:
        k = rig.tty_k if tty else rig.out_k
        cmd = ["true"] if empty else ["cat"] + ["/b/p16"] * k
        size, sha = (0, hashlib.sha256().hexdigest()) if empty else rig.expected_out(k, tty)
    target = rig.box
    if kind == "run":
        target = rig.new_container(cmd, tty, stdin_open=is_in)
    timeout = 120.0 if not rig.quick else 60.0
    if peer == "dockerpty" and is_in:
        timeout = 20.0
    stdin_f = open(path, "rb") if is_in else subprocess.DEVNULL
    try:
        if peer == "cli":
            if kind == "exec":
                argv = ["docker", "exec"] + (["-i"] if is_in else []) + (["-t"] if tty else [])
                argv += [target] + cmd
            else:
                argv = ["docker", "start", "-a"] + (["-i"] if is_in else []) + [target]
            got = rig.cli_peer(argv, stdin=stdin_f, use_pty=tty, timeout=timeout)
        else:
            spec = {
                "mode": "stream",
                "peer": peer,
                "kind": kind,
                "tty": tty,
                "target": target,
                "cmd": cmd,
            }
            if is_in:
                spec["stdin"] = path
            if rig.args.profile and peer in ("threadpty", PIPE_PEER) and not empty:
                spec["profile"] = os.path.join(HERE, f"profile-{peer}-{case}.pstats")
            got = rig.py_peer(spec, demux=(peer == "raw" and not tty), timeout=timeout)
    finally:
        if is_in:
            stdin_f.close()
        if kind == "run":
            try:
                rig.client.remove_container(target, force=True)
            except docker.errors.APIError:
                pass
    # Correctness before it counts.
    problem = None
    if got.get("error"):
        problem = got["error"].strip().splitlines()[-1] if got["error"].strip() else "error"
    elif got["timed_out"]:
        problem = f"no end of output within {timeout:.0f} s"
    elif is_in:
        if got["small"].strip() != str(size).encode():
            problem = f"wc -c said {got['small'][:40]!r}, expected {size}"
    elif got["n"] != size or (size and got["sha"] != sha):
        problem = f"got {got['n']} bytes (sha {got['sha'][:12]}), expected {size}"
    elif got.get("code") not in (0, None):
        problem = f"exit status {got.get('code')}"
    got["ok"] = problem is None
    got["problem"] = problem
    got["size"] = size
    got.pop("small", None)
    return got


def run(rig: Rig) -> None:
    cases = []
    if "1" in rig.only or "3" in rig.only:
        cases += ["exec-out", "exec-outtty", "run-out", "run-outtty"]
    if "2" in rig.only or "3" in rig.only:
        cases += ["exec-in"]
    store = rig.samples.setdefault("streams", {})
    broken: Dict[Tuple[str, str], str] = {}
    for r in range(rig.rounds):
        for ci, case in enumerate(cases):
            peers = PEERS + [PIPE_PEER] if case in PIPE_CASES else PEERS
            for peer in rotated(peers, r + ci):
                if (peer, case) in broken:
                    continue
                full = stream_once(rig, peer, case, empty=False)
                empty = stream_once(rig, peer, case, empty=True)
                entry = {"full": full, "empty": empty, "round": r}
                store.setdefault(case, {}).setdefault(peer, []).append(entry)
                status = (
                    "ok"
                    if full["ok"] and empty["ok"]
                    else (f"FAILED: {full['problem'] or empty['problem']}")
                )
                log(
                    f"round {r + 1}/{rig.rounds} {case:12s} {peer:10s} {status} "
                    f"{mibs(case, entry) or 0:7.1f} MiB/s cpu {full.get('cpu', 0):.2f}s"
                )
                if not (full["ok"] and empty["ok"]):
                    rig.failures.append(
                        f"{case} {peer} round {r + 1}: {full['problem'] or empty['problem']}"
                    )
                    if peer == "dockerpty":
                        # A known failure (no half-close) is not worth a timeout every round.
                        broken[(peer, case)] = full["problem"] or empty["problem"]


def mibs(case: str, e: Dict[str, Any]) -> Optional[float]:
    full, empty = e["full"], e["empty"]
    if not (full["ok"] and empty["ok"]):
        return None
    if case.endswith("-in"):
        dt = full["wall"] - empty["wall"]
    else:
        dt = (full["last"] or 0) - (full["first"] or 0)
    return full["size"] / MiB / dt if dt > 0 else None


def cpu_per_gib(e: Dict[str, Any]) -> Optional[float]:
    full, empty = e["full"], e["empty"]
    if not (full["ok"] and empty["ok"]):
        return None
    return (full["cpu"] - empty["cpu"]) / (full["size"] / GiB)
