"""Index: `chat.messages` in; conversation segments, embedded, in Weaviate.

    python -m bytewax.run flows.index                        # settings from HEADWATER_*
    python -m bytewax.run flows.index -r recovery -s 10 -b 0 # with recovery, as for ingest

Each conversation is cut into segments (an inactivity gap or a token budget closes one);
the open segment is re-embedded and upserted as its messages arrive, a burst at a time.
Objects live in `ChatSegment_<model version>` (a tenant per Headwater tenant), reached
for reading through the alias `ChatSegment`. Records Weaviate refuses, and records on
the input topic that are not messages, go to `chat.rejected`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow, Stream

from flows.settings import Settings
from models import load_embedder
from operators.common import metrics
from operators.common.clock import wall_clock_ms
from operators.common.weaviate import connect_weaviate
from operators.index.segment import segment_conversations
from operators.index.step import index_segments
from operators.index.writer import SegmentWriter
from schemas.message import ChatMessage, Rejected

log = logging.getLogger(__name__)

MESSAGES_TOPIC = "chat.messages"
REJECTED_TOPIC = "chat.rejected"


def writer_for(settings: Settings, model_version: str) -> SegmentWriter:
    key = settings.weaviate_api_key

    def connect():  # noqa: ANN202
        return connect_weaviate(settings.weaviate_url, settings.weaviate_grpc_port,
                                key.get_secret_value() if key else None)

    return SegmentWriter(connect, model_version, retry_s=settings.index_retry_s)


FILE_BACKFILL_HOLD_MS = 3_600_000
"""The backfill hold when the input ends (files) and no hold is set: the end sends every
open segment, so holding costs no one a wait, and each segment is embedded about once.
(On Kafka a held segment is not searchable until its hold ends.)"""


def backfill_hold_ms(settings: Settings, *, input_ends: bool) -> int:
    if input_ends and "index_backfill_hold_ms" not in settings.model_fields_set:
        return FILE_BACKFILL_HOLD_MS
    return settings.index_backfill_hold_ms


def index(
    messages: Stream[ChatMessage], settings: Settings, *, input_ends: bool = False
) -> Stream[Rejected]:
    """Segment, embed and upsert; the dead letters of the index come out.

    `input_ends`: the messages come from files, not from Kafka.
    """
    embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
    segments = segment_conversations(
        "segment",
        messages,
        gap_ms=int(settings.segment_gap_s * 1000),
        max_tokens=min(settings.segment_max_tokens, embedder.max_seq_length),
        coalesce_ms=settings.index_coalesce_ms,
        backfill_hold_ms=backfill_hold_ms(settings, input_ends=input_ends),
        count_tokens=embedder.token_counts,
    )
    return index_segments(
        "index", segments, embed=embedder.embed, count_tokens=embedder.token_counts,
        reembed_closed=settings.index_reembed_closed,
        writer=writer_for(settings, embedder.version), max_wait=timedelta(milliseconds=5),
    )


def read_messages(flow: Dataflow, settings: Settings) -> tuple[Stream[ChatMessage],
                                                               Stream[Rejected]]:
    """Messages from `chat.messages` (or the `kafka:` topics of the source setting)."""
    topics = settings.source_topics or [MESSAGES_TOPIC]
    kafka = kop.input("read_kafka", flow, brokers=settings.kafka_brokers.split(","),
                      topics=topics, starting_offset=settings.kafka_start_offset)
    op.inspect("kafka_errors", kafka.errs, lambda _step, err: _source_error(err))
    parsed = op.map("parse", kafka.oks, _parse)
    split = op.branch("is_message", parsed, lambda r: isinstance(r, ChatMessage))
    return split.trues, split.falses


def _source_error(err: object) -> None:
    metrics.SOURCE_ERRORS.inc()
    log.warning("kafka source error: %s", err)


def _parse(msg: KafkaSourceMessage) -> ChatMessage | Rejected:
    raw = msg.value or b""
    try:
        return ChatMessage.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        metrics.REJECTED.labels(reason="invalid_schema").inc()
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return Rejected(reason="invalid_schema", errors=(str(exc)[:2000],),
                        source=f"kafka:{msg.topic}", received_at=wall_clock_ms(), raw=text)


def write_rejected(rejected: Stream[Rejected], settings: Settings) -> None:
    kafka_msgs = op.map("rejected_kafka", rejected,
                        lambda r: KafkaSinkMessage(key=r.key.encode(), value=r.to_json()))
    kop.output("write_rejected", kafka_msgs, brokers=settings.kafka_brokers.split(","),
               topic=REJECTED_TOPIC)


def build(**overrides: Any) -> Dataflow:
    """The index dataflow, from HEADWATER_* settings with keyword overrides."""
    settings = Settings(**overrides)
    metrics.serve_metrics(settings.metrics_port)
    flow = Dataflow("index")
    messages, not_messages = read_messages(flow, settings)
    refused = index(messages, settings)
    write_rejected(op.merge("all_rejected", not_messages, refused), settings)
    return flow


def __getattr__(name: str) -> Dataflow:
    if name == "flow":
        return build()
    raise AttributeError(name)
