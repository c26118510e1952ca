"""Kafka round trip through confluent-kafka: keys pin a partition and keep their order."""

from __future__ import annotations

from collections import defaultdict

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from flows.topics import ALL_TOPICS, ensure_topics


def consume_all(brokers: str, topic: str, expected: int, timeout_s: float = 30.0) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"test-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = []
    try:
        import time

        deadline = time.monotonic() + timeout_s
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg)
    finally:
        consumer.close()
    return got


def test_project_topics_exist_with_several_partitions(kafka_brokers: str, settings) -> None:
    ensure_topics(kafka_brokers, ALL_TOPICS, settings.kafka_partitions)
    topics = AdminClient({"bootstrap.servers": kafka_brokers}).list_topics(timeout=10).topics
    for name in ALL_TOPICS:
        assert name in topics
        assert len(topics[name].partitions) == settings.kafka_partitions


def test_ensure_topics_is_idempotent(kafka_brokers: str, unique) -> None:
    topic = unique("test.idem")
    assert ensure_topics(kafka_brokers, [topic], 2) == [topic]
    assert ensure_topics(kafka_brokers, [topic], 2) == []


def test_auto_creation_is_off(kafka_brokers: str, unique) -> None:
    topic = unique("test.nocreate")
    producer = Producer({"bootstrap.servers": kafka_brokers, "message.timeout.ms": 3000})
    errors = []
    producer.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert errors and errors[0] is not None
    topics = AdminClient({"bootstrap.servers": kafka_brokers}).list_topics(timeout=10).topics
    assert topic not in topics


def test_keyed_round_trip_keeps_partition_and_order(kafka_brokers: str, unique) -> None:
    topic = unique("test.roundtrip")
    ensure_topics(kafka_brokers, [topic], 4)
    keys = [f"acme/conv-{i}" for i in range(8)]
    producer = Producer({"bootstrap.servers": kafka_brokers, "enable.idempotence": True})
    sent = [(k, f"{k}#{n}") for n in range(25) for k in keys]
    for key, value in sent:
        producer.produce(topic, key=key.encode(), value=value.encode())
    assert producer.flush(30) == 0

    got = consume_all(kafka_brokers, topic, expected=len(sent))

    assert sorted((m.key().decode(), m.value().decode()) for m in got) == sorted(sent)
    partitions_of_key = defaultdict(set)
    values_of_key = defaultdict(list)
    for m in got:
        partitions_of_key[m.key()].add(m.partition())
        values_of_key[m.key().decode()].append(m.value().decode())
    assert all(len(p) == 1 for p in partitions_of_key.values())
    assert len({p for ps in partitions_of_key.values() for p in ps}) > 1
    for key, values in values_of_key.items():
        assert values == [f"{key}#{n}" for n in range(25)]
