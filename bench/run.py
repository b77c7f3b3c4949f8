"""threadpty beside the Docker CLI, dockerpty 0.4.1 and a raw socket loop, in one interleaved run.

    .venv-bench/bin/python bench/run.py [--quick] [--rounds N] [--out FILE] [--only FIGS]

Every round runs every peer once per case, in an order rotated each round (the machine is shared
and noisy), and every figure is checked (byte counts, sha256, exit codes) before it counts. The
report gives medians, min-max and the medians of the per-round paired ratios threadpty/peer.

Each Python peer runs in a child process (``bench/worker.py``) that measures its own CPU and wall
time around the session only; the Docker CLI's CPU is its process's rusage. Output of every peer
goes to a pipe that this process reads, hashes and times (first byte → last byte), so every peer
pays for the same sink. CPU per GiB is net of an empty session of the same kind, per round.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import termios
import time
import tty as ttymod
from typing import Any, Dict, List, Optional, Tuple

import docker

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "worker.py")
IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
LABEL = "io.threadpty.bench"
MiB = 1 << 20
GiB = 1 << 30
LINE = (b"0123456789abcdef" * 4)[:63] + b"\n"  # 64 bytes
PEERS = ["threadpty", "raw", "cli", "dockerpty"]
# threadpty driven through PIPEs (``stdout=PIPE`` read with ``read1``; ``stdin=PIPE`` written in
# 1 MiB pieces), beside the file-object path ("threadpty") in the same rounds: exec cases only.
PIPE_PEER = "pipe"
PIPE_CASES = ("exec-out", "exec-outtty", "exec-in")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Reading a peer's output: hash, count, time


class Demux:
    """Docker's 8-byte frame headers out of the raw socket loop's output (read here, uncounted)."""

    def __init__(self, h: Any) -> None:
        self.h, self.hdr, self.rem, self.n = h, b"", 0, 0
        self.small = bytearray()

    def feed(self, data: bytes) -> None:
        mv = memoryview(data)
        pos, end = 0, len(mv)
        while pos < end:
            if self.rem:
                take = min(self.rem, end - pos)
                piece = mv[pos : pos + take]
                self.h.update(piece)
                if len(self.small) < 4096:
                    self.small += piece[:4096]
                self.n += take
                self.rem -= take
                pos += take
            else:
                need = 8 - len(self.hdr)
                self.hdr += bytes(mv[pos : pos + need])
                pos += min(need, end - pos)
                if len(self.hdr) == 8:
                    self.rem = int.from_bytes(self.hdr[4:], "big")
                    self.hdr = b""


class Plain:
    def __init__(self, h: Any) -> None:
        self.h, self.n, self.small = h, 0, bytearray()

    def feed(self, data: bytes) -> None:
        self.h.update(data)
        if len(self.small) < 4096:
            self.small += data[:4096]
        self.n += len(data)


def read_all(fd: int, demux: bool, deadline: float) -> Dict[str, Any]:
    h = hashlib.sha256()
    sink: Any = Demux(h) if demux else Plain(h)
    first = last = None
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        data = os.read(fd, MiB)
        if not data:
            break
        now = time.perf_counter()
        if first is None:
            first = now
        last = now
        sink.feed(data)
    return {
        "n": sink.n,
        "sha": h.hexdigest(),
        "first": first,
        "last": last,
        "small": bytes(sink.small),
        "timed_out": timed_out,
    }


def reap(proc: subprocess.Popen, timeout: float) -> Tuple[int, float, int]:
    """Wait for the process; return (exit status, user+sys CPU, max RSS KiB) from wait4."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


# ---------------------------------------------------------------------------------------------
# The bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.client = docker.APIClient(version="auto", timeout=120)
        self.api_version = self.client.api_version
        self.data = tempfile.mkdtemp(prefix="threadpty-bench-", dir="/dev/shm")
        os.chmod(self.data, 0o755)
        self.run_id = os.urandom(4).hex()
        self.samples: Dict[str, Any] = {}
        self.notes: List[str] = []
        self.failures: List[str] = []
        if self.quick:
            self.out_k, self.tty_k, self.in_mib = 2, 1, 32  # x16 MiB, x16 MiB, MiB
            self.rounds = args.rounds or 2
            self.keys = 60
            self.scale_n, self.scale_mib, self.scale_rounds = 30, 1, 1
        else:
            self.out_k, self.tty_k, self.in_mib = 16, 4, 256
            self.rounds = args.rounds or 5
            self.keys = 200
            self.scale_n, self.scale_mib, self.scale_rounds = 100, 4, 2
        self.only = set((args.only or "1,2,3,4,5,6,7").split(","))

    # Fixtures --------------------------------------------------------------------------------

    def prepare(self) -> None:
        block = LINE * (16 * MiB // len(LINE))
        self.p16 = block
        self.p16_tty = block.replace(b"\n", b"\r\n")
        with open(os.path.join(self.data, "p16"), "wb") as f:
            f.write(block)
        with open(os.path.join(self.data, "p4"), "wb") as f:
            f.write(block[: self.scale_mib * MiB])
        with open(os.path.join(self.data, "input"), "wb") as f:
            for _ in range(self.in_mib // 16):
                f.write(block)
        open(os.path.join(self.data, "empty"), "wb").close()
        self.host_config = self.client.create_host_config(
            log_config={"type": "none"},
            network_mode="none",
            binds={self.data: {"bind": "/b", "mode": "ro"}},
        )
        self.box = self.client.create_container(
            IMAGE,
            ["sleep", "100000"],
            host_config=self.host_config,
            labels={LABEL: self.run_id},
            stdin_open=True,
        )["Id"]
        self.client.start(self.box)

    def cleanup(self) -> None:
        for c in self.client.containers(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            try:
                self.client.remove_container(c["Id"], force=True)
            except docker.errors.APIError:
                pass
        shutil.rmtree(self.data, ignore_errors=True)

    def new_container(self, cmd: List[str], tty: bool, stdin_open: bool = False) -> str:
        return self.client.create_container(
            IMAGE,
            cmd,
            tty=tty,
            stdin_open=stdin_open,
            host_config=self.host_config,
            labels={LABEL: self.run_id},
        )["Id"]

    def expected_out(self, k: int, tty: bool) -> Tuple[int, str]:
        key = (k, tty)
        cache = self.__dict__.setdefault("_exp", {})
        if key not in cache:
            h = hashlib.sha256()
            block = self.p16_tty if tty else self.p16
            for _ in range(k):
                h.update(block)
            cache[key] = (len(block) * k, h.hexdigest())
        return cache[key]

    # One measurement ------------------------------------------------------------------------

    def py_peer(
        self,
        spec: Dict[str, Any],
        stdin: Any = subprocess.DEVNULL,
        demux: bool = False,
        timeout: float = 300.0,
    ) -> Dict[str, Any]:
        fd, result = tempfile.mkstemp(prefix="result-", dir=self.data)
        os.close(fd)
        spec = dict(spec, api_version=self.api_version, result=result)
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [sys.executable, WORKER, json.dumps(spec)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        got = read_all(proc.stdout.fileno(), demux, time.monotonic() + timeout)
        if got["timed_out"]:
            proc.kill()
        proc.stdout.close()
        code, _, _ = reap(proc, 30)
        try:
            with open(result) as f:
                got.update(json.load(f))
        except (OSError, ValueError):
            err.seek(0)
            got["error"] = err.read().decode(errors="replace")[-1500:] or f"exit {code}"
        os.unlink(result)
        got["status"] = code
        return got

    def cli_peer(
        self,
        argv: List[str],
        stdin: Any = subprocess.DEVNULL,
        use_pty: bool = False,
        timeout: float = 300.0,
    ) -> Dict[str, Any]:
        master = slave = -1
        if use_pty:
            import pty

            master, slave = pty.openpty()
            ttymod.setraw(slave)
            stdin = slave
        err = tempfile.TemporaryFile()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=err)
        if slave >= 0:
            os.close(slave)
        assert proc.stdout is not None
        got = read_all(proc.stdout.fileno(), False, time.monotonic() + timeout)
        if got["timed_out"]:
            proc.kill()
        proc.stdout.close()
        code, cpu, _ = reap(proc, 30)
        got["wall"] = time.perf_counter() - t0
        got.update(cpu=cpu, status=code, code=code)
        if master >= 0:
            os.close(master)
        if code != 0:
            err.seek(0)
            got["error"] = err.read().decode(errors="replace")[-1500:]
        return got

    # Figures 1-3: throughput and CPU -------------------------------------------------------

    def stream_once(self, peer: str, case: str, empty: bool) -> Dict[str, Any]:
        kind, mode = case.split("-", 1)  # exec-out, exec-outtty, run-out, run-outtty, exec-in
        tty = mode == "outtty"
        is_in = mode == "in"
        if is_in:
            cmd = ["wc", "-c"]
            path = os.path.join(self.data, "empty" if empty else "input")
            size = 0 if empty else self.in_mib * MiB
        else:
            k = self.tty_k if tty else self.out_k
            cmd = ["true"] if empty else ["cat"] + ["/b/p16"] * k
            size, sha = (0, hashlib.sha256().hexdigest()) if empty else self.expected_out(k, tty)
        target = self.box
        if kind == "run":
            target = self.new_container(cmd, tty, stdin_open=is_in)
        timeout = 120.0 if not self.quick else 60.0
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
                got = self.cli_peer(argv, stdin=stdin_f, use_pty=tty, timeout=timeout)
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
                if self.args.profile and peer in ("threadpty", PIPE_PEER) and not empty:
                    spec["profile"] = os.path.join(HERE, f"profile-{peer}-{case}.pstats")
                got = self.py_peer(spec, demux=(peer == "raw" and not tty), timeout=timeout)
        finally:
            if is_in:
                stdin_f.close()
            if kind == "run":
                try:
                    self.client.remove_container(target, force=True)
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

    def fig_streams(self) -> None:
        cases = []
        if "1" in self.only or "3" in self.only:
            cases += ["exec-out", "exec-outtty", "run-out", "run-outtty"]
        if "2" in self.only or "3" in self.only:
            cases += ["exec-in"]
        store = self.samples.setdefault("streams", {})
        broken: Dict[Tuple[str, str], str] = {}
        for r in range(self.rounds):
            for ci, case in enumerate(cases):
                peers = PEERS + [PIPE_PEER] if case in PIPE_CASES else PEERS
                shift = (r + ci) % len(peers)
                order = peers[shift:] + peers[:shift]
                for peer in order:
                    if (peer, case) in broken:
                        continue
                    full = self.stream_once(peer, case, empty=False)
                    empty = self.stream_once(peer, case, empty=True)
                    entry = {"full": full, "empty": empty, "round": r}
                    store.setdefault(case, {}).setdefault(peer, []).append(entry)
                    status = (
                        "ok"
                        if full["ok"] and empty["ok"]
                        else (f"FAILED: {full['problem'] or empty['problem']}")
                    )
                    log(
                        f"round {r + 1}/{self.rounds} {case:12s} {peer:10s} {status} "
                        f"{self.mibs(case, entry) or 0:7.1f} MiB/s cpu {full.get('cpu', 0):.2f}s"
                    )
                    if not (full["ok"] and empty["ok"]):
                        self.failures.append(
                            f"{case} {peer} round {r + 1}: {full['problem'] or empty['problem']}"
                        )
                        if peer == "dockerpty":
                            # A known failure (no half-close) is not worth a timeout every round.
                            broken[(peer, case)] = full["problem"] or empty["problem"]

    @staticmethod
    def mibs(case: str, e: Dict[str, Any]) -> Optional[float]:
        full, empty = e["full"], e["empty"]
        if not (full["ok"] and empty["ok"]):
            return None
        if case.endswith("-in"):
            dt = full["wall"] - empty["wall"]
        else:
            dt = (full["last"] or 0) - (full["first"] or 0)
        return full["size"] / MiB / dt if dt > 0 else None

    @staticmethod
    def cpu_per_gib(e: Dict[str, Any]) -> Optional[float]:
        full, empty = e["full"], e["empty"]
        if not (full["ok"] and empty["ok"]):
            return None
        return (full["cpu"] - empty["cpu"]) / (full["size"] / GiB)

    # Figure 4: keystroke latency through a real PTY -----------------------------------------

    def spawn_tty(
        self, peer: str, cmd: List[str], flood: bool, rows: int = 24, cols: int = 80
    ) -> Tuple[Any, Optional[str], Any]:
        import pexpect

        flood_proc = None
        if peer == "cli":
            if flood:
                flood_proc = subprocess.Popen(
                    ["docker", "exec", self.box, "cat", "/dev/zero"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            child = pexpect.spawn(
                "docker", ["exec", "-it", self.box] + cmd, dimensions=(rows, cols), timeout=30
            )
            return child, None, flood_proc
        fd, result = tempfile.mkstemp(prefix="result-", dir=self.data)
        os.close(fd)
        spec = {
            "mode": "tty",
            "peer": peer,
            "target": self.box,
            "cmd": cmd,
            "flood": flood,
            "api_version": self.api_version,
            "result": result,
        }
        child = pexpect.spawn(
            sys.executable,
            [WORKER, json.dumps(spec)],
            dimensions=(rows, cols),
            timeout=30,
            cwd=ROOT,
        )
        return child, result, flood_proc

    @staticmethod
    def wait_raw(child: Any, timeout: float = 20.0) -> None:
        """The client has put our terminal in raw mode: it is connected and forwarding."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lflag = termios.tcgetattr(child.child_fd)[3]
            if not lflag & (termios.ICANON | termios.ECHO):
                return
            time.sleep(0.005)
        raise RuntimeError("the client never put the terminal in raw mode")

    @staticmethod
    def read_until(fd: int, want: bytes, timeout: float = 10.0) -> bytes:
        got = b""
        deadline = time.monotonic() + timeout
        while want not in got:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{want!r} did not come back (got {got[-80:]!r})")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                got += os.read(fd, 4096)
        return got

    def finish_tty(self, child: Any, result: Optional[str], flood_proc: Any) -> Dict[str, Any]:
        import pexpect

        try:
            child.expect(pexpect.EOF, timeout=30)
        finally:
            child.close(force=True)
            if flood_proc is not None:
                flood_proc.kill()
                flood_proc.wait()
        out: Dict[str, Any] = {"status": child.exitstatus}
        if result is not None:
            try:
                with open(result) as f:
                    out.update(json.load(f))
            except (OSError, ValueError):
                out["error"] = "no result"
            os.unlink(result)
        return out

    def latency_once(self, peer: str, flood: bool) -> Dict[str, Any]:
        child, result, flood_proc = self.spawn_tty(peer, ["cat"], flood)
        fd = child.child_fd
        times: List[float] = []
        problem = None
        try:
            self.wait_raw(child)
            letters = b"abcdefghijklmnopqrstuvwxyz"
            for i in range(20 + self.keys):
                ch = letters[i % 26 : i % 26 + 1]
                t0 = time.perf_counter()
                os.write(fd, ch)
                self.read_until(fd, ch)
                dt = time.perf_counter() - t0
                if i >= 20:
                    times.append(dt)
            os.write(fd, b"\r")
            self.read_until(fd, b"\r\n", 10)
            os.write(fd, b"\x04")
        except (RuntimeError, OSError) as exc:
            problem = str(exc)
            child.terminate(force=True)
        out = self.finish_tty(child, result, flood_proc)
        if problem is None and len(times) != self.keys:
            problem = "keystrokes lost"
        if flood and peer != "cli" and problem is None and not out.get("flood_bytes"):
            problem = "the flood session moved nothing"
        out.update(times=times, ok=problem is None, problem=problem)
        return out

    def fig_latency(self) -> None:
        variants = [
            ("cli", False),
            ("threadpty", False),
            ("dockerpty", False),
            ("cli", True),
            ("threadpty", True),
        ]
        store = self.samples.setdefault("latency", {})
        for r in range(self.rounds):
            shift = r % len(variants)
            for peer, flood in variants[shift:] + variants[:shift]:
                key = peer + ("+flood" if flood else "")
                got = self.latency_once(peer, flood)
                got["round"] = r
                store.setdefault(key, []).append(got)
                if got["ok"]:
                    t = sorted(got["times"])
                    log(
                        f"round {r + 1}/{self.rounds} latency {key:16s} median "
                        f"{statistics.median(t) * 1e3:.3f} ms p99 {pct(t, 99) * 1e3:.3f} ms"
                    )
                else:
                    log(f"round {r + 1}/{self.rounds} latency {key:16s} FAILED {got['problem']}")
                    self.failures.append(f"latency {key} round {r + 1}: {got['problem']}")

    # Figure 5: in-process setup ---------------------------------------------------------------

    def fig_setup(self) -> None:
        store = self.samples.setdefault("setup", {})
        reps = 1 if self.quick else 3
        for r in range(self.rounds):
            got = self.py_peer({"mode": "setup", "target": self.box, "image": IMAGE, "reps": reps})
            if "error" in got:
                self.failures.append(f"setup round {r + 1}: {got['error']}")
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
                        argv = ["docker", "exec", self.box, "echo", "ready"]
                    else:
                        argv = [
                            "docker",
                            "run",
                            "--network",
                            "none",
                            "--log-driver",
                            "none",
                            "--label",
                            f"{LABEL}={self.run_id}",
                            IMAGE,
                            "echo",
                            "ready",
                        ]
                    t0 = time.perf_counter()
                    c = self.cli_peer(argv)
                    e = {
                        "first": (c["first"] - t0) if c["first"] else None,
                        "total": c["wall"],
                        "ok": c["small"] == b"ready\n" and c["status"] == 0,
                        "round": r,
                        "cpu": c["cpu"],
                    }
                    store.setdefault(f"cli/{kind}", []).append(e)
            log(
                f"round {r + 1}/{self.rounds} setup: threadpty exec "
                f"{med([e['first'] for e in store['threadpty/exec']]) * 1e3:.1f} ms, cli exec "
                f"{med([e['total'] for e in store['cli/exec']]) * 1e3:.1f} ms"
            )
        for c in self.client.containers(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            if c["Id"] != self.box:
                self.client.remove_container(c["Id"], force=True)

    # Figure 6: resize bursts ------------------------------------------------------------------

    def resize_once(self, peer: str) -> Dict[str, Any]:
        child, result, _ = self.spawn_tty(peer, ["sh"], False)
        fd = child.child_fd
        problem = None
        final = None
        sizes = [(30 + i, 100 + i) for i in range(10)]
        t_burst = t_end = 0.0
        try:
            self.wait_raw(child)
            self.read_until(fd, b"# ", 10)
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
        out = self.finish_tty(child, result, None)
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

    def fig_resize(self) -> None:
        store = self.samples.setdefault("resize", {})
        for r in range(self.rounds):
            for peer in ["threadpty", "dockerpty"] if r % 2 == 0 else ["dockerpty", "threadpty"]:
                got = self.resize_once(peer)
                got["round"] = r
                store.setdefault(peer, []).append(got)
                log(
                    f"round {r + 1}/{self.rounds} resize {peer:10s} calls {got['calls']} final "
                    f"{got['final']} (burst {got['burst_ms']:.0f} ms) {got['problem'] or ''}"
                )

    # Figure 7: scale ---------------------------------------------------------------------------

    def fig_scale(self) -> None:
        store = self.samples.setdefault("scale", {})
        n = self.scale_n
        line = "session NNN says hello, and this line is echoed back\n"
        lines = 100
        # Each session echoes its input, then waits until every session is up (a file appears
        # in the bind mount), then streams the file: all of them run at once.
        go = os.path.join(self.data, "go")
        cmd = ["sh", "-c", "cat; while [ ! -e /b/go ]; do sleep 0.02; done; cat /b/p4"]
        p4 = self.p16[: self.scale_mib * MiB]
        inputs = [line.replace("NNN", f"{i:03d}").encode() * lines for i in range(n)]
        expected = [(hashlib.sha256(inp + p4).hexdigest(), len(inp) + len(p4)) for inp in inputs]
        for r in range(self.scale_rounds):
            got = self.py_peer(
                {
                    "mode": "scale",
                    "target": self.box,
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
                self.failures.append(f"scale threadpty round {r + 1}: {got['error']}")
            else:
                log(
                    f"scale threadpty: {got['correct']}/{n} correct in {got['wall']:.2f} s, added "
                    f"RSS {(got['rss_peak_kib'] - got['rss_base_kib']) / n:.0f} KiB/session"
                )
            cli = self.scale_cli(n, cmd, inputs, expected, go)
            if os.path.exists(go):
                os.unlink(go)
            cli["round"] = r
            store.setdefault("cli", []).append(cli)
            log(
                f"scale cli: {cli['correct']}/{n} correct in {cli['wall']:.2f} s, RSS "
                f"{cli['rss_sum_kib'] / n:.0f} KiB/process"
            )

    def scale_cli(
        self, n: int, cmd: List[str], inputs: List[bytes], expected: List[Tuple[str, int]], go: str
    ) -> Dict[str, Any]:
        import selectors

        sel = selectors.DefaultSelector()
        procs = []
        t0 = time.perf_counter()
        for i in range(n):
            p = subprocess.Popen(
                ["docker", "exec", "-i", self.box] + cmd,
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
        # Every process is up once its echo is back (the sessions wait for the go file).
        while sum(1 for i in range(n) if counts[i] >= len(inputs[i])) < n:
            for key, _ in sel.select(timeout=60):
                i = key.data
                try:
                    data = os.read(key.fd, MiB)
                except BlockingIOError:
                    continue
                hashes[i].update(data)
                counts[i] += len(data)
        start_all = time.perf_counter() - t0
        t_go = time.perf_counter()
        open(go, "w").close()
        while open_:
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

    # Running and reporting -------------------------------------------------------------------

    def run(self) -> None:
        t0 = time.time()
        self.prepare()
        try:
            if self.only & {"1", "2", "3"}:
                self.fig_streams()
            if "4" in self.only:
                self.fig_latency()
            if "5" in self.only:
                self.fig_setup()
            if "6" in self.only:
                self.fig_resize()
            if "7" in self.only:
                self.fig_scale()
        finally:
            self.cleanup()
        self.elapsed = time.time() - t0


def med(xs: List[Optional[float]]) -> float:
    ys = [x for x in xs if x is not None]
    return statistics.median(ys) if ys else float("nan")


def pct(sorted_xs: List[float], p: float) -> float:
    if not sorted_xs:
        return float("nan")
    k = min(len(sorted_xs) - 1, max(0, int(round(p / 100 * len(sorted_xs) + 0.5)) - 1))
    return sorted_xs[k]


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
        "--out", help="results file (default bench/RESULTS.md; quick: bench/RESULTS-quick.md)"
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile threadpty's stream sessions into bench/profile-*.pstats",
    )
    args = ap.parse_args()
    from report import write_report  # bench/report.py

    bench = Bench(args)
    tree_before = tree_state()
    bench.run()
    tree_after = tree_state()
    out = args.out or os.path.join(HERE, "RESULTS-quick.md" if args.quick else "RESULTS.md")
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "engine": bench.client.version().get("Version"),
        "api": bench.api_version,
        "cli": subprocess.run(
            ["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        ).stdout.strip(),
        "command": "make bench" + (" BENCH_ARGS=--quick" if args.quick else "")
        if os.environ.get("MAKELEVEL")
        else " ".join(shlex.quote(a) for a in sys.argv),
        "tree": tree_before
        if tree_after == tree_before
        else f"{tree_before} at the start, {tree_after} at the end",
        "elapsed": bench.elapsed,
        "rounds": bench.rounds,
        "sizes": {
            "out_mib": bench.out_k * 16,
            "tty_mib": bench.tty_k * 16,
            "in_mib": bench.in_mib,
            "keys": bench.keys,
            "scale_n": bench.scale_n,
            "scale_mib": bench.scale_mib,
        },
    }
    raw_path = os.path.splitext(out)[0] + ".json"
    with open(raw_path, "w") as f:
        json.dump(
            {"meta": meta, "samples": bench.samples, "failures": bench.failures},
            f,
            default=lambda o: o.decode(errors="replace") if isinstance(o, bytes) else str(o),
        )
    text = write_report(meta, bench.samples, bench.failures, Bench.mibs, Bench.cpu_per_gib)
    with open(out, "w") as f:
        f.write(text)
    print(text)
    log(f"wrote {out} and {raw_path} in {bench.elapsed:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
