"""Kafka sink throughput: Headwater's `KafkaRecordSink`, at least once and transactional,
against bytewax's `KafkaSink` (what `write_records` used before) and a plain producer.

    .venv/bin/python benchmarks/bench_kafka_sink.py [--records 100000] [--rounds 3]
        [--epochs 1,0.2]

Needs Kafka on HEADWATER_KAFKA_BROKERS (`make services`). Each variant writes the same
records — `chat.messages`-sized JSON (~450 bytes) keyed by 500 conversations — to a topic
of its own with 4 partitions, on the shared broker:

- `plain producer`: a confluent-kafka `Producer` loop (`produce`, `poll(0)`, one `flush`),
  no Bytewax: the floor;
- `bytewax: discard`: the same Bytewax dataflow (`TestingSource` in batches of 1,000, a
  map to `(key, KafkaSinkMessage)`) with a sink that drops the records: Bytewax's share;
- `bytewax KafkaSink`: bytewax's own sink (a producer per worker, `flush()` after every
  batch), the baseline of the ratios;
- `at least once`: `KafkaRecordSink` (a producer per topic partition, delivery awaited at
  each snapshot);
- `transactional, epoch E s`: `KafkaRecordSink` with a transactional id, one transaction
  per partition and epoch, committed at each snapshot (Bytewax runs an epoch every
  `-s` seconds with recovery; E is that interval).

Time is from the first record to the last one acknowledged (committed). Variants alternate
within each round; each reports its median round. A read_committed consumer checks that
every record of the last transactional run is there once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bytewax.operators as op  # noqa: E402
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.inputs import DynamicSource, StatelessSourcePartition  # noqa: E402
from bytewax.outputs import DynamicSink, StatelessSinkPartition  # noqa: E402
from bytewax.testing import run_main  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from flows.settings import Settings  # noqa: E402
from flows.topics import ensure_topics  # noqa: E402
from operators.common.kafka_health import KafkaHealth  # noqa: E402
from operators.common.kafka_sink import KafkaRecordSink  # noqa: E402

PARTITIONS = 4
WARMUP = PARTITIONS
Item = tuple[str, KafkaSinkMessage[bytes, bytes]]


def make_records(n: int) -> list[Item]:
    """`n` records, the first `WARMUP` of them one per partition (librdkafka's CRC-32)."""
    firsts = [
        next(c for c in range(500) if zlib.crc32(b"acme/conv-%d" % c) % PARTITIONS == p)
        for p in range(PARTITIONS)
    ]
    out = []
    for i in range(n):
        conv = firsts[i] if i < WARMUP else i % 500
        key = f"acme/conv-{conv}"
        value = orjson.dumps(
            {
                "message_id": f"webhook:m-{i}",
                "idempotency_key": f"webhook:m-{i}",
                "tenant": "acme",
                "source": "webhook",
                "platform": "webhook",
                "conversation_id": f"conv-{conv}",
                "sender_id": f"u-{conv}",
                "role": "user" if i % 2 else "bot",
                "text": "Xin chào, cho mình hỏi đơn hàng DH249443809 khi nào giao ạ? " * 2,
                "language": "vi",
                "event_time": "2024-05-01T03:00:00.123Z",
                "pii": [],
                "late": False,
                "received_at": 1714532400123 + i,
            }
        )
        out.append((key, KafkaSinkMessage(key=key.encode(), value=value)))
    return out


class _Discard(StatelessSinkPartition[object]):
    def write_batch(self, items: list[object]) -> None:
        return


class DiscardSink(DynamicSink[object]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Discard:
        return _Discard()


class _WarmPartition(StatelessSourcePartition[Item]):
    def __init__(self, records: list[Item], warmup_s: float, started: list[float]) -> None:
        self._records, self._warmup_s, self._started = records, warmup_s, started
        self._next = 0
        self._awake: datetime | None = None

    def next_batch(self) -> list[Item]:
        if self._next == 0:  # a record per partition: each producer connects, gets its id
            self._next = WARMUP
            self._awake = datetime.now(UTC) + timedelta(seconds=self._warmup_s)
            return self._records[:WARMUP]
        if self._next >= len(self._records):
            raise StopIteration
        if self._next == WARMUP:
            self._awake = None
            self._started.append(time.perf_counter())
        batch = self._records[self._next : self._next + 1000]
        self._next += len(batch)
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake


class WarmSource(DynamicSource[Item]):
    """One record, a pause of `warmup_s`, then the rest as fast as the flow takes them;
    `started` gets the time the rest began."""

    def __init__(self, records: list[Item], warmup_s: float, started: list[float]) -> None:
        self._args = (records, warmup_s, started)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _WarmPartition:
        return _WarmPartition(*self._args)


class TimedSink(KafkaRecordSink):
    """`KafkaRecordSink` that records how long each partition's snapshot takes."""

    snapshots: list[float] = []

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> Any:
        part = super().build_part(step_id, for_part, resume_state)
        snapshot = part.snapshot

        def timed() -> int:
            start = time.perf_counter()
            try:
                return snapshot()
            finally:
                TimedSink.snapshots.append(time.perf_counter() - start)

        part.snapshot = timed  # type: ignore[method-assign]
        return part


def fresh_topic(brokers: str, name: str) -> str:
    """A new topic, its partitions led already (so no variant waits for that)."""
    topic = f"bench.sink.{name}.{uuid.uuid4().hex[:8]}"
    ensure_topics(brokers, [topic], PARTITIONS)
    probe = Producer({"bootstrap.servers": brokers})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = probe.list_topics(topic, timeout=5).topics[topic]
        if len(meta.partitions) == PARTITIONS and all(
            p.leader >= 0 for p in meta.partitions.values()
        ):
            break
        time.sleep(0.05)
    return topic


def drop_topics(brokers: str, topics: list[str]) -> None:
    """A run writes ~45 MB per 100,000 records to the shared broker: give it back."""
    admin = AdminClient({"bootstrap.servers": brokers})
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        future.result(30)


def plain_producer(brokers: str, records: list[Item], warmup_s: float) -> tuple[float, str]:
    topic = fresh_topic(brokers, "plain")
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5})
    for _key, msg in records[:WARMUP]:
        producer.produce(topic, key=msg.key, value=msg.value)
    producer.flush(30)
    time.sleep(warmup_s)
    start = time.perf_counter()
    for _key, msg in records[WARMUP:]:
        while True:
            try:
                producer.produce(topic, key=msg.key, value=msg.value)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    assert producer.flush(60) == 0
    return time.perf_counter() - start, topic


def dataflow(
    brokers: str,
    records: list[Item],
    sink_of: Callable[[str], object],
    epoch_s: float,
    warmup_s: float,
) -> tuple[float, str]:
    topic = fresh_topic(brokers, "flow")
    flow = Dataflow("bench_kafka_sink")
    started: list[float] = []
    items = op.input("in", flow, WarmSource(records, warmup_s, started))
    sink = sink_of(topic)
    if isinstance(sink, KafkaRecordSink):
        op.output("out", items, sink)
    else:
        op.output("out", op.map("value", items, lambda kv: kv[1]), sink)  # type: ignore[arg-type]
    run_main(flow, epoch_interval=timedelta(seconds=epoch_s))
    return time.perf_counter() - started[0], topic


def count(brokers: str, topic: str, isolation: str) -> tuple[int, int]:
    """Records in `topic` as `isolation` reads them, and how many distinct values."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": uuid.uuid4().hex,
            "isolation.level": isolation,
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen: set[bytes] = set()
    total = 0
    while batch := consumer.consume(num_messages=10_000, timeout=2.0):
        for msg in batch:
            if msg.error() is None:
                total += 1
                seen.add(msg.value() or b"")
    consumer.close()
    return total, len(seen)


Variant = Callable[[list[Item]], tuple[float, str]]


def variants(brokers: str, epochs: list[float], warmup_s: float) -> dict[str, tuple[Variant, bool]]:
    """name -> (run it on records: seconds and topic, whether it writes transactions)."""
    health = KafkaHealth("bench")

    def flow(sink_of: Callable[[str], object], epoch_s: float = 1.0) -> Variant:
        return lambda records: dataflow(brokers, records, sink_of, epoch_s, warmup_s)

    def transactional(topic: str) -> KafkaRecordSink:
        transactional_id = f"bench-{uuid.uuid4().hex[:8]}"
        return TimedSink(brokers, topic, health=health, transactional_id=transactional_id)

    out: dict[str, tuple[Variant, bool]] = {
        "plain producer": (lambda records: plain_producer(brokers, records, warmup_s), False),
        "bytewax: discard": (flow(lambda _t: DiscardSink()), False),
        "bytewax KafkaSink": (flow(lambda t: KafkaSink([brokers], t, {"linger.ms": "5"})), False),
        "at least once": (flow(lambda t: TimedSink(brokers, t, health=health)), False),
    }
    for epoch in epochs:
        out[f"transactional, epoch {epoch:g} s"] = (flow(transactional, epoch), True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", default="1,0.2", help="transactional epoch lengths, s")
    parser.add_argument("--warmup-s", type=float, default=1.5)
    args = parser.parse_args(argv)
    brokers = Settings().kafka_brokers
    records = make_records(args.records)
    size = sum(len(m.value) for _k, m in records) / len(records)
    print(f"{args.records:,} records of {size:.0f} bytes, {PARTITIONS} partitions, {brokers}")

    runs = variants(brokers, [float(e) for e in args.epochs.split(",")], args.warmup_s)
    times: dict[str, list[float]] = {name: [] for name in runs}
    snapshot_ms: dict[str, list[float]] = {name: [] for name in runs}
    for round_no in range(args.rounds):
        names = list(runs) if round_no % 2 == 0 else list(reversed(runs))
        for name in names:
            run, transactional = runs[name]
            TimedSink.snapshots = []
            seconds, topic = run(records)
            if name != "bytewax: discard":
                isolation = "read_committed" if transactional else "read_uncommitted"
                got, distinct = count(brokers, topic, isolation)
                assert got == distinct == len(records), f"{name}: {got} ({distinct} distinct)"
            drop_topics(brokers, [topic])
            times[name].append(seconds)
            snapshot_ms[name] += [1000 * s for s in TimedSink.snapshots]
        print(f"round {round_no + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in names))
    print("every record once in every topic (transactional ones read committed)")

    def rate(name: str) -> float:
        return (args.records - WARMUP) / statistics.median(times[name])

    base, floor = rate("bytewax KafkaSink"), rate("at least once")
    print(
        f"\nmedian of {args.rounds} rounds, after a warm-up record per partition; snapshot = "
        "one sink partition's snapshot() (flush or commit), median / max over all rounds"
    )
    print("| variant | s | records/s | vs bytewax KafkaSink | vs at least once | snapshot ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in runs:
        snaps = snapshot_ms[name]
        snap = f"{statistics.median(snaps):.1f} / {max(snaps):.1f}" if snaps else "–"
        print(
            f"| {name} | {statistics.median(times[name]):.2f} | {rate(name):,.0f} | "
            f"{rate(name) / base:.2f}x | {rate(name) / floor:.2f}x | {snap} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
