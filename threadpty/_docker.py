"""What threadpty needs from the docker SDK: an APIClient, ids from whatever the caller has, which
engine answers (Docker or Podman, and the API version spoken), and the few requests the SDK's
public methods cannot make, and what its errors mean.

This is the one module that touches the SDK's private parts (its request helpers, the response it
hangs on a hijacked socket, the socket timeout): when docker-py moves them, this file alone
breaks. ``tests/unit/test_layers.py`` fails when any other module reaches for them.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Callable, Iterator, NamedTuple, Optional, Tuple, TypeVar

from .errors import EngineError

_T = TypeVar("_T")

# How many times a request is made when the pool it was handed is closed under it.
POOL_CLOSED_ATTEMPTS = 3


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


def call(method: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``method(*args, **kwargs)``, made again when the SDK's connection pool was closed under it.

    The SDK keys its pools by URL (every exec's URLs get pools of their own) and closes the least
    recently used one past a count. With many threads on one client, the pool one thread has
    just been handed can be closed by another before its request goes out, and the request fails
    with urllib3's ``ClosedPoolError`` (docker/compose#3586). Nothing reached the engine then, so
    making the request again is safe for any request; every other error is the caller's.
    """
    for attempt in range(1, POOL_CLOSED_ATTEMPTS + 1):
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            if attempt == POOL_CLOSED_ATTEMPTS or not pool_was_closed(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def pool_was_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is, or wraps (as requests' ``ConnectionError`` does), ``ClosedPoolError``."""
    from urllib3.exceptions import ClosedPoolError

    seen = 0
    todo = [exc]
    while todo and seen < 8:
        current = todo.pop()
        seen += 1
        if isinstance(current, ClosedPoolError):
            return True
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        todo.extend(c for c in (current.__cause__, current.__context__) if c is not None)
    return False


class Engine(NamedTuple):
    """What answers at the other end of a client: ``name`` is /version's component name
    ("Docker Engine", "Podman Engine"); ``api_version`` is the API the client speaks."""

    name: str
    version: str
    api_version: str

    @property
    def is_podman(self) -> bool:
        return self.name.startswith("Podman")


_engines: "weakref.WeakKeyDictionary[Any, Engine]" = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def engine(client: Any) -> Engine:
    """The engine behind ``client``, asked once per client (``/version``) and remembered.

    An engine that does not answer is taken for Docker: every behaviour this decides defaults to
    what Docker does.
    """
    api = api_client(client)
    with _engines_lock:
        known = _engines.get(api)
    if known is not None:
        return known
    try:
        info = call(api.version, api_version=False)
    except Exception:  # noqa: BLE001 - an engine that cannot say is treated as Docker
        info = {}
    found = engine_from_version(info, str(getattr(api, "api_version", "") or ""))
    with _engines_lock:
        try:
            _engines[api] = found
        except TypeError:  # a client that cannot be weakly referenced is asked each time
            pass
    return found


def engine_from_version(info: Any, api_version: str = "") -> Engine:
    """An :class:`Engine` from the body of ``GET /version``."""
    info = info if isinstance(info, dict) else {}
    name, version = "Docker Engine", str(info.get("Version") or "")
    for component in info.get("Components") or ():
        if not isinstance(component, dict):
            continue
        cname = str(component.get("Name") or "")
        # Podman lists itself first; Docker lists "Engine", then containerd, runc, docker-init.
        if cname in ("Podman Engine", "Engine"):
            name = "Podman Engine" if cname == "Podman Engine" else "Docker Engine"
            version = str(component.get("Version") or version)
            break
    return Engine(name, version, api_version or str(info.get("ApiVersion") or ""))


def api_at_least(client: Any, version: str) -> bool:
    """Whether ``client`` speaks API ``version`` or newer (its negotiated or pinned version)."""
    current = str(getattr(client, "api_version", "") or "")
    try:
        have = tuple(int(p) for p in current.split("."))
        want = tuple(int(p) for p in version.split("."))
    except ValueError:
        return False
    return have >= want


def disable_socket_timeout(client: Any, sock: Any) -> None:
    """Take the client's timeout off a hijacked socket.

    The socket keeps the client's timeout (60 s by default), and an idle shell would die after
    it; the SDK clears it for its own streams with this helper, not for the sockets it hands out.
    """
    client._disable_socket_timeout(sock)


def response_of(sock: Any) -> Any:
    """The HTTP response ``sock`` was hijacked from, which the SDK hangs on it; or None."""
    return getattr(sock, "_response", None)


def start_exec_socket(client: Any, exec_id: str, tty: bool, size: Tuple[int, int]) -> Any:
    """Start an exec on a hijacked connection with its TTY's size (rows, columns) from the start
    (``ConsoleSize``, API 1.42+), which the SDK's ``exec_start`` cannot pass; its socket."""
    response = call(
        client._post_json,
        client._url("/exec/{0}/start", exec_id),
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        data={"Tty": tty, "Detach": False, "ConsoleSize": [size[0], size[1]]},
        stream=True,
    )
    return client._get_raw_response_socket(response)


def request_wait(client: Any, container: str, condition: str) -> Any:
    """Ask the engine to wait for ``container`` to meet ``condition`` (``next-exit``, ``removed``).

    Returns the streamed response as soon as the engine has the wait in place (its headers); the
    body, ``{"StatusCode": n}``, comes when the condition is met. The SDK's ``wait`` would block
    until then. Raises the SDK's ``APIError`` (``NotFound``, ...) as its methods do.
    """
    response = call(
        client._post,
        client._url("/containers/{0}/wait", container),
        params={"condition": condition},
        stream=True,
        timeout=None,
    )
    client._raise_for_status(response)
    return response


def status_of_wait(response: Any) -> Optional[int]:
    """The exit status in the body of a :func:`request_wait` response (read to its end, closed)."""
    try:
        code = response.json().get("StatusCode")
    finally:
        response.close()
    return int(code) if code is not None else None


def lost_engine(exc: BaseException) -> bool:
    """Whether ``exc`` says the engine cannot be reached (the SDK raises requests' kind)."""
    import requests.exceptions

    return isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError))


@contextlib.contextmanager
def asking_exit_status() -> Iterator[None]:
    """An engine that cannot be reached while the exit status is asked for is an
    :class:`~threadpty.EngineError` (what ``join`` raises), not the SDK's connection error."""
    try:
        yield
    except Exception as exc:
        if lost_engine(exc):
            raise EngineError(
                f"lost the Docker engine before the exit status was known: {exc}"
            ) from exc
        raise
