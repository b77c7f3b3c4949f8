"""Sessions driven by programs: PIPE streams, callables, resize() — against the real engine."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any, Callable, List, Tuple

import docker
import pytest

import threadpty
from threadpty import _resize

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_thread_left")]


def end_yes(client: Any, cid: str) -> None:
    """Kill the ``yes`` a test left writing: the engine sends it no SIGPIPE once its reader has
    gone, so it would burn a core until the container goes, and a few of them on a two-core
    machine stall the engine (Podman took over a minute to start an exec so)."""
    exec_id = client.exec_create(cid, ["killall", "yes"])["Id"]
    client.exec_start(exec_id)


def read_until(stream: Any, pattern: bytes, limit: int = 1 << 20) -> bytes:
    """Read a PIPE until ``pattern`` (a regex) appears; fail at the end of output."""
    got = b""
    while not re.search(pattern, got):
        chunk = stream.read1(65536)
        assert chunk, f"output ended before {pattern!r}; got {got[-300:]!r}"
        got += chunk
        assert len(got) < limit
    return got


class CountingResize:
    """Wraps a target's resize: records each size and signals each call."""

    def __init__(self, target: Any) -> None:
        self.real = target.resize
        self.sizes: List[Tuple[int, int]] = []
        self.called = threading.Condition()
        target.resize = self

    def __call__(self, height: int, width: int) -> None:
        self.real(height, width)
        with self.called:
            self.sizes.append((height, width))
            self.called.notify_all()

    def wait_for(self, size: Tuple[int, int], timeout: float = 10) -> None:
        with self.called:
            assert self.called.wait_for(lambda: self.sizes and self.sizes[-1] == size, timeout), (
                f"last size applied {self.sizes[-1:]} is not {size}"
            )


@pytest.mark.smoke
def test_tty_exec_through_pipes_and_resize(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client,
        running,
        ["sh"],
        tty=True,
        size=(24, 80),
        stdin=threadpty.PIPE,
        stdout=threadpty.PIPE,
    )
    resizes = CountingResize(s.target)
    with s:
        s.stdin.write(b"PS1='$ '; stty size\n")
        s.stdin.flush()
        read_until(s.stdout, rb"\r\n24 80\r\n")
        s.resize(40, 120)
        resizes.wait_for((40, 120))
        s.stdin.write(b"stty size\n")
        read_until(s.stdout, rb"\r\n40 120\r\n")
        before = len(resizes.sizes)
        for i in range(10):
            s.resize(41 + i, 121 + i)
        resizes.wait_for((50, 130))
        assert len(resizes.sizes) - before <= 2, resizes.sizes[before:]
        s.stdin.write(b"stty size; exit 3\n")
        read_until(s.stdout, rb"\r\n50 130\r\n")
        assert s.stdout.read() is not None  # to the end
    assert s.exit_code == 3


def test_lone_resize_is_applied_without_waiting_for_quiet(
    client: Any, running: str, monkeypatch: Any
) -> None:
    # Were a lone request held until the requests pause, this would take a minute, not return.
    monkeypatch.setattr(_resize, "BURST_QUIET", 60.0)
    monkeypatch.setattr(_resize, "BURST_MAX", 60.0)
    s = threadpty.Session(
        client, running, ["sh"], tty=True, stdin=threadpty.PIPE, stdout=threadpty.PIPE
    )
    resizes = CountingResize(s.target)
    with s:
        s.resize(33, 99)
        resizes.wait_for((33, 99), timeout=20)
        s.stdin.write(b"stty size\n")
        read_until(s.stdout, rb"\r\n33 99\r\n")
        s.close()


@pytest.mark.smoke
def test_cat_64_mib_through_pipes(client: Any, running: str) -> None:
    payload = os.urandom(1 << 20) * 64
    s = threadpty.Session.exec(
        client, running, ["cat"], stdin=threadpty.PIPE, stdout=threadpty.PIPE
    )
    digest = hashlib.sha256()
    got = [0]

    def read() -> None:
        for chunk in iter(lambda: s.stdout.read1(1 << 16), b""):
            digest.update(chunk)
            got[0] += len(chunk)

    with s:
        reader = threading.Thread(target=read, name="test-reader")
        reader.start()
        with s.stdin as w:
            for i in range(0, len(payload), 1 << 20):
                w.write(payload[i : i + (1 << 20)])
        reader.join(timeout=120)
        assert not reader.is_alive()
    assert s.exit_code == 0
    assert got[0] == len(payload)
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("kind", ["run", "exec"])
def test_stderr_to_stdout_and_apart(
    client: Any, make_container: Callable, running: str, kind: str
) -> None:
    script = "echo o1; echo e1 >&2; sleep 0.1; echo o2; echo e2 >&2"

    def session(**streams: Any) -> threadpty.Session:
        if kind == "run":
            cid = make_container(["sh", "-c", script])
            return threadpty.Session.run(client, cid, interactive=False, **streams)
        return threadpty.Session.exec(
            client, running, ["sh", "-c", script], interactive=False, **streams
        )

    with session(stdout=threadpty.PIPE, stderr=threadpty.STDOUT) as s:
        merged = s.stdout.read()
    assert s.stderr is None and s.exit_code == 0
    assert sorted(merged.splitlines()) == [b"e1", b"e2", b"o1", b"o2"]
    assert merged.index(b"o1") < merged.index(b"o2") and merged.index(b"e1") < merged.index(b"e2")

    with session(stdout=threadpty.PIPE, stderr=threadpty.PIPE, text=True) as s:
        err = s.stderr.read()  # read stderr first: stdout waits in its own pipe meanwhile
        out = s.stdout.read()
    assert (out, err) == ("o1\no2\n", "e1\ne2\n")


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_unread_pipe_holds_the_container_back(client: Any, running: str) -> None:
    # 2 GiB: a 64 MiB pattern written once inside the container, then sent 32 times in large
    # writes (busybox's `yes` writes a line at a time, which would measure `yes`, not us).
    part, times = 64 << 20, 32
    script = (
        f"yes {LINE.decode().strip()} | head -c {part} > /tmp/part; "
        f"i=0; while [ $i -lt {times} ]; do cat /tmp/part; i=$((i+1)); done"
    )
    s = threadpty.Session.exec(
        client, running, ["sh", "-c", script], interactive=False, stdout=threadpty.PIPE
    )
    before = rss()
    peak = before
    digest = hashlib.sha256()
    got = 0
    with s:
        time.sleep(5)  # the scenario: nobody reads for a while (not a synchronisation)
        peak = max(peak, rss())
        for chunk in iter(lambda: s.stdout.read1(1 << 16), b""):
            digest.update(chunk)
            got += len(chunk)
            if not got % (64 << 20):
                peak = max(peak, rss())
    pattern = (LINE * (part // len(LINE) + 1))[:part]
    expected = hashlib.sha256()
    for _ in range(times):
        expected.update(pattern)
    assert got == part * times
    assert digest.hexdigest() == expected.hexdigest()
    assert s.exit_code == 0
    print(f"RSS growth reading 2 GiB through a PIPE: {(peak - before) / 2**20:.1f} MiB")
    assert peak - before < 16 << 20, f"RSS grew by {(peak - before) >> 20} MiB"


def test_unread_pipe_session_still_closes_at_once(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client, running, ["yes"], interactive=False, stdout=threadpty.PIPE, bufsize=1 << 16
    )
    s.start()
    assert s.stdout.read1(10)  # output flows, then backs up behind the unread pipe
    s.close()
    assert not s.running and s.join() is None
    end_yes(client, running)
    assert len(s.stdout.read()) <= (1 << 16) + (1 << 16)  # what was held, then the end


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_100_pipe_sessions_from_100_threads(engine: Any, running: str) -> None:
    client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto", max_pool_size=128)
    errors: List[BaseException] = []

    def one(i: int) -> None:
        try:
            payload = (b"%03d" % i) + os.urandom(1 << 20)
            s = threadpty.Session.exec(
                client, running, ["cat"], stdin=threadpty.PIPE, stdout=threadpty.PIPE
            )
            with s:
                writer = threading.Thread(target=lambda: (s.stdin.write(payload), s.stdin.close()))
                writer.start()
                out = s.stdout.read()
                writer.join()
            assert s.exit_code == 0 and out == payload
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), name=f"test-{i}") for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:3]
    client.close()


def test_callable_sink_gets_bytes_in_order(client: Any, running: str) -> None:
    parts: List[bytes] = []
    code = (
        threadpty.Session.exec(
            client,
            running,
            ["sh", "-c", "echo first; sleep 0.05; echo second; sleep 0.05; echo third"],
            interactive=False,
            stdout=parts.append,
        )
        .start()
        .join()
    )
    assert code == 0
    assert all(type(p) is bytes for p in parts)
    assert b"".join(parts) == b"first\nsecond\nthird\n"


def test_callable_sink_that_raises_ends_the_session(client: Any, running: str) -> None:
    class Boom(Exception):
        pass

    def sink(data: bytes) -> None:
        raise Boom(data)

    s = threadpty.Session.exec(
        client, running, ["sh", "-c", "echo hi; sleep 600"], interactive=False, stdout=sink
    )
    s.start()
    with pytest.raises(Boom):
        s.join(timeout=30)
    assert not s.running


def test_callable_sink_that_raises_at_a_terminal_leaves_it_as_it_was(running: str) -> None:
    from ptyharness import PtyChild

    code = f"""
import termios, docker, threadpty
client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
before = termios.tcgetattr(0)
def sink(data):
    raise KeyError("sink")
s = threadpty.Session.exec(client, {running!r}, ["sh"], tty=True, stdout=sink)
try:
    s.start().join()
except KeyError as exc:
    print("RAISED", exc, "SAME", termios.tcgetattr(0) == before, flush=True)
"""
    with PtyChild(code) as p:
        p.expect("RAISED 'sink' SAME True")
        assert p.wait(timeout=10) == 0


def test_session_as_written(client: Any, make_container: Callable, running: str) -> None:
    cid = make_container(["sh", "-c", "echo hello; exit 5"])
    with threadpty.Session(client, cid, interactive=False, stdout=threadpty.PIPE) as s:
        assert s.stdout.read() == b"hello\n"
    assert s.exit_code == 5
    s = threadpty.Session(client, running, ["sh", "-c", "exit 4"], interactive=False)
    assert s.start().join() == 4


def test_core_does_not_import_the_dockerpty_layer() -> None:
    code = (
        "import sys, threadpty.session, threadpty; threadpty.Session; threadpty.PIPE; "
        "print(sorted(m for m in sys.modules if m in "
        "('threadpty.io', 'threadpty.pty', 'threadpty.operations')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_bad_stream_arguments_fail_before_anything(client: Any, running: str) -> None:
    before = client.inspect_container(running)["ExecIDs"] or []
    with pytest.raises(ValueError, match="STDOUT is for stderr"):
        threadpty.Session.exec(client, running, ["true"], stdout=threadpty.STDOUT)
    with pytest.raises(TypeError, match="file object"):
        threadpty.Session.exec(client, running, ["true"], stdout=42)
    with pytest.raises(TypeError, match="stdin"):
        threadpty.Session.exec(client, running, ["true"], stdin=42)
    with pytest.raises(ValueError, match="size"):
        threadpty.Session.exec(client, running, ["true"], size=(0, 80))
    with pytest.raises(ValueError, match="interactive"):
        threadpty.Session.exec(client, running, ["true"], interactive=False, stdin=threadpty.PIPE)
    assert (client.inspect_container(running)["ExecIDs"] or []) == before


def test_writing_after_the_end_is_a_broken_pipe(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client, running, ["sh", "-c", "exit 0"], stdin=threadpty.PIPE, stdout=threadpty.PIPE
    )
    with s:
        assert s.stdout.read() == b""
        assert s.join() == 0
        with pytest.raises(BrokenPipeError):
            s.stdin.write(b"late\n")
    with pytest.raises(ValueError):  # leaving the block closed it, as Popen's does
        s.stdin.write(b"later\n")


def test_communicate_as_popen_does(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client,
        running,
        ["sh", "-c", "tr a-z A-Z; echo done >&2; exit 2"],
        stdin=threadpty.PIPE,
        stdout=threadpty.PIPE,
        stderr=threadpty.PIPE,
        text=True,
    )
    assert s.communicate("hello\n") == ("HELLO\n", "done\n")
    assert s.exit_code == 2 and not s.running


def test_communicate_times_out_and_closes(client: Any, running: str) -> None:
    import subprocess

    s = threadpty.Session.exec(
        client, running, ["sleep", "600"], interactive=False, stdout=threadpty.PIPE
    )
    with pytest.raises(subprocess.TimeoutExpired):
        s.communicate(timeout=0.5)
    assert not s.running and s.exit_code is None


def test_input_waits_for_the_first_size(client: Any, running: str) -> None:
    # The exec reads a line and answers with its size at once: typed right after start(), the
    # line must not reach it before the first size does (an exec cannot be sized before it runs).
    for _ in range(5):
        s = threadpty.Session.exec(
            client,
            running,
            ["sh", "-c", "read x; stty size"],
            tty=True,
            size=(31, 91),
            stdin=threadpty.PIPE,
            stdout=threadpty.PIPE,
        )
        with s:
            s.stdin.write(b"go\n")
            out = s.stdout.read()
        assert b"31 91" in out, out


def test_input_after_resize_sees_the_new_size(client: Any, running: str) -> None:
    # No wait for the API call in between: input written after resize() is ordered after it.
    s = threadpty.Session.exec(
        client, running, ["sh"], tty=True, stdin=threadpty.PIPE, stdout=threadpty.PIPE
    )
    with s:
        for i in range(8):
            s.resize(30 + i, 90 + i)
            s.stdin.write(b"stty size\n")
            read_until(s.stdout, rb"\r\n%d %d\r\n" % (30 + i, 90 + i))
        s.close()


# Leaving a `with` block, as Popen's does: the PIPEs are closed, then stdin, then it waits ------


def leave_within(
    s: threadpty.Session, body: Callable[[threadpty.Session], None], limit: float = 20
) -> float:
    """Run ``with s: body(s)`` in a thread; return how long leaving the block took.

    Fails if the block has not ended ``limit`` seconds after its body did (the session is then
    closed, so that nothing is left behind)."""
    left = threading.Event()
    took: List[float] = []
    errors: List[BaseException] = []

    def run() -> None:
        try:
            with s:
                try:
                    body(s)
                finally:
                    left.set()
                t0 = time.monotonic()
            took.append(time.monotonic() - t0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-with")
    thread.start()
    assert left.wait(60), "the block's body did not finish"
    thread.join(limit)
    if thread.is_alive():
        s.close()
        thread.join(10)
        pytest.fail(f"the with block had not ended {limit} s after its body (it waits for ever)")
    assert not errors, errors
    return took[0]


@pytest.mark.timeout(120)
def test_with_block_leaves_an_unread_stdout_pipe(client: Any, running: str) -> None:
    # 6.9 MB of output, one line read: the rest is read and dropped, so seq runs to its end.
    s = threadpty.Session.exec(
        client, running, ["seq", "1", "1000000"], interactive=False, stdout=threadpty.PIPE
    )
    first: List[bytes] = []
    took = leave_within(s, lambda s: first.append(s.stdout.readline()))
    assert first == [b"1\n"]
    assert s.exit_code == 0, "the command did not run to its end"
    assert s.stdout.closed
    print(f"leaving the block took {took:.2f} s")


@pytest.mark.timeout(120)
def test_with_block_closes_stdin_pipe_as_the_end_of_input(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client, running, ["cat"], stdin=threadpty.PIPE, stdout=threadpty.PIPE
    )
    line: List[bytes] = []

    def body(s: threadpty.Session) -> None:
        s.stdin.write(b"x\n")
        line.append(s.stdout.readline())

    took = leave_within(s, body)
    assert line == [b"x\n"] and s.exit_code == 0 and s.stdin.closed
    print(f"leaving the block took {took:.2f} s")


@pytest.mark.timeout(120)
def test_with_block_leaves_stdout_and_stderr_pipes_unread(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client,
        running,
        ["sh", "-c", "seq 1 300000 >&2; seq 1 300000; exit 3"],
        interactive=False,
        stdout=threadpty.PIPE,
        stderr=threadpty.PIPE,
        text=True,
    )
    leave_within(s, lambda s: None)
    assert s.exit_code == 3 and s.stdout.closed and s.stderr.closed


@pytest.mark.timeout(120)
def test_output_after_a_pipe_is_closed_is_dropped_not_an_end(client: Any, running: str) -> None:
    # Closing a PIPE mid-session says nobody reads: the command still runs to its own end.
    s = threadpty.Session.exec(
        client,
        running,
        ["sh", "-c", "seq 1 1000000; echo done >&2; exit 5"],
        interactive=False,
        stdout=threadpty.PIPE,
        stderr=threadpty.PIPE,
    )
    with s:
        assert s.stdout.readline() == b"1\n"
        s.stdout.close()
        assert s.stderr.read() == b"done\n"
        assert s.join(timeout=60) == 5
    with pytest.raises(ValueError):
        s.stdout.read1(1)


@pytest.mark.timeout(120)
def test_close_ends_a_with_block_waiting_for_a_command_that_writes_for_ever(
    client: Any, running: str
) -> None:
    # The engine sends no SIGPIPE, so `yes` never learns its reader left; close() ends it.
    s = threadpty.Session.exec(client, running, ["yes"], interactive=False, stdout=threadpty.PIPE)

    def closer() -> None:
        deadline = time.monotonic() + 60
        while not s.stdout.closed and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the block's exit to close the PIPE
        s.close()

    thread = threading.Thread(target=closer, name="test-closer")

    def body(s: threadpty.Session) -> None:
        assert s.stdout.readline() == b"y\n"
        thread.start()

    leave_within(s, body)
    thread.join(10)
    assert s.exit_code is None and not s.running
    end_yes(client, running)


def test_stdin_pipe_takes_only_what_a_file_takes(client: Any, running: str) -> None:
    # bytes(5) is five NULs and bytes([1, 2]) two bytes: a file's write (Popen's stdin) refuses
    # both, and nothing of them may reach the container.
    s = threadpty.Session.exec(
        client, running, ["cat"], stdin=threadpty.PIPE, stdout=threadpty.PIPE
    )
    bad: Any
    with s:
        for bad in (5, [1, 2], True, "text", None):
            with pytest.raises(TypeError, match="bytes-like"):
                s.stdin.write(bad)
        assert s.stdin.write(b"a") == 1
        assert s.stdin.write(bytearray(b"b")) == 1
        assert s.stdin.write(memoryview(b"xc")[1:]) == 1
        s.stdin.close()
        assert s.stdout.read() == b"abc"
    assert s.exit_code == 0
    s = threadpty.Session.exec(
        client, running, ["cat"], stdin=threadpty.PIPE, stdout=threadpty.PIPE, text=True
    )
    with s:
        for bad in (5, b"bytes"):
            with pytest.raises(TypeError):
                s.stdin.write(bad)
        s.stdin.write("é\n")
        s.stdin.close()
        assert s.stdout.read() == "é\n"
    assert s.exit_code == 0


def test_bufsize_as_popen_takes_it(client: Any, running: str) -> None:
    # -1 is Popen's default and 0 its "unbuffered": both are a PIPE's bound here too (the default,
    # and the smallest that keeps the connection's 64 KiB reads whole).
    from threadpty._pipes import DEFAULT_LIMIT

    for bufsize, bound in ((-1, DEFAULT_LIMIT), (None, DEFAULT_LIMIT), (0, 1 << 16), (4096, 4096)):
        s = threadpty.Session.exec(
            client, running, ["yes"], interactive=False, stdout=threadpty.PIPE, bufsize=bufsize
        )
        assert s.stdout._limit == bound
        s.start()
        assert s.stdout.read1(10)  # output flows, then backs up behind the unread pipe
        s.close()
        end_yes(client, running)
        assert len(s.stdout.read()) <= bound + (1 << 16)  # what was held, then the end
    wrong: Any
    for wrong in ("1024", 1.5, True):
        with pytest.raises(TypeError, match="bufsize"):
            threadpty.Session.exec(client, running, ["true"], stdout=threadpty.PIPE, bufsize=wrong)
    with threadpty.Session.exec(
        client, running, ["seq", "3"], interactive=False, stdout=threadpty.PIPE, bufsize=0
    ) as s:
        assert s.stdout.read() == b"1\n2\n3\n"
    assert s.exit_code == 0
