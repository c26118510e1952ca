"""What the ingest flow reads: one raw input line and the envelope inside it."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

SOURCES = ("zalo", "webhook", "csv")


class RawLine(NamedTuple):
    """One input exactly as read, and where and when it was read.

    `text` is a JSONL line or Kafka value as received; for a CSV export it is the row's
    own text, and `row` carries the parsed columns. (A named tuple: millions are made,
    and it is the cheapest immutable record to build and to pickle.)
    """

    text: str
    received_at: int
    origin: str
    row: dict[str, str] | None = None


class Envelope(BaseModel):
    """The raw envelope of DESIGN.md. `source` is checked against SOURCES by the parser."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)

    source: str = Field(description="zalo, webhook or csv", examples=["zalo"])
    tenant: str = Field("default", min_length=1, examples=["acme"])
    received_at: int | None = Field(None, ge=0, description="epoch milliseconds")
    # Typed loosely on purpose: the parser checks the payload's shape per source, and a
    # `dict[str, Any]` field would copy every payload just to check its keys are strings.
    payload: Any = Field(description="the body exactly as the sender sent it: object or string")
