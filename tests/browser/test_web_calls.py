"""`threadpty web --exec`: the engine calls a tab costs. The container is looked up once, at start;
a tab makes only the calls of its own exec, so opening many at once does not ask the engine for
every running container each time. The calls are seen by a recording proxy between the server
and the real engine's socket.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
from typing import Any, Iterator, List

import pytest

from conftest import IMAGE, LABEL, RUN_ID
from webrig import Reader, start, web_server

pytest.importorskip("websockets")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REQUEST = re.compile(rb"(?:GET|POST|PUT|DELETE|HEAD) (/\S*) HTTP/1\.[01]\r\n")


class EngineTap:
    """A Unix socket that passes everything through to the engine's and notes each request."""

    def __init__(self, engine_path: str) -> None:
        self.engine_path = engine_path
        self.folder = tempfile.mkdtemp(prefix="tpweb-tap-")
        self.path = os.path.join(self.folder, "engine.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self._lock = threading.Lock()
        self._sent: List[bytearray] = []
        self._threads: List[threading.Thread] = []
        self._closing = False
        self._accepter = threading.Thread(target=self._accept, name="tap-accept", daemon=True)
        self._accepter.start()

    def requests(self) -> List[str]:
        """Every request's path so far, in the order of the connections that made them."""
        with self._lock:
            sent = [bytes(b) for b in self._sent]
        return [m.group(1).decode() for b in sent for m in REQUEST.finditer(b)]

    def forget(self) -> None:
        with self._lock:
            for b in self._sent:
                b.clear()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.engine_path)
            record = bytearray()
            with self._lock:
                self._sent.append(record)
            for src, dst, rec in ((conn, upstream, record), (upstream, conn, None)):
                t = threading.Thread(target=self._pipe, args=(src, dst, rec), daemon=True)
                t.name = "tap-pipe"
                t.start()
                self._threads.append(t)

    def _pipe(self, src: socket.socket, dst: socket.socket, record: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    with self._lock:
                        record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        self._accepter.join(10)
        for t in self._threads:
            t.join(10)
        os.unlink(self.path)
        os.rmdir(self.folder)


@pytest.fixture
def tap(engine: Any) -> Iterator[EngineTap]:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.skip("the tap sits on the engine's Unix socket")
    t = EngineTap(host[len("unix://") :])
    try:
        yield t
    finally:
        t.close()


def listings(paths: List[str]) -> int:
    return sum(1 for p in paths if re.search(r"/containers/json\b", p))


def open_one(server: Any, line: bytes, want: bytes) -> bytes:
    with server.ws() as ws:
        r = Reader(ws)
        start(ws)
        ws.send(line)
        got = r.until(want)
        assert r.control() == {"type": "exit", "code": 0}
    return got


def test_exec_tabs_do_not_list_the_containers_again(tap: EngineTap, box: str) -> None:
    with web_server("--exec", box, env={"DOCKER_HOST": f"unix://{tap.path}"}) as server:
        # The name was looked up as the server started.
        assert listings(tap.requests()) == 1
        tap.forget()
        for _ in range(3):
            open_one(server, b"echo o''k; exit 0\n", rb"ok")
        made = tap.requests()
    assert listings(made) == 0, made
    # Each tab still made its exec: the tap saw the tabs' calls.
    assert sum(1 for p in made if p.endswith(f"/containers/{_id(box)}/exec")) >= 3, made


def _id(name: str) -> str:
    import docker

    client = docker.APIClient(version="auto")
    try:
        return str(client.inspect_container(name)["Id"])
    finally:
        client.close()


# What a tab is asked, and what its answer looks like: which container it is in.
WHICH = (b"echo host-$(hostname); exit 0\n", rb"host-\w+\r")


def test_exec_follows_its_container_recreated_under_the_same_name(engine: Any) -> None:
    name = f"tpweb-again-{RUN_ID}"

    def make(hostname: str) -> str:
        cid = engine.create_container(
            IMAGE,
            "sleep 3600",
            name=name,
            hostname=hostname,
            labels={LABEL: RUN_ID},
            host_config=engine.create_host_config(network_mode="none"),
        )["Id"]
        engine.start(cid)
        return str(cid)

    first = make("first")
    second = None
    try:
        with web_server("--exec", name) as server:
            assert b"host-first" in open_one(server, *WHICH)
            engine.remove_container(first, force=True)
            second = make("second")
            for _ in range(2):  # found anew, then kept
                assert b"host-second" in open_one(server, *WHICH)
    finally:
        for cid in (first, second):
            if cid is not None:
                try:
                    engine.remove_container(cid, force=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
