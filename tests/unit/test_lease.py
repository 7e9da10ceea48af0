"""The run's local view of its lease: what a run checks before each remote write and snapshot save."""

from __future__ import annotations

import pytest

from connector.runs import Lease, LeaseLost


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
