"""Every end of a tab hangs up its processes, whatever its session was doing at that moment.

A closed terminal sends SIGHUP to what runs in it; the engine has no such call for an exec, so
the server hangs the exec's processes up itself. These tabs end while output is on its way to
them (which can end the session from the output side first), while a paste is being sent in,
while a program holds the terminal in raw mode, and just as the shell's first prompt arrives.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Sequence

import pytest

from conftest import docker_cli
from webrig import Reader, WebServer, start, web_server

pytest.importorskip("websockets")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MiB = 1 << 20
PROMPT = rb"# "
# The most we allow between a tab's end and the last of its processes going.
GONE_WITHIN = 5.0


def marked(box: str) -> List[str]:
    """The box's processes started by a tab (each carries its tab's mark in its environment)."""
    out = docker_cli(
        "exec", box, "sh", "-c", "grep -l THREADPTY_WEB_SESSION= /proc/[0-9]*/environ || true"
    )
    return [line for line in out.split() if line.startswith("/proc/")]


def wait_none_left(box: str, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    left = marked(box)
    while left:
        if time.monotonic() > deadline:
            ps = docker_cli("exec", box, "ps", "-o", "pid,stat,args")
            raise AssertionError(f"{len(left)} processes of closed tabs left {what}:\n{ps}")
        time.sleep(0.1)
        left = marked(box)
    print(f"none left after {within - (deadline - time.monotonic()):.1f} s")


def abort(ws: Any) -> None:
    """Close like a browser that has crashed: a reset, no closing handshake."""
    try:
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    ws.close_socket()


def drop(ws: Any) -> None:
    """Close the socket, no closing handshake: what follows (a reset if output is unread, else a
    FIN, behind whatever of a paste is still unsent) is the kernel's to say."""
    ws.close_socket()


def printing(server: WebServer) -> Any:
    ws = server.ws()
    r = Reader(ws)
    start(ws)
    r.until(PROMPT)
    ws.send(b"while :; do echo tick; done &\n")
    r.until(rb"tick\r\ntick\r\n")
    return ws


def paste(ws: Any) -> threading.Thread:
    """4 MiB sent in the background, as a browser sends a paste while the page goes on."""
    line = b"#" + b"p" * 1000 + b"\n"
    data = line * (4 * MiB // len(line))

    def send() -> None:
        try:
            for i in range(0, len(data), 60000):
                ws.send(data[i : i + 60000])
        except Exception:  # noqa: BLE001, S110 - the tab is closed under it, as intended
            pass

    thread = threading.Thread(target=send, name="test-paste", daemon=True)
    thread.start()
    return thread


def pasting(server: WebServer) -> Any:
    ws = server.ws()
    r = Reader(ws)
    start(ws)
    r.until(PROMPT)
    paste(ws)
    r.until(rb"#p+\r+\np+\r+\np")  # its echo is on its way back
    return ws


def pasting_into_sleep(server: WebServer) -> Any:
    """A paste to a program that reads no input: the server's writer waits for good."""
    ws = server.ws()
    r = Reader(ws)
    start(ws)
    r.until(PROMPT)
    ws.send(b"stty raw -echo; echo RA''W; sleep 1000\n")
    r.until(rb"RAW")
    sending = paste(ws)
    sending.join(3)  # it fills every buffer on the way, then waits, or all of it fits in them
    return ws


def raw_sleeping(server: WebServer) -> Any:
    ws = server.ws()
    r = Reader(ws)
    start(ws)
    r.until(PROMPT)
    ws.send(b"stty raw -echo; echo RA''W; sleep 1000\n")
    r.until(rb"RAW")
    return ws


def just_opened(server: WebServer) -> Any:
    ws = server.ws()
    start(ws)
    ws.recv(timeout=30)  # the first bytes of the banner or prompt
    return ws


def open_all(server: WebServer, kinds: Sequence[Callable[[WebServer], Any]]) -> List[Any]:
    with ThreadPoolExecutor(10) as pool:
        return list(pool.map(lambda kind: kind(server), kinds))


BUSY = [printing] * 2 + [pasting] * 2 + [pasting_into_sleep] * 4 + [raw_sleeping] * 2


def test_every_closed_tab_is_hung_up_whatever_it_was_doing(box: str) -> None:
    with web_server("--exec", box) as server:
        assert not marked(box)
        busy = open_all(server, BUSY)
        assert len(marked(box)) >= len(busy)
        # The busy ones vanish as a browser's tabs do, half with a reset, half dropped; the idle
        # ones are opened and closed at once while their first prompt is arriving, half with a
        # closing handshake, half with a reset.
        idle = open_all(server, [just_opened] * 40)
        # All at once, as a browser closes a window of tabs; a polite close waits for the
        # server's answer on its own thread, which is not what is timed.
        with ThreadPoolExecutor(len(busy + idle)) as pool:
            for i, ws in enumerate(busy):
                pool.submit(drop if i % 2 else abort, ws)
            for i, ws in enumerate(idle):
                if i % 2:
                    pool.submit(ws.close)
                else:
                    pool.submit(abort, ws)
            wait_none_left(box, GONE_WITHIN, "5 s after their tabs closed")
        # The server goes on serving.
        with server.ws() as ws:
            r = Reader(ws)
            start(ws)
            ws.send(b"echo st''ill; exit 0\n")
            r.until(rb"still")


def test_server_shutdown_hangs_up_every_tab(box: str) -> None:
    server = WebServer("--exec", box)
    tabs: List[Any] = []
    try:
        tabs = open_all(server, BUSY)
        assert len(marked(box)) >= len(tabs)
    finally:
        status, _ = server.stop()
        for ws in tabs:
            abort(ws)
    assert status == 0
    wait_none_left(box, GONE_WITHIN, "after the server stopped")


def test_the_hang_up_takes_the_one_grep_beside_a_zombie(box: str) -> None:
    # A zombie's environ cannot be opened (ESRCH), so grep over /proc exits 2 although it printed
    # every match; a container whose first process reaps nothing (this box's sleep) keeps one for
    # good. Taking that 2 for a grep without -z sent every hang-up down the loop that forks tr for
    # each process (15 s for 50 tabs on a loaded machine); that loop is what prints "can't open".
    from threadpty.web._terminal import _HANGUP

    # The child ends at once and its parent, exec'd into sleep, never waits for it.
    docker_cli("exec", "-d", box, "sh", "-c", "sleep 0 & exec sleep 1001")
    mark = "THREADPTY_WEB_SESSION=zombie-beside-test"
    docker_cli("exec", "-d", "-e", mark, box, "sleep", "1000")

    def state() -> str:
        return docker_cli(
            "exec", box, "sh", "-c",
            f"grep -l {mark} /proc/[0-9]*/environ 2>/dev/null; ps -o stat,args | grep '^Z'",
        )  # fmt: skip

    deadline = time.monotonic() + 10
    while not ("environ" in state() and "Z" in state()):  # `exec -d` returns before they run
        assert time.monotonic() < deadline, f"no zombie and marked sleep: {state()}"
        time.sleep(0.05)
    ran = subprocess.run(
        ["docker", "exec", box, "sh", "-c", _HANGUP, "hangup", mark],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    deadline = time.monotonic() + GONE_WITHIN
    while "environ" in state():
        assert time.monotonic() < deadline, "the hang-up missed the marked process"
        time.sleep(0.05)
