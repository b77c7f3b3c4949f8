"""terminado (Jupyter's terminal backend) serving `docker exec -it CONTAINER /bin/sh`, one new
terminal per WebSocket, for bench/web_run.py. Loopback only.

    python bench/terminado_server.py PORT CONTAINER
"""

from __future__ import annotations

import sys

import tornado.ioloop
import tornado.web
from terminado import TermSocket, UniqueTermManager


def main() -> None:
    port, container = int(sys.argv[1]), sys.argv[2]
    manager = UniqueTermManager(
        shell_command=["docker", "exec", "-it", container, "/bin/sh"], max_terminals=200
    )
    app = tornado.web.Application([(r"/websocket", TermSocket, {"term_manager": manager})])
    app.listen(port, "127.0.0.1")
    print(f"terminado serving on 127.0.0.1:{port}", flush=True)
    try:
        tornado.ioloop.IOLoop.current().start()
    except KeyboardInterrupt:
        pass
    finally:
        manager.shutdown()


if __name__ == "__main__":
    main()
