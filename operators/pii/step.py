"""The PII step of the ingest flow: message text redacted, findings audited and counted."""

from __future__ import annotations

from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from operators.pii.audit import audit_records
from operators.pii.redact import count_redactions, redact
from schemas.message import ChatMessage, PiiCount
from schemas.pii_audit import PiiAudit


def redact_message(msg: ChatMessage, audit_key: bytes) -> tuple[ChatMessage, list[PiiAudit]]:
    """The message with each PII value in its text replaced by `[KIND]`, and its audit records."""
    redaction = redact(msg.text)
    if not redaction.spans:
        return msg, []
    count_redactions(redaction)
    counts = redaction.kind_counts()
    redacted = msg.model_copy(
        update={
            "text": redaction.text,
            "pii": tuple(PiiCount(kind=k, count=n) for k, n in sorted(counts.items())),
        }
    )
    return redacted, audit_records(msg.message_id, msg.text, redaction, audit_key)


@dataclass(frozen=True)
class PiiOut:
    messages: Stream[ChatMessage]
    audits: Stream[PiiAudit]


@operator
def redact_messages(step_id: str, up: Stream[ChatMessage], audit_key: bytes) -> PiiOut:
    """Replace PII in each message's text with [KIND] markers; one audit record per value."""
    both = op.map("redact", up, lambda m: redact_message(m, audit_key))
    return PiiOut(
        messages=op.map("messages", both, lambda pair: pair[0]),
        audits=op.flat_map("audits", both, lambda pair: pair[1]),
    )
