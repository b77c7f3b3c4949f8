"""Turns the samples of ``bench/run.py`` into the Markdown of ``bench/results/RESULTS.md``."""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Dict, List, Optional

from stats import by_round, median, paired, pct, ratio_cell

CASES = {
    "exec-out": "exec, no TTY",
    "exec-outtty": "exec, TTY",
    "run-out": "run (attach), no TTY",
    "run-outtty": "run (attach), TTY",
    "exec-in": "exec stdin → `wc -c`",
}
PEER_NAMES = {
    "threadpty": "threadpty",
    "raw": "raw socket",
    "cli": "Docker CLI",
    "dockerpty": "dockerpty 0.4.1",
}


def fmt(x: Optional[float], digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def spread(xs: List[float], digits: int = 1) -> str:
    if not xs:
        return "failed"
    return f"{fmt(median(xs), digits)} ({fmt(min(xs), digits)}–{fmt(max(xs), digits)})"


def verdict(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("**met**" if ok else "**missed**")


PIPE_CASES = {
    "exec-out": "exec, no TTY: `stdout=PIPE`, `read1(1 MiB)`",
    "exec-outtty": "exec, TTY: `stdout=PIPE`, `read1(1 MiB)`",
    "exec-in": "exec stdin → `wc -c`: `stdin=PIPE`, `write(1 MiB)`",
}


def pipe_table(
    add: Callable[[str], None],
    streams: Dict[str, Any],
    mibs: Callable[..., Optional[float]],
    cpu_per_gib: Callable[..., Optional[float]],
) -> None:
    """threadpty's PIPE streams beside its file-object path and the raw loop, same rounds."""
    if not any("pipe" in streams.get(c, {}) for c in PIPE_CASES):
        return
    add("## 1b. PIPE streams beside the file-object path\n")
    add(
        "The same exec sessions as above, driven as a program would: output read from "
        "`session.stdout` with `read1(1 MiB)` by the worker's main thread and written to the "
        "same pipe as every peer's; input written to `session.stdin` in 1 MiB pieces. `file "
        "object` is the threadpty column above (output to an unbuffered file on fd 1; input read "
        "from a file by the input thread). Ratios are paired per round.\n"
    )
    add(
        "| stream | PIPE MiB/s | file object MiB/s | raw MiB/s | PIPE/file MiB/s | PIPE/raw "
        "MiB/s | PIPE CPU/GiB | file object CPU/GiB | PIPE/file CPU/GiB | target ≥0.9×, ≤1.2× |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    for case, name in PIPE_CASES.items():
        runs = streams.get(case, {})
        if "pipe" not in runs:
            continue
        speed = {
            p: by_round(runs.get(p, []), lambda e, c=case: mibs(c, e))
            for p in ("pipe", "threadpty", "raw")
        }
        cpu = {p: by_round(runs.get(p, []), cpu_per_gib) for p in ("pipe", "threadpty")}
        r_speed = paired(speed["pipe"], speed["threadpty"])
        r_raw = paired(speed["pipe"], speed["raw"])
        r_cpu = paired(cpu["pipe"], cpu["threadpty"])
        ok = None
        if r_speed and r_cpu:
            ok = median(r_speed) >= 0.9 and median(r_cpu) <= 1.2
        add(
            f"| {name} | "
            + " | ".join(spread(list(speed[p].values())) for p in ("pipe", "threadpty", "raw"))
            + f" | {ratio_cell(r_speed)} | {ratio_cell(r_raw)} | "
            + " | ".join(spread(list(cpu[p].values()), 2) for p in ("pipe", "threadpty"))
            + f" | {ratio_cell(r_cpu)} | {verdict(ok)} |"
        )
    add("")


def write_report(
    meta: Dict[str, Any],
    samples: Dict[str, Any],
    failures: List[str],
    mibs: Callable[..., Optional[float]],
    cpu_per_gib: Callable[..., Optional[float]],
) -> str:
    L: List[str] = []
    add = L.append
    add("# threadpty benchmarks\n")
    add(f"- Date: {meta['date']}")
    add(
        f"- Machine: `nproc` = {meta['nproc']}, `uname -m` = {meta['machine']} "
        f"(kernel {meta['kernel']}), shared and noisy; Python {meta['python']}"
    )
    add(f"- Engine: Docker {meta['engine']} (API {meta['api']}); CLI {meta['cli']}")
    if meta.get("tree"):
        add(f"- threadpty: {meta['tree']}")
    add(
        f"- Command: `{meta['command']}` — {meta['rounds']} rounds, peers interleaved (order "
        f"rotated each round), {meta['elapsed'] / 60:.1f} min in all"
    )
    sz = meta["sizes"]
    add(
        f"- Payloads: {sz['out_mib']} MiB non-TTY output, {sz['tty_mib']} MiB (+ `\\r` per line) "
        f"TTY output, {sz['in_mib']} MiB input, {sz['keys']} keystrokes, "
        f"{sz['scale_n']} sessions × {sz['scale_mib']} MiB"
    )
    add("")
    add(
        "Cells are `median (min–max)` over rounds; ratios are medians of the per-round paired "
        "ratios threadpty/peer. Every sample was checked (byte count and sha256 of the output, "
        "`wc -c`'s answer, exit status) before it counted; failures are listed at the end. "
        "Output throughput is bytes ÷ (last byte − first byte) as seen by the reader of the "
        "peer's stdout pipe; input throughput is bytes ÷ (session time − an empty session's); "
        "CPU is the client's user+sys (Python peers: `getrusage(RUSAGE_SELF)` around the "
        "session, in a child process; CLI: the `docker` process's rusage) net of an empty "
        "session of the same kind in the same round. The raw socket baseline is one "
        "`recv_into` loop of 1 MiB reads into the same pipe, no demultiplexing (its frame "
        "headers are stripped by the reader, off the clock).\n"
    )

    streams = samples.get("streams", {})
    if streams:
        add("## 1–2. Throughput (MiB/s)\n")
        add(
            "| stream | threadpty | raw socket | Docker CLI | dockerpty | tp/raw | tp/CLI | "
            "tp/dockerpty | target ≥0.95× raw, ≥1.0× CLI |"
        )
        add("|---|---|---|---|---|---|---|---|---|")
        for case, name in CASES.items():
            if case not in streams:
                continue
            per = {
                p: by_round(streams[case].get(p, []), lambda e, c=case: mibs(c, e))
                for p in PEER_NAMES
            }
            r_raw = paired(per["threadpty"], per["raw"])
            r_cli = paired(per["threadpty"], per["cli"])
            r_dp = paired(per["threadpty"], per["dockerpty"])
            ok = None
            if r_raw and r_cli:
                ok = median(r_raw) >= 0.95 and median(r_cli) >= 1.0
            add(
                f"| {name} | "
                + " | ".join(spread(list(per[p].values())) for p in PEER_NAMES)
                + f" | {ratio_cell(r_raw)} | {ratio_cell(r_cli)} | {ratio_cell(r_dp)} | "
                f"{verdict(ok)} |"
            )
        add("")
        add("## 3. Client CPU seconds per GiB (net of an empty session)\n")
        add(
            "| stream | threadpty | raw socket | Docker CLI | dockerpty | tp/raw | tp/CLI | "
            "tp/dockerpty | target ≤1.25× raw, <1.0× CLI |"
        )
        add("|---|---|---|---|---|---|---|---|---|")
        for case, name in CASES.items():
            if case not in streams:
                continue
            per = {p: by_round(streams[case].get(p, []), cpu_per_gib) for p in PEER_NAMES}
            r_raw = paired(per["threadpty"], per["raw"])
            r_cli = paired(per["threadpty"], per["cli"])
            r_dp = paired(per["threadpty"], per["dockerpty"])
            ok = None
            if r_raw and r_cli:
                ok = median(r_raw) <= 1.25 and median(r_cli) < 1.0
            add(
                f"| {name} | "
                + " | ".join(spread(list(per[p].values()), 2) for p in PEER_NAMES)
                + f" | {ratio_cell(r_raw)} | {ratio_cell(r_cli)} | {ratio_cell(r_dp)} | "
                f"{verdict(ok)} |"
            )
        empties = []
        for case in CASES:
            if case in streams:
                for p in list(PEER_NAMES) + ["pipe"]:
                    xs = [e["empty"]["cpu"] for e in streams[case].get(p, []) if e["empty"]["ok"]]
                    if xs:
                        name = PEER_NAMES.get(p, "threadpty PIPE")
                        empties.append(f"{name} {case} {median(xs) * 1e3:.0f}")
        add("\nCPU of the empty sessions themselves (ms, median): " + "; ".join(empties) + ".\n")
        pipe_table(add, streams, mibs, cpu_per_gib)

    lat = samples.get("latency", {})
    if lat:
        add("## 4. Keystroke echo latency through a real PTY (`exec -it … cat`, ms)\n")
        add("| client | median | p99 | median tp/peer | p99 tp/peer | target |")
        add("|---|---|---|---|---|---|")

        def per_round(key: str, p: float) -> Dict[int, float]:
            return {
                e["round"]: (median(e["times"]) if p == 50 else pct(e["times"], p)) * 1e3
                for e in lat.get(key, [])
                if e["ok"] and e["times"]
            }

        pairs = {
            "threadpty": "cli",
            "dockerpty": None,
            "cli": None,
            "threadpty+flood": "cli+flood",
            "cli+flood": None,
        }
        for key in ("threadpty", "cli", "dockerpty", "threadpty+flood", "cli+flood"):
            if key not in lat:
                continue
            m, p99 = per_round(key, 50), per_round(key, 99)
            other = pairs[key]
            rm = paired(m, per_round(other, 50)) if other else []
            rp = paired(p99, per_round(other, 99)) if other else []
            ok = (median(rm) <= 1.05 and median(rp) <= 1.5) if rm and rp else None
            label = {
                "threadpty+flood": "threadpty, another session in-process floods output",
                "cli+flood": "Docker CLI, another `docker exec` floods output",
            }.get(key, PEER_NAMES.get(key, key))
            add(
                f"| {label} | {spread(list(m.values()), 3)} | {spread(list(p99.values()), 3)} | "
                f"{ratio_cell(rm) if other else ''} | {ratio_cell(rp) if other else ''} | "
                f"{verdict(ok) if other else ''} |"
            )
        add(
            "\nTarget: median ≤ 1.05× the CLI's, p99 ≤ 1.5× the CLI's (flood rows paired with "
            "flood rows). p99 is per round (of the keystrokes), then median over rounds.\n"
        )

    setup = samples.get("setup", {})
    if setup:
        add("## 5. Session setup inside a running program (ms)\n")
        add(
            "In-process peers: the client is connected and warmed up; `first byte` is call → "
            "first byte of `echo ready`, `whole` is call → session over with its exit status "
            "(dockerpty fetches none). `run` is create + attach + start. The CLI's figure is "
            "the whole `docker exec`/`docker run` process.\n"
        )
        add(
            "| peer | exec first byte | exec whole | run first byte | run whole | "
            "HTTP requests (exec; run) |"
        )
        add("|---|---|---|---|---|---|")
        for p in ("threadpty", "raw", "dockerpty", "cli"):
            cells = []
            reqs = []
            for kind in ("exec", "run"):
                es = [e for e in setup.get(f"{p}/{kind}", []) if e["ok"]]
                cells.append(spread([e["first"] * 1e3 for e in es if e["first"]]))
                cells.append(spread([e["total"] * 1e3 for e in es]))
                if es and es[0].get("requests") is not None:
                    common = Counter(len(e["requests"]) for e in es).most_common(1)[0][0]
                    example = next(e["requests"] for e in es if len(e["requests"]) == common)
                    extra = " + `POST /containers/create`" if kind == "run" else ""
                    reqs.append(f"{common}{extra}: " + ", ".join(f"`{r}`" for r in example))
            add(
                f"| {PEER_NAMES[p]} | "
                + " | ".join(cells)
                + " | "
                + ("; ".join(reqs) if reqs else "n/a")
                + " |"
            )

        def rounds_of(key: str, field: str) -> Dict[int, float]:
            acc: Dict[int, List[float]] = {}
            for e in setup.get(key, []):
                if e["ok"] and e[field]:
                    acc.setdefault(e["round"], []).append(e[field])
            return {r: median(v) for r, v in acc.items()}

        r_exec = paired(rounds_of("threadpty/exec", "first"), rounds_of("cli/exec", "total"))
        r_run = paired(rounds_of("threadpty/run", "first"), rounds_of("cli/run", "total"))
        ok = median(r_exec) <= 0.5 if r_exec else None
        add(
            f"\nthreadpty in-process first byte ÷ CLI whole process: exec {ratio_cell(r_exec)} "
            f"(target ≤ 0.5×: {verdict(ok)}), run {ratio_cell(r_run)}.\n"
        )

    rz = samples.get("resize", {})
    if rz:
        add("## 6. Resize bursts (10 window changes within ~100 ms, `exec -it sh`)\n")
        add("| client | resize API calls for the burst | final `stty size` right | target |")
        add("|---|---|---|---|")
        for p in ("threadpty", "dockerpty"):
            es = rz.get(p, [])
            good = [e for e in es if e["ok"]]
            calls = [float(e["calls"]) for e in good]
            wins = sum(1 for e in good if e["last_wins"])
            ok = None
            if p == "threadpty" and good:
                ok = median(calls) <= 3 and wins == len(es)
            add(
                f"| {PEER_NAMES[p]} | {spread(calls, 0)} | {wins}/{len(es)} | "
                f"{verdict(ok) if p == 'threadpty' else 'one per signal'} |"
            )
        add("")

    sc = samples.get("scale", {})
    if sc:
        add("## 7. Scale: concurrent exec sessions, each echoing its input and streaming a file\n")
        add(
            "All sessions are started first (each echoes its input back, then waits); then a "
            "file appears in the bind mount and all of them stream at once. `start all` is "
            "the time to have every session up and echoed, `stream` from the go signal to the "
            "last session's end.\n"
        )
        add(
            "| client | correct | start all s | stream s | aggregate MiB/s | "
            "memory per session (KiB) | client CPU s |"
        )
        add("|---|---|---|---|---|---|---|")
        for p in ("threadpty", "cli"):
            es = [e for e in sc.get(p, []) if "error" not in e]
            if not es:
                add(f"| {PEER_NAMES[p]} | failed | | | | |")
                continue
            n = es[0]["sessions"]
            correct = ", ".join(f"{e['correct']}/{n}" for e in es)
            if p == "threadpty":
                mem = [(e["rss_peak_kib"] - e["rss_base_kib"]) / n for e in es]
                memlabel = spread(mem, 0) + " added RSS (peak − before)"
            else:
                mem = [e["rss_sum_kib"] / n for e in es]
                memlabel = spread(mem, 0) + " max RSS per `docker exec` process"
            add(
                f"| {PEER_NAMES[p]} | {correct} | {spread([e['start_all'] for e in es], 2)} | "
                f"{spread([e['wall'] for e in es], 2)} | "
                f"{spread([e['bytes'] / 2**20 / e['wall'] for e in es])} | {memlabel} | "
                f"{spread([e['cpu'] for e in es], 2)} |"
            )
        es = [e for e in sc.get("threadpty", []) if "error" not in e]
        if es:
            n = es[0]["sessions"]
            mem = median([(e["rss_peak_kib"] - e["rss_base_kib"]) / n for e in es]) or 0
            allok = all(e["correct"] == n for e in es)
            add(
                f"\nthreadpty: peak {median([e['threads_peak'] for e in es]):.0f} threads; all "
                f"correct: {verdict(allok)}; added memory ≤ 1 MiB per session: "
                f"{verdict(mem <= 1024)}.\n"
            )

    startup = samples.get("startup", {})
    if startup:
        add("## 8. Start-up: whole processes (ms)\n")
        add(
            "Each sample is a whole `python` process (`bench/startup.py`), timed by this process "
            "from spawn to exit, its CPU from `wait4`; each cell is over rounds of the per-round "
            "medians. `import docker` is the process that imports docker and exits; the import "
            "of threadpty is the paired difference of `import docker, threadpty` and it, per "
            "round. The session rows import what they need, make an `APIClient`, run `exec "
            "true` with output to fd 1 and exit. The raw loop asks the exit status as threadpty "
            "does (create, start, read, inspect: 3 requests); dockerpty never asks (2). "
            "threadpty's bytecode is compiled first, as an installed package's is.\n"
        )

        def per_round(peer: str, field: str) -> Dict[int, float]:
            rounds: Dict[int, List[float]] = {}
            for e in startup.get(peer, []):
                if e["ok"]:
                    rounds.setdefault(e["round"], []).append(e[field])
            return {r: median(v) for r, v in rounds.items()}

        def cell(peer: str, field: str) -> str:
            return spread([v * 1e3 for v in per_round(peer, field).values()])

        def delta(field: str) -> List[float]:
            a, b = per_round("import", field), per_round("docker", field)
            return [(a[r] - b[r]) * 1e3 for r in sorted(a) if r in b]

        add("| process | wall | CPU |")
        add("|---|---|---|")
        add(f"| `import docker` | {cell('docker', 'wall')} | {cell('docker', 'cpu')} |")
        add(f"| `import docker, threadpty` | {cell('import', 'wall')} | {cell('import', 'cpu')} |")
        add(f"| → threadpty's import | {spread(delta('wall'))} | {spread(delta('cpu'))} |")
        for peer, name in (
            ("threadpty", "threadpty"),
            ("raw", "raw socket"),
            ("dockerpty", "dockerpty 0.4.1"),
        ):
            add(f"| `exec true`, {name} | {cell(peer, 'wall')} | {cell(peer, 'cpu')} |")
        wall_raw = paired(per_round("threadpty", "wall"), per_round("raw", "wall"))
        wall_dp = paired(per_round("threadpty", "wall"), per_round("dockerpty", "wall"))
        cpu_raw = paired(per_round("threadpty", "cpu"), per_round("raw", "cpu"))
        imp, imp_cpu = median(delta("wall")), median(delta("cpu"))
        add(
            f"\nthreadpty's import over docker's: {fmt(imp_cpu)} ms CPU, {fmt(imp)} ms wall "
            f"(target ≤ 20 ms, judged on CPU, which the machine's load moves far less than the "
            f"wall time of a process: {verdict(None if imp_cpu is None else imp_cpu <= 20)}). "
            f"An empty session, whole process: {ratio_cell(wall_raw)} the raw loop's wall time "
            f"(target ≤ 1.05×: {verdict(median(wall_raw) <= 1.05 if wall_raw else None)}), "
            f"{ratio_cell(wall_dp)} dockerpty's; CPU {ratio_cell(cpu_raw)} the raw loop's.\n"
        )

    add("## Failures\n")
    if failures:
        for f in failures:
            add(f"- {f}")
    else:
        add("None.")
    add("")
    return "\n".join(L)
