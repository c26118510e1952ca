"""Parse + validate + normalize: one raw input line to a message, feedback or rejection.

`Parser.parse` never raises on input: whatever is wrong with a line becomes a `Rejected`
record with one of DESIGN.md's reason codes, the validation errors and the raw text.
An error the parser did not foresee is logged and rejected too (`invalid_schema`), so one
line can never stop the flow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from operators.ingest.normalize import (
    BadTimestamp,
    detect_language,
    normalize_text,
    parse_event_time,
)
from schemas.message import ChatMessage, Feedback, Rejected, RejectReason
from schemas.payloads import CsvRow, WebhookFeedback, WebhookMessage, ZaloEvent, is_zalo_chat_event
from schemas.raw import SOURCES, Envelope, RawLine

log = logging.getLogger(__name__)

Parsed = ChatMessage | Feedback | Rejected

TOO_LARGE_PREVIEW_CHARS = 4096


M = TypeVar("M", bound=BaseModel)


class _Reject(Exception):
    def __init__(self, reason: RejectReason, *errors: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors


def _errors(exc: ValidationError, *prefix: str) -> tuple[str, ...]:
    return tuple(
        f"{'.'.join(str(p) for p in (*prefix, *err['loc'])) or '<root>'}: {err['msg']}"
        for err in exc.errors()
    )


def _validate(model: type[M], payload: Any) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise _Reject("invalid_schema", *_errors(exc, "payload")) from None


def _validate_envelope(data: Any) -> Envelope:
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        tenant_wrong = any(err["loc"][:1] == ("tenant",) for err in exc.errors())
        raise _Reject(
            "invalid_tenant" if tenant_wrong else "invalid_schema", *_errors(exc)
        ) from None


def _not_utf8(data: bytes) -> _Reject:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}: {exc.reason} (0x{data[exc.start]:02x})"
    else:  # not expected: the reader only sets `undecodable` when decoding failed
        where = "the reader could not decode it"
    return _Reject("not_utf8", f"input is not UTF-8: {where}; the raw archive keeps its bytes")


@dataclass(frozen=True)
class Parser:
    default_tz: tzinfo
    max_clock_skew_ms: int
    max_line_bytes: int = 256 * 1024

    def parse(self, line: RawLine) -> Parsed:
        envelope: Envelope | None = None
        try:
            if line.undecodable is not None:
                raise _not_utf8(line.undecodable)
            # A character is at most 4 bytes: most lines need no encoding to be measured.
            if len(line.text) > self.max_line_bytes or (
                len(line.text) * 4 > self.max_line_bytes
                and len(line.text.encode("utf-8", "surrogatepass")) > self.max_line_bytes
            ):
                raise _Reject(
                    "too_large",
                    f"input is larger than {self.max_line_bytes} bytes",
                    f"raw holds its first {TOO_LARGE_PREVIEW_CHARS} characters; "
                    "the raw archive keeps it whole",
                )
            envelope = self._envelope(line)
            return self._payload(envelope, envelope.received_at or line.received_at)
        except _Reject as rej:
            if rej.reason == "too_large":  # a dead letter must fit in a Kafka record
                line = line._replace(text=line.text[:TOO_LARGE_PREVIEW_CHARS])
            return self._rejected(line, envelope, rej.reason, rej.errors)
        except Exception as exc:  # a bug must cost one line, never the flow
            log.exception("unexpected error parsing %s", line.origin)
            return self._rejected(
                line, envelope, "invalid_schema", (f"unexpected {type(exc).__name__}: {exc}",)
            )

    @staticmethod
    def _rejected(
        line: RawLine, envelope: Envelope | None, reason: RejectReason, errors: tuple[str, ...]
    ) -> Rejected:
        return Rejected(
            reason=reason,
            errors=errors,
            source=envelope.source if envelope else None,
            tenant=envelope.tenant if envelope else None,
            received_at=(envelope.received_at if envelope else None) or line.received_at,
            raw=line.text,
        )

    def _envelope(self, line: RawLine) -> Envelope:
        if line.row is not None:
            tenant = line.row.get("tenant") or "default"
            return _validate_envelope({"source": "csv", "tenant": tenant, "payload": line.row})
        if not line.text:
            raise _Reject("not_json", "the input is empty (a Kafka record without a value?)")
        try:
            # A byte order mark is not JSON, but some writers put one before every record.
            data = orjson.loads(line.text.removeprefix("\ufeff"))
        except orjson.JSONDecodeError as exc:
            raise _Reject("not_json", str(exc)) from None
        if not isinstance(data, dict):
            raise _Reject("not_json", f"expected a JSON object, got {type(data).__name__}")
        envelope = _validate_envelope(data)
        if envelope.source not in SOURCES:
            raise _Reject("unknown_source", f"source must be one of {', '.join(SOURCES)}")
        return envelope

    def _payload(self, env: Envelope, received_at: int) -> ChatMessage | Feedback:
        payload = env.payload
        if not isinstance(payload, dict | str):
            raise _Reject("invalid_schema", "payload: must be an object or a string")
        if isinstance(payload, str):
            if env.source == "csv":
                raise _Reject("invalid_schema", "payload: a csv row must be an object")
            raise _Reject("not_json", "payload: the sender's body was not valid JSON")
        if env.source == "zalo":
            return self._zalo(env, payload, received_at)
        if env.source == "webhook":
            if "type" in payload and payload["type"] != "message":
                if payload["type"] != "feedback":
                    raise _Reject("unsupported_event", f"webhook type {payload['type']!r}")
                return self._feedback(env, _validate(WebhookFeedback, payload), received_at)
            hook = _validate(WebhookMessage, payload)
            return self._message(
                env,
                received_at,
                platform=hook.platform,
                platform_id=hook.id,
                conversation_id=hook.conversation_id,
                sender_id=hook.user_id,
                role=hook.role,
                text=hook.content,
                timestamp=hook.timestamp,
                idempotency_key=hook.idempotency_key,
            )
        row = _validate(CsvRow, payload)
        return self._message(
            env,
            received_at,
            platform=row.platform,
            platform_id=row.message_id,
            conversation_id=row.conversation_id,
            sender_id=row.user_id,
            role=row.role,
            text=row.content,
            timestamp=row.timestamp,
            idempotency_key=row.idempotency_key,
        )

    def _zalo(self, env: Envelope, payload: dict[str, Any], received_at: int) -> ChatMessage:
        event_name = payload.get("event_name")
        if not is_zalo_chat_event(event_name):
            raise _Reject("unsupported_event", f"zalo event_name {event_name!r} is not a message")
        event = _validate(ZaloEvent, payload)
        return self._message(
            env,
            received_at,
            platform="zalo",
            platform_id=event.message["msg_id"],
            conversation_id=f"zalo:{event.oa_id}:{event.user_id}",
            sender_id=event.sender["id"],
            role="user" if event.from_user else "agent",
            text=event.message.get("text") or "",
            timestamp=event.timestamp,
            idempotency_key=None,
        )

    def _event_ms(self, timestamp: object, received_at: int) -> int:
        try:
            event_ms = parse_event_time(timestamp, self.default_tz)
        except BadTimestamp as exc:
            raise _Reject("bad_timestamp", str(exc)) from None
        if event_ms > received_at + self.max_clock_skew_ms:
            raise _Reject(
                "future_event_time",
                f"event time is {(event_ms - received_at) / 1000:.0f}s after its receive time",
            )
        return event_ms

    def _message(
        self,
        env: Envelope,
        received_at: int,
        *,
        platform: str,
        platform_id: str,
        conversation_id: str,
        sender_id: str,
        role: str,
        text: str,
        timestamp: object,
        idempotency_key: str | None,
    ) -> ChatMessage:
        clean = normalize_text(text)
        if not clean:
            raise _Reject("empty_text", "text is empty after normalization")
        event_ms = self._event_ms(timestamp, received_at)
        message_id = f"{platform}:{platform_id}"
        return ChatMessage(
            message_id=message_id,
            idempotency_key=idempotency_key or message_id,
            tenant=env.tenant,
            source=env.source,
            platform=platform,
            conversation_id=conversation_id,
            sender_id=sender_id,
            role=role,
            text=clean,
            language=detect_language(clean),
            event_ms=event_ms,
            received_at=received_at,
        )

    def _feedback(self, env: Envelope, fb: WebhookFeedback, received_at: int) -> Feedback:
        return Feedback(
            feedback_id=f"{fb.platform}:{fb.id}",
            tenant=env.tenant,
            source=env.source,
            platform=fb.platform,
            message_id=f"{fb.platform}:{fb.message_id}",
            conversation_id=fb.conversation_id,
            score=fb.rating,
            event_ms=self._event_ms(fb.timestamp, received_at),
            received_at=received_at,
        )
