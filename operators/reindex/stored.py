"""Segments as stored in a collection, read back page by page to be written elsewhere.

A tenant's objects are read with Weaviate's cursor (ordered by UUID). Segment UUIDs are
UUIDv5, spread evenly over the UUID space, so a tenant splits into `count` shards of
equal size by UUID range, and each shard is read by its own cursor.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from operators.ingest.normalize import detect_language

COPIED = (
    "tenant",
    "conversation_id",
    "segment",
    "text",
    "message_ids",
    "message_count",
    "first_event_time",
    "last_event_time",
    "languages",
    "sources",
    "language",
)
"""The properties a reindex reads and writes again; `model_version`, `indexed_at` and the
folded copy of the text are the new collection's own."""

_UUID_SPACE = 1 << 128


@dataclass(frozen=True)
class StoredSegment:
    """A segment object read from a collection, to be written to another one."""

    uuid: uuid.UUID
    stored: Mapping[str, object]

    @property
    def tenant(self) -> str:
        return str(self.stored["tenant"])

    @property
    def text(self) -> str:
        return str(self.stored.get("text") or "")

    @property
    def message_count(self) -> int:
        count = self.stored.get("message_count")
        return int(count) if isinstance(count, int | float) else 0

    @property
    def language(self) -> str:
        """The stored dominant language; for an object written before it was stored, the
        one of most of its lines' characters (`vi`, `en` or `und`)."""
        stored = self.stored.get("language")
        if stored:
            return str(stored)
        languages = self.stored.get("languages")
        listed = languages if isinstance(languages, list) else []
        known = [str(lang) for lang in listed if lang != "und"]
        if len(set(known)) == 1:
            return known[0]
        chars: dict[str, int] = {}
        for line in self.text.split("\n"):
            text = line.partition(": ")[2] or line
            language = detect_language(text)
            if language != "und":
                chars[language] = chars.get(language, 0) + len(text)
        return max(chars, key=chars.__getitem__) if chars else "und"

    def properties(self, model_version: str, indexed_at_ms: int) -> dict[str, object]:
        copied = {name: self.stored[name] for name in COPIED if self.stored.get(name) is not None}
        return {
            **copied,
            "language": self.language,
            "model_version": model_version,
            "indexed_at": datetime.fromtimestamp(indexed_at_ms / 1000, UTC),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(
            {name: self.stored.get(name) for name in COPIED},
            default=_iso,
        )


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


@dataclass(frozen=True)
class Shard:
    """UUIDs `[start, end)` of one tenant: shard `index` of `count`."""

    tenant: str
    index: int = 0
    count: int = 1

    @property
    def key(self) -> str:
        return self.tenant if self.count == 1 else f"{self.tenant}#{self.index}/{self.count}"

    @classmethod
    def of_key(cls, key: str) -> Shard:
        tenant, sep, part = key.rpartition("#")
        if not sep:
            return cls(key)
        index, _, count = part.partition("/")
        return cls(tenant, int(index), int(count))

    @property
    def start(self) -> int:
        return self.index * _UUID_SPACE // self.count

    @property
    def end(self) -> int:
        return (self.index + 1) * _UUID_SPACE // self.count

    def first_after(self) -> uuid.UUID | None:
        """The cursor position before the shard's first UUID (None: the beginning)."""
        return None if self.start == 0 else uuid.UUID(int=self.start - 1)


def shards(tenants: Sequence[str], per_tenant: int) -> list[Shard]:
    return [Shard(t, i, per_tenant) for t in sorted(tenants) for i in range(per_tenant)]


def read_page(
    collection, shard: Shard, after: uuid.UUID | None, limit: int
) -> tuple[list[StoredSegment], bool]:
    """The next objects of `shard` after the cursor `after`, and whether the shard ends."""
    view = collection.with_tenant(shard.tenant)
    found = view.query.fetch_objects(
        after=after if after is not None else shard.first_after(),
        limit=limit,
        return_properties=list(COPIED),
    )
    page = [StoredSegment(o.uuid, o.properties) for o in found.objects if o.uuid.int < shard.end]
    return page, len(page) < len(found.objects) or len(found.objects) < limit
