"""Sessions that outlive their connection (``--linger``): in Chromium against the real engine, a
reload, a TCP cut and a second tab find the shell as it was; output while no tab is there flows
into the bounded replay buffer and not into the server's memory; past the linger time, at the
index's end and at the server's stop the session is hung up as a closed tab is."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import struct
import threading
import time
import uuid
from typing import Any, Dict, Iterator, List

import pytest
import websockets
from test_web_browser import browser, screen, type_line, wait_screen  # noqa: F401
from test_web_hangup import GONE_WITHIN, marked, wait_none_left
from test_web_index import api, bearer

from conftest import docker_cli
from webrig import Reader, WebServer, peak_rss_until, web_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MiB = 1 << 20
REPLAY = 256 * 1024


def lines(text: str) -> List[str]:
    return [line.rstrip() for line in text.splitlines()]


def has_line(line: str) -> Any:
    return lambda text: line in lines(text)


def open_terminal(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.term !== undefined")
    wait_screen(page, lambda t: "# " in t, "no prompt")


def sessions(server: WebServer) -> List[Dict[str, Any]]:
    status, body = api(server, "/api/sessions", bearer(server.token))
    assert status == 200, body
    return list(body["sessions"])


def wait_viewers(server: WebServer, viewers: int, timeout: float = 20) -> Dict[str, Any]:
    """The one session, once it has ``viewers`` pages (0: it lingers)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = sessions(server)
        if len(listed) == 1 and listed[0]["viewers"] == viewers:
            return listed[0]
        assert time.monotonic() < deadline, f"not one session with {viewers} viewers: {listed}"
        time.sleep(0.05)


def wait_no_session(server: WebServer, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while sessions(server):
        assert time.monotonic() < deadline, f"sessions left: {sessions(server)}"
        time.sleep(0.05)


def test_a_reload_brings_the_shell_back(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60") as server:
        page = browser.new_page()
        open_terminal(page, server.url("/"))
        type_line(page, "export X=42; echo MA''RK")
        wait_screen(page, has_line("MARK"), "no MARK")
        [before] = sessions(server)
        page.reload()
        page.wait_for_function("() => window.term !== undefined")
        wait_screen(page, has_line("MARK"), "MARK is not on the screen after the reload")
        type_line(page, "echo $X")
        wait_screen(page, has_line("42"), "the shell after the reload is not the one before")
        assert "running" in page.title()
        # The same session, attached again: not a new one beside it.
        assert [s["id"] for s in sessions(server)] == [before["id"]]
        page.close()


def test_vi_is_redrawn_in_full_after_a_reload(browser: Any, box: str) -> None:  # noqa: F811
    # No replay at all: what is on the screen after the reload can only be vi's redraw.
    with web_server("--exec", box, "--linger", "60", "--replay", "0") as server:
        page = browser.new_page(viewport={"width": 900, "height": 500})
        open_terminal(page, server.url("/"))
        name = f"/tmp/vi-{uuid.uuid4().hex[:8]}.txt"
        type_line(page, f"for i in 1 2 3 4 5 6 7 8; do echo text line $i; done > {name}")
        type_line(page, f"vi {name}")
        expected = [f"text line {i}" for i in range(1, 9)]
        wait_screen(page, lambda t: all(e in lines(t) for e in expected), "vi shows no text")
        page.reload()
        page.wait_for_function("() => window.term !== undefined")
        text = wait_screen(
            page,
            lambda t: all(e in lines(t) for e in expected) and "~" in lines(t),
            "vi was not redrawn after the reload",
        )
        assert not any("# " in line for line in lines(text)[:8]), text
        # It is vi, live: a change shows, and it quits to the shell.
        page.keyboard.type("ggdd")
        wait_screen(page, lambda t: "text line 1" not in lines(t), "vi did not take the keys")
        page.keyboard.type(":q!")
        page.keyboard.press("Enter")
        # Busybox's vi leaves its screen as it was: the shell writes over it. Busybox's shell
        # drops keys that reach it within a few tens of ms of the page's answer to the cursor
        # query its prompt ends with (a recording showed every key sent in order; a raw client
        # loses them after any command, vi or not, and none 50 ms later): ask it again, and fail
        # only if it never answers.
        wait_screen(
            page,
            lambda t: any(ln.startswith("/ # ") for ln in t.splitlines()),
            "no prompt after vi",
        )
        for _ in range(5):
            type_line(page, "clear; echo vi''-gone")
            try:
                wait_screen(page, has_line("vi-gone"), "no shell after vi", timeout=5)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError(f"no shell after vi; the screen:\n{screen(page)}")
        page.close()


class Relay:
    """A TCP relay between the page and the server, one thread (``test-relay``), whose
    connections ``cut`` resets both ways, as a network that drops them would."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self.cut_done = threading.Event()
        self._peers: Dict[socket.socket, socket.socket] = {}
        self._thread = threading.Thread(target=self._run, name="test-relay", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self.cut_done.clear()
        self._wake_w.send(b"c")
        assert self.cut_done.wait(10), "the relay did not cut"

    def close(self) -> None:
        self._wake_w.send(b"q")
        self._thread.join(10)
        self._wake_w.close()

    def _drop(self, sel: selectors.BaseSelector, sock: socket.socket, reset: bool) -> None:
        for s in (sock, self._peers.pop(sock, None)):
            if s is None:
                continue
            self._peers.pop(s, None)
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(s)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in sel.select():
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self.listener:
                        page, _ = self.listener.accept()
                        server = socket.create_connection(("127.0.0.1", self.target))
                        self._peers[page], self._peers[server] = server, page
                        sel.register(page, selectors.EVENT_READ)
                        sel.register(server, selectors.EVENT_READ)
                    elif sock is self._wake_r:
                        what = sock.recv(16)
                        for s in list(self._peers):
                            if s in self._peers:
                                self._drop(sel, s, reset=True)
                        self.cut_done.set()
                        if b"q" in what:
                            return
                    elif sock in self._peers:
                        try:
                            data = sock.recv(65536)
                            if data:
                                self._peers[sock].sendall(data)
                                continue
                        except OSError:
                            pass
                        self._drop(sel, sock, reset=False)
        finally:
            for s in list(self._peers):
                s.close()
            self.listener.close()
            self._wake_r.close()
            sel.close()


@contextlib.contextmanager
def relay_to(server: WebServer) -> Iterator[Relay]:
    relay = Relay(server.port)
    try:
        yield relay
    finally:
        relay.close()


def test_a_tcp_cut_reconnects_by_itself(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60") as server, relay_to(server) as relay:
        page = browser.new_page()
        open_terminal(page, f"http://127.0.0.1:{relay.port}/#token={server.token}")
        type_line(page, "export Y=7; echo be''fore")
        wait_screen(page, has_line("before"), "no echo")
        relay.cut()
        page.wait_for_function("() => document.title.includes('reconnecting…')", timeout=10_000)
        page.wait_for_function("() => document.title.includes('running')", timeout=30_000)
        wait_screen(page, has_line("before"), "the replay did not come back")
        type_line(page, "echo Y=$Y")
        wait_screen(page, has_line("Y=7"), "the shell after the cut is not the one before")
        assert len(sessions(server)) == 1
        page.close()


def in_box(box: str, script: str) -> str:
    return docker_cli("exec", box, "sh", "-c", script)


def test_output_with_no_tab_stays_within_the_replay_bound(browser: Any, box: str) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    go, done = f"/tmp/go-{tag}", f"/tmp/done-{tag}"
    with web_server("--exec", box, "--linger", "120") as server:
        page = browser.new_page()
        url = server.url("/")
        open_terminal(page, url)
        # The flood waits for the test's word, given once no tab is attached.
        type_line(
            page,
            f"while [ ! -e {go} ]; do sleep 0.1; done; yes | head -c 52428800; "
            f"echo; echo flood-end''ed; touch {done}",
        )
        page.goto("about:blank")  # the tab leaves; its sessionStorage stays for the origin
        wait_viewers(server, 0)
        baseline = server.rss()
        in_box(box, f"touch {go}")
        peak = max(
            baseline,
            peak_rss_until(
                server,
                lambda: in_box(box, f"test -e {done} && echo yes || true").strip() == "yes",
                "the flood was held back with no tab attached",
                120,
                lambda: time.sleep(0.05),
            ),
        )
        grown = peak - baseline
        print(f"RSS {baseline / MiB:.1f} MiB before, {peak / MiB:.1f} MiB at most")
        assert grown <= REPLAY + 16 * MiB, f"the server grew by {grown / MiB:.1f} MiB"
        # The tab comes back to the end of the flood, and the same shell.
        open_terminal(page, url)
        wait_screen(page, has_line("flood-ended"), "the flood's end was not replayed")
        type_line(page, "echo $((6*7))")
        wait_screen(page, has_line("42"), "no shell after the flood")
        in_box(box, f"rm -f {go} {done}")
        page.close()


def test_the_session_is_hung_up_when_its_linger_time_is_up(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "4") as server:
        page = browser.new_page()
        open_terminal(page, server.url("/"))
        type_line(page, "sleep 1000 & echo start''ed")
        wait_screen(page, has_line("started"), "the job did not start")
        page.close()
        closed = time.monotonic()
        wait_viewers(server, 0)
        # Lingering: its processes are still there, the shell's job included.
        assert len(marked(box)) >= 2
        wait_none_left(box, 4 + GONE_WITHIN, "after the linger time")
        assert time.monotonic() - closed >= 3.5, "hung up before its linger time"
        wait_no_session(server)


def test_linger_0_ends_the_session_with_its_tab(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "0") as server:
        page = browser.new_page()
        open_terminal(page, server.url("/"))
        type_line(page, "sleep 1000 & echo start''ed")
        wait_screen(page, has_line("started"), "the job did not start")
        # No session was offered to keep: the page holds no id.
        assert page.evaluate("() => sessionStorage.getItem('threadpty-session:/ws')") is None
        page.close()
        wait_none_left(box, GONE_WITHIN, "after the tab closed")
        wait_no_session(server)


def test_a_second_tab_takes_the_session_over(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60") as server:
        context = browser.new_context()
        try:
            first = context.new_page()
            open_terminal(first, server.url("/"))
            type_line(first, "export Z=5; echo fir''st")
            wait_screen(first, has_line("first"), "no echo")
            key = first.evaluate("() => sessionStorage.getItem('threadpty-session:/ws')")
            assert key and len(key) >= 32
            # A tab duplicated by the browser starts with a copy of its sessionStorage.
            second = context.new_page()
            second.add_init_script(
                f"sessionStorage.setItem('threadpty-session:/ws', {json.dumps(key)})"
            )
            open_terminal(second, server.url("/"))
            wait_screen(second, has_line("first"), "the second tab got no replay")
            first.wait_for_function("() => document.title.includes('taken over')")
            wait_screen(first, lambda t: "taken over by another tab" in t, "not told")
            type_line(second, "echo Z=$Z")
            wait_screen(second, has_line("Z=5"), "the second tab has another shell")
            assert wait_viewers(server, 1)
            # Reconnect in the first takes it back.
            first.click("#reconnect")
            wait_screen(first, has_line("Z=5"), "the first tab did not take it back")
            second.wait_for_function("() => document.title.includes('taken over')")
        finally:
            context.close()


def start_lingering(server: WebServer, box: str) -> Any:
    """A session opened as the page opens one, with a job, left by its connection."""
    ws = server.ws()
    r = Reader(ws)
    ws.send(json.dumps({"type": "start", "rows": 24, "cols": 80, "session": None}))
    hello = r.control()
    assert hello["type"] == "session" and hello["resumed"] is False
    r.until(rb"# ")
    ws.send(b"sleep 1000 & echo start''ed\n")
    r.until(rb"started")
    ws.close()
    wait_viewers(server, 0)
    assert len(marked(box)) >= 2
    return hello["id"]


def test_a_page_reattaching_as_its_session_starts_gets_it(box: str) -> None:
    """The id comes before the terminal has started (its exec made and started, its first size
    applied): a page that reloads in that moment gets its session, not a new shell."""
    with web_server("--exec", box, "--linger", "60") as server:
        for _ in range(3):
            with server.ws() as first, server.ws() as second:
                ws_send_start(first, None)
                hello = Reader(first).control()
                assert hello["type"] == "session"
                ws_send_start(second, hello["id"])
                again = Reader(second).control()
                assert again == {
                    "type": "session",
                    "id": hello["id"],
                    "resumed": True,
                    "linger": 60.0,
                }, again
                second.send(b"echo re''attached\n")
                Reader(second).until(rb"reattached")
            wait_viewers(server, 0)
            [listed] = sessions(server)
            status, body = api(server, f"/api/sessions/{listed['id']}/end", bearer(server.token))
            assert status == 200 and body["hung_up"] is True


def ws_send_start(ws: Any, key: Any) -> None:
    """A page's start: ``key`` None asks for a session that outlives its connection, an id
    reattaches to that session."""
    ws.send(json.dumps({"type": "start", "rows": 24, "cols": 80, "session": key}))


def test_reattaching_needs_the_token(box: str) -> None:
    with web_server("--exec", box, "--linger", "60") as server:
        key = start_lingering(server, box)
        for token, status in ((None, 401), ("not-the-token", 403)):
            headers = [] if token is None else [("Authorization", f"Bearer {token}")]
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                server.ws(token=None, additional_headers=headers)
            assert refused.value.response.status_code == status
        # An id that is not the session's gets a new one; the session's own, it.
        with server.ws() as ws:
            r = Reader(ws)
            ws.send(json.dumps({"type": "start", "rows": 24, "cols": 80, "session": "x" * 32}))
            assert r.control()["resumed"] is False
        with server.ws() as ws:
            r = Reader(ws)
            ws.send(json.dumps({"type": "start", "rows": 24, "cols": 80, "session": key}))
            assert r.control() == {"type": "session", "id": key, "resumed": True, "linger": 60.0}
            r.until(rb"started")


def test_the_index_lists_and_ends_a_lingering_session(box: str) -> None:
    with web_server("--exec", box, "--linger", "60") as server:
        start_lingering(server, box)
        [session] = sessions(server)
        assert session["viewers"] == 0
        status, body = api(server, f"/api/sessions/{session['id']}/end", bearer(server.token))
        assert status == 200 and body["hung_up"] is True
        assert marked(box) == [] and sessions(server) == []


def test_the_server_stop_hangs_up_lingering_sessions(box: str) -> None:
    server = WebServer("--exec", box, "--linger", "300")
    try:
        start_lingering(server, box)
    finally:
        status, _ = server.stop()
    assert status == 0
    wait_none_left(box, GONE_WITHIN, "after the server stopped")


def test_an_exited_session_is_not_reconnected(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60") as server:
        page = browser.new_page()
        open_terminal(page, server.url("/"))
        type_line(page, "exit 3")
        page.wait_for_function("() => document.title.includes('exited 3')")
        # The server said the session is over: the page forgets it and does not try again.
        assert page.evaluate("() => sessionStorage.getItem('threadpty-session:/ws')") is None
        # The exit message comes before the closing handshake, which the session's end follows.
        wait_no_session(server)
        assert page.is_visible("#reconnect")
        page.click("#reconnect")
        wait_screen(page, lambda t: "# " in t, "no new shell")
        [fresh] = sessions(server)
        assert fresh["viewers"] == 1
        page.close()
