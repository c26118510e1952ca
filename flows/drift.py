"""Drift: River detectors over messages and feedback, alerts to `drift.alerts`.

    python -m bytewax.run flows.drift                          # settings from HEADWATER_*
    python -m bytewax.run "flows.drift:build(drift_source='file:out', drift_sink='file:alerts')"

Reads `chat.messages` and `chat.feedback`, keys by tenant, and keeps one `TenantDrift`
per tenant in Bytewax state: embedding drift of user messages (-> reindex), refusal and
toxicity rates of bot replies, feedback accuracy and message features (-> retrain).

User messages are embedded here, with the shared embedder, in tenant-keyed micro-batches
(`embed_batched`). The index flow embeds conversation *segments* (several messages, one
vector) and publishes none of them, while the embedding signal compares single user
messages with a reference of single user messages; embedding here keeps the two flows
independent (drift runs without Weaviate or the index) at the cost of a second pass of
the model over user messages only (~1.5 ms each on two cores, batched).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from flows import topics
from flows.io import SourceRecord, output_sink, read_records, write_records
from flows.settings import Settings
from operators.common import metrics
from operators.common.embed_batch import embed_batched
from operators.common.kafka import value_text
from operators.drift import metrics as drift_metrics
from operators.drift.alert_sink import AlertKafkaSink
from operators.drift.detectors import DriftConfig, load_reference_file
from operators.drift.step import DriftEvent, detect_drift, parse_record
from schemas.alert import DriftAlert
from schemas.guards import is_message
from schemas.message import ChatMessage, Feedback

log = logging.getLogger(__name__)


def drift_config(settings: Settings, model_version: str) -> DriftConfig:
    """The detectors' plain configuration from the settings."""
    reference = None
    if settings.drift_reference_file is not None:
        reference = load_reference_file(settings.drift_reference_file, model_version)
    return DriftConfig(
        model_version=model_version,
        cooldown_ms=int(settings.drift_cooldown_s * 1000),
        reference_size=settings.drift_reference_size,
        window_size=settings.drift_window_size,
        refusal_threshold=settings.drift_refusal_threshold,
        toxicity_threshold=settings.drift_toxicity_threshold,
        reference=reference,
    )


def _parsed(record: SourceRecord) -> ChatMessage | Feedback | None:
    parsed = parse_record(record.value)
    if parsed is None:
        drift_metrics.UNPARSEABLE.inc()
        log.warning(
            "drift input from %s is neither a message nor feedback: %.200s",
            record.origin,
            value_text(record.value),
        )
    return parsed


def read_inputs(flow: Dataflow, settings: Settings) -> tuple[Stream[ChatMessage], Stream[Feedback]]:
    """Messages and feedback from the drift source (Kafka topics or an ingest output dir)."""
    records = read_records(
        "drift_read", flow, settings, settings.drift_source, (topics.MESSAGES, topics.FEEDBACK)
    )
    parsed = op.filter_map("drift_parse", records, _parsed)
    split = op.branch("drift_is_message", parsed, is_message)
    return split.trues, cast("Stream[Feedback]", split.falses)


def drift(
    flow: Dataflow,
    messages: Stream[ChatMessage],
    feedback: Stream[Feedback],
    settings: Settings,
    *,
    embedder: Any = None,
) -> Stream[DriftAlert]:
    """The drift steps: alerts from messages and feedback (embedder: models.Embedder)."""
    if embedder is None:
        from models import load_embedder

        embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
    config = drift_config(settings, embedder.version)

    users = op.filter("drift_users", messages, lambda m: m.role == "user")
    bots = op.filter("drift_bots", messages, lambda m: m.role == "bot")
    embedded = embed_batched(
        "drift_embed",
        op.key_on("drift_key_users", users, lambda m: m.tenant),
        embed=embedder.embed_passages,
        text_of=lambda m: m.text,
    )
    events: Stream[tuple[str, DriftEvent]] = op.merge(
        "drift_events",
        embedded,
        op.key_on("drift_key_bots", bots, lambda m: m.tenant),
        op.key_on("drift_key_feedback", feedback, lambda f: f.tenant),
    )
    alerts = detect_drift("drift_detect", events, config=config, observe=drift_metrics.observe)
    return op.key_rm("drift_alerts", alerts)


def write_alerts(alerts: Stream[DriftAlert], settings: Settings, default_sink: str) -> None:
    """Alerts to Kafka (`drift.alerts`, key tenant) or to `<dir>/alerts.jsonl`.

    On Kafka the sink reads back what it wrote since its last snapshot, so a replay does
    not publish an alert twice (`AlertKafkaSink`).
    """
    sink = output_sink(settings.drift_sink, settings.sink, default=default_sink)
    if sink != "kafka":
        write_records("drift_write_alerts", alerts, settings, sink, topics.ALERTS)
        return
    keyed_alerts = op.key_on("drift_alerts_key", alerts, lambda a: a.key)
    op.output(
        "drift_write_alerts",
        keyed_alerts,
        AlertKafkaSink(settings.kafka_brokers, topics.ALERTS.name),
    )


def build(**overrides: Any) -> Dataflow:
    """The drift dataflow, from HEADWATER_* settings with keyword overrides."""
    settings = Settings(**overrides)
    metrics.serve_metrics(settings.metrics_port)
    flow = Dataflow("drift")
    messages, feedback = read_inputs(flow, settings)
    write_alerts(drift(flow, messages, feedback, settings), settings, default_sink="kafka")
    return flow


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run flows.drift` looks up `flow`; build it only when asked.
    if name == "flow":
        return build()
    raise AttributeError(name)
