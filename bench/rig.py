"""What every figure of ``bench/run.py`` stands on: the engine, the container and files the peers
read, and the runners that time one peer once.

Each Python peer runs in a child process (``bench/worker.py``) that measures its own CPU and wall
time around the session only; the Docker CLI's CPU is its process's rusage. Output of every peer
goes to a pipe that this process reads, hashes and times (first byte → last byte), so every peer
pays for the same sink.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import shutil
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


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ms(seconds: Optional[float]) -> str:
    """Seconds as milliseconds for a log line; ``—`` for no value."""
    return "—" if seconds is None else f"{seconds * 1e3:.1f}"


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


def collect(
    proc: subprocess.Popen, demux: bool, timeout: float
) -> Tuple[Dict[str, Any], int, float]:
    """A peer's output to its end (killed past ``timeout``), then its exit status and CPU."""
    assert proc.stdout is not None
    got = read_all(proc.stdout.fileno(), demux, time.monotonic() + timeout)
    if got["timed_out"]:
        proc.kill()
    proc.stdout.close()
    code, cpu, _ = reap(proc, 30)
    return got, code, cpu


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
# The rig


class Rig:
    """The run's settings (``--quick``, ``--rounds``, ``--only``), its engine and container, the
    samples the figures add to, and the failures they met."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.client = docker.APIClient(
            **docker.utils.kwargs_from_env(), version="auto", timeout=120
        )
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
        self.only = set((args.only or "1,2,3,4,5,6,7,8").split(","))
        self.elapsed = 0.0

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
        got, code, _ = collect(proc, demux, timeout)
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
        got, code, cpu = collect(proc, False, timeout)
        got["wall"] = time.perf_counter() - t0
        got.update(cpu=cpu, status=code, code=code)
        if master >= 0:
            os.close(master)
        if code != 0:
            err.seek(0)
            got["error"] = err.read().decode(errors="replace")[-1500:]
        return got

    # A client under a real PTY (figures 4 and 6) ---------------------------------------------

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
