"""The ``threadpty`` command: ``run``, ``exec`` and ``attach``, like the Docker CLI's.

It exits with the container's or exec's status, and gives one line on stderr (no traceback unless
``--debug``) for errors of the caller's making: an unknown image or container, an engine that cannot
be reached, ``-t`` without a terminal, bad flags.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from . import Session
from ._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from ._streams import isatty

# The Docker CLI's statuses for failures before the container's own process runs.
EXIT_CLIENT = 125


class CommandError(Exception):
    """One line for the user, and a status to exit with."""

    def __init__(self, message: str, status: int = EXIT_CLIENT) -> None:
        super().__init__(message)
        self.status = status


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="threadpty", description="docker run/exec/attach through threadpty"
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, tty: bool = True) -> None:
        if tty:
            sp.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
            sp.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
            sp.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
            sp.add_argument("-w", "--workdir", metavar="DIR")
            sp.add_argument("-u", "--user", metavar="USER")
        sp.add_argument("--detach-keys", metavar="KEYS", help=f"default {DEFAULT_DETACH_KEYS}")
        if sp.prog.endswith(("run", "attach")):
            sp.add_argument(
                "--sig-proxy",
                action=argparse.BooleanOptionalAction,
                default=True,
                help="forward received signals to the container (no TTY only; default on)",
            )

    run = sub.add_parser("run", help="create a container, attach to it, and start it")
    common(run)
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run.add_argument("--name", metavar="N")
    run.add_argument("--network", metavar="NET", help="network mode, e.g. none, host, bridge")
    run.add_argument("image")
    run.add_argument("cmd", nargs=argparse.REMAINDER)

    ex = sub.add_parser("exec", help="run a command in a running container")
    common(ex)
    ex.add_argument("container")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)

    at = sub.add_parser("attach", help="attach to a running container")
    common(at, tty=False)
    at.add_argument("--no-stdin", action="store_true", help="do not attach stdin")
    at.add_argument("container")

    # `threadpty web` (issue 12) parses its own options in threadpty/web/cli.py; listed here only so
    # that --help shows it. main() hands it over before this parser runs.
    sub.add_parser("web", help="serve container terminals to the browser (threadpty[web])")
    return p


def _client() -> Any:
    import docker

    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
        client.ping()
    except Exception as exc:  # noqa: BLE001 - every failure to connect reads the same to a user
        raise CommandError(
            f"cannot connect to the Docker engine at {host}: is the engine running? ({exc})"
        ) from exc
    return client


def _check_tty(args: argparse.Namespace) -> None:
    if getattr(args, "tty", False) and args.interactive and not isatty(sys.stdin):
        raise CommandError("the input device is not a TTY")
    if args.detach_keys is not None:
        try:
            parse_detach_keys(args.detach_keys)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc


def _env(pairs: List[str]) -> Dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            value = os.environ.get(key, "")
        out[key] = value
    return out


def _explain(exc: Exception) -> CommandError:
    import docker.errors

    if isinstance(exc, docker.errors.ImageNotFound):
        return CommandError(f"Unable to find image: {exc.explanation or exc}")
    if isinstance(exc, docker.errors.NotFound):
        return CommandError(f"Error: {exc.explanation or exc}")
    if isinstance(exc, docker.errors.APIError):
        status = EXIT_CLIENT
        text = str(exc.explanation or exc)
        if "executable file not found" in text or "no such file" in text.lower():
            status = 127
        elif "permission denied" in text.lower():
            status = 126
        return CommandError(f"Error: {text}", status)
    return CommandError(f"Error: {exc}")


def _run(client: Any, args: argparse.Namespace) -> Session:
    import docker.errors

    try:
        client.inspect_image(args.image)
    except docker.errors.ImageNotFound:
        raise CommandError(
            f"Unable to find image '{args.image}' locally (threadpty does not pull images)"
        ) from None
    created = client.create_container(
        args.image,
        args.cmd or None,
        stdin_open=args.interactive,
        tty=args.tty,
        environment=_env(args.env),
        working_dir=args.workdir,
        user=args.user,
        name=args.name,
        host_config=client.create_host_config(network_mode=args.network),
    )
    cid = created["Id"]
    session: Optional[Session] = None
    try:
        session = Session.run(
            client,
            cid,
            interactive=args.interactive,
            detach_keys=args.detach_keys,
            sig_proxy=args.sig_proxy,
        )
        session.start().join()
    finally:
        # Like `docker run --rm`: removed once it has ended, kept if the user detached.
        if args.rm and not (session is not None and session.detached):
            try:
                client.remove_container(cid, force=True)
            except docker.errors.APIError:
                pass
    return session


def _exec(client: Any, args: argparse.Namespace) -> Session:
    if not args.cmd:
        raise CommandError("exec needs a command: threadpty exec CONTAINER CMD...")
    session = Session.exec(
        client,
        args.container,
        args.cmd,
        interactive=args.interactive,
        tty=args.tty,
        detach_keys=args.detach_keys,
        environment=_env(args.env),
        workdir=args.workdir,
        user=args.user or "",
    )
    session.start().join()
    return session


def _attach(client: Any, args: argparse.Namespace) -> Session:
    info = client.inspect_container(args.container)
    if not info["State"]["Running"]:
        raise CommandError("You cannot attach to a stopped container, start it first")
    session = Session.attach(
        client,
        args.container,
        interactive=not args.no_stdin,
        detach_keys=args.detach_keys,
        sig_proxy=args.sig_proxy,
    )
    session.start().join()
    return session


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["web"] or argv[:2] == ["--debug", "web"]:
        return _web(argv)
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="threadpty: %(message)s"
    )
    try:
        _check_tty(args)
        client = _client()
        try:
            session = {"run": _run, "exec": _exec, "attach": _attach}[args.command](client, args)
        except CommandError:
            raise
        except Exception as exc:  # noqa: BLE001 - shown as one line unless --debug
            if args.debug:
                raise
            raise _explain(exc) from exc
    except CommandError as exc:
        if args.debug and exc.__cause__ is not None:
            raise
        print(f"threadpty: {exc}", file=sys.stderr)
        return exc.status
    if session.detached:
        print("\r\nread escape sequence", file=sys.stderr)
        return 0
    if session.exit_code is None:
        # Our reader went away (`| head`): exit as a pipeline member killed by SIGPIPE would,
        # and keep Python from complaining while it flushes a stdout nobody reads.
        _silence_stdout()
        return 128 + 13
    return session.exit_code


def _web(argv: List[str]) -> int:
    """`threadpty web`: imported only when asked for (it needs the threadpty[web] extra)."""
    from .web.cli import main as web_main

    return web_main(argv[1:] if argv[0] == "web" else ["--debug", *argv[2:]])


def _silence_stdout() -> None:
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
