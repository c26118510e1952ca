"""The `drift.alerts` record: which detector fired, on what evidence, and what to do."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from pydantic import Field

from schemas.wire import JsonRecord, UtcMillis

Action = Literal["reindex", "retrain"]
Signal = Literal["embedding", "refusal", "toxicity", "accuracy", "data"]
Severity = Literal["info", "warning", "critical"]

ALERT_NAMESPACE = uuid.UUID("5b0f5d0e-8f4b-4b8e-9a38-2f1c1f6d2a71")


def alert_id(
    tenant: str,
    signal: str,
    action: str,
    reference_id: str,
    first_event_ms: int,
    last_event_ms: int,
    last_id: str,
) -> str:
    """UUIDv5 of the evidence: a replay of the same events gives the same id."""
    name = "|".join(
        (tenant, signal, action, reference_id, str(first_event_ms), str(last_event_ms), last_id)
    )
    return str(uuid.uuid5(ALERT_NAMESPACE, name))


def _numpy_to_python(value: Any) -> Any:
    """A detector's numpy scalar or array as plain values (the serializer's fallback).

    orjson decides what it is, so it is written as before this codec: a float32 `0.1` as
    `0.1`, not `0.10000000149011612`. Raises `TypeError` on what orjson cannot write.
    """
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


class Evidence(JsonRecord):
    """The events the window statistics were computed over (event time, inclusive)."""

    first_event_ms: UtcMillis = Field(
        serialization_alias="first_event_time",
        validation_alias="first_event_time",
        description="event time of the oldest event: UTC, ISO 8601 with milliseconds and `Z`",
    )
    last_event_ms: UtcMillis = Field(
        serialization_alias="last_event_time",
        validation_alias="last_event_time",
        description="event time of the newest event: UTC, ISO 8601 with milliseconds and `Z`",
    )
    events: int = Field(ge=1, description="events in the window", examples=[50])
    first_id: str = Field(
        description="message or feedback id of the oldest event", examples=["webhook:922"]
    )
    last_id: str = Field(
        description="id of the event on which the detector fired", examples=["webhook:971"]
    )


# Field order is the order of the JSON object's keys.
class DriftAlert(JsonRecord):
    """One drift alert (the `drift.alerts` contract); key: tenant."""

    alert_id: str = Field(
        description="UUIDv5 of tenant, signal, action, reference, evidence",
        examples=["0b5c8f2e-9d0a-5c43-8e7f-3f2a1b4c5d6e"],
    )
    detector: str = Field(
        description="River detector that fired", examples=["ADWIN", "PageHinkley", "KSWIN"]
    )
    signal: Signal = Field(description="what drifted", examples=["refusal"])
    action: Action = Field(description="what to do about it", examples=["retrain"])
    severity: Severity = Field(description="how urgent", examples=["warning"])
    tenant: str = Field(description="Headwater tenant", examples=["acme"])
    model_version: str = Field(
        description="embedding model version (Embedder.version)", examples=["2346232dc401"]
    )
    detected_ms: UtcMillis = Field(
        serialization_alias="detected_at",
        validation_alias="detected_at",
        description="event time of the event the detector fired on: UTC, ISO 8601 with "
        "milliseconds and `Z`",
    )
    window: dict[str, float | int | None] = Field(
        description="statistics of the evidence window (null where not finite)",
        examples=[{"window_mean": 0.14, "window_events": 50}],
    )
    reference: dict[str, Any] = Field(
        description="what the window was compared with",
        examples=[{"id": "baseline:acme:refusal:…", "mean": 0.02}],
    )
    cooldown_until_ms: UtcMillis = Field(
        serialization_alias="cooldown_until",
        validation_alias="cooldown_until",
        description="no second alert for this signal and action before this time: UTC, "
        "ISO 8601 with milliseconds and `Z`",
    )
    parameters: dict[str, Any] = Field(
        description="the detector's parameters", examples=[{"delta": 0.01, "clock": 8}]
    )
    evidence: Evidence = Field(description="the events the window covers")

    @property
    def key(self) -> str:
        return self.tenant

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, by_alias=True, fallback=_numpy_to_python)
