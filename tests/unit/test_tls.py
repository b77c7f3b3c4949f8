"""`threadpty web --certfile/--keyfile` without an engine: the settings refused before listening,
and TLS itself on a server in this process that serves no engine (its /api calls still need the
token)."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from typing import Any, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("websockets")
pytest.importorskip("cryptography")

from threadpty.web import cli  # noqa: E402
from threadpty.web._engines import Engines  # noqa: E402
from threadpty.web._server import Config, ConfigError, WebServer  # noqa: E402
from threadpty.web._tls import TLSStream, server_context  # noqa: E402

from webrig import self_signed  # noqa: E402

TOKEN = "tls-test-token"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cert(tmp_path: Any) -> Tuple[str, str]:
    certfile, keyfile, _ = self_signed(str(tmp_path))
    return certfile, keyfile


def _config_error(**kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        Config(token=TOKEN, **kwargs).check()
    return str(info.value)


def test_bad_certificates_and_keys_are_refused_clearly(tmp_path: Any, cert: Any) -> None:
    certfile, keyfile = cert
    other = tmp_path / "other"
    other.mkdir()
    _, other_key, _ = self_signed(str(other))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a PEM file\n")
    locked = tmp_path / "locked.pem"
    from cryptography.hazmat.primitives import serialization

    with open(keyfile, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    missing = str(tmp_path / "missing.pem")

    assert (
        _config_error(certfile=missing, keyfile=keyfile) == f"--certfile: no such file: {missing}"
    )
    assert (
        _config_error(certfile=certfile, keyfile=missing) == f"--keyfile: no such file: {missing}"
    )
    assert _config_error(keyfile=keyfile) == "--keyfile needs --certfile"
    assert "--certfile: no PEM certificate" in _config_error(certfile=str(junk), keyfile=keyfile)
    assert "--certfile: no PEM certificate" in _config_error(certfile=keyfile, keyfile=keyfile)
    assert "--keyfile: no usable PEM private key" in _config_error(
        certfile=certfile, keyfile=str(junk)
    )
    assert "--keyfile: the key does not match" in _config_error(
        certfile=certfile, keyfile=other_key
    )
    assert "--certfile: no usable PEM private key" in _config_error(certfile=certfile)
    # Never a prompt on the terminal for the passphrase: a service manager has none.
    assert "protected by a passphrase" in _config_error(certfile=certfile, keyfile=str(locked))


def test_key_in_the_certificates_file(tmp_path: Any, cert: Any) -> None:
    certfile, keyfile = cert
    both = tmp_path / "both.pem"
    with open(certfile) as c, open(keyfile) as k:
        both.write_text(c.read() + k.read())
    Config(token=TOKEN, certfile=str(both)).check()


def test_cli_refuses_before_listening(tmp_path: Any, capsys: Any) -> None:
    missing = str(tmp_path / "missing.pem")
    assert cli.main(["--port", "0", "--certfile", missing]) == cli.EXIT_CONFIG
    assert f"--certfile: no such file: {missing}" in capsys.readouterr().err


def test_at_least_tls_1_2(cert: Any) -> None:
    context = server_context(*cert)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


@contextlib.contextmanager
def tls_server(cert: Tuple[str, str], **kwargs: Any) -> Iterator[WebServer]:
    config = Config(port=0, token=TOKEN, certfile=cert[0], keyfile=cert[1], **kwargs)
    server = WebServer(config, Engines({})).start()
    thread = threading.Thread(target=server.serve_forever, name="test-tls-serve")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(30)
        assert not thread.is_alive()


def _client_context(version: Optional[ssl.TLSVersion] = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if version is not None:
        context.minimum_version = context.maximum_version = version
    return context


REQUEST = (
    b"GET /api/containers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n"
)


def _answer(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_url_is_https_and_answers(cert: Any) -> None:
    with tls_server(cert) as server:
        assert server.url.startswith(f"https://127.0.0.1:{server.port}/#token=")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            with _client_context().wrap_socket(raw) as tls:
                assert tls.version() == "TLSv1.3"
                tls.sendall(REQUEST)
                assert _answer(tls).startswith(b"HTTP/1.1 200 ")


def test_request_right_behind_the_handshake(cert: Any) -> None:
    """A TLS 1.3 client may send its request in the same segment as its handshake's last
    message: it is answered at once, not when (if ever) more bytes come."""
    with tls_server(cert, handshake_timeout=20.0) as server:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = _client_context(ssl.TLSVersion.TLSv1_3).wrap_bio(incoming, outgoing)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            while True:
                try:
                    client.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    incoming.write(raw.recv(65536))
            client.write(REQUEST)
            raw.sendall(outgoing.read())  # the client's Finished and the request, together
            raw.settimeout(5)  # far less than the handshake's timeout
            answer = b""
            while b"\r\n\r\n" not in answer:
                try:
                    answer += client.read(4096)
                except ssl.SSLWantReadError:
                    data = raw.recv(65536)
                    assert data, "closed without an answer"
                    incoming.write(data)
            assert answer.startswith(b"HTTP/1.1 200 ")


def test_many_clients_at_once(cert: Any) -> None:
    """10 clients, 100 rounds each of a new connection, its handshake and a token-bearing GET:
    none may stall (each round is given 10 s, the whole a budget far below)."""
    rounds, clients = 100, 10
    slow: List[float] = []
    failures: List[BaseException] = []
    with tls_server(cert, max_pending=64) as server:
        context = _client_context()

        def client() -> None:
            try:
                for _ in range(rounds):
                    began = time.monotonic()
                    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                        with context.wrap_socket(raw) as tls:
                            tls.sendall(REQUEST)
                            assert _answer(tls).startswith(b"HTTP/1.1 200 ")
                    took = time.monotonic() - began
                    if took > 2.0:
                        slow.append(took)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        began = time.monotonic()
        threads = [
            threading.Thread(target=client, name=f"test-tls-client-{i}") for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(50)
        took = time.monotonic() - began
    assert not failures, failures[:3]
    assert not slow, f"{len(slow)} rounds took more than 2 s: {sorted(slow)[-5:]}"
    logging.getLogger(__name__).info("%d TLS rounds in %.1f s", rounds * clients, took)


def test_silent_client_is_cut_and_delays_nobody(cert: Any) -> None:
    with tls_server(cert, handshake_timeout=1.0) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
            began = time.monotonic()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                with _client_context().wrap_socket(raw) as tls:
                    tls.sendall(REQUEST)
                    assert _answer(tls).startswith(b"HTTP/1.1 200 ")
            assert time.monotonic() - began < 0.9
            assert silent.recv(1) == b"", "the silent client was not cut"
            assert time.monotonic() - began < 5


def test_plain_http_gets_no_http_answer(cert: Any) -> None:
    with tls_server(cert) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert b"HTTP/" not in data


def test_tls_1_1_refused(cert: Any) -> None:
    with tls_server(cert) as server:
        context = _client_context()
        with pytest.warns(DeprecationWarning):
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            with pytest.raises(ssl.SSLError):
                context.wrap_socket(raw)


def test_warning_without_tls_off_loopback(caplog: Any, cert: Any) -> None:
    server = WebServer(Config(host="0.0.0.0", port=0, token=TOKEN), Engines({}))
    with caplog.at_level(logging.WARNING, logger="threadpty.web"):
        server.start()
    server.shutdown()
    assert any("without TLS" in r.getMessage() for r in caplog.records)
    caplog.clear()
    config = Config(host="0.0.0.0", port=0, token=TOKEN, certfile=cert[0], keyfile=cert[1])
    server = WebServer(config, Engines({}))
    with caplog.at_level(logging.WARNING, logger="threadpty.web"):
        server.start()
    try:
        assert server.url.startswith("https://")
    finally:
        server.shutdown()
    assert not caplog.records


def test_send_that_must_not_wait_keeps_the_order(cert: Any) -> None:
    """The watch thread's ping (``MSG_DONTWAIT``) into a socket the peer does not read: taken
    whole or not at all, and what the socket could not take goes first on the next send."""
    left, right = socket.socketpair()
    with left, right:
        for s in (left, right):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stream = TLSStream(left, server_context(*cert))
        peer: List[ssl.SSLSocket] = []
        handshake = threading.Thread(
            target=lambda: peer.append(_client_context().wrap_socket(right)),
            name="test-tls-peer",
        )
        handshake.start()
        stream.handshake(time.monotonic() + 10)
        left.settimeout(None)  # as the server has it past the handshake
        handshake.join(10)
        client = peer[0]
        taken = bytearray()
        n = 0
        while True:
            message = b"%08d" % n * 64
            sent = stream.send(message, socket.MSG_DONTWAIT)
            if sent == 0:
                break
            assert sent == len(message)
            taken += message
            n += 1
        assert n > 0 and len(taken) < 4 << 20
        more = b"after" * 1000
        reader = threading.Thread(
            target=lambda: received.extend(_read_exactly(client, len(taken) + len(more))),
            name="test-tls-reader",
        )
        received = bytearray()
        reader.start()
        stream.sendall(more)
        reader.join(10)
        assert bytes(received) == bytes(taken) + more


def _read_exactly(tls: ssl.SSLSocket, size: int) -> bytes:
    tls.settimeout(10)
    data = bytearray()
    while len(data) < size:
        chunk = tls.recv(size - len(data))
        assert chunk
        data += chunk
    return bytes(data)
