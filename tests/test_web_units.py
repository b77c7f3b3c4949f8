"""The parts of `threadpty web` that need no engine: auth, the protocol's messages, settings."""

from __future__ import annotations

import pytest

pytest.importorskip("websockets")

from threadpty.web._auth import COOKIE, Auth, host_name, is_loopback  # noqa: E402
from threadpty.web._engines import EngineConfigError, parse_engines  # noqa: E402
from threadpty.web._protocol import ProtocolError, parse_control  # noqa: E402
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
    assert auth.allows("/?token=s3cret", {})
    assert auth.allows("/", {"Authorization": "Bearer s3cret"})
    assert auth.allows("/", {"Cookie": f"a=b; {COOKIE}=s3cret"})
    assert not auth.allows("/", {})
    assert not auth.allows("/?token=s3cre", {})
    assert not auth.allows("/", {"Cookie": f"{COOKIE}=nope"})
    assert not auth.allows("/", {"Authorization": "Basic s3cret"})
    assert auth.origin_ok({"Host": "127.0.0.1:8022"})  # a program: no Origin
    assert auth.origin_ok({"Host": "127.0.0.1:8022", "Origin": "http://127.0.0.1:8022"})
    assert not auth.origin_ok({"Host": "127.0.0.1:8022", "Origin": "http://127.0.0.1:8023"})
    assert not auth.origin_ok({"Host": "127.0.0.1:8022", "Origin": "null"})
    assert not auth.origin_ok({"Host": "", "Origin": "http://"})


def test_no_token_means_loopback_host_only() -> None:
    auth = Auth("")
    assert auth.allows("/", {"Host": "127.0.0.1:8022"})
    assert auth.allows("/", {"Host": "localhost:8022"})
    assert not auth.allows("/", {"Host": "evil.example:8022"})


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
    ],
)
def test_bad_control_messages(text: str, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        parse_control(text)


def test_good_control_messages() -> None:
    assert parse_control('{"type":"start","rows":30,"cols":100}')["size"] == (30, 100)
    assert parse_control('{"type":"pause"}')["type"] == "pause"


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
    Config(host="0.0.0.0", token="t").check()
    Config(host="127.0.0.1", token="").check()
