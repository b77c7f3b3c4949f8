"""The command's exit statuses for its own failures, and the error that carries one."""

from __future__ import annotations

# The Docker CLI's statuses for failures before the container's own process runs.
EXIT_CLIENT = 125
# ... except that `exec` and `attach` report the engine's errors and a missing terminal with 1.
EXIT_FAILURE = 1


class CommandError(Exception):
    """One line for the user, and a status to exit with."""

    def __init__(self, message: str, status: int = EXIT_CLIENT) -> None:
        super().__init__(message)
        self.status = status
