"""`write_records` to the real Kafka: each key in the partition librdkafka's own
partitioner gives it, in order, once, with and without transactions."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from confluent_kafka import Producer

from flows.io import write_records
from flows.settings import Settings
from flows.topics import RecordTopic, ensure_topics
from tests.integration.relay_flow import Relayed
from tests.integration.test_kafka_outage import Reader


@pytest.mark.parametrize("transactional", [False, True], ids=["at-least-once", "transactional"])
def test_sink_keeps_each_keys_partition_and_order(
    kafka_brokers: str, unique: Callable[[str], str], transactional: bool
) -> None:
    target, reference = unique("sink.out"), unique("sink.ref")
    ensure_topics(kafka_brokers, [target, reference], 4)
    keys = [f"acme/conv-{i}" for i in range(8)]
    sent = [Relayed(k, f"{k}#{n}".encode()) for n in range(25) for k in keys]

    settings = Settings(
        kafka_brokers=kafka_brokers,
        kafka_transactional_id=unique("sink") if transactional else None,
    )
    flow = Dataflow("sink_test")
    records = op.input("in", flow, TestingSource(sent, batch_size=7))
    write_records("write", records, settings, "kafka", RecordTopic(target, Relayed, "x.jsonl"))
    run_main(flow, epoch_interval=timedelta(milliseconds=50))

    # Where librdkafka's default partitioner puts the same keys.
    default_partition: dict[bytes, int] = {}
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for key in keys:
        producer.produce(
            reference,
            key=key.encode(),
            value=b"",
            on_delivery=lambda _err, msg: default_partition.update({msg.key(): msg.partition()}),
        )
    assert producer.flush(30) == 0

    reader = Reader(kafka_brokers, target, "read_committed")
    partitions, values = defaultdict(set), defaultdict(list)
    deadline = time.monotonic() + 30
    while len(reader.values) < len(sent) and time.monotonic() < deadline:
        for msg in reader.consumer.consume(num_messages=1000, timeout=0.2):
            assert msg.error() is None
            reader.values.append(msg.value())
            partitions[msg.key()].add(msg.partition())
            values[msg.key()].append(msg.value())
    reader.poll(0.5)

    assert sorted(reader.values) == sorted(r.value for r in sent)
    assert {k: p for k, ps in partitions.items() for p in ps} == default_partition
    assert all(len(ps) == 1 for ps in partitions.values())
    for key in keys:
        assert values[key.encode()] == [f"{key}#{n}".encode() for n in range(25)]
