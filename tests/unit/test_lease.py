"""The run's local view of its lease: what a run checks before each remote write and snapshot save."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from connector.lease import Heartbeat, Lease, LeaseLost, LeaseTiming
from tests.integration.test_run_interleavings import ManualPacer, Pacers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lease_allows_a_write_that_fits_and_refuses_one_that_does_not() -> None:
    clock = Clock()
    lease = Lease(120, clock)
    lease.require(120, "write")
    clock.now += 50
    lease.require(70, "write")
    with pytest.raises(LeaseLost, match="71 s needed to write"):
        lease.require(71, "write")


def test_a_renewal_extends_from_now_and_a_lost_lease_refuses_everything() -> None:
    clock = Clock()
    lease = Lease(120, clock)
    clock.now += 100
    lease.renewed(120)
    lease.require(119, "save")
    lease.lose("renewal refused: another holder")
    with pytest.raises(LeaseLost, match="another holder"):
        lease.require(0, "save")


# --- the heartbeat that renews it ------------------------------------------------------------------------------


def heartbeat_with(renew: Callable[[float, float], str | None], clock: Clock) -> tuple[Heartbeat, Lease, ManualPacer]:
    pacers = Pacers()
    lease = Lease(120, clock)
    timing = LeaseTiming(lease_seconds=120, heartbeat_seconds=30, clock=clock, pacer=pacers)
    heartbeat = Heartbeat(run_id="stock-1", renew=renew, lease=lease, settings=timing)
    heartbeat.__enter__()
    return heartbeat, lease, pacers.made[0]


def test_each_renewal_extends_the_local_lease_from_the_time_it_was_asked() -> None:
    clock = Clock()
    asked: list[tuple[float, float]] = []

    def renew(now: float, seconds: float) -> str | None:
        asked.append((now, seconds))
        clock.now += 2  # the write took 2 s: the lease still counts from before it
        return None

    heartbeat, lease, pacer = heartbeat_with(renew, clock)
    clock.now += 100
    pacer.beat()
    heartbeat.__exit__(None, None, None)
    assert asked == [(1100.0, 120)]
    assert lease.remaining() == 118  # 1100 + 120 - 1102
    lease.require(118, "write")


@pytest.mark.parametrize(
    ("renew_result", "reason"),
    [("the stock lock expired or was taken over", "taken over"), (RuntimeError("throttled"), "renewal failed")],
)
def test_a_refused_or_failed_renewal_loses_the_lease_for_good(renew_result: object, reason: str) -> None:
    clock = Clock()
    calls: list[float] = []

    def renew(now: float, seconds: float) -> str | None:
        calls.append(now)
        if isinstance(renew_result, Exception):
            raise renew_result
        return str(renew_result)

    heartbeat, lease, pacer = heartbeat_with(renew, clock)
    pacer.beat()
    pacer.beat()  # lost: nothing more is renewed
    heartbeat.__exit__(None, None, None)
    assert len(calls) == 1
    with pytest.raises(LeaseLost, match=reason):
        lease.require(0, "save")


def test_the_heartbeat_thread_is_stopped_and_joined_on_the_way_out_even_on_an_error() -> None:
    clock = Clock()
    pacers = Pacers()
    timing = LeaseTiming(clock=clock, pacer=pacers)
    with (
        pytest.raises(ValueError, match="the flow failed"),
        Heartbeat(run_id="r", renew=lambda *_: None, lease=Lease(120, clock), settings=timing),
    ):
        raise ValueError("the flow failed")
    assert not any(thread.name == "lease-heartbeat" for thread in threading.enumerate())
