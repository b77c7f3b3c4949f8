"""The command's client of the engine, the engine line of ``--version``, and the engine's errors
told in one line."""

from __future__ import annotations

import os
from typing import Any

from .._docker import engine
from ._status import CommandError


def _host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def engine_line() -> str:
    """Which engine DOCKER_HOST names, as it says itself (a few seconds at most to answer)."""
    import docker

    try:
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto", timeout=5)
        found = engine(client)
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure reads the same: no engine
        return f"engine: none answers at {_host()} ({type(exc).__name__})"
    return f"engine: {found.name} {found.version} (API {found.api_version}) at {_host()}"


def connect(status: int) -> Any:
    """A client of the engine DOCKER_HOST names, which has answered a ping."""
    import docker

    try:
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
        client.ping()
    except Exception as exc:  # noqa: BLE001 - every failure to connect reads the same to a user
        raise CommandError(
            f"cannot connect to the Docker engine at {_host()}: is the engine running? ({exc})",
            status,
        ) from exc
    return client


def explain(exc: Exception, status: int) -> CommandError:
    """The engine's error as the CLI tells it, with the CLI's status (126, 127 for a command that
    cannot run)."""
    import docker.errors

    if isinstance(exc, docker.errors.NotFound):
        return CommandError(f"Error: {exc.explanation or exc}", status)
    if isinstance(exc, docker.errors.APIError):
        text = str(exc.explanation or exc)
        if "executable file not found" in text or "no such file" in text.lower():
            status = 127
        elif "permission denied" in text.lower():
            status = 126
        return CommandError(f"Error: {text}", status)
    return CommandError(f"Error: {exc}", status)
