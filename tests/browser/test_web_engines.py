"""`threadpty web --engine NAME=URL ...`: the index groups containers by engine and each terminal
goes to the right one. The second engine is the test rig's private dockerd over TCP with TLS
(tests/private_engine.py), beside the machine's own.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from typing import Any, Iterator, Tuple

import pytest

from conftest import IMAGE, LABEL, RUN_ID
from private_engine import OWN_ENGINE_WHY, PrivateEngine
from webrig import TOKEN, Reader, WebServer, start, web_server

pytest.importorskip("websockets")
from websockets.exceptions import InvalidStatus  # noqa: E402

pytestmark = [
    pytest.mark.own_engine(reason=OWN_ENGINE_WHY),
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def rig(engine: Any) -> Iterator[PrivateEngine]:
    pe = PrivateEngine(tls=True, ssh=False).setup()
    try:
        yield pe
    finally:
        pe.teardown()


@pytest.fixture(scope="module")
def two(engine: Any, rig: PrivateEngine) -> Iterator[Tuple[str, str]]:
    """A container on each engine: (the main one's name, the private one's name)."""
    main_name, private_name = f"tpweb-main-{RUN_ID}", f"tpweb-private-{RUN_ID}"
    a = engine.create_container(
        IMAGE,
        "sleep 3600",
        name=main_name,
        labels={LABEL: RUN_ID},
        hostname="on-main",
        host_config=engine.create_host_config(network_mode="none"),
    )
    engine.start(a["Id"])
    api = rig.unix_client()
    b = api.create_container(
        IMAGE,
        "sleep 3600",
        name=private_name,
        hostname="on-private",
        host_config=api.create_host_config(network_mode="none"),
    )
    api.start(b["Id"])
    try:
        yield main_name, private_name
    finally:
        engine.remove_container(a["Id"], force=True)
        api.remove_container(b["Id"], force=True)


@pytest.fixture(scope="module")
def server(rig: PrivateEngine, two: Tuple[str, str]) -> Iterator[WebServer]:
    # Docker's own layout for a client's certificates: ca.pem, cert.pem, key.pem.
    certs = os.path.join(rig.base, "web-client")
    os.makedirs(certs, exist_ok=True)
    for src, dst in (
        ("ca.pem", "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ):
        shutil.copy(os.path.join(rig.certs, src), os.path.join(certs, dst))
    main_url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    with web_server(
        "--engine",
        f"main={main_url}",
        "--engine",
        f"private=tcp://127.0.0.1:{rig.tls_port}",
        "--engine-certs",
        f"private={certs}",
        env={"DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": ""},
    ) as s:
        yield s


def hostname(server: WebServer, path: str) -> str:
    with server.ws(path) as ws:
        r = Reader(ws)
        start(ws)
        ws.send(b"echo host-$(hostname)-; exit 0\n")
        got = r.until(rb"host-[\w-]+-\r\n").decode()
        assert r.control() == {"type": "exit", "code": 0}
    return got.rsplit("host-", 1)[1].rstrip("-\r\n")


def test_the_index_groups_containers_by_engine(server: WebServer, two: Tuple[str, str]) -> None:
    req = urllib.request.Request(
        server.url("/api/containers", token=False), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        engines = json.loads(resp.read())["engines"]
    assert [e["name"] for e in engines] == ["main", "private"]
    assert two[0] in [c["name"] for c in engines[0]["containers"]]
    assert two[1] in [c["name"] for c in engines[1]["containers"]]
    assert two[1] not in [c["name"] for c in engines[0]["containers"]]


def test_each_terminal_goes_to_its_engine(server: WebServer, two: Tuple[str, str]) -> None:
    assert hostname(server, f"/ws/{two[0]}?engine=main") == "on-main"
    assert hostname(server, f"/ws/{two[1]}?engine=private") == "on-private"


def test_a_container_is_looked_up_on_the_engine_named(
    server: WebServer, two: Tuple[str, str]
) -> None:
    for path in (f"/ws/{two[0]}?engine=private", f"/ws/{two[1]}?engine=nope", f"/ws/{two[1]}"):
        with pytest.raises(InvalidStatus) as exc:
            server.ws(path).close()
        assert exc.value.response.status_code == 404
