"""Ingest: raw envelopes in; clean, unique, PII-free, time-ordered messages out.

    python -m bytewax.run flows.ingest                       # settings from HEADWATER_*
    python -m bytewax.run "flows.ingest:build(sink='file:out')"

parse -> validate -> normalize -> redact PII -> dedup -> reorder, with every input line
archived, dead letters for whatever is not a message, and feedback routed on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream

from flows import topics
from flows.io import kafka_input, output_sink, write_records
from flows.settings import Settings
from operators.common import metrics as common_metrics
from operators.common.clock import wall_clock_ms
from operators.ingest import metrics
from operators.ingest.archive import RawArchiveSink
from operators.ingest.dedup_reorder import dedup_and_reorder
from operators.ingest.file_source import RawFileSource
from operators.ingest.parse import Parsed, Parser
from operators.pii.step import redact_messages
from schemas.guards import is_feedback, is_message
from schemas.message import ChatMessage, Feedback, Rejected
from schemas.pii_audit import PiiAudit
from schemas.raw import RawLine, text_of

log = logging.getLogger(__name__)

OUTPUT_TOPICS: dict[str, topics.RecordTopic[Any]] = {
    "messages": topics.MESSAGES,
    "feedback": topics.FEEDBACK,
    "rejected": topics.REJECTED,
    "pii_audit": topics.PII_AUDIT,
}


@dataclass(frozen=True)
class IngestOut:
    messages: Stream[ChatMessage]
    feedback: Stream[Feedback]
    rejected: Stream[Rejected]
    pii_audit: Stream[PiiAudit]


def read_raw(flow: Dataflow, settings: Settings) -> Stream[RawLine]:
    """Raw lines from the configured files or Kafka topics."""
    if settings.source_path is not None:
        return op.input("read_files", flow, RawFileSource(settings.source_path))
    kafka = kafka_input("read_kafka", flow, settings, settings.source_topics)

    def to_raw(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> RawLine:
        origin = f"kafka:{msg.topic}/{msg.partition}/{msg.offset}"
        text, undecodable = text_of(msg.value or b"")  # no value: rejected as empty
        return RawLine(text, wall_clock_ms(), origin, undecodable=undecodable)

    return op.map("kafka_to_raw", kafka, to_raw)


def _source_of(result: Parsed) -> str:
    return result.source or "unknown"


def _count_received(result: Parsed) -> None:
    metrics.RECEIVED.labels(source=_source_of(result)).inc()
    if isinstance(result, Rejected):
        common_metrics.REJECTED.labels(reason=result.reason).inc()


def ingest(flow: Dataflow, lines: Stream[RawLine], settings: Settings) -> IngestOut:
    """The ingest steps from raw lines to the three output streams."""
    parser = Parser(
        default_tz=ZoneInfo(settings.default_tz),
        max_clock_skew_ms=int(settings.max_clock_skew_s * 1000),
        max_line_bytes=settings.max_line_bytes,
    )
    parsed = op.map("parse", lines, lambda line: (line, parser.parse(line)))
    op.output(
        "archive",
        op.map("archive_item", parsed, lambda lp: (_source_of(lp[1]), lp[0])),
        RawArchiveSink(Path(settings.archive_dir)),
    )
    results = op.map("results", parsed, lambda lp: lp[1])
    op.inspect("count_received", results, lambda _step, r: _count_received(r))

    by_type = op.branch("is_message", results, is_message)
    others = op.branch("is_feedback", by_type.falses, is_feedback)
    # What is neither a message nor feedback is a dead letter (`Parsed`).
    rejected = cast("Stream[Rejected]", others.falses)

    redacted = redact_messages(
        "redact_pii", by_type.trues, settings.pii_hmac_key.get_secret_value().encode()
    )
    conversations = dedup_and_reorder(
        "dedup_reorder",
        redacted.messages,
        ttl_ms=int(settings.dedup_ttl_s * 1000),
        lateness_ms=int(settings.allowed_lateness_s * 1000),
    )
    op.inspect(
        "count_duplicates", conversations.duplicates, lambda _step, _m: metrics.DUPLICATES.inc()
    )
    return IngestOut(conversations.messages, others.trues, rejected, redacted.audits)


def _emit_observer(kind: str) -> Callable[[str, Any], None]:
    emitted = metrics.EMITTED.labels(output=kind)

    def observe(_step_id: str, record: Any) -> None:
        emitted.inc()
        if isinstance(record, ChatMessage):
            if record.late:
                metrics.LATE.inc()
            metrics.RECEIVE_TO_EMIT.observe(max(0, wall_clock_ms() - record.received_at) / 1000)

    return observe


def write_outputs(out: IngestOut, settings: Settings, sink: str) -> None:
    """Messages, feedback and dead letters to Kafka topics (`kafka`) or JSONL (`file:<dir>`)."""
    streams: dict[str, Stream[Any]] = {
        "messages": out.messages,
        "feedback": out.feedback,
        "rejected": out.rejected,
        "pii_audit": out.pii_audit,
    }
    for kind, stream in streams.items():
        op.inspect(f"count_{kind}", stream, _emit_observer(kind))
        write_records(f"write_{kind}", stream, settings, sink, OUTPUT_TOPICS[kind])


def build(**overrides: Any) -> Dataflow:
    """The ingest dataflow, from HEADWATER_* settings with keyword overrides."""
    settings = Settings(**overrides)
    common_metrics.serve_metrics(settings.metrics_port)
    flow = Dataflow("ingest")
    out = ingest(flow, read_raw(flow, settings), settings)
    if settings.sink == "weaviate":
        raise ValueError("the ingest flow writes to kafka or file:<dir>, not 'weaviate'")
    write_outputs(out, settings, output_sink(settings.sink, default="kafka"))
    return flow


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run flows.ingest` looks up `flow`; build it only when asked.
    if name == "flow":
        return build()
    raise AttributeError(name)
