"""``threadpty web``: container terminals in the browser, many at once, from one process.

Needs the optional extra (``pip install threadpty[web]``); the core never imports this package.
Used as a library::

    from threadpty.web import Config, Engines, WebServer, make_client

    server = WebServer(Config(port=0), Engines({"default": make_client(None, None)})).start()
    print(server.url)
    server.serve_forever()      # another thread may call server.shutdown()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._engines import Engines, make_client
    from ._server import Config, ConfigError, WebServer

__all__ = ["Config", "ConfigError", "Engines", "WebServer", "make_client"]


def __getattr__(name: str) -> Any:
    # Imported on use, so that `threadpty web --help` and a missing extra get a clear answer
    # instead of an ImportError from inside this package.
    if name in ("Config", "ConfigError", "WebServer"):
        from . import _server

        return getattr(_server, name)
    if name in ("Engines", "make_client"):
        from . import _engines

        return getattr(_engines, name)
    raise AttributeError(name)
