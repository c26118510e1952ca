"""A Kafka sink for drift alerts that does not send an alert twice across a restart.

Bytewax resumes from its last snapshot and replays what came after it, so an alert
emitted after that snapshot is emitted again (alert ids are deterministic, so with the
same id). Each partition of this sink snapshots the end offset of its Kafka partition
(after flushing); on resume it reads the alerts written after that offset and skips a
replayed alert with one of their ids, or for the same tenant, signal and action inside
the cooldown one of them started. Bytewax builds a sink partition at its first
item, so a partition can lack a snapshot on resume (its first alert came after the last
snapshot); without one it reads back the alerts of the last `lookback_s` seconds. Ids
are deterministic, so skipping an id already on the topic is right in a fresh run too.
"""

from __future__ import annotations

import logging
import time
import uuid

import orjson
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from schemas.alert import DriftAlert
from schemas.message import parse_iso_utc_ms

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0


class SentAlerts:
    """Alerts already on the topic: their ids, and the cooldown each one started."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.cooldowns: dict[tuple[str, str, str], int] = {}

    def add(self, record: dict) -> None:
        self.ids.add(record["alert_id"])
        key = (record["tenant"], record["signal"], record["action"])
        until = parse_iso_utc_ms(record["cooldown_until"])
        self.cooldowns[key] = max(until, self.cooldowns.get(key, until))

    def covers(self, alert: DriftAlert) -> bool:
        """Sent already, or raised inside the cooldown of one that was.

        A replay can interleave a tenant's partitions differently and so raise the same
        drift with other evidence (another id); the cooldown on the topic still holds.
        """
        if alert.alert_id in self.ids:
            return True
        until = self.cooldowns.get((alert.tenant, alert.signal, alert.action))
        return until is not None and alert.detected_ms < until

    def __len__(self) -> int:
        return len(self.ids)


def sent_alerts(
    brokers: str, topic: str, partition: int, start: int | None, since_ms: int = 0
) -> SentAlerts:
    """The alerts in `topic`/`partition` from offset `start` (None: from the first one
    written at or after `since_ms`) to the current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"drift-sink-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        _, end = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=TIMEOUT_S, cached=False
        )
        if start is None:
            found = consumer.offsets_for_times(
                [TopicPartition(topic, partition, since_ms)], timeout=TIMEOUT_S
            )[0].offset
            start = found if found >= 0 else end
        sent = SentAlerts()
        if end <= start:
            return sent
        consumer.assign([TopicPartition(topic, partition, start)])
        position = start
        while position < end:
            msg = consumer.poll(TIMEOUT_S)
            if msg is None:
                raise RuntimeError(f"reading back {topic}/{partition} timed out at {position}")
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    break
                raise RuntimeError(f"reading back {topic}/{partition}: {error}")
            offset, value = msg.offset(), msg.value()
            position = (position if offset is None else offset) + 1
            if value is None:
                continue
            try:
                sent.add(orjson.loads(value))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        return sent
    finally:
        consumer.close()


class _AlertPartition(StatefulSinkPartition[DriftAlert, int]):
    def __init__(
        self, brokers: str, topic: str, partition: int, resume: int | None, lookback_s: float
    ) -> None:
        self._topic, self._partition = topic, partition
        since_ms = int((time.time() - lookback_s) * 1000)
        self._skip = sent_alerts(brokers, topic, partition, resume, since_ms)
        if self._skip:
            log.info(
                "%s/%d: %d alerts already on the topic will not be resent",
                topic,
                partition,
                len(self._skip),
            )
        self._producer = Producer(
            {"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 5}
        )
        self._watermarks = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": f"drift-sink-{uuid.uuid4()}",
                "enable.auto.commit": False,
            }
        )
        self._errors: list[str] = []

    def _delivered(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self._errors.append(str(err))

    def write_batch(self, items: list[DriftAlert]) -> None:
        for alert in items:
            if self._skip.covers(alert):
                continue
            self._producer.produce(
                self._topic,
                key=alert.key.encode(),
                value=alert.to_json(),
                partition=self._partition,
                on_delivery=self._delivered,
            )
        self._producer.poll(0)
        self._raise_errors()

    def snapshot(self) -> int:
        if self._producer.flush(TIMEOUT_S) > 0:
            raise RuntimeError(
                f"{self._topic}/{self._partition}: alerts not delivered in {TIMEOUT_S:.0f} s"
            )
        self._raise_errors()
        _, end = self._watermarks.get_watermark_offsets(
            TopicPartition(self._topic, self._partition), timeout=TIMEOUT_S, cached=False
        )
        return end

    def close(self) -> None:
        self._producer.flush(TIMEOUT_S)
        self._watermarks.close()

    def _raise_errors(self) -> None:
        if self._errors:
            raise RuntimeError(
                f"{self._topic}/{self._partition}: delivery failed: {self._errors[0]}"
            )


class AlertKafkaSink(FixedPartitionedSink[DriftAlert, int]):
    """Alerts keyed by tenant to `topic`, one sink partition per topic partition."""

    def __init__(self, brokers: str, topic: str, lookback_s: float = 3600.0) -> None:
        self._brokers, self._topic, self._lookback_s = brokers, topic, lookback_s

    def list_parts(self) -> list[str]:
        producer = Producer({"bootstrap.servers": self._brokers})
        meta = producer.list_topics(self._topic, timeout=TIMEOUT_S).topics.get(self._topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise RuntimeError(
                f"topic {self._topic!r} is not available on {self._brokers}: "
                "create it with `python -m flows.topics`"
            )
        return [str(p) for p in sorted(meta.partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _AlertPartition:
        return _AlertPartition(
            self._brokers, self._topic, int(for_part), resume_state, self._lookback_s
        )
