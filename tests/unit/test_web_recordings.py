"""``threadpty web --record``: the names the server gives, the bound, a write error, and the HTTP
side (token required, only names of the folder's listing served, no path traversal). No engine:
the server runs in index mode, whose pages and recordings need none."""

from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import stat
import threading
from typing import Any, Iterator, List, Tuple

import pytest

pytest.importorskip("websockets")

from threadpty._record import LIMIT_MARK  # noqa: E402
from threadpty.web import _pages  # noqa: E402
from threadpty.web._engines import Engines  # noqa: E402
from threadpty.web._recordings import NAME, Recordings, RecordingsError, sanitise  # noqa: E402
from threadpty.web._server import Config, ConfigError, WebServer  # noqa: E402

pytestmark = pytest.mark.timeout(60)
TOKEN = "unit-token-0123456789"


def events(path: str) -> List[Any]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_names_are_the_servers_mode_0600_and_exclusive(tmp_path: Any, monkeypatch: Any) -> None:
    rec = Recordings(str(tmp_path), "0123456789ab")
    rec.check()
    first = rec.open("../../etc/passwd", (24, 80), ["/bin/sh"])
    second = rec.open("my box:latest", (24, 80))
    first.close()
    second.close()
    for made in (first, second):
        assert NAME.match(made.name), made.name
        assert os.path.dirname(os.path.join(str(tmp_path), made.name)) == str(tmp_path)
        st = os.stat(os.path.join(str(tmp_path), made.name))
        assert stat.S_IMODE(st.st_mode) == 0o600
    assert first.name.endswith("-0123456789ab-1-etc_passwd.cast")
    assert second.name.endswith("-0123456789ab-2-my_box_latest.cast")
    assert sanitise("../..") == "container" and sanitise("a" * 300) == "a" * 64
    # Created exclusively: a name already there (a link planted, say) is never opened.
    monkeypatch.setattr("threadpty.web._recordings.time.strftime", lambda *a: "20260101T000000Z")
    target = tmp_path / "elsewhere"
    os.symlink(str(target), str(tmp_path / "20260101T000000Z-0123456789ab-3-x.cast"))
    with pytest.raises(FileExistsError):
        rec.open("x", (1, 1))
    assert not target.exists()


def test_the_folder_is_checked_at_start(tmp_path: Any) -> None:
    with pytest.raises(RecordingsError, match="not a directory"):
        Recordings(str(tmp_path / "missing"), "id").check()
    (tmp_path / "file").write_text("")
    with pytest.raises(RecordingsError, match="not a directory"):
        Recordings(str(tmp_path / "file"), "id").check()
    with pytest.raises(RecordingsError, match="256"):
        Recordings(str(tmp_path), "id", limit=10).check()
    with pytest.raises(ConfigError, match="--record-input"):
        Config(record_input=True).check()
    server = WebServer(Config(port=0, record_dir=str(tmp_path / "missing")), Engines({}))
    with pytest.raises(ConfigError, match="not a directory"):
        server.start()


def test_past_the_bound_the_file_ends_with_the_marker(tmp_path: Any) -> None:
    rec = Recordings(str(tmp_path), "id", limit=4096)
    tab = rec.open("box", (24, 80))
    for _ in range(100):
        tab.output(memoryview(b"y\r\n" * 100))
    tab.resize(30, 100)  # past the bound: nothing more, and no error
    tab.close()
    path = os.path.join(str(tmp_path), tab.name)
    assert os.path.getsize(path) <= 4096
    lines = events(path)
    assert lines[-1][1:] == ["m", LIMIT_MARK]
    assert sum(1 for e in lines if len(e) == 3 and e[1] == "m") == 1


def test_input_only_when_asked_and_sizes_only_when_they_change(tmp_path: Any) -> None:
    for asked in (False, True):
        rec = Recordings(str(tmp_path), f"id{int(asked)}", record_input=asked)
        tab = rec.open("box", (24, 80))
        tab.input(b"secret\r")
        tab.resize(24, 80)  # the first size, applied once the exec ran: no change
        tab.resize(30, 100)
        tab.close()
        codes = [e[1] for e in events(os.path.join(str(tmp_path), tab.name))[1:]]
        assert codes == (["i", "r"] if asked else ["r"])


def test_a_write_error_stops_the_recording_with_one_line(tmp_path: Any, caplog: Any) -> None:
    rec = Recordings(str(tmp_path), "id")
    tab = rec.open("box", (24, 80))
    # The disk fills: every write from now on fails as on a full disk.
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        fd = tab._file._fd
        assert fd is not None
        os.dup2(full, fd)
    finally:
        os.close(full)
    with caplog.at_level(logging.DEBUG, logger="threadpty.web"):
        tab.output(memoryview(b"PRIVATE-OUTPUT\r\n"))
        tab.output(memoryview(b"more\r\n"))
        tab.resize(30, 100)
        tab.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and tab.name in lines[0], lines
    assert os.strerror(errno.ENOSPC) in lines[0]
    assert "PRIVATE" not in caplog.text


@pytest.fixture
def served(tmp_path: Any) -> Iterator[Tuple[WebServer, str]]:
    folder = tmp_path / "casts"
    folder.mkdir()
    server = WebServer(Config(port=0, token=TOKEN, record_dir=str(folder)), Engines({})).start()
    thread = threading.Thread(target=server.serve_forever, name="test-web-serve", daemon=True)
    thread.start()
    try:
        yield server, str(folder)
    finally:
        server.shutdown()
        thread.join(10)


def get(server: WebServer, path: str, token: bool = True) -> Tuple[int, bytes, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers
    finally:
        conn.close()


@pytest.mark.skipif(_pages.missing_assets() != [], reason="needs `make web-assets`")
def test_recordings_need_the_token_and_only_listed_names_are_served(
    served: Tuple[WebServer, str], tmp_path: Any
) -> None:
    server, folder = served
    assert server.recordings is not None
    tab = server.recordings.open("box", (24, 80))
    tab.output(memoryview(b"MARK\r\n" * 40000))
    tab.close()
    path = os.path.join(folder, tab.name)
    (tmp_path / "secret.cast").write_text("not a recording")
    os.symlink(str(tmp_path / "secret.cast"), os.path.join(folder, "19700101T000000Z-ab-1-x.cast"))

    for route in ("/api/recordings", f"/api/recordings/{tab.name}"):
        status, body, _ = get(server, route, token=False)
        assert status == 401 and b"MARK" not in body
    status, body, _ = get(server, "/api/recordings")
    assert status == 200
    assert [r["name"] for r in json.loads(body)["recordings"]] == [tab.name]

    status, body, headers = get(server, f"/api/recordings/{tab.name}")
    assert status == 200 and headers["Content-Type"] == "application/x-asciicast"
    with open(path, "rb") as f:
        assert body == f.read() and int(headers["Content-Length"]) == len(body) > 200000

    for name in (
        "..%2Fsecret.cast",
        "%2E%2E%2Fsecret.cast",
        "19700101T000000Z-ab-1-x.cast",  # a link planted in the folder
        tab.name + "%00",
        "..",
        "",
    ):
        status, body, _ = get(server, f"/api/recordings/{name}")
        assert status == 404 and b"not a recording" not in body, name

    status, body, _ = get(server, "/recordings", token=False)
    assert status == 200 and b"asciinema-player.min.js" in body and b"MARK" not in body
    status, body, _ = get(server, "/", token=False)
    assert b'href="/recordings"' in body


def test_without_record_there_is_no_recordings_page(tmp_path: Any) -> None:
    server = WebServer(Config(port=0, token=TOKEN), Engines({}))
    assert server.recordings is None
    assert server._http("/recordings", "/recordings", {}).status_code == 404
    assert b"/recordings" not in _pages.index_page().body
