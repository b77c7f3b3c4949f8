"""Signal forwarding (sig_proxy): one handler per signal per process, put back by the last user."""

from __future__ import annotations

import io
import os
import signal
import threading
from typing import Any, Callable, Iterator, List

import pytest

from threadpty import Session
from threadpty._signals import dispatcher

pytestmark = pytest.mark.timeout(60)

# The container prints "ready", then each USR1 it gets; "exit" ends it once the file appears.
SCRIPT = (
    "trap 'echo usr1' USR1; echo ready; while [ ! -e /tmp/stop ]; do sleep 0.05; done; echo bye"
)


class Lines(io.RawIOBase):
    """An output that lets the test wait for a line to appear."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.cond = threading.Condition()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        with self.cond:
            self.data += bytes(b)
            self.cond.notify_all()
        return len(b)

    def wait_for(self, text: bytes, count: int = 1) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.data.count(text) >= count, timeout=20)
        assert ok, f"{text!r} x{count} never came: {bytes(self.data)!r}"


@pytest.fixture
def handlers_restored() -> Iterator[None]:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1, signal.SIGTERM)}
    yield
    for s, h in before.items():
        signal.signal(s, h)


def _start(client: Any, make_container: Callable[..., str]) -> "tuple[Session, Lines, str]":
    cid = make_container(["sh", "-c", SCRIPT])
    out = Lines()
    session = Session.run(
        client, cid, interactive=False, stdout=out, stderr=out, sig_proxy=True
    ).start()
    out.wait_for(b"ready")
    return session, out, cid


def _end(client: Any, session: Session, cid: str) -> None:
    client.exec_start(client.exec_create(cid, ["touch", "/tmp/stop"]))
    assert session.join(timeout=20) == 0


@pytest.mark.integration
@pytest.mark.parametrize("first_ends", ["first", "second"])
def test_overlapping_sessions_forward_and_give_ctrl_c_back(
    client: Any, make_container: Callable[..., str], handlers_restored: None, first_ends: str
) -> None:
    program_handler_calls: List[int] = []

    def program_usr1(signum: int, frame: Any) -> None:
        program_handler_calls.append(signum)

    signal.signal(signal.SIGUSR1, program_usr1)
    a, out_a, cid_a = _start(client, make_container)
    b, out_b, cid_b = _start(client, make_container)
    os.kill(os.getpid(), signal.SIGUSR1)
    out_a.wait_for(b"usr1")
    out_b.wait_for(b"usr1")
    assert program_handler_calls == []  # forwarded, not also handled here
    order = [(a, cid_a), (b, cid_b)] if first_ends == "first" else [(b, cid_b), (a, cid_a)]
    _end(client, *order[0])
    # The one left still forwards.
    os.kill(os.getpid(), signal.SIGUSR1)
    left = out_b if first_ends == "first" else out_a
    left.wait_for(b"usr1", count=2)
    _end(client, *order[1])

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGUSR1) is program_usr1
    assert not dispatcher.installed(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(5)  # interrupted at once by the signal's handler
    os.kill(os.getpid(), signal.SIGUSR1)
    assert program_handler_calls == [signal.SIGUSR1]


@pytest.mark.integration
def test_a_handler_installed_during_the_session_is_kept(
    client: Any, make_container: Callable[..., str], handlers_restored: None
) -> None:
    session, _, cid = _start(client, make_container)

    def mine(signum: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGTERM, mine)
    _end(client, session, cid)
    assert signal.getsignal(signal.SIGTERM) is mine
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_after_the_last_subscriber_left_off_the_main_thread_acts_as_before(
    handlers_restored: None,
) -> None:
    got: List[int] = []
    program: List[int] = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: program.append(signum))
    previous = signal.getsignal(signal.SIGUSR1)
    assert dispatcher.subscribe(got.append, [signal.SIGUSR1])
    os.kill(os.getpid(), signal.SIGUSR1)
    assert (got, program) == ([signal.SIGUSR1], [])
    t = threading.Thread(target=dispatcher.unsubscribe, args=(got.append,))
    t.start()
    t.join()
    assert dispatcher.installed(signal.SIGUSR1)  # another thread may not put it back...
    os.kill(os.getpid(), signal.SIGUSR1)
    assert (got, program) == ([signal.SIGUSR1], [signal.SIGUSR1])  # ...but it passes it on
    dispatcher.release()
    assert not dispatcher.installed(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) is previous
