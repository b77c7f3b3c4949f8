"""The container's exit status for ``run``, asked for before the container starts."""

from __future__ import annotations

from typing import Any, Optional

from .._docker import engine, request_wait, status_of_wait


class ExitWaiter:
    """The engine's wait for a container, registered before it starts (as the CLI does).

    With ``--rm`` the engine removes the container as it exits (AutoRemove), and a wait asked for
    afterwards would find nothing; the condition ``removed`` also means we return once it is gone.
    The engine answers with the headers as soon as the wait is in place and with the status when
    the condition is met, so the request is sent now and its body read at the end.
    """

    def __init__(self, client: Any, cid: str, removed: bool) -> None:
        # Podman 4 answers a wait for "removed" with status 0 whatever the container's was; its
        # removal comes after the exit anyway, so there the exit is waited for.
        if removed and engine(client).is_podman:
            removed = False
        self._response = request_wait(client, cid, "removed" if removed else "next-exit")

    def status(self) -> Optional[int]:
        return status_of_wait(self._response)

    def cancel(self) -> None:
        self._response.close()
