"""How records are written on the wire: the JSON codec they share and its few quirks.

Every boundary record serializes with pydantic's own machinery (`to_json` is the model's
core serializer, `from_json` is `model_validate_json`). A field whose JSON form differs
from its Python form says so in its type, next to the field, with an adapter from here:

- times are epoch milliseconds (`int`) in Python and UTC ISO 8601 strings with
  milliseconds and `Z` in JSON, under another name (`event_ms` is written as
  `event_time`): `event_ms: UtcMillis = Field(serialization_alias="event_time",
  validation_alias="event_time")` (not `alias=`: type checkers would then want
  `event_time=` in the constructor).

Records are built by field name (`ChatMessage(event_ms=...)`) and read from JSON by wire
name only (`from_json` refuses `event_ms`), so a record on a topic has exactly one form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

ISO_UTC_MS_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"


def iso_utc_ms(epoch_ms: int) -> str:
    """`2024-05-01T03:00:00.123Z` for epoch milliseconds.

    >>> iso_utc_ms(1714532400123)
    '2024-05-01T03:00:00.123Z'
    >>> parse_iso_utc_ms(iso_utc_ms(1714532400123))
    1714532400123
    """
    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    )


def parse_iso_utc_ms(text: str) -> int:
    """Epoch milliseconds of an `iso_utc_ms` string."""
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _ms_from_wire(value: Any, info: ValidationInfo) -> Any:
    # JSON carries the ISO form only; a record built in Python takes milliseconds.
    if info.mode != "json":
        return value
    if not isinstance(value, str):
        raise ValueError("expected a UTC ISO 8601 string such as 2024-05-01T03:00:00.123Z")
    return parse_iso_utc_ms(value)


UtcMillis = Annotated[
    int,
    BeforeValidator(_ms_from_wire),
    PlainSerializer(iso_utc_ms, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": ISO_UTC_MS_PATTERN,
            "examples": ["2024-05-01T03:00:00.123Z"],
        },
        mode="serialization",
    ),
]
"""Epoch milliseconds in Python; in JSON a UTC ISO 8601 string with milliseconds and `Z`.
The field names its wire name with `serialization_alias` and `validation_alias`."""


class JsonRecord(BaseModel):
    """A record that crosses a boundary as one JSON object: `to_json` / `from_json`."""

    # A literal ConfigDict (not a shared constant): pydantic's mypy plugin reads it from here.
    model_config = ConfigDict(
        frozen=True,
        # Built by field name in Python, read by wire name from JSON (see `from_json`).
        validate_by_name=True,
        validate_by_alias=False,
        # Every field is written, defaults included: the schema says so.
        json_schema_serialization_defaults_required=True,
    )

    def to_json(self) -> bytes:
        """The record's JSON (UTF-8, compact, fields in declaration order)."""
        return self.__pydantic_serializer__.to_json(self, by_alias=True)

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """The record back from its JSON (raises `ValidationError` on anything else)."""
        return cls.model_validate_json(data, by_alias=True, by_name=False)
