from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector.fastmag.client import FastmagClient
from sandbox.credentials import SANDBOX_SECRET
from sandbox.fastmag_sim import FastmagSimulator
from sandbox.seed import Seed, build_seed

USER = SANDBOX_SECRET["fastmag_user"]
PASSWORD = SANDBOX_SECRET["fastmag_password"]

type MakeClient = Callable[..., FastmagClient]


@pytest.fixture(scope="session")
def seed() -> Seed:
    return build_seed(models=60, retailers=12)


@pytest.fixture
def sim(seed: Seed) -> Iterator[FastmagSimulator]:
    with FastmagSimulator(seed) as simulator:
        yield simulator


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff waits the client asked for; nothing sleeps in real time."""
    return []


@pytest.fixture
def make_client(sim: FastmagSimulator, sleeps: list[float]) -> Iterator[MakeClient]:
    """A client of the running simulator; keyword arguments override wire settings, `password=` the secret."""
    clients: list[FastmagClient] = []

    def make(password: str = PASSWORD, **wire: Any) -> FastmagClient:
        client = FastmagClient(sim.settings(**wire), USER, password, sleep=sleeps.append)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
