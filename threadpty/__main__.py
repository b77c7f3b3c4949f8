"""The ``threadpty`` command: ``run``, ``exec`` and ``attach``, like the Docker CLI's.

It exits with the container's or exec's status, and gives one line on stderr (no traceback unless
``--debug``) for errors of the caller's making, with the CLI's statuses: 125 for ``run`` and for bad
flags, 1 for ``exec`` and ``attach`` (an unknown container, an engine that cannot be reached) and
for ``-t`` without a terminal. Signals are handled as the CLI does (see ``_command_signals``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any, Dict, List, NoReturn, Optional, Sequence

from . import Session, __version__
from ._command_signals import CommandSignals, Interrupted, die_of
from ._detach import DEFAULT_DETACH_KEYS, parse_detach_keys
from ._signals import SignalProxy
from ._streams import fileno_of, isatty

# The Docker CLI's statuses for failures before the container's own process runs.
EXIT_CLIENT = 125
# ... except that `exec` and `attach` report the engine's errors and a missing terminal with 1.
EXIT_FAILURE = 1


class CommandError(Exception):
    """One line for the user, and a status to exit with."""

    def __init__(self, message: str, status: int = EXIT_CLIENT) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Bad flags are the CLI's status 125, not argparse's 2.
        self.print_usage(_Std.err)
        self.exit(EXIT_CLIENT, f"{self.prog}: error: {message}\n")

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            _say(message.rstrip("\n"))
        sys.exit(status)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="threadpty", description="docker run/exec/attach through threadpty")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.add_argument("--version", action="version", version=f"threadpty {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

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


class _Std:
    """The standard streams to use: a closed one (``>&-``) reads as empty or swallows writes.

    Python makes ``sys.stdout`` None when descriptor 1 is closed at start. The descriptor is given
    ``/dev/null`` at once, so that nothing opened later (the engine's socket) lands on 0, 1 or 2.
    """

    inp: Any = sys.stdin
    out: Any = sys.stdout
    err: Any = sys.stderr
    replaced = (False, False, False)

    @classmethod
    def setup(cls) -> None:
        replaced = []
        for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
            try:
                os.fstat(fd)
                replaced.append(False)
                continue
            except OSError:
                pass
            new = os.open(os.devnull, flags)
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
            replaced.append(True)
        cls.replaced = (replaced[0], replaced[1], replaced[2])
        cls.inp = sys.stdin if sys.stdin is not None else open(0, "rb", closefd=False)
        cls.out = sys.stdout if sys.stdout is not None else open(1, "wb", closefd=False)
        cls.err = sys.stderr if sys.stderr is not None else open(2, "w", closefd=False)


class _OnePrefix(logging.Formatter):
    """``threadpty: message``, once, also for a message that already starts with it."""

    PREFIX = "threadpty: "

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if text.startswith(self.PREFIX) else self.PREFIX + text


def _say(message: str) -> None:
    try:
        _Std.err.write(message + "\n")
        _Std.err.flush()
    except (OSError, ValueError):
        pass


def _client(status: int) -> Any:
    import docker

    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.APIClient(**docker.utils.kwargs_from_env(), version="auto")
        client.ping()
    except Exception as exc:  # noqa: BLE001 - every failure to connect reads the same to a user
        raise CommandError(
            f"cannot connect to the Docker engine at {host}: is the engine running? ({exc})",
            status,
        ) from exc
    return client


def _check(args: argparse.Namespace, status: int) -> None:
    """Everything that can be refused before the engine is asked anything."""
    if args.command == "exec" and not args.cmd:
        raise CommandError("exec needs a command: threadpty exec CONTAINER CMD...", EXIT_FAILURE)
    if getattr(args, "tty", False) and args.interactive and not isatty(_Std.inp):
        raise CommandError("the input device is not a TTY", EXIT_FAILURE)
    if args.detach_keys == "":
        args.detach_keys = None  # as the CLI: an empty value means the default
    if args.detach_keys is not None:
        try:
            parse_detach_keys(args.detach_keys)
        except ValueError as exc:
            raise CommandError(str(exc), status) from exc


def _env(pairs: List[str]) -> Dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            # `-e NAME` passes the caller's NAME on, and leaves it unset when the caller has none.
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def _explain(exc: Exception, status: int) -> CommandError:
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


def _streams() -> Dict[str, Any]:
    """Only the streams that stand in for closed ones: the rest are the library's defaults."""
    names = ("stdin", "stdout", "stderr")
    given = (_Std.inp, _Std.out, _Std.err)
    return {n: s for n, s, r in zip(names, given, _Std.replaced) if r}


class _Outcome:
    def __init__(self, session: Session, status: Optional[int] = None) -> None:
        self.session = session
        self.status = status if status is not None else session.exit_code


def _drive(session: Session, forward: Optional[SignalProxy]) -> None:
    """Start and join ``session`` with the command's signal handling around it."""
    if forward is not None:
        forward.start()
    try:
        with CommandSignals(forward.forward if forward else None, fileno_of(_Std.inp)):
            session.start().join()
    finally:
        if forward is not None:
            forward.stop()


class _ExitWaiter:
    """The engine's wait for a container, registered before it starts (as the CLI does).

    With ``--rm`` the engine removes the container as it exits (AutoRemove), and a wait asked for
    afterwards would find nothing; the condition ``removed`` also means we return once it is gone.
    The engine answers with the headers as soon as the wait is in place and with the status when
    the condition is met, so the request is sent now and its body read at the end. The SDK's
    ``wait`` would block until the end, so this uses its request helpers.
    """

    def __init__(self, client: Any, cid: str, removed: bool) -> None:
        url = client._url("/containers/{0}/wait", cid)
        condition = "removed" if removed else "next-exit"
        self._response = client._post(
            url, params={"condition": condition}, stream=True, timeout=None
        )
        client._raise_for_status(self._response)

    def status(self) -> Optional[int]:
        try:
            code = self._response.json().get("StatusCode")
        finally:
            self._response.close()
        return int(code) if code is not None else None

    def cancel(self) -> None:
        self._response.close()


def _run(client: Any, args: argparse.Namespace) -> _Outcome:
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
        # As the CLI's, and so StdinOnce (the SDK's default): the container's stdin closes when
        # ours ends, or when we are gone.
        stdin_open=args.interactive,
        tty=args.tty,
        environment=_env(args.env),
        working_dir=args.workdir,
        user=args.user,
        name=args.name,
        host_config=client.create_host_config(network_mode=args.network, auto_remove=args.rm),
    )
    cid = created["Id"]
    try:
        waiter = _ExitWaiter(client, cid, args.rm)
    except BaseException:
        if args.rm:
            _remove_if_never_started(client, cid)
        raise
    ended = False
    try:
        session = Session.run(
            client,
            cid,
            interactive=args.interactive,
            detach_keys=args.detach_keys,
            **_streams(),
        )
        proxy = None
        if args.sig_proxy:
            # `run` forwards signals even with a TTY, as the CLI does.
            proxy = SignalProxy(
                f"threadpty-signals-{cid[:12]}", lambda signum: client.kill(cid, signal=signum)
            )
        _drive(session, proxy)
        ended = True
    finally:
        if not ended:
            waiter.cancel()
            if args.rm:
                _remove_if_never_started(client, cid)
    if session.detached:
        waiter.cancel()
        return _Outcome(session)
    if session.exit_code is None and _running(client, cid):
        waiter.cancel()  # our output went away (`| head`); the container goes on, as with the CLI
        return _Outcome(session)
    return _Outcome(session, waiter.status())


def _running(client: Any, cid: str) -> bool:
    import docker.errors

    try:
        return bool(client.inspect_container(cid)["State"]["Running"])
    except docker.errors.NotFound:
        return False


def _remove_if_never_started(client: Any, cid: str) -> None:
    # AutoRemove only acts once a container has run; one that never started is ours to remove.
    import docker.errors

    try:
        if client.inspect_container(cid)["State"]["Status"] == "created":
            client.remove_container(cid, force=True)
    except docker.errors.APIError:
        pass


def _exec(client: Any, args: argparse.Namespace) -> _Outcome:
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
        **_streams(),
    )
    _drive(session, None)  # the CLI's exec forwards no signal
    return _Outcome(session)


def _attach(client: Any, args: argparse.Namespace) -> _Outcome:
    info = client.inspect_container(args.container)
    if not info["State"]["Running"]:
        raise CommandError("You cannot attach to a stopped container, start it first", EXIT_FAILURE)
    config = info.get("Config") or {}
    streams = _streams()
    if not config.get("OpenStdin"):
        streams.pop("stdin", None)  # nothing to send it to: not an error, as with the CLI
    session = Session.attach(
        client,
        info["Id"],
        interactive=not args.no_stdin,
        detach_keys=args.detach_keys,
        **streams,
    )
    proxy = None
    if args.sig_proxy and not config.get("Tty"):
        # `attach` forwards only to a container without a TTY, as the CLI does.
        cid = info["Id"]
        proxy = SignalProxy(
            f"threadpty-signals-{cid[:12]}", lambda signum: client.kill(cid, signal=signum)
        )
    _drive(session, proxy)
    return _Outcome(session)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["web"] or argv[:2] == ["--debug", "web"]:
        return _web(argv)
    _Std.setup()
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(_Std.err)
    handler.setFormatter(_OnePrefix())
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[handler])
    status = EXIT_CLIENT if args.command == "run" else EXIT_FAILURE
    try:
        _check(args, status)
        client = _client(status)
        try:
            outcome = {"run": _run, "exec": _exec, "attach": _attach}[args.command](client, args)
        except (CommandError, Interrupted):
            raise
        except Exception as exc:  # noqa: BLE001 - shown as one line unless --debug
            if args.debug:
                raise
            raise _explain(exc, status) from exc
    except CommandError as exc:
        if args.debug and exc.__cause__ is not None:
            raise
        _say(f"threadpty: {exc}")
        return exc.status
    except Interrupted as exc:
        # The session is closed and the terminal restored; the container or exec goes on.
        _flush()
        if exc.signum in (signal.SIGINT, signal.SIGTERM):  # a quiet end, as the CLI's
            return 0
        die_of(exc.signum)
        return 128 + exc.signum
    session = outcome.session
    if session.detached:
        _say("\r\nread escape sequence")
        return 0
    if outcome.status is None:
        # Our reader went away (`| head`): exit as a pipeline member killed by SIGPIPE would,
        # and keep Python from complaining while it flushes a stdout nobody reads.
        _silence_stdout()
        return 128 + 13
    return outcome.status


def _flush() -> None:
    for stream in (_Std.out, _Std.err):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _web(argv: List[str]) -> int:
    """`threadpty web`: imported only when asked for (it needs the threadpty[web] extra)."""
    from .web.cli import main as web_main

    return web_main(argv[1:] if argv[0] == "web" else ["--debug", *argv[2:]])


def _silence_stdout() -> None:
    try:
        _Std.out.flush()
    except (BrokenPipeError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
