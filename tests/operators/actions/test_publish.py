"""Publishing retrain requests: the file publisher appends and keeps earlier runs' lines;
the Kafka publisher raises when Kafka does not acknowledge (the integration tests deliver)."""

from __future__ import annotations

from pathlib import Path

import pytest

from operators.actions.publish import FilePublisher, KafkaPublisher
from operators.common.kafka_health import KafkaHealth
from schemas.action import RetrainRequest
from tests.operators.actions.fakes import T0, alert


def request(alert_id: str) -> RetrainRequest:
    return RetrainRequest.from_alert(alert(alert_id), T0)


def test_the_file_publisher_appends_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "out" / "training_requests.jsonl"
    assert FilePublisher(path).publish(request("a-1")) == f"file:{path}"
    FilePublisher(path).publish(request("a-2"))
    lines = path.read_bytes().splitlines()
    assert [RetrainRequest.from_json(line).request_id for line in lines] == ["a-1", "a-2"]


def test_the_kafka_publisher_raises_when_nothing_acknowledges(tmp_path: Path) -> None:
    publisher = KafkaPublisher(
        "127.0.0.1:1", "training.requests", health=KafkaHealth("actions_test"), timeout_s=1
    )
    with pytest.raises(RuntimeError, match="actions_test: retrain request a-1 not"):
        publisher.publish(request("a-1"))
