"""`make test-engines`: the engine-facing test files against each extra engine, and one table.

    python scripts/test_engines.py [ENGINE ...]      (default: docker26 podman4)

Each ENGINE is one of scripts/engines.sh's (provisioned and started here) or ``default``: the
engine DOCKER_HOST names now (the machine's). Each run is pytest with DOCKER_HOST set to that
engine's socket. The table gives what the engine says it is, its API version, the outcome, and
proof of where the tests ran: the containers created on that engine during its run (the engine's
own events: "made there") and the containers with the run's label that the machine's engine made
meanwhile ("on machine's": 0 unless the run leaked there; the default row is the machine's).
Exit status 0 only when every run passed (strict xfails included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The engine-facing suite: core, PIPE, resize, terminal, detach, command, compatibility, and the
# engine differences themselves.
FILES = [
    "tests/engine/test_session.py",
    "tests/engine/test_pipes.py",
    "tests/terminal/test_resize.py",
    "tests/terminal/test_terminal.py",
    "tests/unit/test_detach.py",
    "tests/terminal/test_command.py",
    "tests/terminal/test_command_streams.py",
    "tests/terminal/test_command_signals.py",
    "tests/engine/test_compat.py",
    "tests/engine/test_engines.py",
]
DEFAULT = ["docker26", "podman4"]
LABEL = "io.threadpty.test"


def client_for(host: str) -> Any:
    import docker

    env = dict(os.environ, DOCKER_HOST=host)
    return docker.APIClient(**docker.utils.kwargs_from_env(environment=env), version="auto")


def describe(host: str) -> Tuple[str, str, str]:
    from threadpty import _docker

    found = _docker.engine(client_for(host))
    return found.name, found.version, found.api_version


class Creations:
    """Counts the containers an engine creates from now until ``stop()``, from its live event
    stream (its event history is a ring of 256, too short for a test run)."""

    def __init__(self, host: str, label: Optional[str] = None) -> None:
        filters: Dict[str, Any] = {"type": ["container"], "event": ["create"]}
        if label:
            filters["label"] = [label]
        self.count = 0
        self._events = client_for(host).events(filters=filters, decode=True)
        self._thread = threading.Thread(target=self._run, name=f"events-{host}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for _ in self._events:
                self.count += 1
        except Exception:  # noqa: BLE001 - closing the stream ends the loop with an error
            pass

    def stop(self) -> int:
        time.sleep(1)  # let the last events of the run arrive
        self._events.close()
        self._thread.join(timeout=10)
        return self.count


def start_engines(names: List[str]) -> Dict[str, str]:
    hosts = {}
    extra = [n for n in names if n != "default"]
    if extra:
        out = subprocess.run(
            ["bash", os.path.join(ROOT, "scripts", "engines.sh"), "up", *extra],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        for line in out.splitlines():
            name, host = line.split()
            hosts[name] = host
    if "default" in names:
        hosts["default"] = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return hosts


def outcome(junit: str) -> Dict[str, int]:
    counts = {"passed": 0, "failed": 0, "xfailed": 0, "skipped": 0}
    if not os.path.exists(junit):
        return counts
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        skipped = case.find("skipped")
        if "failure" in kinds or "error" in kinds:
            counts["failed"] += 1
        elif skipped is not None and skipped.get("type") == "pytest.xfail":
            counts["xfailed"] += 1
        elif skipped is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def main(argv: List[str]) -> int:
    names = argv or DEFAULT
    machine = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    hosts = start_engines(names)
    rows = []
    status = 0
    bindir = os.path.dirname(sys.executable)
    for name in names:
        host = hosts[name]
        run_id = uuid.uuid4().hex[:8]
        junit = os.path.join("/tmp", f"threadpty-engines-{name}-{run_id}.xml")
        env = dict(
            os.environ,
            DOCKER_HOST=host,
            THREADPTY_TEST_RUN_ID=run_id,
            PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
        )
        print(f"\n=== {name}: DOCKER_HOST={host}", flush=True)
        here_count = Creations(host)
        machine_count = Creations(machine, f"{LABEL}={run_id}")
        began = time.time()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", *FILES],
            cwd=ROOT,
            env=env,
        )
        ended = time.time()
        status = status or code
        engine, version, api = describe(host)
        here = here_count.stop()
        leaked = machine_count.stop()
        counts = outcome(junit)
        minutes = (ended - began) / 60
        rows.append(
            [name, engine, version, api, *map(str, counts.values()), str(here), str(leaked)]
            + [f"{minutes:.1f}"]
        )
    head = ["run", "engine", "version", "API", "passed", "failed", "xfailed", "skipped"]
    head += ["made there", "on machine's", "minutes"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("\nmake test-engines: " + " ".join(f for f in FILES))
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
