"""One whole process for figure 8 (start-up): what a short program that runs `exec true` costs.

    python bench/startup.py PEER API_VERSION CONTAINER

PEER is ``docker`` (``import docker`` and exit), ``import`` (``import docker, threadpty`` and
exit), or a session peer: ``threadpty``, ``raw`` (the bare socket loop) or ``dockerpty``, each of
which imports what it needs, makes an ``APIClient``, runs ``true`` in CONTAINER with its output on
fd 1, and exits with ``true``'s status where the peer can know it. The parent times the process
from spawn to exit and takes its CPU from ``wait4``: imports, interpreter start and end included.
Nothing else is imported here, so every peer pays for the same interpreter.
"""

import os
import sys


def raw(client: "object", container: str) -> int:
    """The least a program can do for the same answer: create, start, read to the end, and ask
    the exit status (as threadpty does; dockerpty never asks)."""
    c = client
    eid = c.exec_create(container, ["true"], stdout=True, stderr=True)["Id"]  # type: ignore[attr-defined]
    sock = c.exec_start(eid, socket=True)  # type: ignore[attr-defined]
    s = getattr(sock, "_sock", sock)
    s.settimeout(None)
    fp = getattr(getattr(getattr(sock._response, "raw", None), "_fp", None), "fp", None)
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    n = fp.readinto1(view) if fp is not None else s.recv_into(view)
    while n:
        os.write(1, view[:n])
        n = s.recv_into(view)
    sock.close()
    return int(c.exec_inspect(eid)["ExitCode"] or 0)  # type: ignore[attr-defined]


def main() -> int:
    peer, api, container = sys.argv[1], sys.argv[2], sys.argv[3]
    import docker

    if peer == "docker":
        return 0
    if peer == "import":
        import threadpty  # noqa: F401

        return 0
    client = docker.APIClient(version=api)
    if peer == "raw":
        return raw(client, container)
    if peer == "threadpty":
        import threadpty

        out = os.fdopen(1, "wb", buffering=0, closefd=False)
        session = threadpty.Session.exec(
            client, container, ["true"], interactive=False, tty=False, stdout=out, stderr=out
        )
        return session.start().join() or 0
    if peer == "dockerpty":
        import dockerpty

        out = os.fdopen(1, "wb", buffering=0, closefd=False)
        dockerpty.exec_command(
            client, container, ["true"], interactive=False, stdout=out, stderr=out
        )
        return 0
    raise SystemExit(f"unknown peer {peer}")


if __name__ == "__main__":
    sys.exit(main())
