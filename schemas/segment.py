"""Conversation segments: the objects of the Weaviate index (DESIGN, "Weaviate")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import orjson

from schemas.message import ChatMessage, iso_utc_ms

NUMBER_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
SEGMENT_NAMESPACE = uuid.UUID("0f1d6a3e-5c1b-5d7e-9a51-8c4b2e7f3a90")


def segment_uuid(tenant: str, conversation_id: str, number: int) -> uuid.UUID:
    """UUIDv5 of the canonical `tenant \\x1f conversation \\x1f number`."""
    return uuid.uuid5(SEGMENT_NAMESPACE, f"{tenant}\x1f{conversation_id}\x1f{number}")


def minute_number(epoch_ms: int) -> int:
    """Minutes since 2020-01-01 UTC: the base of segment numbers."""
    return (epoch_ms - NUMBER_EPOCH_MS) // 60_000


@dataclass(frozen=True)
class SegmentLine:
    """What a segment keeps of one message."""

    message_id: str
    role: str
    text: str
    language: str
    source: str
    event_ms: int
    received_at: int

    @classmethod
    def of(cls, msg: ChatMessage) -> SegmentLine:
        return cls(
            msg.message_id,
            msg.role,
            msg.text,
            msg.language,
            msg.source,
            msg.event_ms,
            msg.received_at,
        )

    @property
    def rendered(self) -> str:
        return f"{self.role}: {self.text}"


@dataclass(frozen=True)
class Segment:
    """One version of a segment: all its messages so far, in arrival order.

    `new_from` is the index of the first line this version adds to the previous one, so
    the index can time each message's first appearance. `number` is the minute (since
    2020-01-01 UTC, event time) of the segment's first message, raised when needed to stay
    above the previous segment's: numbers grow with time, fit GraphQL's 32-bit `Int`, and
    do not repeat in a conversation even after its state was forgotten.

    `final` marks the version sent when the segment closes (or its input ended): it gets
    no more messages, so the index can embed its whole text once more (see
    `operators.index.vectors`). It may add no lines to the version before it.
    """

    tenant: str
    conversation_id: str
    number: int
    lines: tuple[SegmentLine, ...]
    new_from: int = 0
    tokens: int = 0  # of `text`, as the embedder counts them (before truncation)
    final: bool = False

    @property
    def uuid(self) -> uuid.UUID:
        return segment_uuid(self.tenant, self.conversation_id, self.number)

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.conversation_id}"

    @property
    def text(self) -> str:
        return "\n".join(line.rendered for line in self.lines)

    @property
    def language(self) -> str:
        """The language most of its text is in (by characters; `und` when none is known)."""
        chars: dict[str, int] = {}
        for line in self.lines:
            if line.language != "und":
                chars[line.language] = chars.get(line.language, 0) + len(line.text)
        return max(chars, key=chars.__getitem__) if chars else "und"

    @property
    def message_count(self) -> int:
        return len(self.lines)

    @property
    def new_lines(self) -> tuple[SegmentLine, ...]:
        return self.lines[self.new_from :]

    def properties(self, model_version: str, indexed_at_ms: int) -> dict[str, object]:
        """The Weaviate object's properties."""
        times = [line.event_ms for line in self.lines]
        return {
            "tenant": self.tenant,
            "conversation_id": self.conversation_id,
            "segment": self.number,
            "text": self.text,
            "message_ids": [line.message_id for line in self.lines],
            "message_count": len(self.lines),
            "first_event_time": _rfc3339(min(times)),
            "last_event_time": _rfc3339(max(times)),
            "languages": sorted({line.language for line in self.lines}),
            "sources": sorted({line.source for line in self.lines}),
            "language": self.language,
            "model_version": model_version,
            "indexed_at": _rfc3339(indexed_at_ms),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "tenant": self.tenant,
                "conversation_id": self.conversation_id,
                "segment": self.number,
                "message_ids": [line.message_id for line in self.lines],
                "first_event_time": iso_utc_ms(min(line.event_ms for line in self.lines)),
                "text": self.text,
            }
        )


def latest_versions(segments: Sequence[Segment]) -> list[Segment]:
    """One version per segment, the last; its `new_from` covers what earlier ones added."""
    latest: dict[uuid.UUID, Segment] = {}
    for seg in segments:
        earlier = latest.get(seg.uuid)
        if earlier is not None:
            seg = replace(seg, new_from=min(earlier.new_from, seg.new_from))
        latest[seg.uuid] = seg
    return list(latest.values())


def _rfc3339(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)
