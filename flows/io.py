"""How flows read and write: Kafka topics or JSONL files, chosen by a `kafka:` / `file:`
setting, and one rule for which sink a flow writes to.

Kafka is read committed (`KafkaTopicsSource`) and written by `KafkaRecordSink`, at least
once, or exactly once for read_committed consumers with `HEADWATER_KAFKA_TRANSACTIONAL_ID`;
each step reports Kafka outages in its log and in `headwater_kafka_up{client=<step>}`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

import bytewax.operators as op
from bytewax.connectors.files import FileSource
from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream

from flows.settings import Settings, file_path, kafka_topics
from flows.topics import Record, RecordTopic
from operators.common.jsonl_sink import JsonlSink
from operators.common.kafka import count_source_error
from operators.common.kafka_health import KafkaHealth
from operators.common.kafka_sink import KafkaRecordSink
from operators.common.kafka_source import KafkaTopicsSource, kafka_source

R = TypeVar("R", bound=Record)


class SourceRecord(NamedTuple):
    origin: str
    """Where it came from: `kafka:<topic>` or `file:<path>`."""
    value: bytes | str | None


def kafka_input(
    step_id: str, flow: Dataflow, settings: Settings, topics: list[str]
) -> Stream[KafkaSourceMessage[bytes | None, bytes | None]]:
    """Messages of `topics`, read committed; the errors the source reports are counted
    and logged."""
    source = KafkaTopicsSource(
        settings.kafka_brokers,
        topics,
        starting_offset=settings.kafka_start_offset,
        health=KafkaHealth(step_id),
    )
    kafka = kafka_source(step_id, flow, source)
    op.inspect(f"{step_id}_errors", kafka.errs, lambda _step, err: count_source_error(err))
    return kafka.oks


def read_records(
    step_id: str,
    flow: Dataflow,
    settings: Settings,
    location: str,
    topics: tuple[RecordTopic, ...],
) -> Stream[SourceRecord]:
    """The values of `kafka:<topics>`, or of the topics' JSONL files in `file:<dir>`."""
    directory = file_path(location)
    if directory is None:
        messages = kafka_input(f"{step_id}_kafka", flow, settings, kafka_topics(location))
        return op.map(
            f"{step_id}_values", messages, lambda m: SourceRecord(f"kafka:{m.topic}", m.value)
        )
    files = [path for t in topics if (path := Path(directory) / t.file_name).exists()]
    if not files:
        names = " or ".join(t.file_name for t in topics)
        raise ValueError(f"{step_id}: no {names} in {directory}")
    lines = [
        op.map(
            f"{step_id}_{path.stem}_values",
            op.input(f"{step_id}_{path.stem}", flow, FileSource(path)),
            _from_origin(f"file:{path}"),
        )
        for path in files
    ]
    return lines[0] if len(lines) == 1 else op.merge(f"{step_id}_lines", *lines)


def _from_origin(origin: str) -> Callable[[str], SourceRecord]:
    return lambda line: SourceRecord(origin, line)


def output_sink(*choices: str | None, default: str) -> str:
    """The first of `choices` that is `kafka` or `file:<dir>`, else `default`."""
    for choice in choices:
        if choice == "kafka" or (choice or "").startswith("file:"):
            return str(choice)
    return default


def write_records(
    step_id: str, records: Stream[R], settings: Settings, sink: str, topic: RecordTopic[R]
) -> None:
    """Records to their topic (`kafka`) or to the topic's JSONL file in `file:<dir>`."""
    directory = file_path(sink)
    if directory is not None:
        keyed = op.map(f"{step_id}_json", records, lambda r: (r.key, r.to_json()))
        op.output(step_id, keyed, JsonlSink(Path(directory) / topic.file_name))
        return
    if sink != "kafka":
        raise ValueError(f"{step_id}: records go to kafka or file:<dir>, not {sink!r}")
    kafka = KafkaRecordSink(
        settings.kafka_brokers,
        topic.name,
        health=KafkaHealth(step_id),
        transactional_id=settings.kafka_transactional_id,
    )
    op.output(step_id, op.map(f"{step_id}_kafka", records, _keyed(topic)), kafka)


def _keyed(topic: RecordTopic[R]) -> Callable[[R], tuple[str, KafkaSinkMessage[bytes, bytes]]]:
    return lambda record: (record.key, topic.encode(record))
