"""The Docker engines a server serves: one from the environment, or several named ``--engine``.

A container named in a URL is looked up among the engine's running containers (by name or id,
exactly) before anything is done with it; names only ever reach the engine's API, never a shell.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from threadpty._docker import call

ENGINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Docker's own rule for names ([a-zA-Z0-9][a-zA-Z0-9_.-]+), and ids are hex.
CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
DEFAULT = "default"
_CA_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class EngineConfigError(ValueError):
    """A bad ``--engine`` or ``--engine-certs``; the text is for the user."""


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    image: str
    status: str


def parse_engines(
    specs: Sequence[str], certs: Sequence[str] = ()
) -> List[Tuple[str, Optional[str], Optional[str]]]:
    """``NAME=URL`` and ``NAME=DIR`` pairs → (name, url, cert dir); the environment's if none."""
    dirs: Dict[str, str] = {}
    for spec in certs:
        name, sep, path = spec.partition("=")
        if not sep or not path:
            raise EngineConfigError(f"--engine-certs wants NAME=DIR, not {spec!r}")
        dirs[name] = path
    if not specs:
        if dirs:
            raise EngineConfigError("--engine-certs needs the --engine it names")
        return [(DEFAULT, None, None)]
    out: List[Tuple[str, Optional[str], Optional[str]]] = []
    for spec in specs:
        name, sep, url = spec.partition("=")
        if not sep or not url:
            raise EngineConfigError(f"--engine wants NAME=URL, not {spec!r}")
        if not ENGINE_NAME.match(name):
            raise EngineConfigError(f"engine name {name!r}: use letters, digits, '_', '.', '-'")
        if any(name == n for n, _, _ in out):
            raise EngineConfigError(f"engine {name!r} is given twice")
        if not url.startswith(("unix://", "tcp://", "ssh://", "http://", "https://", "npipe://")):
            raise EngineConfigError(f"engine {name}: unsupported URL {url!r}")
        out.append((name, url, dirs.pop(name, None)))
    if dirs:
        raise EngineConfigError(f"--engine-certs names no --engine: {', '.join(sorted(dirs))}")
    return out


def make_client(url: Optional[str], cert_dir: Optional[str], pool: int = 10) -> Any:
    """An API client: from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) for
    the default engine and for ``tcp://`` URLs without their own certificates, else with them.

    ``pool``: connections the SDK keeps per engine; as many as sessions may start at once (a
    shared pool that overflows has been seen failing inside urllib3, see README.rst).
    """
    import docker
    from docker.tls import TLSConfig

    if url is None:
        return docker.APIClient(
            **docker.utils.kwargs_from_env(), version="auto", max_pool_size=pool
        )
    kwargs: Dict[str, Any] = {"max_pool_size": pool}
    if cert_dir is not None:
        path = os.path.expanduser(cert_dir)
        kwargs["tls"] = TLSConfig(
            client_cert=(os.path.join(path, "cert.pem"), os.path.join(path, "key.pem")),
            ca_cert=os.path.join(path, "ca.pem"),
            verify=True,
        )
    elif url.startswith("tcp://") and os.environ.get("DOCKER_CERT_PATH"):
        env = docker.utils.kwargs_from_env()
        if "tls" in env:
            kwargs["tls"] = env["tls"]
    if "tls" in kwargs and url.startswith("tcp://"):
        url = "https://" + url[len("tcp://") :]
    if "tls" not in kwargs:
        return docker.APIClient(base_url=url, version="auto", **kwargs)
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the engine's CA (requests#3829):
    # kept out while the client asks the engine's API version, and for good with trust_env.
    saved = {k: os.environ.pop(k) for k in _CA_OVERRIDES if k in os.environ}
    try:
        client = docker.APIClient(base_url=url, version="auto", **kwargs)
    finally:
        os.environ.update(saved)
    client.trust_env = False
    return client


class Engines:
    """Named API clients, in the order given."""

    def __init__(self, clients: Dict[str, Any]) -> None:
        self.clients = clients

    @property
    def names(self) -> List[str]:
        """The engines' names, in the order given."""
        return list(self.clients)

    def get(self, name: Optional[str]) -> Any:
        """The client for ``?engine=NAME`` (optional when there is one engine), or KeyError."""
        if name is None:
            if len(self.clients) != 1:
                raise KeyError("several engines: say which with ?engine=NAME")
            return next(iter(self.clients.values()))
        return self.clients[name]

    def containers(self, name: str) -> List[Container]:
        """The running containers of engine ``name`` (an engine call)."""
        out = []
        for c in call(self.clients[name].containers):
            names = [n.lstrip("/") for n in c.get("Names") or []]
            out.append(
                Container(
                    id=c["Id"],
                    name=names[0] if names else c["Id"][:12],
                    image=str(c.get("Image", "")),
                    status=str(c.get("Status", "")),
                )
            )
        out.sort(key=lambda c: c.name)
        return out

    def resolve(self, engine: Optional[str], container: str) -> Tuple[Any, Container]:
        """(client, container) for a running container named exactly so, or LookupError."""
        if not CONTAINER_NAME.match(container):
            raise LookupError("no such container")
        try:
            client = self.get(engine)
        except KeyError as exc:
            raise LookupError(exc.args[0] if exc.args else "no such engine") from None
        name = engine if engine is not None else self.names[0]
        for c in self.containers(name):
            if container in (c.name, c.id) or (len(container) >= 12 and c.id.startswith(container)):
                return client, c
        raise LookupError("no such running container")

    def close(self) -> None:
        """Close every client's connections."""
        for client in self.clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort at shutdown
                pass
