"""Every Python example in README.rst runs here, so the README cannot rot.

The examples name the public ``busybox`` image; the tests use the project's own image and no
network, and label what the examples create with this run's label, so that only those are removed
afterwards and another suite's containers on the same engine are left alone (the substitutions
are checked, so an edited example cannot silently escape them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any, List

import pytest

from conftest import IMAGE, LABEL, RUN_ID
from ptyharness import PtyChild

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.rst")


def blocks(language: str) -> List[str]:
    text = open(README, encoding="utf-8").read()
    out = []
    for match in re.finditer(rf"^\.\. code-block:: {language}\n\n((?:    .*\n|\n)+)", text, re.M):
        lines = match.group(1).splitlines()
        out.append("\n".join(line[4:] for line in lines).strip() + "\n")
    return out


MARK = f"labels={{{LABEL!r}: {RUN_ID!r}}}"


def localise(code: str) -> str:
    code = code.replace('"busybox:latest"', repr(IMAGE))
    code = code.replace('"busybox"', repr(IMAGE))
    # The engine the suite runs against (DOCKER_HOST), not always the default socket.
    code = code.replace("docker.APIClient()", "docker.APIClient(**docker.utils.kwargs_from_env())")
    # Containers the examples start get no network, like every test container, and this run's
    # label; so does the one the dockerpty example makes with the low-level API.
    code = re.sub(
        r"containers\.(run|create)\((.*?)\)\n",
        rf'containers.\1(\2, network_mode="none", {MARK})\n',
        code,
    )
    return code.replace("create_container(", f"create_container({MARK}, ")


def remove_labelled(client: Any) -> None:
    for c in client.containers(all=True, filters={"label": f"{LABEL}={RUN_ID}"}):
        client.remove_container(c["Id"], force=True)


def test_examples_are_found() -> None:
    assert len(blocks("python")) >= 5


def test_migration_example_at_a_terminal(client: Any) -> None:
    code = localise(blocks("python")[0])
    assert "import threadpty as dockerpty" in code and IMAGE in code and MARK in code
    try:
        with PtyChild(code) as p:
            p.expect_exact("# ")
            p.sendline("echo from-readme")
            p.expect_exact("from-readme")
            p.sendline("exit")
            assert p.wait() == 0
    finally:
        remove_labelled(client)


def test_session_examples_run_in_order(client: Any) -> None:
    code = "\n".join(localise(b) for b in blocks("python")[1:])
    assert code.count('network_mode="none"') >= 2 and code.count(MARK) >= 2
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stderr
    finally:
        remove_labelled(client)


def test_command_example_with_a_pipe() -> None:
    lines = [ln for b in blocks("sh") for ln in b.splitlines() if ln.startswith("echo ")]
    assert lines == ["echo hi | threadpty run -i --rm busybox cat"]
    bindir = os.path.dirname(sys.executable)
    line = lines[0].replace("busybox", f"--network none {IMAGE}")
    proc = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        timeout=60,
        env=dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"]),
    )
    assert (proc.returncode, proc.stdout) == (0, b"hi\n"), proc.stderr


def test_readme_renders_without_warnings() -> None:
    import docutils.core

    text = open(README, encoding="utf-8").read()
    # halt_level 2 turns every warning (bad indentation, broken markup) into an error.
    docutils.core.publish_doctree(
        text, settings_overrides={"halt_level": 2, "report_level": 2, "warning_stream": False}
    )
