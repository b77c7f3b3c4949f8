"""`threadpty web` beside wetty (npm) and terminado (PyPI), each serving `docker exec -it` into the
same container, measured through WebSocket clients in this process.

    .venv-bench-web/bin/python bench/web_run.py [--rounds N] [--quick] [--out FILE]

Figures, per peer, rounds interleaved (order rotated each round; the machine is shared and noisy):
- keystroke echo: one character sent, time until its echo arrives (median, p99);
- flood: `cat` of a file of `seq`'s lines through the TTY (output processing off), MiB/s from
  first byte to last at a client that reads as fast as it can (wetty's client acknowledges as
  its page does, or wetty pauses);
- memory per session at 50 sessions: (memory of the server's process tree with 50 sessions open −
  with none) / 50; the tree is the server and its children (the `docker exec` CLI processes of
  wetty and terminado; threadpty web has none). PSS (shared pages split) and RSS both reported.
Every flood is checked (byte count and sha256 against the file) before it counts.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from websockets.sync.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
WETTY = os.path.join(HERE, "web", "node_modules", "wetty", "build", "main.js")
TOKEN = "bench-token"
MiB = 1 << 20
PEERS = ["threadpty", "terminado", "wetty"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- clients: bytes in, bytes out, whatever the peer's wire format ---------------------------


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def recv(self, timeout: float) -> Optional[bytes]:
        raise NotImplementedError

    def until(self, pattern: bytes, timeout: float = 60) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.buf)
            if m is not None:
                out = bytes(self.buf[: m.end()])
                del self.buf[: m.end()]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{pattern!r} not seen; last: {bytes(self.buf[-200:])!r}")
            data = self.recv(left)
            if data:
                self.buf += data

    def idle(self) -> None:
        """Keep the session open while this process looks elsewhere (memory figure)."""

    def close(self) -> None:
        self.ws.close()


class ThreadptyClient(Client):
    def __init__(self, port: int) -> None:
        super().__init__(connect(f"ws://127.0.0.1:{port}/ws", max_size=None, open_timeout=60,
                                 additional_headers=[("Authorization", f"Bearer {TOKEN}")]))
        self.ws.send(json.dumps({"type": "start", "rows": 24, "cols": 80}))

    def send(self, data: bytes) -> None:
        self.ws.send(data)

    def recv(self, timeout: float) -> Optional[bytes]:
        m = self.ws.recv(timeout=timeout)
        return m if isinstance(m, bytes) else None


class TerminadoClient(Client):
    def __init__(self, port: int) -> None:
        super().__init__(connect(f"ws://127.0.0.1:{port}/websocket", max_size=None,
                                 open_timeout=60))
        self.ws.send(json.dumps(["set_size", 24, 80]))

    def send(self, data: bytes) -> None:
        self.ws.send(json.dumps(["stdin", data.decode()]))

    def recv(self, timeout: float) -> Optional[bytes]:
        m = json.loads(self.ws.recv(timeout=timeout))
        return m[1].encode() if m[0] == "stdout" else None


class WettyClient(Client):
    """Socket.IO (Engine.IO 4) over a plain WebSocket, as wetty's page speaks it."""

    def __init__(self, port: int) -> None:
        super().__init__(connect(
            f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
            max_size=None, open_timeout=60,
        ))
        assert self.ws.recv(timeout=60).startswith("0")
        self.ws.send("40")
        while not self.ws.recv(timeout=60).startswith("40"):
            pass
        self._emit("resize", {"cols": 80, "rows": 24})
        self._reader: Optional[threading.Thread] = None

    def idle(self) -> None:
        # Engine.IO drops a client that misses two pings (3 s apart): answer them meanwhile.
        def answer() -> None:
            try:
                while True:
                    self.recv(None)
            except Exception:  # noqa: BLE001 - closed
                pass

        self._reader = threading.Thread(target=answer, name="bench-wetty-idle", daemon=True)
        self._reader.start()

    def _emit(self, event: str, arg: Any) -> None:
        self.ws.send("42" + json.dumps([event, arg]))

    def send(self, data: bytes) -> None:
        self._emit("input", data.decode())

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        m = self.ws.recv(timeout=timeout)
        if m == "2":
            self.ws.send("3")
            return None
        if not m.startswith("42"):
            return None
        event = json.loads(m[2:])
        if event[0] != "data":
            return None
        # wetty's page acknowledges what it has written; without it wetty pauses at 2 MiB.
        self._emit("commit", len(event[1]))
        return event[1].encode()


CLIENTS: Dict[str, Callable[[int], Client]] = {
    "threadpty": ThreadptyClient, "terminado": TerminadoClient, "wetty": WettyClient,
}


# --- servers --------------------------------------------------------------------------------


class Server:
    def __init__(self, peer: str, box: str) -> None:
        self.peer = peer
        self.port = free_port()
        if peer == "threadpty":
            cmd = [os.path.join(os.path.dirname(sys.executable), "threadpty"), "web", "--exec",
                   box, "--port", str(self.port), "--token", TOKEN, "--max-sessions", "200"]
            ready = b"serving at"
        elif peer == "terminado":
            cmd = [sys.executable, os.path.join(HERE, "terminado_server.py"), str(self.port), box]
            ready = b"terminado serving"
        else:
            cmd = ["node", WETTY, "--host", "127.0.0.1", "--port", str(self.port),
                   "--command", f"docker exec -it {box} /bin/sh"]
            ready = b""
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        if ready:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            assert ready in line, f"{peer} did not start: {line!r}"
        while True:  # listening?
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"{peer} does not listen"
                time.sleep(0.1)

    def client(self) -> Client:
        c = CLIENTS[self.peer](self.port)
        c.until(rb"# ", 60)
        return c

    def tree(self) -> List[int]:
        parents: Dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(p for p, pp in parents.items() if pp == pid)
        return out

    def memory(self) -> Dict[str, int]:
        rss = pss = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1]) * 1024
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
            except OSError:
                pass
        return {"rss": rss, "pss": pss, "processes": len(self.tree())}

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


# --- figures --------------------------------------------------------------------------------


def echo(server: Server, n: int) -> List[float]:
    c = server.client()
    samples = []
    try:
        for i in range(n):
            if i and i % 40 == 0:
                c.send(b"\x03")  # a fresh line before this one wraps
                c.until(rb"# ")
            t = time.perf_counter()
            c.send(b"x")
            c.until(rb"x")
            samples.append(time.perf_counter() - t)
    finally:
        c.close()
    return samples


def payload(folder: str, size: int) -> str:
    """The flood: the lines of `seq`, in a file the container reads with `cat` (large writes into
    its TTY, as a build log or `cat` of a file would); returns its sha256."""
    data = "".join(f"{i}\n" for i in range(1, size // 6 + 2)).encode()[:size]
    assert len(data) == size
    with open(os.path.join(folder, "flood"), "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def flood(server: Server, size: int, want: str) -> float:
    c = server.client()
    try:
        c.send(b"stty -opost -echo; echo ST''ART; cat /b/flood; echo EN''D\n")
        c.until(rb"START\n")
        h = hashlib.sha256()
        got = len(c.buf)
        h.update(bytes(c.buf[:size]))
        first = time.perf_counter() if got else None
        while got < size:
            data = c.recv(120)
            if not data:
                continue
            if first is None:
                first = time.perf_counter()
            h.update(data[: size - got])
            got += len(data)
        last = time.perf_counter()
        assert h.hexdigest() == want, f"{server.peer}: flood output differs"
    finally:
        c.close()
    assert first is not None
    return size / MiB / (last - first)


def memory(server: Server, sessions: int) -> Dict[str, float]:
    warm = server.client()
    warm.close()
    time.sleep(2)  # the warm-up session's processes go
    before = server.memory()
    clients = []
    try:
        for _ in range(sessions):
            c = server.client()
            c.idle()
            clients.append(c)
        during = server.memory()
    finally:
        for c in clients:
            c.close()
    return {
        "pss_per_session_kib": (during["pss"] - before["pss"]) / sessions / 1024,
        "rss_per_session_kib": (during["rss"] - before["rss"]) / sessions / 1024,
        "processes": during["processes"],
        "pss_total_mib": during["pss"] / MiB,
    }


def pct(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1 round, smaller figures")
    ap.add_argument("--out", default=os.path.join(HERE, "WEB-RESULTS.md"))
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    keys, size, sessions = (60, 8 * MiB, 50) if args.quick else (200, 32 * MiB, 50)
    import docker

    client = docker.APIClient(version="auto")
    folder = tempfile.mkdtemp(prefix="tpweb-bench-")
    want = payload(folder, size)
    box = client.create_container(
        IMAGE, "sleep 36000", labels={"io.threadpty.bench": "web"},
        host_config=client.create_host_config(
            network_mode="none", binds={folder: {"bind": "/b", "mode": "ro"}}
        ),
    )["Id"]
    client.start(box)
    servers: Dict[str, Server] = {}
    results: Dict[str, Dict[str, List[Any]]] = {p: {"echo": [], "flood": [], "memory": []}
                                                for p in PEERS}
    t0 = time.monotonic()
    try:
        for peer in PEERS:
            servers[peer] = Server(peer, box)
        for r in range(rounds):
            order = PEERS[r % 3:] + PEERS[: r % 3]
            for peer in order:
                log(f"round {r + 1}/{rounds}: {peer}")
                s = servers[peer]
                results[peer]["echo"].extend(echo(s, keys))
                results[peer]["flood"].append(flood(s, size, want))
                results[peer]["memory"].append(memory(s, sessions))
    finally:
        for s in servers.values():
            s.stop()
        client.remove_container(box, force=True)
        shutil.rmtree(folder, ignore_errors=True)
    summary = {}
    for peer in PEERS:
        e = results[peer]["echo"]
        summary[peer] = {
            "echo_median_ms": statistics.median(e) * 1000,
            "echo_p99_ms": pct(e, 99) * 1000,
            "flood_mib_s": statistics.median(results[peer]["flood"]),
            "pss_per_session_kib": statistics.median(
                m["pss_per_session_kib"] for m in results[peer]["memory"]),
            "rss_per_session_kib": statistics.median(
                m["rss_per_session_kib"] for m in results[peer]["memory"]),
            "processes_at_50": results[peer]["memory"][-1]["processes"],
        }
    write(args.out, summary, results, rounds, keys, size, sessions, time.monotonic() - t0)


def write(out: str, summary: Dict[str, Any], raw: Dict[str, Any], rounds: int, keys: int,
          size: int, sessions: int, elapsed: float) -> None:
    tp = summary["threadpty"]
    peers = [p for p in PEERS if p != "threadpty"]
    best_echo = min(summary[p]["echo_median_ms"] for p in peers)
    best_p99 = min(summary[p]["echo_p99_ms"] for p in peers)
    best_flood = max(summary[p]["flood_mib_s"] for p in peers)
    best_pss = min(summary[p]["pss_per_session_kib"] for p in peers)
    best_rss = min(summary[p]["rss_per_session_kib"] for p in peers)
    ratios = {
        "echo_median": tp["echo_median_ms"] / best_echo,
        "echo_p99": tp["echo_p99_ms"] / best_p99,
        "flood": tp["flood_mib_s"] / best_flood,
        "pss_per_session": tp["pss_per_session_kib"] / best_pss,
        "rss_per_session": tp["rss_per_session_kib"] / best_rss,
    }
    targets = {
        "echo_median": ratios["echo_median"] <= 1.0,
        "flood": ratios["flood"] >= 1.0,
        "pss_per_session": ratios["pss_per_session"] <= 1 / 20,
    }
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    lines = [
        "# threadpty web beside wetty and terminado",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; commit {git}",
        f"- Machine: `nproc` = {os.cpu_count()}, {platform.machine()}, shared and noisy; "
        f"Python {platform.python_version()}; node {_node()}",
        f"- Command: `make bench-web` ({' '.join(sys.argv[1:]) or 'full'}): {rounds} round(s), "
        f"peers interleaved; {keys} keystrokes, {size // MiB} MiB flood, {sessions} sessions "
        f"per round; {elapsed / 60:.1f} min",
        "- Each serves `docker exec -it BOX /bin/sh` (wetty and terminado: the Docker CLI in a "
        "PTY of their own; threadpty web: the engine's API from its own process).",
        "",
        "| figure | threadpty web | terminado | wetty | threadpty / best peer | target |",
        "|---|---|---|---|---|---|",
    ]

    def row(name: str, key: str, fmt: str, ratio: str, target: str) -> None:
        cells = [fmt.format(summary[p][key]) for p in PEERS]
        met = targets.get(ratio)
        verdict = "" if met is None else (" **met**" if met else " **missed**")
        lines.append(f"| {name} | {' | '.join(cells)} | {ratios[ratio]:.2f}× | {target}{verdict} |")

    row("keystroke echo, median (ms)", "echo_median_ms", "{:.2f}", "echo_median", "≤ 1×")
    row("keystroke echo, p99 (ms)", "echo_p99_ms", "{:.2f}", "echo_p99", "")
    row("flood to a reading client (MiB/s)", "flood_mib_s", "{:.1f}", "flood", "≥ 1×")
    row("memory per session at 50, PSS (KiB)", "pss_per_session_kib", "{:.0f}",
        "pss_per_session", "≤ 0.05×")
    row("memory per session at 50, RSS (KiB)", "rss_per_session_kib", "{:.0f}",
        "rss_per_session", "")
    lines += [
        "",
        "Processes in the server's tree with 50 sessions open: "
        + ", ".join(f"{p} {summary[p]['processes_at_50']}" for p in PEERS) + ".",
        "",
        "Memory: (the tree's memory with 50 sessions open − with none, after one warm-up "
        "session) ÷ 50. PSS splits shared pages (the Docker CLI's binary) among the processes "
        "that map them; RSS counts them in each. The shells inside the container are the same "
        "for every peer and not counted. threadpty web's later rounds can come out lower than its "
        "first: its process keeps the memory freed by the previous round's sessions and reuses "
        "it (per round: "
        + ", ".join(f"{m['pss_per_session_kib']:.0f}" for m in raw["threadpty"]["memory"])
        + " KiB PSS); the first round is the cold figure.",
        "",
    ]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"summary": summary, "ratios": ratios, "raw": raw}, f, indent=1, default=str)
    print("\n".join(lines))


def _node() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
