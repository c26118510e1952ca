"""The `drift.alerts` record: which detector fired, on what evidence, and what to do."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas.message import iso_utc_ms, parse_iso_utc_ms

Action = Literal["reindex", "retrain"]
Signal = Literal["embedding", "refusal", "toxicity", "accuracy", "data"]
Severity = Literal["info", "warning", "critical"]

ALERT_NAMESPACE = uuid.UUID("5b0f5d0e-8f4b-4b8e-9a38-2f1c1f6d2a71")


def alert_id(
    tenant: str, signal: str, action: str, reference_id: str,
    first_event_ms: int, last_event_ms: int, last_id: str,
) -> str:
    """UUIDv5 of the evidence: a replay of the same events gives the same id."""
    name = "|".join(
        (tenant, signal, action, reference_id, str(first_event_ms), str(last_event_ms), last_id)
    )
    return str(uuid.uuid5(ALERT_NAMESPACE, name))


class Evidence(BaseModel):
    """The events the window statistics were computed over (event time, inclusive)."""

    model_config = ConfigDict(frozen=True)

    first_event_ms: int
    last_event_ms: int
    events: int = Field(ge=1)
    first_id: str = Field(description="message or feedback id of the oldest event")
    last_id: str = Field(description="id of the event on which the detector fired")


class DriftAlert(BaseModel):
    """One drift alert (the `drift.alerts` contract); key: tenant."""

    model_config = ConfigDict(frozen=True)

    alert_id: str = Field(description="UUIDv5 of tenant, signal, action, reference, evidence")
    detector: str = Field(examples=["ADWIN", "PageHinkley", "KSWIN"])
    signal: Signal
    action: Action
    severity: Severity
    tenant: str
    model_version: str = Field(description="embedding model version (Embedder.version)")
    detected_ms: int = Field(description="event time of the event the detector fired on")
    cooldown_until_ms: int = Field(description="no second alert for this signal/action before")
    parameters: dict[str, Any] = Field(description="the detector's parameters")
    window: dict[str, float | int | None] = Field(description="statistics of the evidence window")
    reference: dict[str, Any] = Field(description="what the window was compared with")
    evidence: Evidence

    @property
    def key(self) -> str:
        return self.tenant

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "alert_id": self.alert_id,
                "detector": self.detector,
                "signal": self.signal,
                "action": self.action,
                "severity": self.severity,
                "tenant": self.tenant,
                "model_version": self.model_version,
                "detected_at": iso_utc_ms(self.detected_ms),
                "window": self.window,
                "reference": self.reference,
                "cooldown_until": iso_utc_ms(self.cooldown_until_ms),
                "parameters": self.parameters,
                "evidence": {
                    "first_event_time": iso_utc_ms(self.evidence.first_event_ms),
                    "last_event_time": iso_utc_ms(self.evidence.last_event_ms),
                    "events": self.evidence.events,
                    "first_id": self.evidence.first_id,
                    "last_id": self.evidence.last_id,
                },
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> DriftAlert:
        """The alert back from its `drift.alerts` JSON (raises on anything else)."""
        obj = orjson.loads(data)
        evidence = obj.pop("evidence")
        obj["detected_ms"] = parse_iso_utc_ms(obj.pop("detected_at"))
        obj["cooldown_until_ms"] = parse_iso_utc_ms(obj.pop("cooldown_until"))
        obj["evidence"] = {
            "first_event_ms": parse_iso_utc_ms(evidence["first_event_time"]),
            "last_event_ms": parse_iso_utc_ms(evidence["last_event_time"]),
            "events": evidence["events"],
            "first_id": evidence["first_id"],
            "last_id": evidence["last_id"],
        }
        return cls.model_validate(obj)
