"""Type guards that tell the records apart, for `op.branch` to keep the stream types."""

from __future__ import annotations

from typing import TypeGuard

from schemas.alert import DriftAlert
from schemas.message import ChatMessage, Feedback, Rejected


def is_message(record: object) -> TypeGuard[ChatMessage]:
    return isinstance(record, ChatMessage)


def is_feedback(record: object) -> TypeGuard[Feedback]:
    return isinstance(record, Feedback)


def is_rejected(record: object) -> TypeGuard[Rejected]:
    return isinstance(record, Rejected)


def is_alert(record: object) -> TypeGuard[DriftAlert]:
    return isinstance(record, DriftAlert)
