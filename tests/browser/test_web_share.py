"""Shared viewers (the page's share link, ``"join": "view"``): in Chromium against the real engine,
two pages on one session. The writer's typing shows in the viewer, which takes the writer's size;
a read-only viewer's typing reaches nothing, not even through a client that sends it anyway; a
viewer that stops reading does not hold back the writer's output, and the server's memory stays
within its bound; a viewer that fell behind once is resynchronised from the recent output and
goes on; with --shared-writers a viewer types too."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import uuid
from typing import Any, List, Optional, Tuple

import pytest
from test_web_browser import browser, screen, type_line, wait_screen  # noqa: F401
from test_web_reattach import has_line, in_box, lines, open_terminal, sessions, ws_send_start

from webrig import Reader, WebServer, peak_rss_until, web_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MiB = 1 << 20
REPLAY = 256 * 1024


def share_link(page: Any) -> str:
    page.click("#share")
    page.wait_for_selector("#share-link", state="visible")
    link = str(page.input_value("#share-link"))
    assert "view=" in link and "#token=" in link, link
    # The link is on the clipboard where the browser lets the page put it (typing goes back to
    # the terminal by itself then); otherwise it stays selected and Esc leaves it.
    if page.evaluate("() => document.activeElement.id") == "share-link":
        page.keyboard.press("Escape")
    page.wait_for_function(
        "() => document.activeElement.classList.contains('xterm-helper-textarea')"
    )
    return link


def open_viewer(browser: Any, link: str, **kwargs: Any) -> Tuple[Any, Any]:  # noqa: F811
    """The link opened as a user given it would: a new browser context (no storage shared with
    the writer's tab), the token from the link's fragment."""
    context = browser.new_context(**kwargs)
    page = context.new_page()
    page.goto(link)
    page.wait_for_function("() => window.term !== undefined")
    page.wait_for_function("() => document.title.includes('viewing')", timeout=20_000)
    return context, page


def wait_viewers(server: WebServer, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        listed = sessions(server)
        if len(listed) == 1 and listed[0]["viewers"] == count:
            return
        assert time.monotonic() < deadline, f"not one session with {count} viewers: {listed}"
        time.sleep(0.05)


def test_the_writers_typing_shows_in_the_viewer_at_the_writers_size(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60") as server:
        writer = browser.new_page(viewport={"width": 900, "height": 500})
        open_terminal(writer, server.url("/"))
        type_line(writer, "echo be''fore")
        wait_screen(writer, has_line("before"), "no echo")
        link = share_link(writer)
        # A viewer with a smaller window: it shows the writer's size all the same.
        context, viewer = open_viewer(browser, link, viewport={"width": 500, "height": 300})
        try:
            assert "read-only" in viewer.title()
            wait_screen(viewer, has_line("before"), "the viewer got no replay")
            type_line(writer, "echo hel''lo-viewer")
            wait_screen(viewer, has_line("hello-viewer"), "the writer's typing is not shown")
            size = "() => [term.rows, term.cols]"
            assert viewer.evaluate(size) == writer.evaluate(size)
            # The writer was not taken over, and the index counts both pages.
            assert "running" in writer.title()
            wait_viewers(server, 2)
            # The writer's resize is followed by the viewer.
            # (The size before, taken first: the viewer may follow before it is asked.)
            before = writer.evaluate(size)
            writer.set_viewport_size({"width": 700, "height": 400})
            writer.wait_for_function("(s) => term.cols !== s[1]", arg=before)
            viewer.wait_for_function("(s) => term.rows === s[0] && term.cols === s[1]",
                                     arg=writer.evaluate(size))  # fmt: skip
            # The session's end reaches the viewer too.
            type_line(writer, "exit 4")
            viewer.wait_for_function("() => document.title.includes('exited 4')")
        finally:
            context.close()
            writer.close()


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A client's frame (masked, as a client's must be)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class RawViewer:
    """A viewer over a bare socket: it joins, sends what it is told, and reads only when told
    (so, with a small receive buffer, it can stop reading for good)."""

    def __init__(self, server: WebServer, key: str, rcvbuf: Optional[int] = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", server.port))
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: threadpty\r\n"
            f"Authorization: Bearer {server.token}\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            assert chunk, f"no answer to the upgrade: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        self.sock = sock
        self.buffer = bytearray()
        start = {"type": "start", "rows": 24, "cols": 80, "session": key, "join": "view"}
        self.send_text(json.dumps(start))

    def send_text(self, text: str) -> None:
        self.sock.sendall(ws_frame(0x1, text.encode()))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(ws_frame(0x2, data))

    def frame(self) -> Tuple[int, bytes]:
        """The next frame from the server: (opcode, payload); (-1, b"") once the connection
        ends."""
        while True:
            buffer = self.buffer
            size = buffer[1] & 0x7F if len(buffer) >= 2 else -1
            at = {126: 4, 127: 10}.get(size, 2)
            if size >= 0 and len(buffer) >= at:
                if size == 126:
                    size = struct.unpack("!H", buffer[2:4])[0]
                elif size == 127:
                    size = struct.unpack("!Q", buffer[2:10])[0]
                if len(buffer) >= at + size:
                    opcode = buffer[0] & 0x0F
                    payload = bytes(buffer[at : at + size])
                    del buffer[: at + size]
                    return opcode, payload
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return -1, b""
            self.buffer += chunk

    def control(self, kind: str) -> dict:
        while True:
            opcode, payload = self.frame()
            assert opcode != -1, f"the connection ended before a {kind!r} message"
            if opcode == 0x1:
                message = json.loads(payload)
                if message["type"] == kind:
                    return dict(message)

    def close(self) -> None:
        self.sock.close()


def session_key(page: Any) -> str:
    key = page.evaluate("() => sessionStorage.getItem('threadpty-session:/ws')")
    assert key
    return str(key)


def test_a_read_only_viewer_sends_nothing(browser: Any, box: str) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    with web_server("--exec", box, "--linger", "60") as server:
        writer = browser.new_page()
        open_terminal(writer, server.url("/"))
        context, viewer = open_viewer(browser, share_link(writer))
        raw = RawViewer(server, session_key(writer))
        try:
            assert raw.control("session")["write"] is False
            wait_screen(viewer, lambda t: "# " in t, "no prompt in the viewer")
            # Typed in the page: it sends nothing.
            type_line(viewer, f"touch /tmp/page-{tag}; echo PA''GE-{tag}")
            # Sent anyway by a client: the server drops it. The error its bad frame after it
            # draws says the input before it has been dealt with.
            raw.send_bytes(f"touch /tmp/raw-{tag}; echo RA''W-{tag}\n".encode())
            raw.send_bytes(b"\x1b[A\n")  # the history's last line, again
            raw.send_text("not json")
            assert raw.control("error")
            # What the writer types after it lands, and nothing of the viewers' before it.
            type_line(writer, f"echo WRI''TER-{tag}")
            text = wait_screen(writer, has_line(f"WRITER-{tag}"), "the writer's typing was lost")
            assert f"PAGE-{tag}" not in text and f"RAW-{tag}" not in text
            assert "read-only" in viewer.title()
            listed = in_box(box, f"ls /tmp/page-{tag} /tmp/raw-{tag} 2>/dev/null || true")
            assert listed.strip() == "", listed
            wait_screen(viewer, has_line(f"WRITER-{tag}"), "the viewer does not follow")
            # The viewer shows the session's screen: its own typing is not there either.
            assert f"PAGE-{tag}" not in screen(viewer)
        finally:
            raw.close()
            context.close()
            writer.close()


def test_a_viewer_that_stops_reading_holds_back_nothing(browser: Any, box: str) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    go = f"/tmp/go-{tag}"
    with web_server("--exec", box, "--linger", "60") as server:
        writer = browser.new_page()
        open_terminal(writer, server.url("/"))
        # The flood waits for the test's word, given once the viewer has stopped reading.
        type_line(
            writer,
            f"while [ ! -e {go} ]; do sleep 0.1; done; yes | head -c 20000000; "
            "echo; echo flood-end''ed",
        )
        raw = RawViewer(server, session_key(writer), rcvbuf=4096)
        try:
            raw.control("session")  # joined; from now on it reads nothing
            wait_viewers(server, 2)
            baseline = server.rss()
            in_box(box, f"touch {go}")
            peak = max(
                baseline,
                peak_rss_until(
                    server,
                    lambda: "flood-ended" in lines(screen(writer)),
                    "the writer's flood was held back",
                    180,
                    lambda: writer.wait_for_timeout(50),
                ),
            )
            grown = peak - baseline
            print(f"RSS {baseline / MiB:.1f} MiB before, {peak / MiB:.1f} MiB at most")
            assert grown <= 2 * REPLAY + 16 * MiB, f"the server grew by {grown / MiB:.1f} MiB"
            # The writer's echo is its own: typing answers at once after the flood.
            type_line(writer, "echo $((6*7))")
            wait_screen(writer, has_line("42"), "no echo after the flood")
            # The viewer that read nothing was dropped (its connection cut once it did not take
            # its last messages): only the writer is left.
            wait_viewers(server, 1)
            seen: List[Tuple[int, bytes]] = []
            while True:
                opcode, payload = raw.frame()
                if opcode == -1:
                    break
                seen.append((opcode, payload))
            received = sum(len(p) for op, p in seen if op == 0x2)
            print(f"the stuck viewer received {received} bytes of the 20 MB")
            assert received < 10 * MiB
            in_box(box, f"rm -f {go}")
        finally:
            raw.close()
            writer.close()


def test_a_viewer_may_join_as_the_session_starts(box: str) -> None:
    """The share link is there once the page has the id, which comes before the terminal has
    started: a viewer that joins in that moment is let in and sees the shell's first words."""
    with web_server("--exec", box, "--linger", "60") as server:
        for _ in range(3):
            with server.ws() as ws:
                owner = Reader(ws)
                ws_send_start(ws, None)
                hello = owner.control()
                assert hello["type"] == "session"
                raw = RawViewer(server, str(hello["id"]))
                try:
                    joined = raw.control("session")
                    assert joined["view"] is True and joined["id"] == hello["id"]
                    seen = b""
                    while b"# " not in seen:
                        opcode, payload = raw.frame()
                        assert opcode != -1, f"the viewer's connection ended: {seen!r}"
                        if opcode == 0x2:
                            seen += payload
                finally:
                    raw.close()


def test_a_viewer_that_falls_behind_once_is_resynchronised_and_goes_on(box: str) -> None:
    """A viewer that stops reading and then reads again, having fallen behind once: it gets a
    ``resync`` message, the recent output from the replay buffer and the live output after it,
    and it stays. The flood's size makes exactly one fall behind certain: with a replay of
    R = 8 MiB the bound is 2R; the first fall behind comes once 2R are queued (beyond what the
    sockets hold, S: at most 4 MiB here), after which R are queued again, so a second would need
    R more. The flood's 23.4 MB pass 2R + S and stay under 3R. The owner is a client that reads
    at once (a page would take half a minute to draw it all, and a viewer that reads nothing
    for 40 s is cut for not answering the server's ping)."""
    replay = 8 * MiB
    flood = 23_400_000
    tag = uuid.uuid4().hex[:8]
    go = f"/tmp/go-{tag}"
    ended, live = f"flood-ended-{tag}".encode(), f"after-{tag}".encode()
    with web_server("--exec", box, "--linger", "60", "--replay", str(replay)) as server:
        with server.ws() as ws:
            owner = Reader(ws)
            ws_send_start(ws, None)  # a session that outlives its connection, as the page asks
            key = owner.control()
            assert key["type"] == "session"
            owner.until(rb"# ")
            # No output processing: the flood's bytes are what reaches the viewers.
            ws.send(
                f"stty -opost; while [ ! -e {go} ]; do sleep 0.1; done; "
                f"yes | head -c {flood}; echo; echo flood-end''ed-{tag}\n".encode()
            )
            raw = RawViewer(server, str(key["id"]), rcvbuf=4096)
            try:
                raw.control("session")  # joined; it reads nothing until the flood is over
                wait_viewers(server, 2)
                in_box(box, f"touch {go}")
                tail = b""
                while ended not in tail:
                    frame = owner.one(60)
                    if isinstance(frame, bytes):
                        tail = (tail + frame)[-64:]
                        owner.data.clear()
                        owner.frames.clear()
                ws.send(f"echo after''-{tag}\n".encode())
                # Now it reads: what was sent before the resync, the resync, the recent output
                # and what came after, live.
                resyncs = before = after = 0
                seen: List[bytes] = []  # after the resync, in order: the flood's end, the echo
                tail = b""
                while live not in seen:
                    opcode, payload = raw.frame()
                    assert opcode != -1, f"the viewer was dropped ({resyncs} resyncs)"
                    if opcode == 0x1:
                        message = json.loads(payload)
                        assert message["type"] != "error", message
                        if message["type"] == "resync":
                            resyncs += 1
                            seen.clear()
                        continue
                    if opcode != 0x2:
                        continue
                    if not resyncs:
                        before += len(payload)
                        continue
                    after += len(payload)
                    window = tail + payload  # a mark may straddle two frames
                    for mark in (ended, live):
                        if mark in window and mark not in seen:
                            seen.append(mark)
                    tail = window[-64:]
                print(f"received {before} bytes before the resync, {after} after it")
                assert resyncs == 1
                assert seen == [ended, live]
                # After the resync comes the replay: as much recent output as it keeps, so
                # less than the whole flood and more than what came after the fall behind.
                assert replay // 2 < after < flood, after
                # It did fall behind: far from all of the flood came before the resync.
                assert before < flood - replay, before
                wait_viewers(server, 2)  # it stays
            finally:
                raw.close()
                in_box(box, f"rm -f {go}")


def test_with_shared_writers_a_viewer_types_too(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60", "--shared-writers") as server:
        writer = browser.new_page()
        open_terminal(writer, server.url("/"))
        context, viewer = open_viewer(browser, share_link(writer))
        try:
            assert "read-only" not in viewer.title()
            wait_screen(viewer, lambda t: "# " in t, "no prompt in the viewer")
            type_line(viewer, "echo from-the-vie''wer")
            wait_screen(writer, has_line("from-the-viewer"), "the viewer's typing did not land")
            wait_screen(viewer, has_line("from-the-viewer"), "the viewer does not see it")
        finally:
            context.close()
            writer.close()


def test_the_index_counts_the_viewers(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--linger", "60") as server:
        writer = browser.new_page()
        open_terminal(writer, server.url(f"/t/{box}"))
        link = share_link(writer)
        assert f"/t/{box}?view=" in link
        context, viewer = open_viewer(browser, link)
        try:
            wait_screen(viewer, lambda t: "# " in t, "no prompt in the viewer")
            index = browser.new_page()
            index.goto(server.url("/"))
            index.wait_for_function(
                "() => { const c = document.querySelector('td.viewers');"
                " return c !== null && c.textContent === '2'; }"
            )
            context.close()  # the viewer goes: one left
            index.wait_for_function(
                "() => { const c = document.querySelector('td.viewers');"
                " return c !== null && c.textContent === '1'; }",
                timeout=20_000,
            )
            index.close()
        finally:
            context.close()
            writer.close()


def test_the_share_link_is_copied_and_typing_goes_back(browser: Any, box: str) -> None:  # noqa: F811
    with web_server("--exec", box, "--linger", "60") as server:
        context = browser.new_context()
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
        try:
            page = context.new_page()
            open_terminal(page, server.url("/"))
            page.click("#share")
            # Nothing but the click: the focus is back in the terminal once the link is copied.
            page.wait_for_function(
                "() => document.activeElement.classList.contains('xterm-helper-textarea')"
            )
            link = page.input_value("#share-link")
            assert page.evaluate("() => navigator.clipboard.readText()") == link
            type_line(page, "echo ty''ped-after-share")
            wait_screen(page, has_line("typed-after-share"), "the typing did not reach the shell")
        finally:
            context.close()
