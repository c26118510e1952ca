"""Records the ingest flow emits: normalized messages, feedback and rejected inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

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
    "index_rejected",
]


def iso_utc_ms(epoch_ms: int) -> str:
    """`2024-05-01T03:00:00.123Z` for epoch milliseconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")[
        :-6
    ] + "Z"


def parse_iso_utc_ms(text: str) -> int:
    """Epoch milliseconds of an `iso_utc_ms` string."""
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _with_event_ms(data: bytes | str) -> dict:
    """A record's JSON as a dict, its `event_time` turned back into `event_ms`."""
    obj = orjson.loads(data)
    obj["event_ms"] = parse_iso_utc_ms(obj.pop("event_time"))
    return obj


class PiiCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    count: int = Field(ge=1)


class ChatMessage(BaseModel):
    """One accepted, normalized chat message (the `chat.messages` contract)."""

    model_config = ConfigDict(frozen=True)

    message_id: str = Field(examples=["zalo:96d3cdf3a1b2"])
    idempotency_key: str
    tenant: str
    source: str
    platform: str
    conversation_id: str = Field(examples=["zalo:3886000000000000001:2468000000000000011"])
    sender_id: str
    role: Role
    text: str
    language: Language
    event_ms: int = Field(description="event time, epoch milliseconds UTC")
    received_at: int = Field(description="receive time, epoch milliseconds UTC")
    pii: tuple[PiiCount, ...] = ()
    late: bool = False

    @property
    def key(self) -> str:
        """Partitioning key: tenant and conversation."""
        return f"{self.tenant}/{self.conversation_id}"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "message_id": self.message_id,
                "idempotency_key": self.idempotency_key,
                "tenant": self.tenant,
                "source": self.source,
                "platform": self.platform,
                "conversation_id": self.conversation_id,
                "sender_id": self.sender_id,
                "role": self.role,
                "text": self.text,
                "language": self.language,
                "event_time": iso_utc_ms(self.event_ms),
                "pii": [{"kind": p.kind, "count": p.count} for p in self.pii],
                "late": self.late,
                "received_at": self.received_at,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> ChatMessage:
        """The message back from its `chat.messages` JSON (raises on anything else)."""
        return cls.model_validate(_with_event_ms(data))


class Feedback(BaseModel):
    """A user's rating of a bot answer (the `chat.feedback` record)."""

    model_config = ConfigDict(frozen=True)

    feedback_id: str
    tenant: str
    source: str
    platform: str
    message_id: str = Field(description="`<platform>:<id>` of the rated message")
    conversation_id: str
    score: float = Field(ge=0, le=1, description="1 is best; thumbs up is 1, down is 0")
    event_ms: int
    received_at: int

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.conversation_id}"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "feedback_id": self.feedback_id,
                "tenant": self.tenant,
                "source": self.source,
                "platform": self.platform,
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
                "score": self.score,
                "event_time": iso_utc_ms(self.event_ms),
                "received_at": self.received_at,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Feedback:
        """The record back from its `chat.feedback` JSON (raises on anything else)."""
        return cls.model_validate(_with_event_ms(data))


class Rejected(BaseModel):
    """An input that is neither a message, feedback nor a duplicate (dead letter)."""

    model_config = ConfigDict(frozen=True)

    reason: RejectReason
    errors: tuple[str, ...] = ()
    source: str | None = None
    tenant: str | None = None
    received_at: int
    raw: str = Field(description="the input exactly as read")

    @property
    def key(self) -> str:
        return self.tenant or "unknown"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "reason": self.reason,
                "errors": list(self.errors),
                "source": self.source,
                "tenant": self.tenant,
                "received_at": self.received_at,
                "raw": self.raw,
            }
        )
