"""`threadpty web --run` leaves no container behind, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from typing import Any, Callable, Set

import pytest

from conftest import IMAGE
from webrig import Reader, WebServer, start

pytest.importorskip("websockets")
pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RUN_LABEL = "io.threadpty.web"
OWNER_LABEL = "io.threadpty.web.owner"


def run_containers(engine: Any) -> Set[str]:
    return {c["Id"] for c in engine.containers(all=True, filters={"label": RUN_LABEL})}


def test_killed_server_leaves_no_run_container(engine: Any) -> None:
    before = run_containers(engine)
    server = WebServer("--run", IMAGE, "--network", "none")
    tabs = []
    try:
        for _ in range(2):
            ws = server.ws()
            start(ws)
            Reader(ws).until(rb"# ")
            tabs.append(ws)
        made = run_containers(engine) - before
        assert len(made) == 2
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while run_containers(engine) & made:
            assert time.monotonic() < deadline, "a killed server's --run containers stayed"
            time.sleep(0.2)
    finally:
        for ws in tabs:
            ws.close_socket()
        server.stop()


def owner(pid: int, start: str) -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    return f"{socket.gethostname()} {boot} {pid} {start}"


def start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rfind(")") + 2 :].split()[19]


def test_a_new_server_removes_the_containers_of_servers_gone(
    engine: Any, make_container: Callable[..., str]
) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    me = os.getpid()

    def left_by(who: str) -> str:
        return make_container("sleep 60", labels={RUN_LABEL: "an-old-server", OWNER_LABEL: who})

    gone = {
        left_by(owner(ended.pid, "12345")),  # its process has ended
        left_by(owner(me, "1")),  # its pid is another process's now
        left_by(f"{socket.gethostname()} another-boot {me} {start_time(me)}"),  # before a reboot
    }
    kept = {
        left_by(owner(me, start_time(me))),  # a server still running
        left_by("another-host.example 0000 1 1"),  # cannot be judged from here
        left_by("what is this"),
    }
    server = WebServer("--run", IMAGE, "--network", "none")
    try:
        left = run_containers(engine)
        assert not gone & left, "a server gone still has containers"
        assert kept <= left, "a container that may still be in use was removed"
    finally:
        status, output = server.stop()
    assert status == 0
    assert output.count(b"of a server that is gone") == len(gone)


def test_ctrl_c_the_moment_the_url_is_printed_stops_in_order(engine: Any) -> None:
    # The URL used to be printed before the server could take a Ctrl-C in order: one that came at
    # once killed it (status -2), its watchdog left to clean up.
    before = run_containers(engine)
    for _ in range(5):
        server = WebServer("--run", IMAGE, "--network", "none")
        status, output = server.stop()
        assert status == 0, output
        assert b"threadpty web: stopping" in output
    assert run_containers(engine) <= before
