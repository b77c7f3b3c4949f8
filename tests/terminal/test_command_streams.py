"""The `threadpty` command: --rm that outlives it, closed standard streams, stdout into a pipe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from conftest import IMAGE
from ptyharness import PtyChild

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

COMMAND = [sys.executable, "-m", "threadpty"]


def removed_soon(client: Any, name: str) -> None:
    """Waits (the engine's own wait, not a sleep) until the container is gone."""
    import docker.errors

    try:
        client.wait(name, condition="removed", timeout=20)
    except docker.errors.NotFound:
        pass
    assert not client.containers(all=True, filters={"name": name})


# --- --rm is the engine's AutoRemove ---------------------------------------------------


def test_rm_after_kill_9_of_threadpty(client: Any, name: str) -> None:
    proc = subprocess.Popen(
        [*COMMAND, "run", "--rm", "--name", name, "--network", "none", IMAGE]
        + ["sh", "-c", "echo ready; sleep 1"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
    removed_soon(client, name)


def test_rm_after_a_detach(client: Any, name: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from threadpty.cli import main
        sys.exit(main(["run", "-it", "--rm", "--name", {name!r}, "--network", "none", {IMAGE!r}]))
        """
    )
    with PtyChild(code) as p:
        p.expect_exact("# ")
        p.send("\x10\x11")
        p.expect_exact("read escape sequence")
        assert p.wait() == 0
    assert client.inspect_container(name)["State"]["Running"]  # a detach leaves it running
    client.kill(name)
    removed_soon(client, name)


def test_rm_status_of_a_quick_container_is_known(client: Any, name: str) -> None:
    # The wait is in place before the start: however fast it ends and goes, its status is known.
    for _ in range(3):
        proc = subprocess.run(
            [*COMMAND, "run", "--rm", "--name", name, "--network", "none", IMAGE, "sh", "-c"]
            + ["exit 7"],
            capture_output=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 7, proc.stderr
        assert not client.containers(all=True, filters={"name": name})  # gone before we return


# --- closed standard streams -------------------------------------------------------------


@pytest.mark.parametrize("closed", [">&-", "2>&-", ">&- 2>&-"])
def test_closed_output_streams_give_the_exec_status(running: str, closed: str) -> None:
    cmd = " ".join(COMMAND) + f" exec {running} sh -c 'echo out; echo err >&2; exit 3' {closed}"
    proc = subprocess.run(
        ["bash", "-c", cmd + "; echo status=$?"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout.splitlines()[-1] == b"status=3", (proc.stdout, proc.stderr)
    assert b"Traceback" not in proc.stdout + proc.stderr


def test_closed_stdin_is_end_of_input(running: str) -> None:
    cmd = " ".join(COMMAND) + f" exec -i {running} sh -c 'cat; echo eof-seen' <&-"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, b"eof-seen\n"), proc.stderr


def test_closed_stdin_for_run(name: str) -> None:
    cmd = " ".join(COMMAND) + f" run -i --rm --name {name} --network none {IMAGE} sh -c "
    cmd += "'cat; echo eof-seen' <&-"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (0, b"eof-seen\n"), proc.stderr


# --- exec -it with stdout into a pipe ---------------------------------------------------


def test_exec_it_into_tee(running: str, tmp_path: Any) -> None:
    log = tmp_path / "log"
    script = " ".join(COMMAND) + f" exec -it {running} sh | tee {log}; exit ${{PIPESTATUS[0]}}"
    with PtyChild(f"import os; os.execvp('bash', ['bash', '-c', {script!r}])") as p:
        before = p.termios_attrs()
        p.expect_exact("# ")
        assert p.termios_attrs() != before  # the input side is raw although stdout is a pipe
        # The shell's line editor keeps the terminal raw until it has run the line: a Ctrl-C
        # typed before the echo below would be read as a literal by the editor after the sleep.
        p.sendline("echo sle''eping; sleep 30")
        p.expect_exact("sleeping")
        p.send("\x03")  # a byte for the container's terminal: it ends the sleep, not us
        p.expect_exact("^C")
        p.expect_exact("# ")
        p.sendline("echo one''line")
        p.expect_exact("oneline")
        p.sendline("exit 4")
        assert p.wait() == 4
        assert p.termios_attrs() == before
        # No local echo on top of the container's, and no cursor report typed back.
        assert p.transcript().count("echo one''line") == 1, p.transcript()
        assert "R" not in p.transcript().split("exit 4")[-1]
    assert b"oneline" in log.read_bytes()
