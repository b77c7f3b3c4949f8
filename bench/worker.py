"""One measurement by an in-process Python peer (threadpty, dockerpty 0.4.1, raw socket loop).

Started by ``bench/run.py`` as a child process with a JSON spec as its only argument. Output goes
to fd 1 (a pipe the parent reads, hashes and times) so that every peer, the Docker CLI included,
pays for the same sink: a write to a pipe. The child measures its own CPU (user+sys of all its
threads, ``getrusage(RUSAGE_SELF)``) and wall time around the session only, after imports and
after the client is connected, and writes them as JSON to ``spec["result"]``.

Modes: ``stream`` (one output or input throughput session), ``setup`` (in-process session setup
and HTTP requests), ``scale`` (100 concurrent sessions), ``tty`` (an interactive session under the
real PTY the parent gave us: keystroke latency, resize bursts).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import socket
import sys
import threading
import time
from typing import Any, Dict, List

import docker


def cpu_now() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def count_requests(client: Any) -> List[Any]:
    """Record every HTTP request the client sends: (time, method, path)."""
    log: List[Any] = []
    send = client.send

    def counting_send(request: Any, **kwargs: Any) -> Any:
        path = request.path_url.split("?")[0]
        # Drop the /v1.xx prefix.
        if path.startswith("/v1."):
            path = path[path.index("/", 1) :]
        log.append((time.time(), request.method, path))
        return send(request, **kwargs)

    client.send = counting_send
    return log


def shape(path: str) -> str:
    """``/exec/<id>/start`` → ``/exec/*/start``: request kinds without ids."""
    parts = path.split("/")
    return "/".join("*" if len(p) >= 32 else p for p in parts)


class HashSink:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.n = 0
        self.first = 0.0
        self.event = threading.Event()

    def write(self, data: Any) -> int:
        if not self.n:
            self.first = time.perf_counter()
            self.event.set()
        self.h.update(data)
        self.n += len(data)
        return len(data)


class FirstByteSink(HashSink):
    pass


def raw_socket(sock: Any) -> Any:
    return getattr(sock, "_sock", sock)


def buffered(sock: Any) -> Any:
    resp = getattr(sock, "_response", None)
    fp = getattr(getattr(getattr(resp, "raw", None), "_fp", None), "fp", None)
    return fp


def raw_session(client: Any, spec: Dict[str, Any], out_fd: int, stdin_fd: int = -1) -> int:
    """The least a Python client can do: one hijacked socket, large reads, no demux."""
    tty = spec["tty"]
    if spec["kind"] == "exec":
        eid = client.exec_create(
            spec["target"], spec["cmd"], stdin=stdin_fd >= 0, tty=tty, stdout=True, stderr=True
        )["Id"]
        sock = client.exec_start(eid, socket=True, tty=tty)
    else:
        params = {"stdout": 1, "stderr": 1, "stream": 1, "stdin": 1 if stdin_fd >= 0 else 0}
        sock = client.attach_socket(spec["target"], params=params)
        client.start(spec["target"])
    s = raw_socket(sock)
    s.settimeout(None)
    if stdin_fd >= 0:
        while True:
            data = os.read(stdin_fd, 1 << 20)
            if not data:
                break
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    # Bytes that came with the HTTP headers sit in the response's buffer (docker-py #2466).
    fp = buffered(sock)
    n = fp.readinto1(view) if fp is not None else s.recv_into(view)
    total = 0
    while n:
        total += n
        w = 0
        while w < n:
            w += os.write(out_fd, view[w:n])
        n = s.recv_into(view)
    return total


def dockerpty_session(client: Any, spec: Dict[str, Any], out: Any, stdin: Any) -> None:
    import dockerpty
    from dockerpty import io as dio
    from dockerpty.pty import ExecOperation, PseudoTerminal

    tty = spec["tty"]
    interactive = stdin is not None
    if spec["kind"] == "exec":
        eid = client.exec_create(
            spec["target"], spec["cmd"], stdin=interactive, tty=tty, stdout=True, stderr=True
        )["Id"]
        op = ExecOperation(
            client, eid, interactive=interactive, stdout=out, stderr=out, stdin=stdin
        )
        # dockerpty starts the exec with tty=interactive, which is wrong for a non-interactive TTY
        # exec and an interactive non-TTY one (the engine frames by the start's Tty flag): hand
        # it the socket, started as the exec was made. No patch to dockerpty itself.
        stream = dio.Stream(client.exec_start(eid, socket=True, tty=tty))
        PseudoTerminal(client, op).start(sockets=stream if tty else dio.Demuxer(stream))
    else:
        dockerpty.start(
            client,
            spec["target"],
            interactive=interactive,
            stdout=out,
            stderr=out,
            stdin=stdin,
            logs=0,
        )


def threadpty_session(client: Any, spec: Dict[str, Any], out: Any, stdin: Any) -> Any:
    import threadpty

    interactive = stdin is not None
    if spec["kind"] == "exec":
        s = threadpty.Session.exec(
            client,
            spec["target"],
            spec["cmd"],
            interactive=interactive,
            tty=spec["tty"],
            stdin=stdin,
            stdout=out,
            stderr=out,
        )
    else:
        s = threadpty.Session.run(
            client, spec["target"], interactive=interactive, stdin=stdin, stdout=out, stderr=out
        )
    return s.start().join()


def pipe_session(client: Any, spec: Dict[str, Any], out: Any, stdin: Any) -> Any:
    """threadpty driven through PIPEs, as a program would: input written in 1 MiB pieces to
    ``session.stdin`` from this thread, output read with ``session.stdout.read1`` here and written
    to the same sink (fd 1) as every other peer's."""
    import threadpty

    interactive = stdin is not None
    s = threadpty.Session.exec(
        client,
        spec["target"],
        spec["cmd"],
        interactive=interactive,
        tty=spec["tty"],
        stdin=threadpty.PIPE if interactive else None,
        # Input is measured on its own: its (tiny) output goes to the file-object path.
        stdout=out if interactive else threadpty.PIPE,
        stderr=out if interactive else threadpty.STDOUT,
    )
    s.start()
    if interactive:
        while True:
            data = stdin.read(1 << 20)
            if not data:
                break
            s.stdin.write(data)
        s.stdin.close()
    else:
        read1 = s.stdout.read1
        while True:
            data = read1(1 << 20)
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(1, view) :]
    return s.join()


def mode_stream(client: Any, spec: Dict[str, Any]) -> Dict[str, Any]:
    peer = spec["peer"]
    stdin_path = spec.get("stdin")
    fin = open(stdin_path, "rb", buffering=0) if stdin_path else None
    out = os.fdopen(1, "wb", buffering=0, closefd=False)
    code = None
    # Imported before the clock starts (this environment may set PYTHONDONTWRITEBYTECODE, and
    # compiling a package is no part of a session).
    if peer in ("threadpty", "pipe"):
        import threadpty  # noqa: F401
    elif peer == "dockerpty":
        import dockerpty  # noqa: F401
        import dockerpty.io  # noqa: F401
        import dockerpty.pty  # noqa: F401
    if spec.get("profile"):
        import cProfile

        # One profiler per thread (cProfile sees only the thread that enabled it, and the work is
        # in the session's threads): each new thread enables its own on its first event.
        profiles = [cProfile.Profile()]

        def per_thread(*_: Any) -> None:
            p = cProfile.Profile()
            profiles.append(p)
            p.enable()

        threading.setprofile(per_thread)
        profiles[0].enable()
    c0, t0 = cpu_now(), time.perf_counter()
    if peer == "threadpty":
        code = threadpty_session(client, spec, out, fin)
    elif peer == "pipe":
        code = pipe_session(client, spec, out, fin)
    elif peer == "dockerpty":
        dockerpty_session(client, spec, out, fin)
    elif peer == "raw":
        raw_session(client, spec, 1, fin.fileno() if fin is not None else -1)
    else:
        raise SystemExit(f"unknown peer {peer}")
    t1, c1 = time.perf_counter(), cpu_now()
    if spec.get("profile"):
        import pstats

        threading.setprofile(None)  # type: ignore[arg-type]
        profiles[0].disable()
        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        stats.dump_stats(spec["profile"])
    return {"cpu": c1 - c0, "wall": t1 - t0, "code": code}


def mode_setup(client: Any, spec: Dict[str, Any]) -> Dict[str, Any]:
    """Call → first byte of ``echo ready``, and the whole call, with the client connected."""
    import dockerpty

    import threadpty

    log = count_requests(client)
    cid, image, reps = spec["target"], spec["image"], spec["reps"]
    host_config = client.create_host_config(log_config={"type": "none"}, network_mode="none")
    results: Dict[str, List[Dict[str, Any]]] = {}
    made: List[str] = []

    def pipe_sink() -> Any:
        r, w = os.pipe()
        sink = HashSink()

        def reader() -> None:
            while True:
                data = os.read(r, 65536)
                if not data:
                    break
                sink.write(data)
            os.close(r)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        return os.fdopen(w, "wb", buffering=0), sink, th

    def one(peer: str, kind: str) -> Dict[str, Any]:
        target = cid
        if kind == "run":
            target = client.create_container(image, ["echo", "ready"], host_config=host_config)[
                "Id"
            ]
            made.append(target)
        del log[:]
        t0 = time.perf_counter()
        if peer == "threadpty":
            sink = HashSink()
            if kind == "exec":
                s = threadpty.Session.exec(
                    client, target, ["echo", "ready"], interactive=False, tty=False, stdout=sink
                )
            else:
                s = threadpty.Session.run(client, target, interactive=False, stdout=sink)
            s.start()
            sink.event.wait(10)
            code = s.join()
            t2 = time.perf_counter()
        elif peer == "dockerpty":
            w, sink, th = pipe_sink()
            if kind == "exec":
                dockerpty.exec_command(
                    client, target, ["echo", "ready"], interactive=False, stdout=w, stderr=w
                )
            else:
                dockerpty.start(client, target, interactive=False, stdout=w, stderr=w, logs=0)
            t2 = time.perf_counter()
            w.close()
            th.join()
            code = None
        else:  # raw: create/attach/start, read to the end, fetch the exit code
            sink = HashSink()
            if kind == "exec":
                eid = client.exec_create(target, ["echo", "ready"])["Id"]
                sock = client.exec_start(eid, socket=True)
            else:
                sock = client.attach_socket(target, params={"stdout": 1, "stderr": 1, "stream": 1})
                client.start(target)
            s_ = raw_socket(sock)
            s_.settimeout(None)
            fp = buffered(sock)
            buf = bytearray(65536)
            n = fp.readinto1(buf) if fp is not None else s_.recv_into(buf)
            while n:
                sink.write(bytes(buf[:n]))  # frame headers and all: only the first byte is timed
                n = s_.recv_into(buf)
            if kind == "exec":
                code = client.exec_inspect(eid)["ExitCode"]
            else:
                code = client.wait(target)["StatusCode"]
            sock.close()
            t2 = time.perf_counter()
        first = sink.first - t0 if sink.n else None
        ok = sink.n >= 6  # "ready\n" (raw: with its 8-byte frame header)
        return {
            "first": first,
            "total": t2 - t0,
            "ok": ok,
            "code": code,
            "requests": [f"{m} {shape(p)}" for _, m, p in log],
        }

    peers = ["threadpty", "dockerpty", "raw"]
    for kind in ("exec", "run"):
        for peer in peers:  # warm-up: first-call costs (lazy imports, first connection)
            one(peer, kind)
    for _ in range(reps):
        for kind in ("exec", "run"):
            for peer in peers:
                results.setdefault(f"{peer}/{kind}", []).append(one(peer, kind))
    for c in made:
        client.remove_container(c, force=True)
    return results


def mode_scale(client: Any, spec: Dict[str, Any]) -> Dict[str, Any]:
    import threadpty

    n, cid, cmd = spec["sessions"], spec["target"], spec["cmd"]
    expected = spec["expected"]  # per session: sha256 hex, length
    # Warm-up session, so that lazy imports and the first connection are in the baseline.
    threadpty.Session.exec(
        client, cid, ["true"], interactive=False, tty=False, stdout=HashSink()
    ).start().join()
    base = rss_kib()
    peak = [base]
    threads_peak = [threading.active_count()]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib())
            threads_peak[0] = max(threads_peak[0], threading.active_count())
            time.sleep(0.01)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    inputs = [
        spec["input_line"].replace("NNN", f"{i:03d}").encode() * spec["input_lines"]
        for i in range(n)
    ]
    c0, t0 = cpu_now(), time.perf_counter()
    sessions = []
    for i in range(n):
        sink = HashSink()
        s = threadpty.Session.exec(
            client,
            cid,
            cmd,
            interactive=True,
            tty=False,
            stdin=io.BytesIO(inputs[i]),
            stdout=sink,
            stderr=sink,
        )
        s.start()
        sessions.append((s, sink))
    # Each echoes its input, then waits for the go file: once every echo is back, all are up.
    n_in = [len(x) for x in inputs]
    while any(sink.n < n_in[i] for i, (_, sink) in enumerate(sessions)):
        time.sleep(0.005)
    started = time.perf_counter() - t0
    rss_all_up = rss_kib()
    t_go = time.perf_counter()
    open(spec["go"], "w").close()
    codes = [s.join() for s, _ in sessions]
    t1, c1 = time.perf_counter(), cpu_now()
    stop.set()
    th.join()
    peak[0] = max(peak[0], rss_kib())
    good = 0
    total = 0
    for i, (_s, sink) in enumerate(sessions):
        exp_hash, exp_len = expected[i]
        total += sink.n
        if codes[i] == 0 and sink.n == exp_len and sink.h.hexdigest() == exp_hash:
            good += 1
    return {
        "sessions": n,
        "correct": good,
        "wall": t1 - t_go,
        "start_all": started,
        "rss_all_up_kib": rss_all_up,
        "bytes": total,
        "cpu": c1 - c0,
        "rss_base_kib": base,
        "rss_peak_kib": peak[0],
        "threads_peak": threads_peak[0],
    }


def mode_tty(client: Any, spec: Dict[str, Any]) -> Dict[str, Any]:
    """An interactive session on our real terminal (the parent drives it through the PTY)."""
    log = count_requests(client)
    flood = None
    flood_sink = HashSink()
    if spec.get("flood"):
        import threadpty

        flood = threadpty.Session.exec(
            client,
            spec["target"],
            ["cat", "/dev/zero"],
            interactive=False,
            tty=False,
            stdout=flood_sink,
            stderr=flood_sink,
        ).start()
    if spec["peer"] == "threadpty":
        import threadpty

        code = threadpty.exec_command(client, spec["target"], spec["cmd"])
    else:
        import dockerpty

        code = dockerpty.exec_command(client, spec["target"], spec["cmd"])
    if flood is not None:
        flood.close()
    return {
        "code": code,
        "flood_bytes": flood_sink.n,
        "resizes": [t for t, m, p in log if p.endswith("/resize")],
        "requests": [f"{m} {shape(p)}" for _, m, p in log],
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    client = docker.APIClient(**docker.utils.kwargs_from_env(), version=spec["api_version"], timeout=120)
    client.ping()  # connected before anything is measured
    mode = spec.get("mode", "stream")
    result = {"stream": mode_stream, "setup": mode_setup, "scale": mode_scale, "tty": mode_tty}[
        mode
    ](client, spec)
    with open(spec["result"], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
