"""chassis.Outage (a remote store's failure window, throttled warnings, recovery) and
chassis.PerLoop (one client per running event loop)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import chassis
import pytest

logger = logging.getLogger("tests.outage")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("chassis._outage.time", clock)
    return clock


def make_outage(while_down: str = "", on_error: Callable[[], None] | None = None) -> chassis.Outage:
    return chassis.Outage(
        "response cache",
        "Redis at redis://user:secret@cache:6379/0",
        logger=logger,
        retry_interval=5,
        warn_interval=60,
        while_down=while_down,
        on_error=on_error,
    )


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tests.outage"]


def test_a_failure_skips_the_store_for_retry_interval(clock: Clock) -> None:
    errors: list[None] = []
    outage = make_outage(on_error=lambda: errors.append(None))
    assert (outage.active, outage.reachable, outage.last_error) == (False, None, None)

    assert outage.failed(ConnectionError("refused by redis://user:secret@cache")) == (
        "ConnectionError: refused by redis://***@cache"
    )
    assert (outage.active, outage.reachable, outage.errors, len(errors)) == (True, False, 1, 1)
    clock.now += 4.9
    assert outage.active
    clock.now += 0.1
    assert not outage.active  # the next call tries again
    assert outage.detail() == {
        "reachable": False,
        "degraded": True,
        "error": "ConnectionError: refused by redis://***@cache",
    }
    assert outage.failed(TimeoutError()) == "TimeoutError"  # no message: the type alone


def test_warnings_are_throttled_to_one_per_warn_interval(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tests.outage")
    outage = make_outage(while_down="serving without the cache")
    for _ in range(3):
        outage.failed(ConnectionError("refused"))
        clock.now += 10
    assert warnings(caplog) == [
        "response cache: Redis at redis://***@cache:6379/0 failed (ConnectionError: refused); "
        "serving without the cache, next try in 5 s (this warning repeats at most every 60 s)"
    ]
    assert outage.errors == 3
    clock.now += 30  # 60 s after the first warning
    outage.failed(OSError("down"))
    assert warnings(caplog)[1:] == [
        "response cache: Redis at redis://***@cache:6379/0 failed (OSError: down); "
        "serving without the cache, next try in 5 s (this warning repeats at most every 60 s)"
    ]


def test_without_while_down_the_warning_says_when_it_tries_again(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tests.outage")
    make_outage().failed(ConnectionError("refused"))
    assert warnings(caplog) == [
        "response cache: Redis at redis://***@cache:6379/0 failed (ConnectionError: refused); "
        "next try in 5 s (this warning repeats at most every 60 s)"
    ]


def test_recovery_closes_the_window_and_says_so_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tests.outage")
    outage = make_outage()
    outage.succeeded()  # the first success after start-up is no news
    assert warnings(caplog) == []
    assert outage.detail() == {"reachable": True}

    outage.failed(ConnectionError("refused"))
    outage.succeeded()
    outage.succeeded()
    assert warnings(caplog)[1:] == [
        "response cache: Redis at redis://***@cache:6379/0 is reachable again"
    ]
    assert (outage.active, outage.reachable, outage.detail()) == (False, True, {"reachable": True})


def test_per_loop_makes_one_object_per_running_loop() -> None:
    made: list[object] = []

    def factory() -> object:
        made.append(object())
        return made[-1]

    clients = chassis.PerLoop(factory)

    async def twice() -> tuple[object, object, object | None]:
        return clients.get(), clients.get(), clients.current()

    first, again, current = asyncio.run(twice())
    assert first is again is current is made[0]

    async def on_another_loop() -> tuple[object | None, object]:
        return clients.current(), clients.get()

    nothing, second = asyncio.run(on_another_loop())
    assert nothing is None  # current() makes nothing
    assert second is made[1] is clients.latest
    assert clients.pop() is second
    assert (clients.latest, clients.pop()) == (None, None)
