"""Draws the performance page's plots from bench/results/: RESULTS.json and WEB-RESULTS.json.

Run by Sphinx when the build starts (``make docs``), so the plots always show the results in the
tree and nobody commits an image. The figures are computed by the bench's own code
(``mibs`` and ``cpu_per_gib`` in bench/figures/streams.py; ``median`` and ``by_round`` in
bench/stats.py), so the plots and bench/results/RESULTS.md cannot disagree. The images go to
``docs/_build/plots/``; the pages refer to them as ``/_build/plots/NAME.png``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen
import matplotlib.ticker  # noqa: E402

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(DOCS)
BENCH = os.path.join(ROOT, "bench")
RESULTS = os.path.join(BENCH, "results")
OUT = os.path.join(DOCS, "_build", "plots")

# One colour per peer, the same in every plot.
PEERS = {
    "threadpty": ("threadpty", "#1f77b4"),
    "pipe": ("threadpty, PIPE", "#6baed6"),
    "raw": ("bare socket loop", "#7f7f7f"),
    "cli": ("Docker CLI", "#2ca02c"),
    "dockerpty": ("dockerpty 0.4.1", "#d62728"),
    "terminado": ("terminado", "#9467bd"),
    "wetty": ("wetty", "#ff7f0e"),
    "ttyd": ("ttyd 1.7.7", "#8c564b"),
}
CASES = {
    "exec-out": "exec\nno TTY",
    "exec-outtty": "exec\nTTY",
    "run-out": "run\nno TTY",
    "run-outtty": "run\nTTY",
    "exec-in": "exec stdin\n→ wc -c",
}


def _load(name: str) -> ModuleType:
    """A bench module by its path under bench/, without running anything (scripts guard main)."""
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)  # the bench's modules import each other by their bare names
    stem = os.path.splitext(name)[0].replace("/", "_")
    spec = importlib.util.spec_from_file_location(f"_bench_{stem}", os.path.join(BENCH, name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The bench's statistics, so that a median here is the one in RESULTS.md.
stats = _load("stats.py")


def _read(name: str) -> Dict[str, Any]:
    with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    return data


def _spread(values: Sequence[float]) -> Tuple[float, float, float]:
    """Median, and its distance to the minimum and the maximum (for error bars)."""
    mid = stats.median(values)
    return mid, mid - min(values), max(values) - mid


def _grouped_bars(
    ax: Any,
    groups: Dict[str, Dict[str, List[float]]],
    peers: Sequence[str],
    ylabel: str,
) -> None:
    """Bars of the median per round, one group per case, min-max as error bars."""
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        xs, mids, lows, highs = [], [], [], []
        for g, (_case, values) in enumerate(groups.items()):
            got = values.get(peer) or []
            if got:
                mid, low, high = _spread(got)
                xs.append(g + (i - (len(peers) - 1) / 2) * width)
                mids.append(mid)
                lows.append(low)
                highs.append(high)
        label, colour = PEERS[peer]
        ax.bar(xs, mids, width, yerr=[lows, highs], capsize=2, label=label, color=colour)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([CASES[c] for c in groups])
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _per_round(
    entries: List[Dict[str, Any]], value: Callable[[Dict[str, Any]], Optional[float]]
) -> List[float]:
    return list(stats.by_round(entries, value).values())


def streams(results: Dict[str, Any], figure: ModuleType) -> List[str]:
    """Throughput and client CPU per GiB of every peer, every stream case."""
    samples = results["samples"]["streams"]
    peers = ["threadpty", "pipe", "raw", "cli", "dockerpty"]
    speed: Dict[str, Dict[str, List[float]]] = {}
    cpu: Dict[str, Dict[str, List[float]]] = {}
    for case in CASES:
        runs = samples.get(case, {})
        speed[case] = {
            p: _per_round(runs.get(p, []), lambda e, c=case: figure.mibs(c, e)) for p in peers
        }
        cpu[case] = {p: _per_round(runs.get(p, []), figure.cpu_per_gib) for p in peers}
    made = []
    fig, ax = plt.subplots(figsize=(9, 4))
    _grouped_bars(ax, speed, peers, "MiB/s (higher is better)")
    ax.set_title("Output and input throughput, median of rounds (bars: min–max)")
    ax.legend(ncol=5, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22))
    made.append(_save(fig, "streams-throughput"))
    fig, ax = plt.subplots(figsize=(9, 4))
    _grouped_bars(ax, cpu, peers, "client CPU s per GiB (lower is better)")
    ax.set_title("Client CPU per GiB, net of an empty session (bars: min–max)")
    ax.legend(ncol=5, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22))
    made.append(_save(fig, "streams-cpu"))
    return made


def latency(results: Dict[str, Any]) -> List[str]:
    """Keystroke echo through a real PTY: every sample of every round, per peer."""
    samples = results["samples"]["latency"]
    order = ["threadpty", "cli", "dockerpty", "threadpty+flood", "cli+flood"]
    order = [p for p in order if p in samples]
    data = [[t * 1000 for e in samples[p] for t in e.get("times", [])] for p in order]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.boxplot(data, whis=(1, 99), showfliers=False)
    ax.set_xticks(range(1, len(order) + 1))
    ax.set_xticklabels(
        [PEERS[p.split("+")[0]][0] + (" while\nanother floods" if "+" in p else "") for p in order]
    )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_ylabel("echo, ms (log)")
    ax.set_title("Keystroke to echo: box = quartiles, whiskers = p1–p99")
    ax.grid(axis="y", alpha=0.3, which="both")
    return [_save(fig, "latency")]


def setup_times(results: Dict[str, Any]) -> List[str]:
    """Time from the call to the first byte of output, per peer, exec and run."""
    samples = results["samples"]["setup"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False)
    for ax, kind in zip(axes, ("exec", "run")):
        peers = [p for p in ("threadpty", "raw", "cli", "dockerpty") if f"{p}/{kind}" in samples]
        data = [
            [e["first"] * 1000 for e in samples[f"{p}/{kind}"] if e.get("ok") and e.get("first")]
            for p in peers
        ]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(peers) + 1))
        ax.set_xticklabels([PEERS[p][0].replace(" ", "\n", 1) for p in peers], fontsize="small")
        ax.set_title(f"{kind}: call to first byte")
        ax.set_ylabel("ms")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Session setup (box: quartiles; whiskers: range)")
    return [_save(fig, "setup")]


def web(results: Dict[str, Any]) -> List[str]:
    """threadpty web beside its peers: echo, flood throughput, open-all time, memory/session."""
    summary = results["summary"]
    peers = [p for p in ("threadpty", "ttyd", "terminado", "wetty") if p in summary]
    colours = [PEERS[p][1] for p in peers]
    panels = [
        ("echo_median_ms", "echo median, ms\n(lower is better)", False),
        ("echo_p99_ms", "echo p99, ms\n(lower is better)", False),
        ("flood_mib_s", "flood, MiB/s\n(higher is better)", False),
        ("open_s", "open 50 at once, s\n(lower is better)", False),
        ("pss_per_session_kib", "PSS per session, KiB\nat 50 sessions (log)", True),
    ]
    panels = [p for p in panels if all(p[0] in summary[peer] for peer in peers)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.4))
    for ax, (key, title, log) in zip(axes, panels):
        values = [summary[p][key] for p in peers]
        bars = ax.bar(range(len(peers)), values, color=colours)
        ax.bar_label(
            bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values], fontsize="small"
        )
        ax.set_xticks(range(len(peers)))
        ax.set_xticklabels(peers, rotation=30, fontsize="small")
        ax.set_title(title, fontsize="medium")
        if log:
            ax.set_yscale("log")
            # Far enough below the smallest bar that it shows, and room above for the labels.
            ax.set_ylim(min(values) / 4, max(values) * 3)
            ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        else:
            ax.set_ylim(0, max(values) * 1.15)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle("threadpty web beside its peers (docker exec -it into one container)")
    return [_save(fig, "web")]


def _save(fig: Any, name: str) -> str:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def provenance(results: Dict[str, Any]) -> str:
    """One line of reST saying which run the plots show (included under them)."""
    meta = results["meta"]
    return (
        f"From ``{meta.get('command', 'make bench')}`` at {meta.get('tree', 'an unknown tree')}, "
        f"{meta['date']}: {meta['rounds']} rounds on {meta['nproc']} cores "
        f"({meta['machine']}, Python {meta['python']}), Docker {meta['engine']} "
        f"(API {meta['api']}), Docker CLI {meta['cli']}.\n"
    )


def draw_all() -> List[str]:
    results = _read("RESULTS.json")
    made = streams(results, _load("figures/streams.py")) + latency(results) + setup_times(results)
    made += web(_read("WEB-RESULTS.json"))
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "provenance.rst")
    with open(path, "w", encoding="utf-8") as f:
        f.write(provenance(results))
    return made + [path]


def _on_builder_inited(app: Any) -> None:
    draw_all()


def setup(app: Any) -> Dict[str, Any]:
    """The Sphinx extension: draw the plots when the build starts."""
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    for path in draw_all():
        print(path)
