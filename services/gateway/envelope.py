"""What the gateway writes to Kafka: DESIGN's raw envelope around the body as received,
keyed by tenant and conversation so a conversation stays in one partition."""

from __future__ import annotations

import json
from typing import Any

import orjson


def envelope(source: str, tenant: str, received_at_ms: int, body: bytes) -> bytes:
    """The envelope of a JSON body, byte for byte: the payload is the body itself.

    `source` and `tenant` are plain identifiers (the tenant rule has no character JSON
    would escape), so they are written as they are."""
    return b'{"source":"%s","tenant":"%s","received_at":%d,"payload":%s}' % (
        source.encode(),
        tenant.encode(),
        received_at_ms,
        body,
    )


def csv_envelope(tenant: str, received_at_ms: int, row: dict[str, str], exact: bool) -> bytes:
    """The envelope of one CSV row. A row that was not UTF-8 (`exact` False: its text
    carries the bytes as surrogate escapes) is written with those bytes as they came, so
    ingest dead-letters it as not UTF-8 and archives the bytes."""
    if exact:
        payload = orjson.dumps(row)
    else:
        payload = json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogateescape")
    return envelope("csv", tenant, received_at_ms, payload)


def id_text(value: object) -> str | None:
    """An id as the ingest parser reads it (a string or an integer), else None."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def message_key(tenant: str, conversation: str | None) -> bytes:
    """The Kafka key: `<tenant>/<conversation>` (nothing after the slash when the body
    names no conversation)."""
    return f"{tenant}/{conversation or ''}".encode("utf-8", "surrogateescape")


def _user_id(part: Any) -> str | None:
    return id_text(part.get("id")) if isinstance(part, dict) else None


def zalo_parties(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The OA and the user of a Zalo event: for `user_send_*` the user is the sender,
    for `oa_send_*` the OA is; other events (follow, seen, …) name the OA in `oa_id`."""
    name = event.get("event_name")
    name = name if isinstance(name, str) else ""
    sender, recipient = _user_id(event.get("sender")), _user_id(event.get("recipient"))
    if name.startswith("user_"):
        oa, user = recipient, sender
    elif name.startswith("oa_"):
        oa, user = sender, recipient
    else:
        oa, user = None, sender or _user_id(event.get("follower"))
    return oa or id_text(event.get("oa_id")), user


def zalo_conversation(oa_id: str, user_id: str | None) -> str:
    """The conversation of DESIGN (`zalo:<oa id>:<user id>`)."""
    return f"zalo:{oa_id}:{user_id or ''}"
