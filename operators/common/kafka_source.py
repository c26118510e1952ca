"""The source every flow reads Kafka with.

`KafkaTopicsSource`: bytewax's `KafkaSource`, reading `read_committed`, with
`HEADWATER_KAFKA_START=end` resolved to the partition's end offset when the partition
is first built. Bytewax's source keeps the logical offset "end" as its resume state
until it reads a message, so a restart of a flow whose partition had no traffic yet
would start from the end again and skip what arrived while the flow was down; a
concrete offset in the first snapshot does not.
"""

from __future__ import annotations

import logging
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError as SourceError
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.connectors.kafka import _KafkaSourcePartition as BytewaxSourcePartition
from bytewax.connectors.kafka.operators import KafkaOpOut
from bytewax.dataflow import Dataflow, operator
from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from operators.common.kafka_health import KafkaClientHealth, KafkaHealth

log = logging.getLogger(__name__)


class _SourcePartition(BytewaxSourcePartition):
    """Bytewax's partition, telling `KafkaHealth` when it gets through: a batch of
    messages, or a broker `UP` in its statistics (each second)."""

    def __init__(self, health: KafkaClientHealth, *args: Any) -> None:
        self._health = health
        super().__init__(*args)

    def next_batch(self) -> list[Any]:
        batch = super().next_batch()
        if batch:
            self._health.on_ok()
        return batch

    def _process_stats(self, json_stats: str) -> None:
        self._health.on_stats(json_stats)
        super()._process_stats(json_stats)


class KafkaTopicsSource(KafkaSource):
    """Messages of `topics`, read committed, one partition per topic partition.

    `starting_offset` is `OFFSET_BEGINNING` or `OFFSET_END`; `OFFSET_END` becomes the
    partition's end (last stable) offset when the partition is built without resume
    state, so the first snapshot already holds where to resume (module doc).
    """

    def __init__(
        self,
        brokers: str,
        topics: list[str],
        *,
        starting_offset: int,
        health: KafkaHealth,
        batch_size: int = 1000,
        timeout_s: float = 30.0,
    ) -> None:
        self._health = health
        self._timeout_s = timeout_s
        super().__init__(
            brokers.split(","),
            topics,
            tail=True,
            starting_offset=starting_offset,
            batch_size=batch_size,
            raise_on_errors=False,
        )

    def list_parts(self) -> list[str]:
        """`<partition>-<topic>` for each partition of each topic (bytewax's names)."""
        admin = AdminClient(
            {"bootstrap.servers": ",".join(self._brokers), **self._health.transient_config()}
        )
        parts = []
        for topic in self._topics:
            try:
                meta = admin.list_topics(topic, timeout=self._timeout_s).topics[topic]
            except KafkaException as exc:
                raise RuntimeError(f"listing the partitions of {topic!r}: {exc}") from exc
            if meta.error is not None:
                raise RuntimeError(f"listing the partitions of {topic!r}: {meta.error.str()}")
            parts += [f"{p}-{topic}" for p in sorted(meta.partitions)]
        return parts

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> BytewaxSourcePartition:
        idx, topic = for_part.split("-", 1)
        if topic not in self._topics:
            raise ValueError(f"{step_id}: resume state for topic {topic!r}, not in {self._topics}")
        partition = int(idx)
        if resume_state == OFFSET_END:
            log.warning(
                "%s: %s/%d resumes from 'end' (a snapshot older than the resolved offsets); "
                "what arrived while the flow was down is skipped",
                step_id,
                topic,
                partition,
            )
        if resume_state == OFFSET_END or (
            resume_state is None and self._starting_offset == OFFSET_END
        ):
            resume_state = self._end_offset(step_id, topic, partition)
        health = self._health.client()
        config = {
            # As bytewax's KafkaSource: offsets live in the recovery store, not a group.
            "group.id": "BYTEWAX_IGNORED",
            "enable.auto.commit": "false",
            "bootstrap.servers": ",".join(self._brokers),
            "enable.partition.eof": "false",
            "statistics.interval.ms": 1000,
            # Records of transactions that were aborted (a sink killed mid-snapshot) or
            # are still open never reach the flow.
            "isolation.level": "read_committed",
            **health.config(),
        }
        return _SourcePartition(
            health,
            step_id,
            config,
            topic,
            partition,
            self._starting_offset,
            resume_state,
            self._batch_size,
            self._raise_on_errors,
        )

    def _end_offset(self, step_id: str, topic: str, partition: int) -> int:
        """The partition's last stable offset: where a read-committed reader at its end is."""
        consumer = Consumer(
            {
                "bootstrap.servers": ",".join(self._brokers),
                "group.id": "BYTEWAX_IGNORED",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                **self._health.transient_config(),
            }
        )
        try:
            _, end = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self._timeout_s, cached=False
            )
        except KafkaException as exc:
            raise RuntimeError(
                f"{step_id}: cannot find the end of {topic}/{partition} for "
                f"HEADWATER_KAFKA_START=end: {exc}"
            ) from exc
        finally:
            consumer.close()
        log.info("%s: %s/%d starts at its end, offset %d", step_id, topic, partition, end)
        return int(end)


KafkaItem = KafkaSourceMessage[bytes | None, bytes | None]


@operator
def kafka_source(
    step_id: str, flow: Dataflow, source: KafkaTopicsSource
) -> KafkaOpOut[KafkaItem, SourceError[bytes | None, bytes | None]]:
    """`source`'s messages and errors as two streams: bytewax's `kop.input` with another
    source, keeping its inner step id `kafka_input`, so existing recovery state applies."""
    items = op.input("kafka_input", flow, source)
    split = op.branch("split_err", items, lambda m: isinstance(m, KafkaSourceMessage))
    return KafkaOpOut(split.trues, split.falses)  # type: ignore[arg-type]
