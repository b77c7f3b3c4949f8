"""``_docker.call``: a request whose pool was closed under it is made again; nothing else is."""

from __future__ import annotations

from typing import Any, List

import pytest
import requests.exceptions
from urllib3.exceptions import ClosedPoolError, ProtocolError

from threadpty import _docker

NO_POOL: Any = None  # the error's pool is only named in its message


def closed_pool() -> BaseException:
    # What requests raises when urllib3 finds the pool it was handed closed.
    return requests.exceptions.ConnectionError(ClosedPoolError(NO_POOL, "Pool is closed."))


class Flaky:
    def __init__(self, *errors: BaseException) -> None:
        self.errors: List[BaseException] = list(errors)
        self.calls: List[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((args, kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


def test_a_closed_pool_is_asked_again_with_the_same_arguments() -> None:
    method = Flaky(closed_pool(), closed_pool())
    assert _docker.call(method, "c1", signal=9) == "answer"
    assert method.calls == [(("c1",), {"signal": 9})] * 3


def test_a_closed_pool_every_time_is_raised_in_the_end() -> None:
    method = Flaky(*(closed_pool() for _ in range(_docker.POOL_CLOSED_ATTEMPTS)))
    with pytest.raises(requests.exceptions.ConnectionError):
        _docker.call(method)
    assert len(method.calls) == _docker.POOL_CLOSED_ATTEMPTS


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", OSError(104))),
        ConnectionResetError(104, "reset"),
        ValueError("bad"),
    ],
)
def test_any_other_error_is_the_callers_at_once(error: BaseException) -> None:
    # A reset may come after the engine took the request: making it again could do it twice.
    method = Flaky(error)
    with pytest.raises(type(error)):
        _docker.call(method)
    assert len(method.calls) == 1


def test_a_closed_pool_found_as_the_cause() -> None:
    try:
        try:
            raise ClosedPoolError(NO_POOL, "Pool is closed.")
        except ClosedPoolError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert _docker.pool_was_closed(outer)
    assert not _docker.pool_was_closed(RuntimeError("no"))
