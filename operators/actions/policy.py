"""What to do about a drift alert, once per `alert_id`, with every decision in the audit log.

- `retrain`: publish a `RetrainRequest` (request_id = alert_id) for the training side;
  decision `published`, with where it went.
- `reindex`: plan the tenant's reindex (`planned`, with the plan), or, in `start` mode,
  launch the build (`starting`, then `started` with its pid and log). A plan or start that
  fails is `failed`, with the error; the flow goes on.
- an alert already acted on (its last decision was `planned`, `starting`, `started` or
  `published`): `duplicate`, nothing done. A `failed` one is tried again when the alert
  comes again (a replay, a restart).

Order of acting and auditing, and what a crash between them leaves:

- `retrain` and `plan`: act, then audit. A crash after the request was delivered (or the
  plan made) and before its audit line is fsynced leaves no line, so the replayed alert
  is acted on again: a second request with the same request_id, which the training side
  dedupes, or a second plan, which changes nothing. At least once.
- `start`: audit `starting` first, then launch, then audit `started` (or `failed`). A
  crash between `starting` and the outcome leaves `starting` as the alert's last
  decision: the replay records `duplicate` (detail `interrupted: true`) and does not
  launch again, since a build may already be running; look at its log. At most once,
  because two builds of one tenant would fight over the new collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from operators.actions import metrics
from operators.actions.audit import AuditLog
from operators.actions.reindex_runner import ReindexError, ReindexRunner
from operators.common.clock import Clock, wall_clock_ms
from schemas.action import ActionAudit, Decision, RetrainRequest
from schemas.alert import DriftAlert
from schemas.ids import TENANT_RULE, is_valid_tenant
from schemas.wire import iso_utc_ms

log = logging.getLogger(__name__)

ReindexMode = Literal["plan", "start"]
Publish = Callable[[RetrainRequest], str]
"""Delivers a request before returning where it went; raises when it cannot."""


class ActionPolicy:
    """Decides on each alert against the audit log (`decide`)."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        runner: ReindexRunner,
        publish: Publish,
        reindex: ReindexMode = "plan",
        clock: Clock = wall_clock_ms,
    ) -> None:
        if reindex not in ("plan", "start"):
            raise ValueError(f"reindex must be 'plan' or 'start', got {reindex!r}")
        self.audit = audit
        self.runner = runner
        self.publish = publish
        self.reindex = reindex
        self.clock = clock

    def decide(self, alert: DriftAlert) -> list[ActionAudit]:
        """Act on `alert` unless it was acted on; the audit records written, in order."""
        with self.audit.locked() as audit:
            written: list[ActionAudit] = []

            def record(decision: Decision, detail: dict[str, Any]) -> None:
                entry = ActionAudit(
                    alert_id=alert.alert_id,
                    action=alert.action,
                    tenant=alert.tenant,
                    decision=decision,
                    at_ms=self.clock(),
                    detail=detail,
                )
                audit.append(entry)
                written.append(entry)
                metrics.ALERTS.labels(action=alert.action, decision=decision).inc()
                log.info(
                    "alert %s (%s, tenant %s): %s",
                    alert.alert_id,
                    alert.action,
                    alert.tenant,
                    decision,
                )

            last = audit.last(alert.alert_id)
            if last is not None and last.acted:
                detail: dict[str, Any] = {
                    "acted": last.decision,
                    "acted_at": iso_utc_ms(last.at_ms),
                }
                if last.decision == "starting":
                    detail["interrupted"] = True
                record("duplicate", detail)
            elif alert.action == "retrain":
                request = RetrainRequest.from_alert(alert, self.clock())
                where = self.publish(request)
                record("published", {"request_id": request.request_id, "to": where})
            elif not is_valid_tenant(alert.tenant):
                record("failed", {"error": f"the tenant is not {TENANT_RULE}"})
            elif self.reindex == "plan":
                try:
                    plan = self.runner.plan(alert.tenant)
                except ReindexError as exc:
                    record("failed", {"mode": "plan", "error": str(exc)})
                else:
                    record("planned", plan)
            else:
                record("starting", {})
                try:
                    started = self.runner.start(alert.tenant, alert.alert_id)
                except ReindexError as exc:
                    record("failed", {"mode": "start", "error": str(exc)})
                else:
                    record("started", started)
            return written
