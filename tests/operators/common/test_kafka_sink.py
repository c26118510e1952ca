"""KafkaRecordSink's partitions against a scripted producer: nothing is lost, a snapshot
never covers an undelivered record, a transaction holds one epoch, waits are bounded.
(tests/integration/test_kafka_outage.py runs it against a real broker going away.)"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import pytest
from bytewax.connectors.kafka import KafkaSinkMessage
from confluent_kafka import KafkaError, KafkaException

from operators.common import kafka_sink
from operators.common.kafka_health import KafkaHealth
from operators.common.kafka_sink import KafkaRecordSink


class FakeProducer:
    """librdkafka as far as the sink sees it; `connected` False holds every record."""

    instances: list[FakeProducer] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.connected = True
        self.full = 0  # the next `full` produce() calls raise BufferError
        self.queue: list[tuple[Any, Callable[..., None]]] = []
        self.delivered: list[Any] = []
        self.committed: list[Any] = []
        self.in_txn: list[Any] = []
        self.calls: list[str] = []
        self.fail_delivery: KafkaError | None = None
        self.raises: dict[str, list[KafkaException]] = {}
        FakeProducer.instances.append(self)

    def produce(self, topic: str, **kw: Any) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.queue.append(((topic, kw["partition"], kw["key"], kw["value"]), kw["on_delivery"]))

    def poll(self, _timeout: float = 0) -> int:
        if not self.connected:
            return 0
        served = len(self.queue)
        for record, callback in self.queue:
            callback(self.fail_delivery, None)
            if self.fail_delivery is None:
                self.delivered.append(record)
                self.in_txn.append(record)
        self.queue.clear()
        return served

    def flush(self, _timeout: float = 0) -> int:
        self.poll()
        return len(self.queue)

    def _scripted(self, name: str) -> None:
        self.calls.append(name)
        pending = self.raises.get(name)
        if pending:
            raise pending.pop(0)

    def init_transactions(self, _timeout: float) -> None:
        self._scripted("init_transactions")

    def begin_transaction(self) -> None:
        self.calls.append("begin_transaction")
        self.in_txn = []

    def commit_transaction(self, _timeout: float) -> None:
        self._scripted("commit_transaction")
        if self.flush() > 0:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True))
        self.committed += self.in_txn
        self.in_txn = []

    def abort_transaction(self, _timeout: float) -> None:
        self._scripted("abort_transaction")
        self.queue.clear()
        self.in_txn = []


@pytest.fixture(autouse=True)
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProducer.instances = []
    monkeypatch.setattr(kafka_sink, "Producer", FakeProducer)
    monkeypatch.setattr(kafka_sink, "_POLLER", type("NoPoller", (), {"add": lambda *_: None})())
    monkeypatch.setattr(kafka_sink, "_STEP_S", 0.01)


def writer(transactional_id: str | None = None, timeout_s: float = 0.3, part: str = "0002"):
    sink = KafkaRecordSink(
        "127.0.0.1:1",
        "t",
        health=KafkaHealth("test"),
        transactional_id=transactional_id,
        timeout_s=timeout_s,
    )
    part_writer = sink.build_part("flow.write", part, None)
    return part_writer, FakeProducer.instances[-1]


def msgs(*values: str) -> list[KafkaSinkMessage[bytes, bytes]]:
    return [KafkaSinkMessage(key=b"k", value=v.encode()) for v in values]


def values(records: list[Any]) -> list[bytes]:
    return [r[3] for r in records]


def test_a_key_goes_to_librdkafkas_partition_for_it() -> None:
    sink = KafkaRecordSink("127.0.0.1:1", "t", health=KafkaHealth("test"))
    assert sink.part_fn("acme/c-1") == zlib.crc32(b"acme/c-1")
    part_writer, producer = writer()  # sink partition "0002": topic partition 2
    part_writer.write_batch(msgs("a"))
    assert [r[:2] for r in producer.delivered] == [("t", 2)]


def test_a_snapshot_waits_until_every_record_is_delivered() -> None:
    part_writer, producer = writer(timeout_s=5)
    producer.connected = False
    part_writer.write_batch(msgs("a", "b"))
    assert producer.delivered == []
    calls = 0
    real_flush = producer.flush

    def flush(timeout: float = 0) -> int:
        nonlocal calls
        calls += 1
        producer.connected = calls > 3  # the broker comes back during the snapshot
        return real_flush(timeout)

    producer.flush = flush  # type: ignore[method-assign]
    assert part_writer.snapshot() == 1
    assert values(producer.delivered) == [b"a", b"b"]


def test_a_snapshot_raises_when_kafka_stays_away_past_the_timeout() -> None:
    part_writer, producer = writer(timeout_s=0.2)
    producer.connected = False
    part_writer.write_batch(msgs("a"))
    with pytest.raises(RuntimeError, match="no delivery of the epoch's records in 0 s"):
        part_writer.snapshot()


def test_a_full_queue_waits_for_room_and_keeps_order() -> None:
    part_writer, producer = writer()
    producer.full = 3
    part_writer.write_batch(msgs("a", "b"))
    part_writer.snapshot()
    assert values(producer.delivered) == [b"a", b"b"]


def test_a_queue_that_stays_full_raises_instead_of_dropping() -> None:
    part_writer, producer = writer(timeout_s=0.2)
    producer.full = 10**9
    with pytest.raises(RuntimeError, match="room in the producer queue"):
        part_writer.write_batch(msgs("a"))


def test_a_failed_delivery_stops_the_flow_before_a_snapshot_covers_it() -> None:
    part_writer, producer = writer()
    producer.connected = False
    part_writer.write_batch(msgs("a"))
    producer.connected = True
    producer.fail_delivery = KafkaError(KafkaError._MSG_TIMED_OUT, "Message timed out")
    with pytest.raises(RuntimeError, match="not delivered"):
        part_writer.snapshot()


def test_a_transaction_holds_one_epoch_and_commits_at_the_snapshot() -> None:
    part_writer, producer = writer("hw")
    assert producer.config["transactional.id"] == "hw.flow.write.2"
    assert producer.calls == ["init_transactions"]
    part_writer.write_batch(msgs("a"))
    part_writer.write_batch(msgs("b"))
    assert producer.committed == []
    assert part_writer.snapshot() == 1
    part_writer.write_batch(msgs("c"))
    assert values(producer.committed) == [b"a", b"b"]
    part_writer.snapshot()
    assert values(producer.committed) == [b"a", b"b", b"c"]
    assert producer.calls.count("begin_transaction") == 2


def test_a_commit_that_times_out_while_the_broker_is_away_is_retried() -> None:
    part_writer, producer = writer("hw", timeout_s=5)
    part_writer.write_batch(msgs("a"))
    timed_out = KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True))
    producer.raises["commit_transaction"] = [timed_out, timed_out]
    part_writer.snapshot()
    assert values(producer.committed) == [b"a"]
    assert producer.calls.count("commit_transaction") == 3


def test_a_transaction_the_broker_aborted_is_written_again_and_committed_once() -> None:
    part_writer, producer = writer("hw", timeout_s=5)
    part_writer.write_batch(msgs("a", "b"))
    producer.raises["commit_transaction"] = [
        KafkaException(KafkaError(KafkaError._STATE, "timed out", txn_requires_abort=True))
    ]
    part_writer.snapshot()
    assert values(producer.committed) == [b"a", b"b"]
    assert "abort_transaction" in producer.calls


def test_a_fenced_producer_says_another_instance_may_be_running() -> None:
    part_writer, producer = writer("hw")
    part_writer.write_batch(msgs("a"))
    producer.raises["commit_transaction"] = [
        KafkaException(KafkaError(KafkaError._FENCED, "fenced", fatal=True))
    ]
    with pytest.raises(RuntimeError, match="another instance"):
        part_writer.snapshot()


def test_close_aborts_a_transaction_no_snapshot_covers() -> None:
    part_writer, producer = writer("hw")
    part_writer.write_batch(msgs("a"))
    part_writer.close()
    assert producer.committed == []
    assert producer.calls[-1] == "abort_transaction"
