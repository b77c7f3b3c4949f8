"""What dockerpty's users (docker-compose first) rely on: its module names, and its call order."""

from __future__ import annotations

import importlib
import io
import time
from typing import Any, Callable, Dict, List

import pytest

import threadpty

# Every public name each module of dockerpty 0.4.1 defines or imports from its own package, read
# from its source (the stdlib and six modules it imports are not its API).
DOCKERPTY_041_NAMES: Dict[str, List[str]] = {
    "": [
        "ExecOperation",
        "PseudoTerminal",
        "RunOperation",
        "exec_command",
        "exec_create",
        "start",
        "start_exec",
    ],
    "pty": [
        "ExecOperation",
        "Operation",
        "PseudoTerminal",
        "RunOperation",
        "WINCHHandler",
        "exec_create",
        "io",
        "tty",
    ],
    "io": ["Demuxer", "Pump", "Stream", "select", "set_blocking"],
    "tty": ["Terminal", "size"],
}


@pytest.mark.parametrize("module", sorted(DOCKERPTY_041_NAMES))
def test_every_dockerpty_name_is_in_the_same_module(module: str) -> None:
    name = "threadpty" + ("." + module if module else "")
    mod = importlib.import_module(name)
    missing = [n for n in DOCKERPTY_041_NAMES[module] if not hasattr(mod, n)]
    assert not missing, f"{name} lacks dockerpty's {missing}"


def test_dockerpty_imports_as_compose_writes_them() -> None:
    from threadpty.pty import ExecOperation, Operation, PseudoTerminal, RunOperation

    assert ExecOperation is threadpty.ExecOperation
    assert RunOperation is threadpty.RunOperation
    assert PseudoTerminal is threadpty.PseudoTerminal
    assert issubclass(RunOperation, Operation) and issubclass(ExecOperation, Operation)
    # dockerpty.pty imported its siblings as `io` and `tty`.
    assert threadpty.pty.io is threadpty.io and threadpty.pty.tty is threadpty.tty


# The methods of dockerpty 0.4.1's classes that its users call (the abstract base left out).
DOCKERPTY_041_METHODS = {
    "pty.RunOperation": "israw start resize sockets",
    "pty.ExecOperation": "israw start resize sockets is_process_tty",
    "pty.PseudoTerminal": "sockets start resize",
    "pty.WINCHHandler": "start stop",
    "io.Stream": "fileno set_blocking read write do_write needs_write close",
    "io.Demuxer": "fileno set_blocking read write needs_write do_write close",
    "io.Pump": "fileno set_blocking flush is_done",
    "tty.Terminal": "israw start stop",
}


@pytest.mark.parametrize("where", sorted(DOCKERPTY_041_METHODS))
def test_every_dockerpty_method_is_there(where: str) -> None:
    module, name = where.split(".")
    cls = getattr(importlib.import_module(f"threadpty.{module}"), name)
    missing = [m for m in DOCKERPTY_041_METHODS[where].split() if not callable(getattr(cls, m, 0))]
    assert not missing, f"threadpty.{where} lacks dockerpty's {missing}"


def _start_events(client: Any, cid: str, since: float) -> List[Dict[str, Any]]:
    # `until` in the past: the engine answers with what it recorded and ends the stream at once.
    return list(
        client.events(
            since=since,
            until=time.time(),
            filters={"container": cid, "event": "start"},
            decode=True,
        )
    )


@pytest.mark.integration
@pytest.mark.engine_only(
    "docker",
    reason="counts start events with a since/until query, which Podman 4.3's events API answers "
    "with few or none of the events it recorded",
)
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "caller_starts",
    [pytest.param(True, marks=pytest.mark.smoke, id="started-by-the-caller"), False],
)
def test_a_container_is_started_once(
    client: Any, make_container: Callable[..., str], caller_starts: bool
) -> None:
    """dockerpty's documented order, as docker-compose uses it: sockets(), start, start(sockets),
    starts nothing again; without the caller's start, start(sockets) starts it, once."""
    since = time.time() - 1
    cid = make_container(["sh", "-c", "echo ran; exit 5"])
    out = io.BytesIO()
    operation = threadpty.RunOperation(client, cid, interactive=False, stdout=out, stderr=out)
    pty = threadpty.PseudoTerminal(client, operation)
    sockets = pty.sockets()
    if caller_starts:
        client.start(cid)
        # Ended before start(sockets): a container that looks "not running" again.
        assert client.wait(cid, timeout=30)["StatusCode"] == 5
    assert pty.start(sockets) == 5
    assert out.getvalue() == b"ran\n"
    assert len(_start_events(client, cid, since)) == 1


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_exec_says_whether_it_has_a_tty(client: Any, running: str) -> None:
    for tty in (True, False):
        exec_id = client.exec_create(running, "true", tty=tty)
        assert threadpty.ExecOperation(client, exec_id).is_process_tty() is tty
