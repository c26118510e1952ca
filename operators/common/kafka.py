"""What every step that reads Kafka shares: turning a value into text, counting errors."""

from __future__ import annotations

import logging

from operators.common.metrics import SOURCE_ERRORS

log = logging.getLogger(__name__)


def value_text(value: bytes | str | None) -> str:
    """A Kafka value (or file line) as text; bytes that are not UTF-8 become U+FFFD."""
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def count_source_error(err: object) -> None:
    """An error the Kafka source reported instead of a message: counted and logged."""
    SOURCE_ERRORS.inc()
    log.warning("kafka source error: %s", err)
