"""200 browser tabs at once from one `threadpty web` process on this 2-core machine.

Each tab is a WebSocket client with its own exec; each types a line of its own and must read its
own echo back (no crossed wires, nothing lost). The server's RSS per session is reported
(RSS with all of them open, less RSS before, over the number of sessions); its threads and memory
must come back down when they close.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, List

import pytest

from webrig import Reader, shells, start, web_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

SESSIONS = int(os.environ.get("THREADPTY_WEB_SCALE", "200"))
KiB, MiB = 1024, 1 << 20
RESULTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "build", "web"
)


def test_200_sessions_each_read_their_own_echo(box: str) -> None:
    with web_server("--exec", box, "--max-sessions", str(SESSIONS + 10)) as server:
        # One session first, so the baseline has the server's one-off costs (first exec, imports).
        with server.ws() as ws:
            r = Reader(ws)
            start(ws)
            ws.send(b"exit 0\n")
            assert r.control()["type"] == "exit"
        rss_before, threads_before = server.rss(), server.threads()
        tabs: List[Any] = []

        def open_tab(i: int) -> Any:
            ws = server.ws()
            start(ws, 24, 80)
            Reader(ws).until(rb"# ", timeout=120)
            return ws

        t0 = time.monotonic()
        try:
            with ThreadPoolExecutor(16) as pool:
                tabs = list(pool.map(open_tab, range(SESSIONS)))
            opened = time.monotonic() - t0

            def echo(i: int) -> bool:
                ws = tabs[i]
                r = Reader(ws)
                ws.send(b"echo tab-%d-$((%d*7))\n" % (i, i))
                got = r.until(rb"tab-%d-%d\r\n" % (i, i * 7), timeout=120)
                return b"tab-" not in got.replace(b"tab-%d-" % i, b"")

            with ThreadPoolExecutor(32) as pool:
                assert all(pool.map(echo, range(SESSIONS)))
            rss_open, threads_open = server.rss(), server.threads()
            assert threads_open - threads_before >= SESSIONS  # they really are all open
        finally:
            for ws in tabs:
                ws.close()
        per_session = (rss_open - rss_before) / SESSIONS
        deadline = time.monotonic() + 60
        while server.threads() > threads_before + 2:
            assert time.monotonic() < deadline, f"threads left: {server.threads()}"
            time.sleep(0.2)
        rss_closed = server.rss()
        # Ctrl-C with 50 tabs open: every session ends, every exec's shell is hung up.
        tabs = []
        with ThreadPoolExecutor(16) as pool:
            tabs = list(pool.map(open_tab, range(50)))
        t1 = time.monotonic()
        status, _ = server.stop(timeout=120)
        stopped = time.monotonic() - t1
        assert status == 0
        for ws in tabs:
            ws.close()
        deadline = time.monotonic() + 60
        while shells(box):
            assert time.monotonic() < deadline, f"{shells(box)} shells outlived the server"
            time.sleep(0.2)
        report = {
            "sessions": SESSIONS,
            "rss_before_mib": round(rss_before / MiB, 1),
            "rss_open_mib": round(rss_open / MiB, 1),
            "rss_per_session_kib": round(per_session / KiB),
            "threads_per_session": round((threads_open - threads_before) / SESSIONS, 2),
            "seconds_to_open_all": round(opened, 1),
            "rss_after_close_mib": round(rss_closed / MiB, 1),
            "seconds_to_stop_with_50_open": round(stopped, 1),
        }
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "scale.json"), "w") as f:
            json.dump(report, f, indent=1)
        print(f"\nscale: {json.dumps(report)}")
        # A few hundred KiB each is the design (threads' touched stacks, buffers); 2 MiB is a leak.
        assert per_session < 2 * MiB
