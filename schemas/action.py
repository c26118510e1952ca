"""What the actions flow writes: retrain requests for the training side (`training.requests`)
and one audit record per decision it took on a drift alert."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from schemas.alert import Action, DriftAlert, Severity, Signal
from schemas.wire import JsonRecord, UtcMillis

Decision = Literal["planned", "starting", "started", "published", "duplicate", "failed"]
"""What the actions flow did about an alert: `planned` (a reindex plan was made),
`starting` then `started` (a reindex build was launched), `published` (a retrain request
was sent), `duplicate` (an alert already acted on: nothing done), `failed` (the action
could not be taken; a later arrival of the alert tries again)."""

ACTED: frozenset[str] = frozenset({"planned", "starting", "started", "published"})
"""Decisions after which an alert counts as acted on: it is never acted on again."""


class RetrainRequest(JsonRecord):
    """A request to retrain, from one `retrain` drift alert; key: tenant."""

    request_id: str = Field(
        description="the alert's alert_id: the same alert always gives the same request id, "
        "so the training side can dedupe on it",
        examples=["0b5c8f2e-9d0a-5c43-8e7f-3f2a1b4c5d6e"],
    )
    alert_id: str = Field(
        description="the drift alert asking for it",
        examples=["0b5c8f2e-9d0a-5c43-8e7f-3f2a1b4c5d6e"],
    )
    tenant: str = Field(description="Headwater tenant", examples=["acme"])
    model_version: str = Field(
        description="embedding model version the alert was raised under",
        examples=["2346232dc401"],
    )
    signal: Signal = Field(description="what drifted", examples=["refusal"])
    detector: str = Field(description="River detector that fired", examples=["ADWIN"])
    severity: Severity = Field(description="how urgent", examples=["warning"])
    requested_ms: UtcMillis = Field(
        serialization_alias="requested_at",
        validation_alias="requested_at",
        description="when the actions flow published it: UTC, ISO 8601 with milliseconds and `Z`",
    )
    alert: DriftAlert = Field(description="the whole drift alert")

    @classmethod
    def from_alert(cls, alert: DriftAlert, requested_ms: int) -> RetrainRequest:
        return cls(
            request_id=alert.alert_id,
            alert_id=alert.alert_id,
            tenant=alert.tenant,
            model_version=alert.model_version,
            signal=alert.signal,
            detector=alert.detector,
            severity=alert.severity,
            requested_ms=requested_ms,
            alert=alert,
        )

    @property
    def key(self) -> str:
        return self.tenant


class ActionAudit(JsonRecord):
    """One decision of the actions flow on one alert (a line of its audit log)."""

    alert_id: str = Field(
        description="the alert decided on", examples=["0b5c8f2e-9d0a-5c43-8e7f-3f2a1b4c5d6e"]
    )
    action: Action = Field(description="what the alert asked for", examples=["reindex"])
    tenant: str = Field(description="Headwater tenant", examples=["acme"])
    decision: Decision = Field(description="what was done", examples=["planned"])
    at_ms: UtcMillis = Field(
        serialization_alias="at",
        validation_alias="at",
        description="when: UTC, ISO 8601 with milliseconds and `Z`",
    )
    detail: dict[str, Any] = Field(
        default_factory=dict,
        description="what came of it: the plan, the build's pid and log, where the request "
        "went, the error, or the decision a duplicate repeats",
        examples=[{"mode": "plan", "error": "plan exited 1: …: No module named flows.reindex"}],
    )

    @property
    def key(self) -> str:
        return self.tenant

    @property
    def acted(self) -> bool:
        """Whether this decision means the alert was acted on."""
        return self.decision in ACTED
