"""KafkaHealth: a metric and a few log lines per outage, not one per reconnect attempt."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from confluent_kafka import KafkaError

from operators.common.kafka_health import LIBRDKAFKA_LOG, KafkaHealth
from operators.common.metrics import KAFKA_ERRORS, KAFKA_UP, total


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def up(name: str) -> float:
    return KAFKA_UP.labels(client=name)._value.get()


def kafka_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "operators.common.kafka_health"]


ALL_DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
TRANSPORT = KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9092 failed")


@pytest.fixture
def name() -> str:
    return f"step-{uuid.uuid4().hex[:8]}"


def test_an_outage_is_one_line_then_one_per_interval_then_back(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    health = KafkaHealth(name, clock=clock, log_every_s=30)
    client = health.client()
    assert up(name) == 1

    client.on_error(TRANSPORT)  # one broker: logged, not down
    client.on_error(ALL_DOWN)
    for _ in range(500):  # librdkafka's reconnect attempts, 10 s of them
        clock.now += 0.02
        client.on_error(TRANSPORT)
    assert not health.up and up(name) == 0
    assert len(kafka_lines(caplog)) == 2

    clock.now += 25
    client.on_error(TRANSPORT)
    lines = kafka_lines(caplog)
    assert len(lines) == 3 and "still unreachable" in lines[-1] and "after 35 s" in lines[-1]

    client.on_ok()
    client.on_ok()
    lines = kafka_lines(caplog)
    assert len(lines) == 4 and "reachable again" in lines[-1] and "501 errors" in lines[-1]
    assert health.up and up(name) == 1
    assert total(KAFKA_ERRORS, client=name) == 503
    assert total(KAFKA_ERRORS, client=name, error="_ALL_BROKERS_DOWN") == 1


def test_the_step_is_up_only_when_every_client_that_was_down_is_back(name: str) -> None:
    health = KafkaHealth(name, clock=Clock())
    a, b = health.client(), health.client()
    a.on_error(ALL_DOWN)
    b.on_error(ALL_DOWN)
    a.on_ok()
    assert not health.up
    b.on_ok()
    assert health.up


def test_a_consumer_is_back_when_its_statistics_show_a_broker_up(name: str) -> None:
    health = KafkaHealth(name, clock=Clock())
    client = health.client()
    client.on_error(ALL_DOWN)

    def stats(state: str) -> str:
        return json.dumps(
            {
                "brokers": {
                    "127.0.0.1:9092/bootstrap": {"nodeid": -1, "state": "UP"},
                    "127.0.0.1:9092/1": {"nodeid": 1, "state": state},
                }
            }
        )

    client.on_stats(stats("CONNECT"))
    assert not health.up
    client.on_stats("not json")
    client.on_stats(stats("UP"))
    assert health.up


def test_other_errors_are_logged_at_most_once_per_interval(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    client = KafkaHealth(name, clock=clock, log_every_s=30).client()
    for _ in range(10):
        client.on_error(TRANSPORT)
    clock.now += 31
    client.on_error(TRANSPORT)
    assert len(kafka_lines(caplog)) == 2


def test_fatal_errors_are_always_logged(name: str, caplog: pytest.LogCaptureFixture) -> None:
    client = KafkaHealth(name, clock=Clock()).client()
    fenced = KafkaError(KafkaError._FENCED, "fenced", fatal=True)
    client.on_error(fenced)
    client.on_error(fenced)
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


def test_librdkafkas_per_attempt_connection_lines_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # confluent-kafka logs as logger.log(level, "%s [%s] %s", facility, client, message).
    LIBRDKAFKA_LOG.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", "refused")
    LIBRDKAFKA_LOG.log(logging.WARNING, "%s [%s] %s", "CONFWARN", "rdkafka#producer-1", "x")
    assert [r.args[0] for r in caplog.records if r.name == LIBRDKAFKA_LOG.name] == ["CONFWARN"]


def test_a_short_lived_client_counts_errors_but_not_as_the_steps_state(name: str) -> None:
    health = KafkaHealth(name, clock=Clock())
    health.transient_config()["error_cb"](ALL_DOWN)
    assert health.up
    assert total(KAFKA_ERRORS, client=name, error="_ALL_BROKERS_DOWN") == 1
