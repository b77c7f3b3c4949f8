"""Fixtures shared by the tests: the engine, the test image, labelled containers that always go.

Integration tests (marked ``integration``) need a real Docker engine. Without one they fail with a
message saying how to get one; they are skipped only when THREADPTY_SKIP_INTEGRATION=1 is set.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List

import pytest

IMAGE = os.environ.get("THREADPTY_TEST_IMAGE", "threadpty-test/busybox:latest")
LABEL = "io.threadpty.test"
# Given by `make test-engines`, which counts the containers of a run by this label.
RUN_ID = os.environ.get("THREADPTY_TEST_RUN_ID") or uuid.uuid4().hex[:8]


ENGINE_MARKERS = ("engine_only", "engine_bug", "api_at_least", "own_engine")


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    for item in items:
        # A test that asks for the engine (client, make_container, box ... all do) is an
        # integration test whether it says so or not: `make unit` (-m "not integration") must
        # never reach for an engine.
        if "engine" in item.fixturenames and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("integration") or item.get_closest_marker("smoke"):
            item.add_marker(pytest.mark.integration)
            if "engine" not in item.fixturenames:
                item.fixturenames.insert(0, "engine")
        own = item.get_closest_marker("own_engine")
        if own is not None and not default_host():
            # Decided here, before the module's rig (a dockerd of its own) would be started.
            why = f"DOCKER_HOST is {os.environ.get('DOCKER_HOST')}: {own.kwargs['reason']}"
            item.add_marker(pytest.mark.skip(reason=why))
        if any(item.get_closest_marker(m) for m in ENGINE_MARKERS):
            item.fixturenames.insert(0, "_engine_markers")


def engine_kind(client: Any) -> str:
    """ "docker" or "podman": which engine the suite runs against (DOCKER_HOST)."""
    from threadpty import _docker

    return "podman" if _docker.engine(client).is_podman else "docker"


def default_host() -> bool:
    """Whether DOCKER_HOST names the machine's own engine (unset, or its default socket)."""
    return os.environ.get("DOCKER_HOST", "") in ("", "unix:///var/run/docker.sock")


@pytest.fixture
def _engine_markers(request: Any) -> None:
    """Markers for tests that depend on the engine (each says why, and the run prints it):

    - ``engine_only(kind, reason=...)``: runs on that engine ("docker" or "podman"), skipped
      elsewhere;
    - ``engine_bug(kind, reason=...)``: that engine has a known bug the test meets: a strict xfail
      there (it must fail; a fix on the engine's side shows up as XPASS, a failure of the run);
    - ``api_at_least(version, reason=...)``: needs that API version, skipped below it;
    - ``own_engine(reason=...)``: brings up an engine of its own from the machine's dockerd, so
      under a DOCKER_HOST naming another engine it would test nothing about that engine.
    """
    from threadpty import _docker

    node = request.node
    client = request.getfixturevalue("engine")
    kind = engine_kind(client)
    found = _docker.engine(client)
    marker = node.get_closest_marker("engine_only")
    if marker is not None and marker.args[0] != kind:
        pytest.skip(f"{marker.args[0]} only, this is {found.name}: {marker.kwargs['reason']}")
    for marker in node.iter_markers("engine_bug"):
        if marker.args[0] == kind:
            node.add_marker(
                pytest.mark.xfail(
                    strict=True,
                    reason=f"{found.name} {found.version} bug: {marker.kwargs['reason']}",
                )
            )
    marker = node.get_closest_marker("api_at_least")
    if marker is not None and not _docker.api_at_least(client, marker.args[0]):
        pytest.skip(
            f"needs API {marker.args[0]}, {found.name} {found.version} speaks "
            f"{client.api_version}: {marker.kwargs['reason']}"
        )


_engine_state: Dict[str, Any] = {}


@pytest.fixture(scope="session")
def engine() -> Any:
    """A live engine with the test image, or a loud failure (a skip only if asked for)."""
    if os.environ.get("THREADPTY_SKIP_INTEGRATION", "") not in ("", "0"):
        pytest.skip("integration tests skipped: THREADPTY_SKIP_INTEGRATION is set")
    if "error" in _engine_state:
        pytest.fail(_engine_state["error"], pytrace=False)
    if "client" in _engine_state:
        return _engine_state["client"]
    import docker

    try:
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
        client.ping()
        client.inspect_image(IMAGE)
    except Exception as exc:  # noqa: BLE001 - any failure here is reported the same way
        _engine_state["error"] = (
            f"no usable Docker engine for the integration tests ({exc}). "
            f"Run `make engine` (or scripts/engine.sh) to start one and build {IMAGE}, "
            "or set THREADPTY_SKIP_INTEGRATION=1 to skip them."
        )
        pytest.fail(_engine_state["error"], pytrace=False)
    _engine_state["client"] = client
    return client


@pytest.fixture
def client(engine: Any) -> Any:
    return engine


@pytest.fixture
def make_container(engine: Any) -> Iterator[Callable[..., str]]:
    """Create labelled containers of the test image; every one is removed after the test."""
    made: List[str] = []

    def make(command: Any = "/bin/sh", *, start: bool = False, **kwargs: Any) -> str:
        labels = dict(kwargs.pop("labels", {}) or {})
        labels[LABEL] = RUN_ID
        # No network: the tests need none, and a second engine started by other tests may take
        # the default bridge away.
        host_kwargs: Dict[str, Any] = {"network_mode": "none"}
        log_driver = kwargs.pop("log_driver", None)
        if log_driver is not None:
            host_kwargs["log_config"] = {"type": log_driver}
        host_kwargs.update(kwargs.pop("host_kwargs", {}))
        host_config = engine.create_host_config(**host_kwargs)
        cid = engine.create_container(
            IMAGE, command, labels=labels, host_config=host_config, **kwargs
        )["Id"]
        made.append(cid)
        if start:
            engine.start(cid)
        return cid

    yield make
    for cid in made:
        try:
            engine.remove_container(cid, force=True)
        except Exception:  # noqa: BLE001 - already gone is fine
            pass


@pytest.fixture(scope="module")
def box(engine: Any, request: Any) -> Iterator[str]:
    """A running container for a whole module, by name (the web tests look it up by name)."""
    name = f"threadpty-box-{RUN_ID}-{request.module.__name__}"
    cid = engine.create_container(
        IMAGE,
        "sleep 3600",
        name=name,
        labels={LABEL: RUN_ID},
        host_config=engine.create_host_config(network_mode="none"),
    )["Id"]
    engine.start(cid)
    yield name
    engine.remove_container(cid, force=True)


@pytest.fixture
def name(engine: Any, request: Any) -> Iterator[str]:
    """A name for a container the command makes; whatever happens, it is gone afterwards."""
    made = f"threadpty-cmd-{RUN_ID}-{request.node.name}".replace("[", "-").replace("]", "")
    yield made
    try:
        engine.remove_container(made, force=True)
    except Exception:  # noqa: BLE001 - already gone, as it should be
        pass


@pytest.fixture
def running(make_container: Callable[..., str]) -> str:
    """A running container to exec into."""
    return make_container("sleep 3600", start=True)


def threadpty_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("threadpty-")]


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    """Fails the test if it leaves a thread behind (threadpty's own are named threadpty-*)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            return
        for t in extra:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
    names = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not names, f"threads left behind: {names}"


def docker_cli(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    client = _engine_state.get("client")
    if client is None:
        return
    for c in client.containers(all=True, filters={"label": f"{LABEL}={RUN_ID}"}):
        try:
            client.remove_container(c["Id"], force=True)
        except Exception:  # noqa: BLE001
            pass


def pytest_terminal_summary(terminalreporter: Any) -> None:
    ran = 0
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
        "failed", []
    ):
        if report.when == "call" and "integration" in report.keywords:
            ran += 1
    terminalreporter.write_line(f"integration tests run against a real engine: {ran}")
