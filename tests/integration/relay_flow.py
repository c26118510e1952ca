"""A minimal flow over `flows.io`: one Kafka topic's records, unchanged, to another.

    python -m bytewax.run "tests.integration.relay_flow:build(brokers=..., source=..., \
        target=...)" -r <dir> -s 1 -b 0

It reads with `kafka_input` and writes with `write_records`, as every Headwater flow
does, so the Kafka tests run the flows' own source and sink without their other steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Dataflow

from flows.io import kafka_input, write_records
from flows.settings import Settings
from flows.topics import RecordTopic
from operators.common.metrics import serve_metrics


@dataclass(frozen=True)
class Relayed:
    """A record carried as is: its Kafka key and value."""

    key: str
    value: bytes

    def to_json(self) -> bytes:
        return self.value

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        return cls("", data.encode() if isinstance(data, str) else data)


def _relayed(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Relayed:
    return Relayed((msg.key or b"").decode(), msg.value or b"")


def build(
    brokers: str,
    source: str,
    target: str,
    kafka_start: str = "beginning",
    transactional_id: str | None = None,
    metrics_port: int = 0,
) -> Dataflow:
    settings = Settings(
        kafka_brokers=brokers,
        kafka_start=kafka_start,  # type: ignore[arg-type]
        kafka_transactional_id=transactional_id,
        metrics_port=metrics_port,
    )
    serve_metrics(settings.metrics_port)
    flow = Dataflow("relay")
    messages = kafka_input("read_kafka", flow, settings, [source])
    records = op.map("relay", messages, _relayed)
    write_records("write", records, settings, "kafka", RecordTopic(target, Relayed, "out.jsonl"))
    return flow
