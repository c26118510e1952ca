"""Actions: drift alerts in; a reindex planned or started, or a retrain request published,
once per `alert_id`, each decision in an audit log.

    python -m flows.actions                                   # settings from HEADWATER_*
    python -m bytewax.run flows.actions -r .cache/recovery/actions -s 5 -b 0
    python -m bytewax.run "flows.actions:build(actions_source='file:alerts', \
        actions_sink='file:actions')"

Reads `drift.alerts` (or `<dir>/alerts.jsonl`, as the drift flow's file sink writes it);
a record that is not an alert becomes an `invalid_schema` dead letter (`chat.rejected`,
or `<dir>/rejected.jsonl`). Every alert goes to one worker, where `ActionPolicy` decides
(operators/actions/policy.py, which says what a crash between acting and auditing
leaves):

- `retrain`: a `RetrainRequest` (request_id = alert_id) to `training.requests` (key
  tenant), or appended to `<dir>/training_requests.jsonl`, delivered before its audit
  line is written;
- `reindex`: `python -m flows.reindex plan --tenant T --json`, or with
  `HEADWATER_ACTIONS_REINDEX=start` a detached `python -m flows.reindex build --tenant T`
  logging next to the audit log (operators/actions/reindex_runner.py); a CLI that is
  missing or fails is a `failed` decision with its error, and the flow goes on.

The audit log (`HEADWATER_ACTIONS_AUDIT_PATH`, JSONL, fsynced per line) is the memory:
an alert it records as acted on is a `duplicate` when it comes again, so the flow may
start from the beginning of the topic (no recovery) or be restarted at any point. Each
audit record is also printed on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import bytewax.operators as op
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow, Stream

from flows import topics
from flows.io import SourceRecord, output_sink, read_records, write_records
from flows.settings import Settings, file_path
from operators.actions.audit import AuditLog
from operators.actions.decode import to_alert
from operators.actions.policy import ActionPolicy
from operators.actions.publish import FilePublisher, KafkaPublisher, Publisher
from operators.actions.reindex_runner import ReindexCli, ReindexRunner
from operators.actions.step import act_on_alerts
from operators.common import metrics
from operators.common.clock import Clock, wall_clock_ms
from operators.common.kafka_health import KafkaHealth
from schemas.alert import DriftAlert
from schemas.guards import is_alert
from schemas.message import Rejected


def publisher_for(settings: Settings, sink: str) -> Publisher:
    """Retrain requests to `training.requests`, or appended to the sink dir's file."""
    directory = file_path(sink)
    if directory is not None:
        return FilePublisher(Path(directory) / topics.TRAINING_REQUESTS.file_name)
    return KafkaPublisher(
        settings.kafka_brokers,
        topics.TRAINING_REQUESTS.name,
        health=KafkaHealth("actions_publish"),
    )


def policy_for(
    settings: Settings,
    sink: str,
    *,
    runner: ReindexRunner | None = None,
    publisher: Publisher | None = None,
    clock: Clock = wall_clock_ms,
) -> ActionPolicy:
    """The policy from the settings; `runner` and `publisher` replace the defaults."""
    audit_path = settings.actions_audit_path
    return ActionPolicy(
        AuditLog(audit_path),
        runner=runner if runner is not None else ReindexCli(audit_path.parent),
        publish=(publisher if publisher is not None else publisher_for(settings, sink)).publish,
        reindex=settings.actions_reindex,
        clock=clock,
    )


def _parse(record: SourceRecord) -> DriftAlert | Rejected:
    return to_alert(
        record.value,
        origin=record.origin,
        received_at=wall_clock_ms(),
        decode=topics.ALERTS.decode,
    )


def build(
    *,
    runner: ReindexRunner | None = None,
    publisher: Publisher | None = None,
    clock: Clock = wall_clock_ms,
    **overrides: Any,
) -> Dataflow:
    """The actions dataflow, from HEADWATER_* settings with keyword overrides (`runner`,
    `publisher`, `clock`: replacements for the reindex CLI, the request sink, the clock)."""
    settings = Settings(**overrides)
    metrics.serve_metrics(settings.metrics_port)
    sink = output_sink(settings.actions_sink, settings.sink, default="kafka")
    policy = policy_for(settings, sink, runner=runner, publisher=publisher, clock=clock)

    flow = Dataflow("actions")
    records = read_records(
        "actions_read", flow, settings, settings.actions_source, (topics.ALERTS,)
    )
    parsed = op.map("actions_parse", records, _parse)
    split = op.branch("actions_is_alert", parsed, is_alert)
    decisions = act_on_alerts("actions_act", split.trues, policy)
    lines = op.map("actions_lines", decisions, lambda r: r.to_json().decode())
    op.output("actions_show", lines, StdOutSink())
    rejected = cast("Stream[Rejected]", split.falses)
    write_records("actions_write_rejected", rejected, settings, sink, topics.REJECTED)
    return flow


def __getattr__(name: str) -> Dataflow:
    # `python -m bytewax.run flows.actions` looks up `flow`; build it only when asked.
    if name == "flow":
        return build()
    raise AttributeError(name)


def main() -> None:
    """`python -m flows.actions`: the flow, one worker, without recovery (the audit log
    keeps what was done; `python -m bytewax.run flows.actions -r …` resumes offsets)."""
    from bytewax.run import cli_main

    cli_main(build())


if __name__ == "__main__":
    main()
