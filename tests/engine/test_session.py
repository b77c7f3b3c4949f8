"""Sessions with streams that are Python objects, against the real engine (no terminal involved)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from typing import Any, Callable

import pytest

import threadpty

from conftest import docker_cli

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_thread_left")]


def run(client: Any, cid: str, **kwargs: Any) -> tuple:
    out, err = kwargs.pop("stdout", io.BytesIO()), kwargs.pop("stderr", io.BytesIO())
    code = threadpty.Session.run(client, cid, stdout=out, stderr=err, **kwargs).start().join()
    return code, out, err


@pytest.mark.smoke
def test_run_exit_status_and_streams_apart(client: Any, make_container: Callable) -> None:
    cid = make_container(["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"])
    code, out, err = run(client, cid, interactive=False)
    assert code == 3
    assert out.getvalue() == b"out1\nout2\n"
    assert err.getvalue() == b"err1\n"


@pytest.mark.smoke
def test_exec_exit_status_and_streams_apart(client: Any, running: str) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    with threadpty.Session.exec(
        client,
        running,
        ["sh", "-c", "echo o; echo e >&2; exit 4"],
        stdout=out,
        stderr=err,
        interactive=False,
    ) as s:
        assert s.join() == 4
    assert (out.getvalue(), err.getvalue(), s.exit_code) == (b"o\n", b"e\n", 4)


def test_streams_apart_into_files(client: Any, make_container: Callable, tmp_path: Any) -> None:
    script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"
    cid = make_container(["sh", "-c", script])
    with open(tmp_path / "o", "wb") as o, open(tmp_path / "e", "w") as e:
        assert threadpty.start(client, cid, interactive=False, stdout=o, stderr=e) == 0
    assert (tmp_path / "o").read_text() == "".join(f"out{i}\n" for i in range(1, 6))
    assert (tmp_path / "e").read_text() == "".join(f"err{i}\n" for i in range(1, 6))


def test_exit_zero_for_true_run_and_exec(
    client: Any, make_container: Callable, running: str
) -> None:
    assert run(client, make_container("true"), interactive=False)[0] == 0
    assert threadpty.exec_command(client, running, "true", interactive=False) == 0


def test_stdin_eof_half_closes(client: Any, make_container: Callable) -> None:
    cid = make_container("wc -c", stdin_open=True)
    payload = os.urandom(5 * 1024 * 1024)
    code, out, _ = run(client, cid, stdin=io.BytesIO(payload))
    assert code == 0
    assert out.getvalue().strip() == b"5242880"


def test_stdin_eof_from_a_pipe(client: Any, running: str) -> None:
    r, w = os.pipe()
    payload = b"z" * (5 * 1024 * 1024)

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(payload)

    feeder = threading.Thread(target=feed)
    feeder.start()
    out = io.BytesIO()
    with os.fdopen(r, "rb") as rf:
        s = threadpty.Session.exec(client, running, "wc -c", stdin=rf, stdout=out, tty=False)
        assert s.start().join() == 0
    feeder.join()
    assert out.getvalue().strip() == b"5242880"


def test_integrity_16mib_out_and_in(client: Any, make_container: Callable, running: str) -> None:
    blob = os.urandom(16 * 1024 * 1024)
    digest = hashlib.sha256(blob).hexdigest()
    # In: through stdin into sha256sum.
    out = io.BytesIO()
    s = threadpty.Session.exec(client, running, "sha256sum", stdin=io.BytesIO(blob), stdout=out)
    assert s.start().join() == 0
    assert out.getvalue().split()[0].decode() == digest
    # Out: the same bytes back out of the container, through the frame demultiplexer.
    s = threadpty.Session.exec(
        client, running, "sh -c 'cat > /tmp/blob'", stdin=io.BytesIO(blob), stdout=io.BytesIO()
    )
    assert s.start().join() == 0
    out = io.BytesIO()
    cid = running
    code = (
        threadpty.Session.exec(client, cid, "cat /tmp/blob", stdout=out, interactive=False)
        .start()
        .join()
    )
    assert code == 0 and hashlib.sha256(out.getvalue()).hexdigest() == digest


def test_text_output_split_multibyte(client: Any, running: str) -> None:
    # printf writes in pieces, so the engine frames the characters apart.
    script = "printf '\\303'; sleep 0.05; printf '\\251\\342\\202'; sleep 0.05; printf '\\254\\n'"
    out = io.StringIO()
    s = threadpty.Session.exec(
        client, running, ["sh", "-c", script], stdout=out, tty=False, interactive=False
    )
    assert s.start().join() == 0
    assert out.getvalue() == "é€\n"


@pytest.mark.parametrize("newline", [None, "", "\n", "\r", "\r\n"])
def test_text_file_output_gets_its_newline_translation(
    client: Any, running: str, tmp_path: Any, newline: Any
) -> None:
    # What a text file opened with newline="\r\n" is given as text, print() included, ends its
    # lines so: the container's output too.
    paths = tmp_path / "out", tmp_path / "err"
    opened = [open(p, "w", encoding="utf-8", newline=newline) for p in paths]
    with opened[0] as out, opened[1] as err:
        out.write("before\n")
        s = threadpty.Session.exec(
            client,
            running,
            ["sh", "-c", "printf 'one\\ntw\\303\\251\\n'; printf 'e\\nr\\n' >&2"],
            interactive=False,
            stdout=out,
            stderr=err,
        )
        assert s.start().join() == 0
    ending = {None: os.linesep, "": "\n"}.get(newline, newline)
    assert paths[0].read_bytes() == "before\none\ntwé\n".replace("\n", ending).encode()
    assert paths[1].read_bytes() == "e\nr\n".replace("\n", ending).encode()


@pytest.mark.smoke
def test_first_output_of_short_container_not_lost(client: Any, make_container: Callable) -> None:
    for _ in range(5):
        cid = make_container(["echo", "first"])
        assert run(client, cid, interactive=False)[1].getvalue() == b"first\n"


def test_logging_driver_none(client: Any, make_container: Callable) -> None:
    cid = make_container(["echo", "nolog"], log_driver="none")
    assert run(client, cid, interactive=False, logs=True)[1].getvalue() == b"nolog\n"


@pytest.mark.engine_bug(
    "podman",
    reason="with logs=True the replayed frames' headers count one byte fewer than they carry",
)
def test_logs_replay(client: Any, make_container: Callable) -> None:
    cid = make_container(["sh", "-c", "echo before; cat"], stdin_open=True)
    client.start(cid)
    # Wait for the first line to be in the log: an event, not a sleep.
    for _ in client.logs(cid, stream=True, follow=True):
        break
    code, out, _ = run(client, cid, stdin=io.BytesIO(b"live\n"), logs=True)
    assert code == 0
    assert out.getvalue() == b"before\nlive\n"


def test_container_without_stdin_ignores_default_input(
    client: Any, make_container: Callable
) -> None:
    cid = make_container(["sh", "-c", "echo alone"])
    s = threadpty.Session.run(client, cid, stdout=io.BytesIO())
    assert not s.takes_input
    assert s.start().join() == 0


def test_explicit_input_to_container_without_stdin_is_an_error(
    client: Any, make_container: Callable
) -> None:
    cid = make_container("true")
    with pytest.raises(threadpty.ThreadptyError, match="stdin"):
        threadpty.Session.run(client, cid, stdin=io.BytesIO(b"x"))


def test_docker_kill_gives_137(client: Any, make_container: Callable) -> None:
    cid = make_container(["sh", "-c", "echo ready; exec sleep 60"])
    out = io.BytesIO()
    s = threadpty.Session.run(client, cid, stdout=out, interactive=False).start()
    while b"ready" not in out.getvalue():
        assert s.join(timeout=0.05) is None and s.running
    docker_cli("kill", cid)
    assert s.join(timeout=30) == 137


def test_unknown_container_fails_before_anything(client: Any) -> None:
    import docker.errors

    with pytest.raises(docker.errors.NotFound):
        threadpty.Session.run(client, "threadpty-no-such-container")


def test_accepts_docker_client_and_container_model(make_container: Callable) -> None:
    import docker

    dc = docker.from_env(version="auto")
    cid = make_container(["echo", "model"])
    out = io.BytesIO()
    assert threadpty.start(dc, dc.containers.get(cid), interactive=False, stdout=out) == 0
    assert out.getvalue() == b"model\n"
    assert threadpty.start(dc, {"Id": cid}, interactive=False, stdout=io.BytesIO()) == 0


def test_detach_with_custom_keys_run(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    s = threadpty.Session.run(
        client,
        cid,
        stdin=io.BytesIO(b"echo one\r\x18x"),
        stdout=io.BytesIO(),
        detach_keys="ctrl-x,x",
    )
    assert s.start().join() is None
    assert s.detached and s.exit_code is None
    assert client.inspect_container(cid)["State"]["Running"]


def test_detach_default_keys_exec(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client,
        running,
        "sh",
        stdin=io.BytesIO(b"echo hi\r\x10\x11"),
        stdout=io.BytesIO(),
        tty=True,
    )
    assert s.start().join() is None and s.detached


def test_invalid_detach_keys_start_nothing(client: Any, running: str) -> None:
    before = client.inspect_container(running)["ExecIDs"]
    with pytest.raises(ValueError, match="ctrl-1"):
        threadpty.Session.exec(client, running, "sh", detach_keys="ctrl-1")
    assert client.inspect_container(running)["ExecIDs"] == before


@pytest.mark.engine_bug(
    "podman",
    reason="an exec that exited 0 inspects as a new one (ExitCode 0, Pid 0), so it cannot be "
    "refused before its start; the engine refuses it then (test_engines.py checks that)",
)
def test_exec_already_started_is_an_error(client: Any, running: str) -> None:
    exec_id = threadpty.exec_create(client, running, "true", interactive=False)
    assert threadpty.start_exec(client, exec_id, interactive=False, stdout=io.BytesIO()) == 0
    with pytest.raises(threadpty.ThreadptyError, match="already been started"):
        threadpty.start_exec(client, exec_id, interactive=False)


def test_many_sessions_at_once(client: Any, running: str) -> None:
    results: dict = {}

    def one(i: int) -> None:
        out = io.BytesIO()
        code = (
            threadpty.Session.exec(
                client,
                running,
                ["sh", "-c", f"head -c {100000 + i} /dev/zero; exit {i % 7}"],
                stdout=out,
                interactive=False,
            )
            .start()
            .join()
        )
        results[i] = (code, len(out.getvalue()))

    workers = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert results == {i: (i % 7, 100000 + i) for i in range(20)}


def test_tty_container_with_piped_stdin(client: Any, make_container: Callable) -> None:
    """Like the CLI: a TTY with a stdin that is not a terminal still gets the input, no raw mode."""
    cid = make_container(
        ["sh", "-c", "read line; echo got-$line; exit 4"], stdin_open=True, tty=True
    )
    r, w = os.pipe()
    os.write(w, b"piped-5\r")
    os.close(w)
    out = io.BytesIO()
    with os.fdopen(r, "rb") as rf:
        s = threadpty.Session.run(client, cid, stdin=rf, stdout=out)
        assert not s.terminal.raw
        assert s.start().join() == 4
    assert b"got-piped-5" in out.getvalue()


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("stdin_once", [False, True])
def test_output_after_end_of_input_is_kept(client: Any, tty: bool, stdin_once: bool) -> None:
    """The engine ends the output when input ends, unless it can end the container's stdin
    instead (no TTY and StdinOnce): the session must not half-close in those cases."""
    from conftest import IMAGE, LABEL, RUN_ID

    config = client.create_container_config(
        IMAGE,
        ["sh", "-c", "read x; sleep 0.3; echo after-$x; exit 3"],
        stdin_open=True,
        tty=tty,
        labels={LABEL: RUN_ID},
        host_config=client.create_host_config(network_mode="none"),
    )
    config["StdinOnce"] = stdin_once  # docker-py always sets it with stdin_open
    cid = client.create_container_from_config(config)["Id"]
    try:
        out = io.BytesIO()
        session = threadpty.Session.run(client, cid, stdin=io.BytesIO(b"line\n"), stdout=out)
        assert session.start().join() == 3
        assert b"after-line" in out.getvalue()
    finally:
        client.remove_container(cid, force=True)


def test_exec_streams_apart_into_files(client: Any, running: str, tmp_path: Any) -> None:
    script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"
    with open(tmp_path / "o", "wb") as o, open(tmp_path / "e", "w") as e:
        s = threadpty.Session.exec(
            client, running, ["sh", "-c", script], stdout=o, stderr=e, interactive=False
        )
        assert s.start().join() == 0
    assert (tmp_path / "o").read_text() == "".join(f"out{i}\n" for i in range(1, 6))
    assert (tmp_path / "e").read_text() == "".join(f"err{i}\n" for i in range(1, 6))


def test_integrity_16mib_through_a_run(client: Any, make_container: Callable) -> None:
    """In through stdin and back out of a non-TTY container, byte for byte."""
    blob = os.urandom(16 * 1024 * 1024)
    cid = make_container("cat", stdin_open=True)
    code, out, err = run(client, cid, stdin=io.BytesIO(blob))
    assert code == 0 and err.getvalue() == b""
    assert hashlib.sha256(out.getvalue()).hexdigest() == hashlib.sha256(blob).hexdigest()


def test_run_from_a_pipe_half_closes(client: Any, make_container: Callable) -> None:
    r, w = os.pipe()

    def feed() -> None:
        os.write(w, b"q" * 5242880)
        os.close(w)

    feeder = threading.Thread(target=feed)
    feeder.start()
    cid = make_container("wc -c", stdin_open=True)
    with os.fdopen(r, "rb") as rf:
        code, out, _ = run(client, cid, stdin=rf)
    feeder.join()
    assert (code, out.getvalue().strip()) == (0, b"5242880")


def test_detach_with_custom_keys_exec(client: Any, running: str) -> None:
    s = threadpty.Session.exec(
        client,
        running,
        "sh",
        stdin=io.BytesIO(b"echo hi\r\x01d"),
        stdout=io.BytesIO(),
        tty=True,
        detach_keys="ctrl-a,d",
    )
    assert s.start().join() is None and s.detached


def test_invalid_detach_keys_on_run_start_nothing(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True)
    with pytest.raises(ValueError, match="ctrl-é"):
        threadpty.Session.run(client, cid, detach_keys="ctrl-p,ctrl-é")
    assert client.inspect_container(cid)["State"]["Status"] == "created"
