"""Publishing retrain requests, delivered before `publish` returns.

The policy writes a request's audit line only after the request is delivered (Kafka
acknowledged it, or the file line is fsynced), so these publish synchronously instead of
through a Bytewax sink, which delivers later (at its snapshot): a crash in between would
leave an audit line for a request that never went out. A request is small and rare, so
waiting for each one costs nothing that matters. The file publisher appends: requests
published by earlier runs stay in the file, which a fresh run of a Bytewax file sink
would rewrite.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Protocol

from confluent_kafka import KafkaError, Message, Producer

from operators.common.kafka_health import KafkaHealth
from schemas.action import RetrainRequest

TIMEOUT_S = 120.0
"""How long a request may wait for Kafka before publishing fails and the flow stops."""


class Publisher(Protocol):
    def publish(self, request: RetrainRequest) -> str:
        """Deliver `request`; return where it went. Raises when it cannot be delivered."""
        ...


class KafkaPublisher:
    """Requests to a Kafka topic, key tenant, each acknowledged before `publish` returns."""

    def __init__(
        self, brokers: str, topic: str, *, health: KafkaHealth, timeout_s: float = TIMEOUT_S
    ) -> None:
        self.topic = topic
        self._name = health.name
        self._timeout_s = timeout_s
        self._health = client = health.client()
        self._producer = Producer(
            {
                "bootstrap.servers": brokers,
                "enable.idempotence": True,
                "linger.ms": 0,
                "message.timeout.ms": int(timeout_s * 1000),
                **client.config(),
            }
        )

    def publish(self, request: RetrainRequest) -> str:
        delivered: list[tuple[KafkaError | None, Message]] = []
        self._producer.produce(
            self.topic,
            key=request.key.encode(),
            value=request.to_json(),
            on_delivery=lambda err, msg: delivered.append((err, msg)),
        )
        self._producer.flush(self._timeout_s + 5)
        if not delivered:
            raise RuntimeError(
                f"{self._name}: retrain request {request.request_id} not acknowledged by "
                f"{self.topic} within {self._timeout_s:g} s"
            )
        err, msg = delivered[0]
        if err is not None:
            raise RuntimeError(
                f"{self._name}: retrain request {request.request_id} not delivered to "
                f"{self.topic}: {err}"
            )
        self._health.on_ok()
        return f"kafka:{self.topic}/{msg.partition()}@{msg.offset()}"


class FilePublisher:
    """Requests appended to a JSONL file, one line each, fsynced before `publish` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def publish(self, request: RetrainRequest) -> str:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for the next ones
        self._file.write(request.to_json() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        return f"file:{self.path}"
