"""Headwater's Kafka topics, and creating them (`python -m flows.topics`).

The broker runs with topic auto-creation off, so a misspelt topic fails instead of
silently creating a new one; this module is the one place topics are created.
"""

from __future__ import annotations

import sys

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from flows.settings import Settings

RAW_TOPICS = ("raw.zalo", "raw.webhook", "raw.csv")
CHAT_TOPICS = ("chat.messages", "chat.rejected", "chat.feedback", "pii.audit")
ALERT_TOPICS = ("drift.alerts",)
SMOKE_TOPICS = ("smoke.chat",)
ALL_TOPICS = RAW_TOPICS + CHAT_TOPICS + ALERT_TOPICS + SMOKE_TOPICS


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
        print(f"[topics] error: Kafka at {settings.kafka_brokers} did not answer: {exc}",
              file=sys.stderr)
        return 1
    print(f"[topics] created: {', '.join(created)}" if created else "[topics] all topics exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
