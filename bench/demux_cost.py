"""What demultiplexing non-TTY output costs over the bare loop, in the thread that reads it.

    .venv/bin/python bench/demux_cost.py feed FRAME_BYTES MIB [ROUNDS]   # no engine
    .venv/bin/python bench/demux_cost.py engine [ROUNDS] [CMD]           # real engine
    valgrind --tool=callgrind .venv/bin/python bench/demux_cost.py once tp|raw FRAME_BYTES MIB

``feed``: a child process sends MIB MiB of frames of FRAME_BYTES payload each down a socketpair
with ``sendfile`` (so the feeding costs this process nothing); this process reads them with
threadpty's output loop (``ConnectionReader.run`` into an unbuffered file on /dev/null) and with the bare loop
(``recv_into`` 1 MiB, ``os.write``, no demultiplexing), alternately, and reports the CPU time of
the reading thread per GiB. ``engine``: the same two loops over an exec's hijacked connection
(``cat`` of a file: the engine sends mostly 32 KiB frames; ``head -c … /dev/zero``: 4 KiB), into a
pipe that another process hashes, as in ``make bench``. ``once``: one loop, for callgrind (run it
at two sizes and take the difference: instructions per MiB, start-up netted out; callgrind sees
user space only, not the system calls saved). ``make bench`` (figure 3) is the reference; this
separates the reading thread's own cost from the noise of whole sessions on a busy machine.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from threadpty._connection import Connection, open_exec  # noqa: E402
from threadpty._pump import ConnectionReader  # noqa: E402
from threadpty._streams import make_sink  # noqa: E402

from stats import median, ratio_cell, ratios  # noqa: E402

IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
GiB = 1 << 30
FEED = (
    "import os, sys\n"
    "fd, f = int(sys.argv[2]), os.open(sys.argv[1], os.O_RDONLY)\n"
    "n, o = os.fstat(f).st_size, 0\n"
    "while o < n:\n"
    "    o += os.sendfile(fd, f, o, n - o)\n"
)


def frames_file(frame: int, mib: int) -> str:
    path = f"/dev/shm/threadpty-demux-{frame}-{mib}"
    if not os.path.exists(path):
        line = (b"0123456789abcdef" * 4)[:63] + b"\n"
        one = struct.pack(">BxxxL", 1, frame) + (line * (frame // 64 + 1))[:frame]
        with open(path + ".tmp", "wb") as f:
            for _ in range(mib * (1 << 20) // frame):
                f.write(one)
        os.rename(path + ".tmp", path)
    return path


def fed(path: str) -> Tuple[socket.socket, subprocess.Popen]:
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-c", FEED, path, str(theirs.fileno())], pass_fds=(theirs.fileno(),)
    )
    theirs.close()
    return ours, proc


def tp_loop(conn: Connection, out: Any) -> None:
    ConnectionReader(conn, False, make_sink(out), make_sink(out)).run()


def raw_loop(recv_into: Callable[[memoryview], int], fd: int, first: int = -1) -> None:
    view = memoryview(bytearray(1 << 20))
    n = recv_into(view) if first < 0 else first
    while n:
        done = 0
        while done < n:
            done += os.write(fd, view[done:n])
        n = recv_into(view)


def timed(work: Callable[..., None], *args: Any) -> float:
    t0 = time.thread_time()
    work(*args)
    return time.thread_time() - t0


def report(res: Dict[str, List[float]], size: int, label: str) -> None:
    per = {k: median(v) / (size / GiB) for k, v in res.items()}
    print(
        f"{label}: threadpty {per['tp']:.3f} s/GiB, bare loop {per['raw']:.3f} s/GiB, "
        f"threadpty/bare {ratio_cell(ratios(res['tp'], res['raw']))}"
    )


def feed_mode(frame: int, mib: int, rounds: int) -> None:
    path = frames_file(frame, mib)
    out = open(os.devnull, "wb", buffering=0)
    res: Dict[str, List[float]] = {"tp": [], "raw": []}
    for i in range(rounds):
        for peer in ("tp", "raw") if i % 2 else ("raw", "tp"):
            sock, feeder = fed(path)
            if peer == "tp":
                t = timed(tp_loop, Connection(sock), out)
            else:
                t = timed(raw_loop, sock.recv_into, out.fileno())
            feeder.wait()
            sock.close()
            res[peer].append(t)
    report(res, os.path.getsize(path), f"{frame}-byte frames, {mib} MiB")


def engine_mode(rounds: int, cmd: str) -> None:
    import docker

    client = docker.APIClient(version="auto")
    box = client.create_container(
        IMAGE, ["sleep", "3600"], host_config=client.create_host_config(network_mode="none")
    )["Id"]
    client.start(box)
    r, w = os.pipe()
    hasher = os.fork()
    if hasher == 0:  # the sink's reader, in a process of its own as in make bench
        os.close(w)
        h = hashlib.sha256()
        while True:
            data = os.read(r, 1 << 20)
            if not data:
                os._exit(0)
            h.update(data)
    os.close(r)
    out = os.fdopen(w, "wb", buffering=0)
    try:
        client.exec_start(
            client.exec_create(box, ["sh", "-c", "head -c 67108864 /dev/zero > /tmp/p"])["Id"]
        )
        size = 4 * 64 * (1 << 20)
        argv = ["sh", "-c", cmd or "cat /tmp/p /tmp/p /tmp/p /tmp/p"]
        res: Dict[str, List[float]] = {"tp": [], "raw": []}
        for i in range(rounds):
            for peer in ("tp", "raw") if i % 2 else ("raw", "tp"):
                eid = client.exec_create(box, argv)["Id"]
                if peer == "tp":
                    conn = open_exec(client, eid, False)
                    res[peer].append(timed(tp_loop, conn, out))
                    conn.close()
                    continue
                sock = client.exec_start(eid, socket=True)
                raw = sock._sock
                raw.settimeout(None)
                # Bytes that came with the HTTP headers are in the response's buffer.
                fp = sock._response.raw._fp.fp
                view = memoryview(bytearray(1 << 20))
                first = fp.readinto1(view)
                os.write(w, view[:first])
                res[peer].append(timed(raw_loop, raw.recv_into, w))
                sock.close()
        report(res, size, argv[-1])
    finally:
        out.close()
        os.waitpid(hasher, 0)
        client.remove_container(box, force=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "feed":
        feed_mode(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 6)
    elif mode == "engine":
        engine_mode(int(sys.argv[2]) if len(sys.argv) > 2 else 6, " ".join(sys.argv[3:]))
    elif mode == "once":
        path = frames_file(int(sys.argv[3]), int(sys.argv[4]))
        sock, feeder = fed(path)
        out = open(os.devnull, "wb", buffering=0)
        if sys.argv[2] == "tp":
            tp_loop(Connection(sock), out)
        else:
            raw_loop(sock.recv_into, out.fileno())
        feeder.wait()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
