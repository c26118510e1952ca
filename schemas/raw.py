"""What the ingest flow reads: one raw input line and the envelope inside it."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from schemas.ids import TENANT_RULE, TenantId

SOURCES = ("zalo", "webhook", "csv")


class RawLine(NamedTuple):
    """One input exactly as read, and where and when it was read.

    `text` is a JSONL line or Kafka value as received; for a CSV export it is the row's
    own text, and `row` carries the parsed columns. Input that is not UTF-8 keeps its
    exact bytes in `undecodable`. (A named tuple: millions are made,
    and it is the cheapest immutable record to build and to pickle.)
    """

    text: str
    received_at: int
    origin: str
    row: dict[str, str] | None = None
    undecodable: bytes | None = None
    """The input's exact bytes when they are not UTF-8 (`text` then has U+FFFD for them)."""


def text_of(data: bytes) -> tuple[str, bytes | None]:
    """Input bytes as text, and the bytes themselves when they are not UTF-8."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), data


def text_of_escaped(text: str) -> tuple[str, bytes | None]:
    """Like `text_of`, for text decoded with `errors="surrogateescape"`."""
    if text.isascii():
        return text, None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text_of(text.encode("utf-8", "surrogateescape"))
    return text, None


class Envelope(BaseModel):
    """The raw envelope of DESIGN.md. `source` is checked against SOURCES by the parser."""

    # No JSON codec here: the parser decodes envelopes itself (`operators.ingest.parse`).

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)

    source: str = Field(
        description="zalo, webhook or csv (another value is rejected: `unknown_source`)",
        examples=["zalo"],
        json_schema_extra={"enum": list(SOURCES)},
    )
    tenant: TenantId = Field("default", description=f"Headwater tenant: {TENANT_RULE}")
    received_at: int | None = Field(
        None,
        ge=0,
        description="epoch milliseconds (default: when the flow read it)",
        examples=[1714532400123],
    )
    # Typed loosely on purpose: the parser checks the payload's shape per source, and a
    # `dict[str, Any]` field would copy every payload just to check its keys are strings.
    payload: Any = Field(
        description="the body exactly as the sender sent it: an object, or a string when it "
        "was not valid JSON (then rejected: `not_json`)",
        examples=[
            {
                "id": "m-1",
                "conversation_id": "c-9",
                "user_id": "u-1",
                "content": "Xin chào",
                "timestamp": "2024-05-01T10:00:00+07:00",
            }
        ],
        json_schema_extra={"type": ["object", "string"]},
    )
