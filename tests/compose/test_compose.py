"""docker-compose 1.29.2, dockerpty's main real user, run with threadpty in dockerpty's place.

scripts/compose.sh provisions it (``make test`` runs it first; the fixture runs it too, a no-op
when the venv is current): its own venv, .venv-compose, with CPython 3.9, the docker SDK 6.1.3 and
a ``dockerpty`` shim whose modules re-export threadpty's. Compose is driven at a real PTY with
``COMPOSE_INTERACTIVE_NO_CLI=1``, so that it uses "dockerpty" rather than the docker CLI.

Without it the tests fail with the provisioning error; THREADPTY_SKIP_COMPOSE=1 skips them.
"""

from __future__ import annotations

import os
import subprocess
import termios
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from conftest import IMAGE, LABEL, RUN_ID
from ptyharness import PtyChild, settle_size

# Provisioning from nothing (a venv and about 30 packages) is in the first test's budget.
pytestmark = [pytest.mark.integration, pytest.mark.compose, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / ".venv-compose" / "bin" / "docker-compose"
PROJECT_LABEL = "com.docker.compose.project"


@dataclass
class Compose:
    project: str
    env: Dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(COMPOSE), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def at_pty(self, *args: str, rows: int = 20, cols: int = 70) -> PtyChild:
        """``docker-compose args...`` as the only process on a fresh terminal of rows x cols."""
        argv = [str(COMPOSE), *args]
        code = f"import os; os.execv({str(COMPOSE)!r}, {argv!r})"
        return PtyChild(code, rows=rows, cols=cols, env=self.env, timeout=60)

    def containers(self, client: Any, **labels: str) -> List[Dict[str, Any]]:
        wanted = [f"{PROJECT_LABEL}={self.project}"] + [f"{k}={v}" for k, v in labels.items()]
        return list(client.containers(all=True, filters={"label": wanted}))


def _provision() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "compose.sh")],
        capture_output=True,
        text=True,
        timeout=280,
    )
    if proc.returncode != 0:
        pytest.fail(
            "docker-compose 1.29.2 could not be provisioned by scripts/compose.sh "
            "(set THREADPTY_SKIP_COMPOSE=1 to skip these tests):\n" + proc.stderr[-3000:],
            pytrace=False,
        )


@pytest.fixture(scope="module")
def compose(engine: Any, tmp_path_factory: Any) -> Iterator[Compose]:
    if os.environ.get("THREADPTY_SKIP_COMPOSE", "") not in ("", "0"):
        pytest.skip("compose tests skipped: THREADPTY_SKIP_COMPOSE is set")
    _provision()
    project = f"threadpty{RUN_ID}{uuid.uuid4().hex[:6]}"
    directory = tmp_path_factory.mktemp("compose")
    # No network (no registry is reachable, and nothing here needs one), the local test image
    # only, and the tests' label so that conftest removes what a crash might leave.
    (directory / "docker-compose.yml").write_text(
        f"""\
version: "2.4"
services:
  svc:
    image: {IMAGE}
    network_mode: none
    command: sleep 3600
    labels:
      {LABEL}: "{RUN_ID}"
"""
    )
    env = dict(
        os.environ,
        COMPOSE_INTERACTIVE_NO_CLI="1",
        COMPOSE_PROJECT_NAME=project,
        COMPOSE_FILE=str(directory / "docker-compose.yml"),
    )
    env.pop("PYTHONHOME", None)
    handle = Compose(project, env)
    try:
        yield handle
    finally:
        handle.run("down", "--timeout", "0", "--remove-orphans")
        client = engine
        for c in handle.containers(client):
            try:
                client.remove_container(c["Id"], force=True)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass


@pytest.fixture(scope="module")
def service_up(compose: Compose) -> Compose:
    proc = compose.run("up", "-d", "svc")
    assert proc.returncode == 0, proc.stderr
    return compose


def _start_events(client: Any, compose: Compose, since: float) -> List[Dict[str, Any]]:
    # `until` in the past: the engine answers with what it recorded and ends the stream at once.
    return list(
        client.events(
            since=since,
            until=time.time(),
            filters={"event": "start", "label": f"{PROJECT_LABEL}={compose.project}"},
            decode=True,
        )
    )


def _sane(attrs: List[Any]) -> bool:
    iflag, oflag, _, lflag = attrs[:4]
    return bool(
        lflag & termios.ECHO
        and lflag & termios.ICANON
        and lflag & termios.ISIG
        and oflag & termios.OPOST
        and iflag & termios.ICRNL
    )


def test_run_with_a_tty_follows_the_size_and_returns_the_status(
    client: Any, compose: Compose
) -> None:
    with compose.at_pty("run", "--rm", "svc", "sh", rows=20, cols=70) as p:
        settle_size(p, 20, 70)
        p.resize(30, 100)
        settle_size(p, 30, 100)
        p.sendline("echo typed-$((40 + 2))")
        p.expect(rb"typed-42")
        p.sendline("exit 3")
        assert p.wait() == 3
        assert _sane(p.termios_attrs()), "compose left its terminal raw"
    # compose's --rm removes the one-off container itself, after the session.
    assert not compose.containers(client, **{"com.docker.compose.oneoff": "True"})


def test_run_without_a_tty_starts_the_container_once(client: Any, compose: Compose) -> None:
    # The engine's clock is this machine's: no margin, or the previous test's start counts too.
    since = time.time()
    with compose.at_pty("run", "--rm", "-T", "svc", "sh", "-c", "echo ran-once; exit 5") as p:
        assert p.wait() == 5
        assert p.transcript().count("ran-once") == 1, p.transcript()
    # Compose starts the container itself between pty.sockets() and pty.start(sockets).
    starts = _start_events(client, compose, since)
    assert len(starts) == 1, [(e["id"][:12], e["timeNano"]) for e in starts]


def test_exec_with_a_tty_returns_the_status(service_up: Compose) -> None:
    with service_up.at_pty("exec", "svc", "sh", rows=24, cols=80) as p:
        settle_size(p, 24, 80)
        p.resize(25, 90)
        settle_size(p, 25, 90)
        p.sendline("exit 4")
        assert p.wait() == 4
        assert _sane(p.termios_attrs()), "compose left its terminal raw"


def test_exec_without_a_tty_returns_the_status(service_up: Compose) -> None:
    with service_up.at_pty("exec", "-T", "svc", "sh", "-c", "echo out-$((1 + 1)); exit 6") as p:
        assert p.wait() == 6
        assert "out-2" in p.transcript()
