"""Threads and memory of `threadpty web` per session: a server in this process serves N sessions of
`docker exec -it BOX /bin/sh`, opened by N clients in a child process (each waits for its prompt),
and this process is read before and during: threading.enumerate() for the threads, by role (the
threads' names with the session's number taken out), and /proc/self/smaps_rollup for the memory.

    .venv/bin/python -W ignore::DeprecationWarning bench/web_threads.py [--sessions N]
        [--stack KIB]

Memory per session is (PSS with N sessions open - PSS with none, after one warm-up session) / N,
as bench/web_run.py counts it for every peer; the clients' memory is their own process's.
``--stack`` sets threading.stack_size before the server starts, to see what the threads' stacks
cost: only the pages a thread has touched count, so a smaller reservation saves nothing here
(measured: 50 sessions at 8 MiB, 256 KiB and 128 KiB stacks came within the run-to-run noise).
Figures: bench/results/WEB-RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import threading
import time
from typing import Dict, List

TOKEN = "bench-threads-token"
IMAGE = "threadpty-test/busybox:latest"


def roles(names: List[str]) -> Dict[str, int]:
    # A session's number, or its exec's id (threadpty's own threads are named after it).
    return dict(collections.Counter(re.sub(r"-(\d+|[0-9a-f]{8,})$", "-N", n) for n in names))


def pss_kib() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss in smaps_rollup")


def clients(port: int, n: int) -> None:
    """The child: open n sessions, each at its prompt; say so; close them at end of stdin."""
    from websockets.sync.client import connect

    open_ = []
    for _ in range(n):
        ws = connect(
            f"ws://127.0.0.1:{port}/ws",
            open_timeout=120,
            ping_interval=None,
            additional_headers=[("Authorization", f"Bearer {TOKEN}")],
        )
        ws.send(json.dumps({"type": "start", "rows": 24, "cols": 80}))
        seen = b""
        while b"# " not in seen:
            m = ws.recv(timeout=120)
            if isinstance(m, bytes):
                seen += m
        open_.append(ws)
    print("open", flush=True)
    sys.stdin.read()
    for ws in open_:
        ws.close()


class Child:
    def __init__(self, port: int, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "ignore", __file__, "--clients", str(n), "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "open":
            raise RuntimeError(f"the clients did not open their sessions: {line!r}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(120)


def settle(server: object, want: int) -> None:
    deadline = time.monotonic() + 60
    while server.sessions != want:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError("the sessions did not end")
        time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--stack", type=int, default=0, help="threading.stack_size, KiB")
    ap.add_argument("--clients", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.clients:
        clients(args.port, args.clients)
        return
    n = args.sessions
    if args.stack:
        threading.stack_size(args.stack * 1024)

    import docker

    from threadpty.web._engines import Engines, make_client
    from threadpty.web._server import Config, WebServer

    api = docker.APIClient(version="auto")
    box = api.create_container(
        IMAGE,
        "sleep 600",
        labels={"io.threadpty.bench": "threads"},
        host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    api.start(box)
    server = WebServer(
        Config(port=0, token=TOKEN, exec_container=box, max_sessions=n + 10),
        Engines({"default": make_client(None, None, pool=n + 8)}),
    ).start()
    serving = threading.Thread(target=server.serve_forever, name="bench-serve")
    serving.start()
    try:
        warm = Child(server.port, 1)
        warm.close()
        settle(server, 0)
        time.sleep(2)  # the warm-up session's hang-up ends
        idle = [t.name for t in threading.enumerate()]
        before = pss_kib()
        child = Child(server.port, n)
        try:
            busy = [t.name for t in threading.enumerate()]
            during = pss_kib()
        finally:
            child.close()
        extra = len(busy) - len(idle)
        print(
            f"server threads: {len(idle)} idle, {len(busy)} with {n} sessions: "
            f"{extra / n:.2f} per session"
        )
        was, now = roles(idle), roles(busy)
        for role, count in sorted(now.items()):
            if count != was.get(role, 0):
                print(f"  {role}: {count - was.get(role, 0)}")
        stack = threading.stack_size()
        print(
            f"server PSS: {before} KiB idle, {during} KiB with {n} sessions: "
            f"{(during - before) / n:.0f} KiB per session "
            f"(threads' stacks: {f'{stack // 1024} KiB' if stack else 'the default'})"
        )
    finally:
        server.shutdown()
        serving.join()
        api.remove_container(box, force=True)


if __name__ == "__main__":
    main()
