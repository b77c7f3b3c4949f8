"""The parts of `threadpty web` that need no engine: auth, the protocol's messages, settings."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("websockets")

from websockets.datastructures import Headers  # noqa: E402

from threadpty.web._auth import (  # noqa: E402
    OLD_COOKIE,
    Auth,
    host_name,
    is_loopback,
    token_protocol,
)
from threadpty.web._engines import EngineConfigError, parse_engines  # noqa: E402
from threadpty.web._protocol import BadMessage, parse_control  # noqa: E402
from threadpty.web._server import Config, ConfigError  # noqa: E402


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("example.invalid", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_host_name() -> None:
    assert host_name("127.0.0.1:8022") == "127.0.0.1"
    assert host_name("[::1]:8022") == "::1"
    assert host_name("localhost") == "localhost"


def test_token_ways_and_origin() -> None:
    auth = Auth("s3cret")
    assert auth.allows({"Authorization": "Bearer s3cret"})
    assert auth.allows(
        Headers([("Sec-WebSocket-Protocol", f"threadpty, {token_protocol('s3cret')}")])
    )
    # Several header lines, as some clients send them.
    offered = [
        ("Sec-WebSocket-Protocol", "threadpty"),
        ("Sec-WebSocket-Protocol", token_protocol("s3cret")),
    ]
    assert auth.allows(Headers(offered))
    assert token_protocol("s3cret") == "threadpty.token.czNjcmV0"
    assert not auth.allows({})
    assert not auth.allows({"Authorization": "Bearer s3cre"})
    assert not auth.allows({"Authorization": "Basic s3cret"})
    assert not auth.allows({"Sec-WebSocket-Protocol": "threadpty.token.!!!"})
    assert auth.token_from({"Sec-WebSocket-Protocol": "threadpty.token.!!!"}) is not None
    assert not auth.allows({"Sec-WebSocket-Protocol": "threadpty"})
    assert auth.token_from({"Sec-WebSocket-Protocol": "threadpty"}) is None
    # The cookie of earlier versions is never a way in: it reached every port of the host.
    assert not auth.allows({"Cookie": f"a=b; {OLD_COOKIE}=s3cret"})
    assert auth.token_from({"Cookie": f"{OLD_COOKIE}=s3cret"}) is None
    assert auth.has_old_cookie({"Cookie": f"a=b; {OLD_COOKIE}=s3cret"})
    assert not auth.has_old_cookie({"Cookie": "a=b; threadpty_token2=x"})
    assert "Max-Age=0" in auth.expire_old_cookie()
    # A header said twice is not taken either way.
    twice = Headers([("Authorization", "Bearer s3cret"), ("Authorization", "Bearer s3cret")])
    assert not auth.allows(twice)
    assert not Auth("").allows(Headers([("Host", "localhost"), ("Host", "localhost")]))
    assert auth.origin_ok({"Host": "127.0.0.1:8022"})  # a program: no Origin
    assert auth.origin_ok({"Host": "127.0.0.1:8022", "Origin": "http://127.0.0.1:8022"})
    assert not auth.origin_ok({"Host": "127.0.0.1:8022", "Origin": "http://127.0.0.1:8023"})
    assert not auth.origin_ok({"Host": "127.0.0.1:8022", "Origin": "null"})
    assert not auth.origin_ok({"Host": "", "Origin": "http://"})


def test_no_token_means_loopback_host_only() -> None:
    auth = Auth("")
    assert auth.allows({"Host": "127.0.0.1:8022"})
    assert auth.allows({"Host": "localhost:8022"})
    assert not auth.allows({"Host": "evil.example:8022"})


@pytest.mark.parametrize(
    "text, error",
    [
        ("nope", "JSON"),
        ("[]", "type"),
        ('{"type":"x"}', "unknown"),
        ('{"type":"start","rows":0,"cols":80}', "rows"),
        ('{"type":"resize","rows":24,"cols":1001}', "cols"),
        ('{"type":"start","rows":true,"cols":80}', "rows"),
        ('{"type":"start","rows":"24","cols":80}', "rows"),
        ('{"type":"start","rows":24,"cols":80,"session":5}', "session"),
        ('{"type":"start","rows":24,"cols":80,"session":""}', "session"),
        (json.dumps({"type": "start", "rows": 24, "cols": 80, "session": "x" * 65}), "session"),
    ],
)
def test_bad_control_messages(text: str, error: str) -> None:
    with pytest.raises(BadMessage, match=error):
        parse_control(text)


def test_good_control_messages() -> None:
    assert parse_control('{"type":"start","rows":30,"cols":100}')["size"] == (30, 100)
    assert parse_control('{"type":"pause"}')["type"] == "pause"
    assert parse_control('{"type":"start","rows":3,"cols":4,"session":null}')["session"] is None
    key = "k" * 32
    start = parse_control(json.dumps({"type": "start", "rows": 3, "cols": 4, "session": key}))
    assert start["session"] == key


def test_engine_specs() -> None:
    assert parse_engines([]) == [("default", None, None)]
    assert parse_engines(["a=unix:///x.sock", "b=tcp://h:2376"], ["b=/certs"]) == [
        ("a", "unix:///x.sock", None),
        ("b", "tcp://h:2376", "/certs"),
    ]
    for specs, certs in (
        (["a"], []),
        (["a=ftp://x"], []),
        (["a=unix:///x", "a=unix:///y"], []),
        (["bad name=unix:///x"], []),
        (["a=unix:///x"], ["b=/c"]),
        ([], ["a=/c"]),
    ):
        with pytest.raises(EngineConfigError):
            parse_engines(specs, certs)


def test_config_refusals() -> None:
    with pytest.raises(ConfigError, match="without a token"):
        Config(host="0.0.0.0", token="").check()
    with pytest.raises(ConfigError):
        Config(exec_container="a", run_image="b").check()
    with pytest.raises(ConfigError):
        Config(max_sessions=0).check()
    with pytest.raises(ConfigError):
        Config(command="'unclosed").check()
    # It goes into a URL, a header and a subprotocol.
    for token in ("with space", "caf\u00e9", "tab\tx"):
        with pytest.raises(ConfigError, match="visible ASCII"):
            Config(token=token).check()
    Config(token="a-Z_0.9~!$&'()*+,;=:@/?").check()
    Config(host="0.0.0.0", token="t").check()
    Config(host="127.0.0.1", token="").check()


def test_linger_and_replay_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="--linger"):
        Config(linger=-1).check()
    with pytest.raises(ConfigError, match="--linger"):
        Config(linger=float("nan")).check()
    with pytest.raises(ConfigError, match="--replay"):
        Config(replay=-1).check()
    Config(linger=0, replay=0).check()


def test_max_pending_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="--max-pending"):
        Config(max_pending=0).check()


def test_owner_gone_only_when_certain() -> None:
    import os
    import socket

    from threadpty.web._owner import _boot_id, _start_time, is_gone, this_process

    me = this_process()
    assert me is not None and not is_gone(me)
    host, boot = socket.gethostname(), _boot_id()
    start = _start_time(os.getpid())
    assert is_gone(f"{host} {boot} {os.getpid()} 1")  # the pid is another process's now
    assert is_gone(f"{host} another-boot {os.getpid()} {start}")  # the host rebooted since
    assert not is_gone(f"elsewhere.example {boot} {os.getpid()} 1")  # another host's
    assert not is_gone("")
    assert not is_gone("three words only")


def test_listener_holds_at_most_max_pending() -> None:
    import socket
    import threading

    from threadpty.web._listener import Listener, Pending

    listener = Listener(socket.create_server(("127.0.0.1", 0)), 2, 30.0)
    port = listener.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        first, _ = listener.accept()
        second, _ = listener.accept()
        assert isinstance(first, Pending) and listener.pending == 2
        third: list = []
        taker = threading.Thread(target=lambda: third.append(listener.accept()[0]))
        taker.start()
        taker.join(0.3)  # a connection already queued is accepted at once when allowed
        assert taker.is_alive() and not third, "a third was taken past the bound"
        first.upgraded()  # a session now: its place is free
        taker.join(10)
        assert third and listener.pending == 2
        second.close()
        assert listener.pending == 1
        third[0].close()
    finally:
        listener.close()
        for c in clients:
            c.close()


def test_listener_cuts_a_connection_that_overstays() -> None:
    import socket

    from threadpty.web._listener import Listener

    listener = Listener(socket.create_server(("127.0.0.1", 0)), 4, 0.3)
    client = socket.create_connection(("127.0.0.1", listener.getsockname()[1]))
    try:
        conn, _ = listener.accept()
        client.settimeout(10)
        assert client.recv(1) == b"", "not cut"  # shut down by the listener's reaper
        conn.close()
        assert listener.pending == 0
    finally:
        listener.close()
        client.close()
