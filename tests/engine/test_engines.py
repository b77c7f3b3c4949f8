"""What differs between engines, met where it matters: Docker 20.10 and 26, and Podman 4.3.

Each test runs against the engine DOCKER_HOST names (``make test-engines`` runs this file on each
extra engine). Where an engine behaves in its own way the test says which and why with a marker
(see ``_engine_markers`` in conftest.py).
"""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any, Callable

import pytest

import threadpty
from threadpty import _docker

from conftest import engine_kind

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_engine_is_identified(client: Any) -> None:
    """Engine name and version from /version, as `docker version` shows them."""
    found = _docker.engine(client)
    server = client.version()
    assert found.name in ("Docker Engine", "Podman Engine")
    assert found.version == server["Version"]
    assert found.api_version == client.api_version
    assert _docker.engine(client) is found  # asked once per client


def test_version_command_names_the_engine(client: Any) -> None:
    found = _docker.engine(client)
    out = subprocess.run(
        [sys.executable, "-m", "threadpty", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.startswith(f"threadpty {threadpty.__version__}\n"), out
    assert f"{found.name} {found.version} (API {found.api_version})" in out, out


def test_start_exec_of_a_created_exec(client: Any, running: str) -> None:
    """An exec made with exec_create and not started is startable: Podman answers ExitCode 0
    (not null) for it, which is no sign of having run."""
    exec_id = client.exec_create(running, ["echo", "made-first"], stdin=False, tty=False)
    out = io.BytesIO()
    code = threadpty.Session.start_exec(client, exec_id, interactive=False, stdout=out).start()
    assert (code.join(timeout=30), out.getvalue()) == (0, b"made-first\n")
    # The dockerpty names take the same path.
    exec_id = client.exec_create(running, ["sh", "-c", "exit 3"], stdin=False, tty=False)
    assert threadpty.start_exec(client, exec_id, interactive=False) == 3


def test_started_exec_is_refused(client: Any, running: str) -> None:
    """Docker's inspect tells a used exec (it keeps its Pid): refused before anything is sent.
    Podman's shows one that exited 0 as it shows a new one (ExitCode 0, Pid 0), so there the
    engine refuses it at the start."""
    import docker.errors

    exec_id = client.exec_create(running, ["true"], stdin=False, tty=False)
    assert threadpty.start_exec(client, exec_id, interactive=False) == 0
    if engine_kind(client) == "docker":
        with pytest.raises(threadpty.ThreadptyError, match="already been started"):
            threadpty.Session.start_exec(client, exec_id, interactive=False)
    else:
        with pytest.raises(docker.errors.APIError, match="can only start created exec"):
            threadpty.Session.start_exec(client, exec_id, interactive=False).start()
    exec_id = client.exec_create(running, ["sh", "-c", "exit 4"], stdin=False, tty=False)
    assert threadpty.start_exec(client, exec_id, interactive=False) == 4
    with pytest.raises(threadpty.ThreadptyError, match="already been started"):
        threadpty.Session.start_exec(client, exec_id, interactive=False)


@pytest.mark.parametrize(
    "stdin_once",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.engine_only(
                "podman",
                reason="Docker ends the output, not the input, on a half-close without "
                "StdinOnce (moby#38457): there the end of a piped input cannot reach the "
                "container, so the session stops sending instead",
            ),
        ),
    ],
)
def test_piped_stdin_ends_the_input(
    client: Any, make_container: Callable, stdin_once: bool
) -> None:
    """The end of a piped stdin reaches a non-TTY container as end of file. Podman reports
    StdinOnce false whatever the container was made with, yet passes a half-close on as end of
    input, so there it is sent either way."""
    # The SDK sets StdinOnce for a container made to be attached to, not for a detached one.
    cid = make_container(["wc", "-c"], stdin_open=True, detach=not stdin_once)
    assert client.inspect_container(cid)["Config"]["StdinOnce"] is (
        stdin_once and engine_kind(client) == "docker"
    )
    with threadpty.Session.run(client, cid, stdin=threadpty.PIPE, stdout=threadpty.PIPE) as s:
        out, _ = s.communicate(b"hello", timeout=30)
    assert (s.exit_code, out.strip()) == (0, b"5")


@pytest.mark.engine_only("podman", reason="Podman's log replay bug, named in the error")
def test_podman_log_replay_error_names_the_bug(client: Any, make_container: Callable) -> None:
    cid = make_container(["sh", "-c", "echo before; cat"], stdin_open=True)
    client.start(cid)
    for _ in client.logs(cid, stream=True, follow=True):
        break
    s = threadpty.Session.run(
        client, cid, stdin=io.BytesIO(b"live\n"), logs=True, stdout=io.BytesIO()
    )
    with pytest.raises(threadpty.ProtocolError, match="bug of Podman") as info:
        s.start().join(timeout=30)
    assert "Podman Engine 4." in str(info.value)
    assert "Attach without logs=True" in str(info.value)


@pytest.mark.api_at_least("1.42", reason="ConsoleSize at exec start came with API 1.42")
def test_exec_has_its_size_from_the_first_byte(client: Any, running: str) -> None:
    """`stty size` as the command itself: it runs before any resize could reach it, so only a
    size given with the start answers right."""
    out = io.BytesIO()
    s = threadpty.Session.exec(
        client, running, ["stty", "size"], tty=True, interactive=False, stdout=out, size=(33, 99)
    )
    assert s.start().join(timeout=30) == 0
    assert out.getvalue().strip() == b"33 99"
    assert s._resizer is not None and s._resizer.calls == 0  # nothing left to resize


def test_api_141_client_still_sizes_an_exec(running: str) -> None:
    """A client pinned to API 1.41 (no ConsoleSize) gets its size by resizing once the process
    runs, on every engine: the program's input waits for it."""
    import docker

    pinned = docker.APIClient(**docker.utils.kwargs_from_env(), version="1.41")
    with threadpty.Session.exec(
        pinned,
        running,
        ["sh"],
        tty=True,
        stdin=threadpty.PIPE,
        stdout=threadpty.PIPE,
        size=(21, 77),
    ) as s:
        out, _ = s.communicate(b"stty size; exit\n", timeout=30)
    assert b"21 77" in out, out
    assert engine_kind(pinned) in ("docker", "podman")
