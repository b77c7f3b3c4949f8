"""The `threadpty` command, run as a user would: in a shell pipeline and at a real terminal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from typing import Any, Callable, Dict, Optional

import pytest

from conftest import IMAGE, engine_kind
from ptyharness import PtyChild, settle_size

pytestmark = pytest.mark.integration

COMMAND = [sys.executable, "-m", "threadpty"]


def threadpty(
    *args: str, input: Optional[bytes] = None, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [*COMMAND, *args],
        input=input,
        capture_output=True,
        timeout=60,
        env=full_env,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()


@pytest.mark.smoke
def test_run_prints_both_streams_and_exits_with_status() -> None:
    proc = threadpty(
        "run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 7"
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (7, b"out\n", b"err\n")


def test_piped_input_to_run() -> None:
    proc = threadpty("run", "-i", "--rm", "--network", "none", IMAGE, "cat", input=b"hi\n")
    assert (proc.returncode, proc.stdout) == (0, b"hi\n")


def test_run_rm_removes_the_container(client: Any) -> None:
    name = f"threadpty-rm-{os.getpid()}"
    proc = threadpty("run", "--rm", "--name", name, "--network", "none", IMAGE, "true")
    assert proc.returncode == 0
    assert not client.containers(all=True, filters={"name": name})


def test_exec_environment_workdir_user(running: str) -> None:
    proc = threadpty(
        "exec",
        "-e",
        "GREETING=hello",
        "-w",
        "/tmp",
        "-u",
        "1234",
        running,
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u)",
    )
    assert (proc.returncode, proc.stdout) == (0, b"hello /tmp 1234\n")


# Error -> status: ours beside the Docker CLI 28's (checked by hand on this machine). Placeholders:
# {running} a running container, {stopped} one created and never started, {image} the test image.
STATUS_TABLE = [
    # case, args, ours, the CLI's, what we say
    ("unknown image", ["run", "--rm", "threadpty-test/no-such-image:1"], 125, 125, b"find image"),
    ("exec: no such container", ["exec", "threadpty-no-such", "ls"], 1, 1, b"No such container"),
    ("attach: no such container", ["attach", "threadpty-no-such"], 1, 1, b"No such container"),
    ("attach: stopped", ["attach", "{stopped}"], 1, 1, b"cannot attach to a stopped"),
    ("exec -it without a terminal", ["exec", "-it", "{running}", "sh"], 1, 1, b"not a TTY"),
    ("run -it without a terminal", ["run", "-it", "--rm", "{image}"], 1, 1, b"not a TTY"),
    ("exec without a command", ["exec", "{running}"], 1, 1, b"exec needs a command"),
    # The CLI leaves the refusing to the engine, after `create` ("unable to upgrade to tcp,
    # received 400", status 1, the container left behind); we refuse before anything exists.
    ("bad detach keys", ["run", "--detach-keys", "ctrl-1", "{image}"], 125, 1, b"ctrl-1"),
    ("upper-case detach keys", ["run", "--detach-keys", "ctrl-P", "{image}"], 125, 1, b"ctrl-p"),
    ("exec detach keys", ["exec", "--detach-keys", "ctrl-P", "{running}", "ls"], 1, 1, b"ctrl-p"),
    ("run: not found", ["run", "--rm", "{image}", "nosuchcmd"], 127, 127, b"not found"),
    ("run: not executable", ["run", "--rm", "{image}", "/etc/passwd"], 126, 126, b"permission"),
    ("exec: not found", ["exec", "{running}", "nosuchcmd"], 126, 126, b"not found"),
    ("exec: not executable", ["exec", "{running}", "/etc/passwd"], 126, 126, b"permission"),
    ("run: bad flag", ["run", "--no-such-flag", "{image}"], 125, 125, b"--no-such-flag"),
    ("exec: bad flag", ["exec", "--no-such-flag", "{running}", "ls"], 125, 125, b"--no-such"),
    ("no subcommand", [], 125, 0, b"required"),  # the CLI prints its help there
]


@pytest.mark.parametrize(
    "args, ours, cli, message", [row[1:] for row in STATUS_TABLE], ids=[r[0] for r in STATUS_TABLE]
)
def test_error_statuses(
    args: list,
    ours: int,
    cli: int,
    message: bytes,
    running: str,
    make_container: Callable,
    client: Any,
) -> None:
    names = {"running": running, "image": IMAGE, "stopped": ""}
    if "{stopped}" in args:
        names["stopped"] = make_container("true")
    if engine_kind(client) == "podman" and args[:2] == ["exec", "{running}"] and ours == 126:
        # Podman gives an exec of a command not found 127, as `podman exec` exits with.
        ours = 127 if message == b"not found" else ours
    proc = threadpty(*[a.format(**names) for a in args])
    no_traceback(proc)
    assert proc.returncode == ours, proc.stderr
    # The engine's words: Docker says "No such container", Podman "no such container".
    assert message.lower() in (proc.stdout + proc.stderr).lower()
    assert b"threadpty: threadpty:" not in proc.stderr
    if ours in (1, 125) and b"usage:" not in proc.stderr:
        # One line, with one prefix.
        assert proc.stderr.startswith(b"threadpty: "), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("command, status", [("exec", 1), ("run", 125)])  # the CLI's
def test_unreachable_engine_names_the_host(command: str, status: int) -> None:
    args = ["x", "ls"] if command == "exec" else [IMAGE]
    proc = threadpty(command, *args, env={"DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert proc.returncode == status
    no_traceback(proc)
    assert b"tcp://127.0.0.1:9" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_refused_detach_keys_leave_no_container(client: Any) -> None:
    name = f"threadpty-keys-{os.getpid()}"
    proc = threadpty("run", "-i", "--name", name, "--detach-keys", "ctrl-P", IMAGE, "true")
    assert proc.returncode == 125
    assert b"did you mean 'ctrl-p'" in proc.stderr
    assert not client.containers(all=True, filters={"name": name})


def test_empty_detach_keys_mean_the_default() -> None:
    proc = threadpty(
        "run", "-i", "--rm", "--detach-keys=", "--network", "none", IMAGE, "cat", input=b"ok\n"
    )
    assert (proc.returncode, proc.stdout) == (0, b"ok\n"), proc.stderr


def test_env_name_without_value(running: str) -> None:
    env = {"THREADPTY_SET": "here"}
    os.environ.pop("THREADPTY_UNSET", None)
    script = "echo ${THREADPTY_SET-unset} ${THREADPTY_UNSET-unset}"
    args = ["-e", "THREADPTY_SET", "-e", "THREADPTY_UNSET"]
    proc = threadpty("exec", *args, running, "sh", "-c", script, env=env)
    assert (proc.returncode, proc.stdout) == (0, b"here unset\n"), proc.stderr
    proc = threadpty("run", "--rm", "--network", "none", *args, IMAGE, "sh", "-c", script, env=env)
    assert (proc.returncode, proc.stdout) == (0, b"here unset\n"), proc.stderr


def test_version(tmp_path: Any) -> None:
    """Its own version, then the engine's as the engine names itself (test_engines.py checks the
    name and version against the engine's); without an engine, a line that says so."""
    import threadpty as package

    proc = threadpty("--version")
    first, engine = proc.stdout.decode().splitlines()
    assert (proc.returncode, first) == (0, f"threadpty {package.__version__}")
    assert engine.startswith(("engine: Docker Engine ", "engine: Podman Engine ")), engine
    host = f"unix://{tmp_path}/none.sock"
    proc = threadpty("--version", env={"DOCKER_HOST": host})
    assert (proc.returncode, proc.stdout.decode().splitlines()[1:]) == (
        0,
        [f"engine: none answers at {host} (DockerException)"],
    )


def test_output_into_head_ends_quietly(running: str) -> None:
    cmd = " ".join(COMMAND) + f" exec {running} yes | head -c 100 > /dev/null"
    proc = subprocess.run(
        ["bash", "-c", cmd + "; echo ${PIPESTATUS[0]}"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    no_traceback(proc)
    assert proc.stderr == b""
    assert proc.stdout.strip() == b"141"


def test_sig_proxy_forwards_sigterm(make_container: Callable) -> None:
    script = "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done"
    proc = subprocess.Popen(
        [*COMMAND, "run", "--rm", "--network", "none", IMAGE, "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert (proc.returncode, out) == (9, b"got-term\n"), err


def pty_command(*args: str) -> PtyChild:
    code = textwrap.dedent(
        f"""
        import sys
        from threadpty.cli import main
        sys.exit(main({list(args)!r}))
        """
    )
    return PtyChild(code)


def test_exec_it_resize_and_detach(running: str) -> None:
    with pty_command("exec", "-it", running, "sh") as p:
        p.expect_exact("# ")
        p.sendline("echo in''side")
        p.expect_exact("inside")
        p.resize(31, 91)
        settle_size(p, 31, 91)
        p.send("\x10\x11")
        p.expect_exact("read escape sequence")
        assert p.wait() == 0


def test_attach_resize_detach_and_exit(client: Any, make_container: Callable) -> None:
    cid = make_container("/bin/sh", stdin_open=True, tty=True, start=True)
    with pty_command("attach", "--detach-keys", "ctrl-x,x", cid) as p:
        p.sendline("echo attached")
        p.expect_exact("attached\r\n")
        p.resize(25, 85)
        settle_size(p, 25, 85)
        p.send("\x18x")
        p.expect_exact("read escape sequence")
        assert p.wait() == 0
    assert client.inspect_container(cid)["State"]["Running"]
    with pty_command("attach", cid) as p:
        p.sendline("exit 5")
        assert p.wait() == 5


def test_run_it_at_a_terminal(client: Any) -> None:
    name = f"threadpty-it-{os.getpid()}"
    with pty_command("run", "-it", "--rm", "--name", name, "--network", "none", IMAGE) as p:
        p.expect_exact("# ")
        p.sendline("exit 3")
        assert p.wait() == 3
    assert not client.containers(all=True, filters={"name": name})


def test_console_script_installed() -> None:
    exe = shutil.which("threadpty", path=os.path.dirname(sys.executable))
    assert exe is not None
    proc = subprocess.run([exe, "--help"], capture_output=True, timeout=30)
    assert proc.returncode == 0 and b"run" in proc.stdout


def test_log_lines_have_one_prefix() -> None:
    import logging

    from threadpty.cli._std import OnePrefix

    def line(msg: str) -> str:
        record = logging.LogRecord("threadpty", logging.WARNING, __file__, 1, msg, (), None)
        return OnePrefix().format(record)

    assert line("threadpty: failed to resize") == "threadpty: failed to resize"
    assert line("failed to resize") == "threadpty: failed to resize"
