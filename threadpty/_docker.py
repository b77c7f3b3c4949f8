"""What threadpty needs from the docker SDK: an APIClient, and ids from whatever the caller has."""

from __future__ import annotations

from typing import Any


def api_client(client: Any) -> Any:
    """Accept an ``APIClient`` or a ``DockerClient`` (whose low-level client is ``.api``)."""
    api = getattr(client, "api", None)
    if api is not None and hasattr(api, "attach_socket"):
        return api
    if hasattr(client, "attach_socket"):
        return client
    raise TypeError(
        f"expected a docker.APIClient or docker.DockerClient, got {type(client).__name__}"
    )


def container_id(container: Any) -> str:
    """Accept an id, a name, the dict ``create_container`` returns, or a ``Container`` model."""
    if isinstance(container, str):
        return container
    if isinstance(container, dict):
        for key in ("Id", "id", "ID"):
            if isinstance(container.get(key), str):
                return container[key]
    ident = getattr(container, "id", None)
    if isinstance(ident, str):
        return ident
    raise TypeError(
        "expected a container id or name, a dict with 'Id', or a docker Container, "
        f"got {type(container).__name__}"
    )


def exec_id(value: Any) -> str:
    """Accept an exec id or the dict ``exec_create`` returns."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Id"), str):
        return value["Id"]
    raise TypeError(f"expected an exec id or the dict exec_create returns, got {value!r}")
