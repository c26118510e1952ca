"""Drift alerts from outside (a `drift.alerts` value or an `alerts.jsonl` line): an alert,
or a dead letter saying why not. Never raises on input."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from operators.common import metrics
from operators.common.kafka import value_text
from schemas.alert import DriftAlert
from schemas.message import Rejected

ERROR_CHARS = 2000


def to_alert(
    value: bytes | str | None,
    *,
    origin: str,
    received_at: int,
    decode: Callable[[bytes | str], DriftAlert] = DriftAlert.from_json,
) -> DriftAlert | Rejected:
    """The alert in `value`, or an `invalid_schema` dead letter carrying it as read.

    `origin` (`kafka:<topic>` or `file:<path>`) becomes the dead letter's `source`.
    """
    try:
        return decode(value or b"")
    except (ValidationError, ValueError, TypeError) as exc:
        metrics.REJECTED.labels(reason="invalid_schema").inc()
        return Rejected(
            reason="invalid_schema",
            errors=(str(exc)[:ERROR_CHARS],),
            source=origin,
            received_at=received_at,
            raw=value_text(value),
        )
