"""Index: `chat.messages` in; conversation segments, embedded, in Weaviate.

    python -m bytewax.run flows.index                        # settings from HEADWATER_*
    python -m bytewax.run flows.index -r recovery -s 10 -b 0 # with recovery, as for ingest

Each conversation is cut into segments (an inactivity gap or a token budget closes one);
the open segment is re-embedded and upserted as its messages arrive, a burst at a time.
Objects live in `ChatSegment_<model version>` (a tenant per Headwater tenant), reached
for reading through the alias `ChatSegment`; while a reindex builds another collection,
and until the one the alias left is retired, they are written there too
(`operators.index.fanout`). Records Weaviate refuses, and input records
that are not messages, go to `chat.rejected` (or `<dir>/rejected.jsonl` with
`HEADWATER_SINK=file:<dir>`).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from flows import topics
from flows.io import SourceRecord, output_sink, read_records, write_records
from flows.settings import Settings, file_path
from models import load_embedder, load_embedder_of_version
from operators.common import metrics
from operators.common.clock import wall_clock_ms
from operators.common.kafka import value_text
from operators.common.weaviate import connect_weaviate
from operators.index.fanout import FanOutWriter, WriteTargets
from operators.index.segment import segment_conversations
from operators.index.step import index_segments
from operators.index.write_notices import WriteNotices
from operators.index.writer import Creates, SegmentWriter
from schemas.guards import is_message
from schemas.message import ChatMessage, Rejected


def writer_for(
    settings: Settings,
    model_version: str,
    collection: str | None = None,
    creates: Creates = "collection_and_alias",
) -> SegmentWriter:
    """A writer of the index: it retries outages itself, for `index_retry_s`; its client
    does not retry (or a single call could take a minute of the bound)."""
    connect = functools.partial(connect_weaviate, settings, client_retries=False)
    return SegmentWriter(
        connect,
        model_version,
        collection=collection,
        creates=creates,
        alias=settings.weaviate_alias,
        retry_s=settings.index_retry_s,
    )


def fan_out_writer(settings: Settings, model_version: str) -> FanOutWriter:
    """The live index's writer: every collection in rotation gets each stored segment. The
    rotation is read without the client's retries and within 5 s, so a Weaviate outage
    holds the writes no longer than the writer's own bound (the last rotation read is
    kept meanwhile)."""
    connect = functools.partial(connect_weaviate, settings, timeout_s=5.0, client_retries=False)
    targets = WriteTargets(connect, settings.weaviate_alias)
    return FanOutWriter(
        model_version,
        lambda name, version, creates: writer_for(settings, version, name, creates),
        targets.get,
        alias=settings.weaviate_alias,
        embedder_of=lambda version: load_embedder_of_version(version, settings.embedding_threads),
    )


KAFKA_BACKFILL_HOLD_MS = 10_000
"""The backfill hold on Kafka when none is set: a held segment is not searchable until
its hold ends, so it stays short."""
FILE_BACKFILL_HOLD_MS = 3_600_000
"""The backfill hold when the input ends (files) and none is set: the end sends every
open segment, so holding costs no one a wait, and each segment is embedded about once."""


def backfill_hold_ms(settings: Settings, *, input_ends: bool) -> int:
    if settings.index_backfill_hold_ms is not None:
        return settings.index_backfill_hold_ms
    return FILE_BACKFILL_HOLD_MS if input_ends else KAFKA_BACKFILL_HOLD_MS


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
        "index",
        segments,
        embed=embedder.embed_passages,
        neutralize=embedder.neutralize_languages,
        count_tokens=embedder.token_counts,
        reembed_closed=settings.index_reembed_closed,
        writer=fan_out_writer(settings, embedder.version),
        on_written=WriteNotices(settings.redis_url).written
        if settings.index_write_notices
        else None,
        max_wait=timedelta(milliseconds=5),
    )


def read_messages(
    flow: Dataflow, settings: Settings
) -> tuple[Stream[ChatMessage], Stream[Rejected]]:
    """Messages from the index source (`chat.messages`, or an ingest output dir)."""
    records = read_records("read", flow, settings, settings.index_source, (topics.MESSAGES,))
    parsed = op.map("parse", records, _parse)
    split = op.branch("is_message", parsed, is_message)
    return split.trues, cast("Stream[Rejected]", split.falses)


def _parse(record: SourceRecord) -> ChatMessage | Rejected:
    try:
        return topics.MESSAGES.decode(record.value or b"")
    except (ValueError, KeyError, TypeError) as exc:
        metrics.REJECTED.labels(reason="invalid_schema").inc()
        return Rejected(
            reason="invalid_schema",
            errors=(str(exc)[:2000],),
            source=record.origin,
            received_at=wall_clock_ms(),
            raw=value_text(record.value),
        )


def build(**overrides: Any) -> Dataflow:
    """The index dataflow, from HEADWATER_* settings with keyword overrides."""
    settings = Settings(**overrides)
    metrics.serve_metrics(settings.metrics_port)
    flow = Dataflow("index")
    messages, not_messages = read_messages(flow, settings)
    refused = index(messages, settings, input_ends=file_path(settings.index_source) is not None)
    rejected = op.merge("all_rejected", not_messages, refused)
    sink = output_sink(settings.sink, default="kafka")
    write_records("write_rejected", rejected, settings, sink, topics.REJECTED)
    return flow


def __getattr__(name: str) -> Dataflow:
    if name == "flow":
        return build()
    raise AttributeError(name)
