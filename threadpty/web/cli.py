"""The ``threadpty web`` subcommand: its options, and a server run until Ctrl-C (or SIGTERM).

It prints one line, the URL with the token in its fragment (``#token=``, which browsers never
send), and nothing a user types or a container prints ever reaches its output or its log.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any, List, Optional, Sequence

EXIT_CONFIG = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8022, help="port (default 8022; 0: any free one)")
    p.add_argument(
        "--token",
        default=os.environ.get("THREADPTY_WEB_TOKEN"),
        help="the token every terminal and the container list need (default: "
        "$THREADPTY_WEB_TOKEN, else a random one; visible ASCII); '' for none, allowed on a "
        "loopback address only",
    )
    p.add_argument("--command", help="what each terminal runs (default /bin/sh)")
    p.add_argument("--max-sessions", type=int, default=100, metavar="N", help="default 100")
    p.add_argument(
        "--max-pending",
        type=int,
        default=64,
        metavar="N",
        help="connections not yet sessions (requests, handshakes) served at once; more wait "
        "(default 64)",
    )
    p.add_argument(
        "--certfile",
        metavar="PEM",
        help="serve HTTPS and WSS with this certificate (PEM; intermediates after it)",
    )
    p.add_argument(
        "--keyfile",
        metavar="PEM",
        help="the certificate's private key (PEM, without a passphrase; default: in --certfile)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--exec",
        dest="exec_container",
        metavar="CONTAINER",
        help="serve this one container's terminal at /",
    )
    mode.add_argument(
        "--run",
        dest="run_image",
        metavar="IMAGE",
        help="every tab gets a fresh container of IMAGE, removed when it ends",
    )
    p.add_argument(
        "--network",
        dest="run_network",
        metavar="NET",
        help="network of the --run containers (e.g. none)",
    )
    p.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="an engine to serve (repeatable): unix://, tcp:// (TLS as for the docker "
        "command), ssh://; default: DOCKER_HOST",
    )
    p.add_argument(
        "--engine-certs",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="ca.pem, cert.pem and key.pem for engine NAME's TLS",
    )
    p.add_argument(
        "--record",
        dest="record_dir",
        metavar="DIR",
        help="record every tab in DIR as an asciicast v2 file, played at /recordings",
    )
    p.add_argument(
        "--record-input",
        action="store_true",
        help="with --record, record the keystrokes too (they may be passwords)",
    )
    p.add_argument(
        "--record-max",
        type=int,
        default=None,
        metavar="BYTES",
        help="the most a tab's recording may take (default 64 MiB); past it the file ends with "
        "a line that says so, and the tab goes on",
    )
    p.add_argument(
        "--linger",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long a tab's session outlives its connection, for the page to reattach after "
        "a reload or a network cut (default 300; 0: ended with the connection)",
    )
    p.add_argument(
        "--replay",
        type=int,
        default=256 * 1024,
        metavar="BYTES",
        help="the recent output each session keeps for a page that reattaches (default 262144; "
        "0: none)",
    )
    p.add_argument(
        "--max-viewers",
        type=int,
        default=8,
        metavar="N",
        help="pages that may view one session at once through its share link, beside its own "
        "(default 8; 0: no sharing)",
    )
    p.add_argument(
        "--shared-writers",
        action="store_true",
        help="let the pages that view a shared session type into it too (read-only otherwise)",
    )
    p.add_argument("--debug", action="store_true", help="tracebacks and debug logging")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="threadpty web", description="container terminals in the browser"
    )
    add_arguments(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="threadpty web: %(message)s"
    )
    try:
        import websockets  # noqa: F401
    except ImportError:
        print("threadpty web: needs the web extra: pip install 'threadpty[web]'", file=sys.stderr)
        return EXIT_CONFIG
    from ._engines import EngineConfigError, Engines, make_client, parse_engines
    from ._listener import raise_descriptor_limit
    from ._server import Config, ConfigError, WebServer

    soft, hard = raise_descriptor_limit()
    logging.getLogger("threadpty.web").debug("open descriptors: at most %d (hard %d)", soft, hard)

    config = Config(
        host=args.host,
        port=args.port,
        token=args.token,
        command=args.command,
        max_sessions=args.max_sessions,
        max_pending=args.max_pending,
        exec_container=args.exec_container,
        run_image=args.run_image,
        run_network=args.run_network,
        record_dir=args.record_dir,
        record_input=args.record_input,
        certfile=args.certfile,
        keyfile=args.keyfile,
        linger=args.linger,
        replay=args.replay,
        max_viewers=args.max_viewers,
        shared_writers=args.shared_writers,
    )
    if args.record_max is not None:
        config.record_max = args.record_max
    try:
        config.check()
        specs = parse_engines(args.engine, args.engine_certs)
        if len(specs) > 1 and (args.exec_container or args.run_image):
            raise ConfigError("--exec and --run serve one engine: give at most one --engine")
        clients = {}
        for name, url, certs in specs:
            try:
                client = make_client(url, certs, pool=args.max_sessions + 8)
                client.ping()
            except Exception as exc:  # noqa: BLE001 - every failure to connect reads the same
                where = url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
                raise ConfigError(f"cannot connect to engine {name} at {where}: {exc}") from exc
            clients[name] = client
        server = WebServer(config, Engines(clients)).start()
    except (ConfigError, EngineConfigError) as exc:
        if args.debug:
            raise
        print(f"threadpty web: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # the port is taken, the address is not ours
        print(f"threadpty web: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # From here on a Ctrl-C or SIGTERM, whenever it comes, ends every session and leaves nothing
    # behind: the URL is printed only inside the block that handles them, so nobody who has seen
    # it can interrupt the server before it is ready to stop in order.
    return _serve(server, specs[0] if args.run_image is not None else None)


def _serve(server: Any, watched: Optional[Any]) -> int:
    """Serve until Ctrl-C or SIGTERM; then end every session and leave nothing behind."""
    previous: List[Any] = []
    watchdog = None
    try:
        if threading.current_thread() is threading.main_thread():

            def terminate(signum: int, frame: Any) -> None:
                raise KeyboardInterrupt

            previous.append(signal.signal(signal.SIGTERM, terminate))
        if watched is not None:
            from ._watchdog import spawn

            _, url, certs = watched
            watchdog = spawn(server.id, url, certs)
        print(f"threadpty web: serving at {server.url}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print("threadpty web: stopping", file=sys.stderr, flush=True)
        server.shutdown()
        if previous:
            signal.signal(signal.SIGTERM, previous[0])
        if watchdog is not None:
            # Set it off now: it finds nothing left (shutdown removed this server's containers)
            # and ends.
            assert watchdog.stdin is not None
            watchdog.stdin.close()
            try:
                watchdog.wait(timeout=30)
            except Exception:  # noqa: BLE001, S110 - it ends on its own; not worth a hang
                pass
    return 0
