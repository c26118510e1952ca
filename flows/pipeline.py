"""The embedded default: ingest, index and drift in one dataflow, files in, Weaviate out.

    python -m bytewax.run flows.pipeline
    python -m bytewax.run "flows.pipeline:build(source='file:chats/*.jsonl')"
    python -m flows.demo        # this flow on the bundled sample, with progress and queries

Conversation segments go to Weaviate (see flows.index). Everything else the steps emit
(the messages themselves, feedback, dead letters, PII audit records, drift alerts) goes
to JSONL files in `HEADWATER_SINK=file:<dir>` (default `.cache/pipeline`), or to the
usual Kafka topics with `HEADWATER_SINK=kafka`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from flows.drift import drift, write_alerts
from flows.index import index
from flows.ingest import IngestOut, ingest, read_raw, write_outputs
from flows.io import output_sink
from flows.settings import Settings
from operators.common import metrics

DEFAULT_OUT = Path(".cache/pipeline")


def side_sink(settings: Settings) -> str:
    """Where the outputs other than Weaviate go."""
    return output_sink(settings.sink, default=f"file:{DEFAULT_OUT}")


def build(**overrides: Any) -> Dataflow:
    """The pipeline dataflow, from HEADWATER_* settings with keyword overrides."""
    settings = Settings(**overrides)
    metrics.serve_metrics(settings.metrics_port)
    flow = Dataflow("pipeline")
    out = ingest(flow, read_raw(flow, settings), settings)
    refused = index(out.messages, settings, input_ends=settings.source_path is not None)
    rejected = op.merge("all_rejected", out.rejected, refused)
    write_outputs(
        IngestOut(out.messages, out.feedback, rejected, out.pii_audit),
        settings,
        side_sink(settings),
    )
    alerts = drift(flow, out.messages, out.feedback, settings)
    write_alerts(alerts, settings, default_sink=side_sink(settings))
    return flow


def __getattr__(name: str) -> Dataflow:
    if name == "flow":
        return build()
    raise AttributeError(name)
