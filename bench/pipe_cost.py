"""What reading output through a PIPE costs over a file object, per chunk, in one process.

    .venv/bin/python bench/pipe_cost.py stub               # Python per chunk, no engine
    .venv/bin/python bench/pipe_cost.py engine [ROUNDS]    # CPU of the reading thread, real engine

``stub`` feeds 200,000 chunks of 4 KiB from a connection that never blocks: the file path's whole
loop (read, write to /dev/null) beside ``session.stdout.read1`` with the reader holding the lease.
``engine`` reads 256 MiB of ``cat`` output (TTY and not) into /dev/null, alternating the two paths,
and reports the CPU time of the thread that reads the connection: the output thread for a file
object, the program's thread for a PIPE. ``make bench`` (``bench/run.py``) is the reference; this
separates the reader's own cost from the noise of a whole session.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import threadpty  # noqa: E402
import threadpty._pump as pump_mod  # noqa: E402
from threadpty._pipes import OutputPipe  # noqa: E402
from threadpty._streams import PipeSink, make_sink  # noqa: E402

from stats import median, ratio_cell, ratios  # noqa: E402

IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
CHUNKS = 200_000


class StubConnection:
    """Hands out ``CHUNKS`` chunks of 4 KiB at once, then the end."""

    def __init__(self) -> None:
        self.left = CHUNKS

    def readinto(self, buf: Any) -> int:
        if not self.left:
            return 0
        self.left -= 1
        return 4096

    def read(self, size: int) -> bytes:
        if not self.left:
            return b""
        self.left -= 1
        return bytes(4096)


def stub() -> None:
    null = open(os.devnull, "wb", buffering=0)
    sink = make_sink(null)
    t0 = time.process_time()
    pump_mod.ConnectionReader(StubConnection(), True, sink, sink).run()
    file_us = (time.process_time() - t0) / CHUNKS * 1e6
    pipe = OutputPipe()
    p = pump_mod.ConnectionReader(StubConnection(), True, PipeSink(pipe), PipeSink(pipe))
    p.owner = pipe  # as if granted: every read1 reads the connection itself
    read1 = pipe.read1
    t0 = time.process_time()
    for _ in range(CHUNKS):
        read1(1 << 20)
    read_us = (time.process_time() - t0) / CHUNKS * 1e6
    p = pump_mod.ConnectionReader(StubConnection(), True, PipeSink(pipe), PipeSink(pipe))
    p.owner = pipe
    fd = null.fileno()
    t0 = time.process_time()
    for _ in range(CHUNKS):
        view = memoryview(read1(1 << 20))
        while view:
            view = view[os.write(fd, view) :]
    both_us = (time.process_time() - t0) / CHUNKS * 1e6
    print(
        f"per chunk: file path (read + write) {file_us:.2f} us; PIPE read1 {read_us:.2f} us, "
        f"read1 + the same write {both_us:.2f} us"
    )


def engine(rounds: int) -> None:
    import docker

    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
    box = client.create_container(
        IMAGE,
        "sleep 3600",
        host_config=client.create_host_config(network_mode="none"),
        labels={"io.threadpty.bench": "pipe_cost"},
    )["Id"]
    client.start(box)
    mib = 256
    size = f"head -c {mib << 20} /dev/zero | tr '\\0' a > /tmp/p"
    client.exec_start(client.exec_create(box, ["sh", "-c", size])["Id"])
    cpu: Dict[Any, List[float]] = {}
    run = pump_mod.ConnectionReader.run

    def timed_run(self: Any) -> None:
        t0 = time.thread_time()
        try:
            run(self)
        finally:
            cpu["out"] = [time.thread_time() - t0]

    pump_mod.ConnectionReader.run = timed_run  # type: ignore[method-assign]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for r in range(rounds):
            for tty in (False, True):
                for mode in ("file", "pipe") if r % 2 else ("pipe", "file"):
                    sink: Any = (
                        threadpty.PIPE if mode == "pipe" else open(null, "wb", 0, closefd=False)
                    )
                    s = threadpty.Session.exec(
                        client,
                        box,
                        ["cat", "/tmp/p"],
                        tty=tty,
                        interactive=False,
                        stdout=sink,
                        stderr=threadpty.STDOUT if mode == "pipe" else sink,
                    ).start()
                    spent = 0.0
                    if mode == "pipe":
                        t0 = time.thread_time()
                        while True:
                            data = s.stdout.read1(1 << 20)
                            if not data:
                                break
                            view = memoryview(data)
                            while view:
                                view = view[os.write(null, view) :]
                        spent = time.thread_time() - t0
                    assert s.join() == 0
                    cpu.setdefault((tty, mode), []).append(
                        spent if mode == "pipe" else cpu["out"][0]
                    )
        for tty in (False, True):
            f, p = cpu[(tty, "file")], cpu[(tty, "pipe")]
            print(
                f"{'TTY' if tty else 'no TTY'}: reading thread CPU for {mib} MiB, file "
                f"{median(f):.3f} s, PIPE {median(p):.3f} s, PIPE/file "
                f"{ratio_cell(ratios(p, f))}"
            )
    finally:
        os.close(null)
        client.remove_container(box, force=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["stub"]:
        stub()
    elif sys.argv[1:2] == ["engine"]:
        engine(int(sys.argv[2]) if len(sys.argv) > 2 else 6)
    else:
        raise SystemExit(__doc__)
