"""Records the ingest flow emits: normalized messages, feedback and rejected inputs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.ids import TenantId
from schemas.wire import JsonRecord, UtcMillis, iso_utc_ms, parse_iso_utc_ms

__all__ = [
    "ChatMessage",
    "Feedback",
    "Language",
    "PiiCount",
    "Rejected",
    "RejectReason",
    "Role",
    "iso_utc_ms",
    "parse_iso_utc_ms",
]

Role = Literal["user", "agent", "bot"]
Language = Literal["vi", "en", "und"]
RejectReason = Literal[
    "not_json",
    "invalid_schema",
    "empty_text",
    "unsupported_event",
    "unknown_source",
    "bad_timestamp",
    "future_event_time",
    "too_large",
    "invalid_tenant",
    "not_utf8",
    "index_rejected",
]


class PiiCount(JsonRecord):
    """How many values of one PII kind a message's text had (each replaced by `[KIND]`)."""

    kind: str = Field(description="PII kind", examples=["phone", "email"])
    count: int = Field(ge=1, description="values of this kind redacted", examples=[1])


# Field order is the order of the JSON object's keys.
class ChatMessage(JsonRecord):
    """One accepted, normalized chat message (the `chat.messages` contract)."""

    message_id: str = Field(
        description="`<platform>:<platform message id>`", examples=["zalo:96d3cdf3a1b2"]
    )
    idempotency_key: str = Field(
        description="the sender's idempotency key when given, else `message_id`",
        examples=["zalo:96d3cdf3a1b2"],
    )
    tenant: TenantId = Field(description="Headwater tenant", examples=["acme"])
    source: str = Field(description="envelope source: zalo, webhook or csv", examples=["zalo"])
    platform: str = Field(description="platform the message was sent on", examples=["zalo"])
    conversation_id: str = Field(
        description="as sent; Zalo: `zalo:<oa id>:<user id>`",
        examples=["zalo:3886000000000000001:2468000000000000011"],
    )
    sender_id: str = Field(
        description="id of the sender on its platform", examples=["2468000000000000011"]
    )
    role: Role = Field(description="who wrote it", examples=["user"])
    text: str = Field(
        description="normalized (NFC, no control or zero-width characters, "
        "whitespace collapsed, trimmed) and PII-redacted",
        examples=["Xin chào, sđt em là [PHONE]"],
    )
    language: Language = Field(description="detected language", examples=["vi"])
    event_ms: UtcMillis = Field(
        serialization_alias="event_time",
        validation_alias="event_time",
        description="event time: UTC, ISO 8601 with milliseconds and `Z`",
    )
    pii: tuple[PiiCount, ...] = Field((), description="PII found and redacted, per kind")
    late: bool = Field(False, description="arrived after the reorder step had passed its time")
    received_at: int = Field(
        description="epoch milliseconds when Headwater received it", examples=[1714532400123]
    )

    @property
    def key(self) -> str:
        """Partitioning key: tenant and conversation."""
        return f"{self.tenant}/{self.conversation_id}"


class Feedback(JsonRecord):
    """A user's rating of a bot answer (the `chat.feedback` record)."""

    feedback_id: str = Field(description="`<platform>:<feedback id>`", examples=["webhook:f-1"])
    tenant: TenantId = Field(description="Headwater tenant", examples=["acme"])
    source: str = Field(description="envelope source", examples=["webhook"])
    platform: str = Field(description="platform of the rated message", examples=["shopee"])
    message_id: str = Field(
        description="`<platform>:<id>` of the rated message", examples=["shopee:m-1"]
    )
    conversation_id: str = Field(description="as sent", examples=["c-9"])
    score: float = Field(
        ge=0, le=1, description="1 is best; thumbs up is 1, down is 0", examples=[1.0, 0.0, 0.75]
    )
    event_ms: UtcMillis = Field(
        serialization_alias="event_time",
        validation_alias="event_time",
        description="event time: UTC, ISO 8601 with milliseconds and `Z`",
    )
    received_at: int = Field(
        description="epoch milliseconds when Headwater received it", examples=[1714532400123]
    )

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.conversation_id}"


class Rejected(JsonRecord):
    """An input that is neither a message, feedback nor a duplicate (dead letter)."""

    reason: RejectReason = Field(description="short reason code", examples=["invalid_schema"])
    errors: tuple[str, ...] = Field(
        (),
        description="what was wrong, one entry per error",
        examples=[["payload.content: Field required"]],
    )
    source: str | None = Field(
        None, description="envelope source, when the envelope was valid", examples=["webhook"]
    )
    tenant: str | None = Field(
        None, description="envelope tenant, when the envelope was valid", examples=["acme"]
    )
    received_at: int = Field(
        description="epoch milliseconds when Headwater received it", examples=[1714532400123]
    )
    raw: str = Field(
        description="the input exactly as read", examples=['{"source": "webhook", "payload": {}}']
    )

    @property
    def key(self) -> str:
        return self.tenant or "unknown"
