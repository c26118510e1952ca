"""`HEADWATER_KAFKA_START=end` with recovery: a restart resumes where the flow was, even
on a partition that had no traffic before the kill, so nothing that arrived while the
flow was down is skipped."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Producer

from flows.topics import ensure_topics
from tests.integration.recovery import wait_for_new_commits
from tests.integration.test_kafka_outage import Flow, Reader, records


def produce(brokers: str, topic: str, values: list[bytes], partition: int) -> None:
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    for value in values:
        producer.produce(topic, key=value, value=value, partition=partition)
    assert producer.flush(30) == 0


def test_start_at_end_resumes_a_quiet_partition_after_a_kill(
    kafka_brokers: str, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    source, target = unique("start.in"), unique("start.out")
    ensure_topics(kafka_brokers, [source, target], 2)
    produce(kafka_brokers, source, records("old", 20), partition=0)  # before: skipped
    flow = Flow(tmp_path, kafka_brokers, source, target, kafka_start="end")
    out = Reader(kafka_brokers, target, "read_committed")

    flow.start()
    # Partition 0 has traffic while the flow runs; partition 1 none until the kill.
    deadline = time.monotonic() + 60
    while b"live-0" not in out.values:
        assert time.monotonic() < deadline, "the flow never read partition 0"
        produce(kafka_brokers, source, [b"live-0"], partition=0)
        out.poll(1.0)
    wait_for_new_commits(flow.recovery, 60)  # snapshots of both partitions' positions
    flow.kill()

    down = records("down-p0", 10) + records("down-p1", 10)
    produce(kafka_brokers, source, down[:10], partition=0)
    produce(kafka_brokers, source, down[10:], partition=1)
    flow.start()
    after = records("after-p1", 5)
    produce(kafka_brokers, source, after, partition=1)
    try:
        out.wait_for(set(down) | set(after), 60, flow)
        out.poll(1.0)
    finally:
        flow.kill()

    assert not any(v.startswith(b"old-") for v in out.values), "started at the end"
    assert set(down) <= set(out.values), "what arrived while the flow was down is read"
