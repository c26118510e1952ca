"""Shared fixtures: flow entry points and clients for the real local services."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import cluster_main, run_main
from hypothesis import settings as hypothesis_settings

from flows.settings import Settings

INTEGRATION_DIR = Path(__file__).parent / "integration"

# How long one example takes on a busy 2-core machine says nothing about the code: no
# per-example deadline.
hypothesis_settings.register_profile("headwater", deadline=None)
hypothesis_settings.load_profile("headwater")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(params=["run_main", "cluster_main-2workers"])
def entry_point(request: pytest.FixtureRequest) -> Callable[[Dataflow], None]:
    """Run a dataflow single-worker, then again with two workers in one process."""
    if request.param == "run_main":
        return run_main
    return lambda flow: cluster_main(flow, [], 0, worker_count_per_proc=2)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names that no other test run uses: topics, collections, keys."""
    run = uuid.uuid4().hex[:10]
    return lambda prefix: f"{prefix}_{run}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


def _require_port(host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"{what} is not reachable on {host}:{port} ({exc}); run `make services`")


@pytest.fixture(scope="session")
def kafka_brokers(settings: Settings) -> str:
    host, _, port = settings.kafka_brokers.split(",")[0].rpartition(":")
    _require_port(host, int(port), "Kafka")
    return settings.kafka_brokers


@pytest.fixture(scope="session")
def weaviate_client(settings: Settings) -> Iterator:
    from operators.common.weaviate import connect_weaviate

    host, port = settings.weaviate_host_port
    _require_port(host, port, "Weaviate")
    client = connect_weaviate(settings)
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> Iterator:
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {settings.redis_url} ({exc}); run `make services`")
    yield client
    client.close()
