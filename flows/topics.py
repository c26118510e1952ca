"""Headwater's Kafka topics, declared once, and creating them (`python -m flows.topics`).

Every flow takes its topics from here: a `RecordTopic` names its records' type, which
gives the message key (`record.key`) and the value codec (`to_json` / `from_json`), and
the file a `file:<dir>` sink writes instead. The broker runs with topic auto-creation
off, so a misspelt topic fails instead of silently creating a new one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

from bytewax.connectors.kafka import KafkaSinkMessage
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from flows.settings import Settings
from schemas.action import RetrainRequest
from schemas.alert import DriftAlert
from schemas.message import ChatMessage, Feedback, Rejected
from schemas.pii_audit import PiiAudit


class Record(Protocol):
    """What a record type on a topic provides: its key and its JSON codec."""

    @property
    def key(self) -> str: ...

    def to_json(self) -> bytes: ...

    @classmethod
    def from_json(cls, data: bytes | str) -> Self: ...


R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class RecordTopic(Generic[R]):
    """A topic of JSON records of one type, keyed by `record.key`."""

    name: str
    record_type: type[R]
    file_name: str
    """The JSONL file that holds these records in a `file:<dir>` sink or source."""

    def encode(self, record: R) -> KafkaSinkMessage[bytes, bytes]:
        return KafkaSinkMessage(key=record.key.encode(), value=record.to_json())

    def decode(self, value: bytes | str) -> R:
        return self.record_type.from_json(value)


RAW_TOPICS = ("raw.zalo", "raw.webhook", "raw.csv")
"""Raw envelopes, one JSON object a message, exactly as received (DESIGN.md, "Input");
the ingest flow's parser decodes them, so a bad one becomes a dead letter."""

MESSAGES = RecordTopic("chat.messages", ChatMessage, "messages.jsonl")
FEEDBACK = RecordTopic("chat.feedback", Feedback, "feedback.jsonl")
REJECTED = RecordTopic("chat.rejected", Rejected, "rejected.jsonl")
PII_AUDIT = RecordTopic("pii.audit", PiiAudit, "pii_audit.jsonl")
ALERTS = RecordTopic("drift.alerts", DriftAlert, "alerts.jsonl")
TRAINING_REQUESTS = RecordTopic("training.requests", RetrainRequest, "training_requests.jsonl")

ALL_TOPICS = (
    *RAW_TOPICS,
    *(t.name for t in (MESSAGES, REJECTED, FEEDBACK, PII_AUDIT, ALERTS, TRAINING_REQUESTS)),
)


def ensure_topics(
    brokers: str, names: tuple[str, ...] | list[str], partitions: int, timeout_s: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names it created."""
    admin = AdminClient({"bootstrap.servers": brokers})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [n for n in names if n not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"could not create topic {name!r}: {exc}") from exc
    return sorted(created)


def main() -> int:
    settings = Settings()
    try:
        created = ensure_topics(settings.kafka_brokers, ALL_TOPICS, settings.kafka_partitions)
    except KafkaException as exc:
        print(
            f"[topics] error: Kafka at {settings.kafka_brokers} did not answer: {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"[topics] created: {', '.join(created)}" if created else "[topics] all topics exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
