"""The PII step of the ingest flow: message text redacted, findings counted."""

from __future__ import annotations

from collections import Counter

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from operators.pii import count_redactions, redact
from schemas.message import ChatMessage, PiiCount


def redact_message(msg: ChatMessage) -> ChatMessage:
    """The message with each PII value in its text replaced by `[KIND]`."""
    redaction = redact(msg.text)
    if not redaction.spans:
        return msg
    count_redactions(redaction)
    kinds = Counter(span.kind for span in redaction.spans)
    return msg.model_copy(
        update={
            "text": redaction.text,
            "pii": tuple(PiiCount(kind=k, count=n) for k, n in sorted(kinds.items())),
        }
    )


@operator
def redact_messages(step_id: str, up: Stream[ChatMessage]) -> Stream[ChatMessage]:
    """Replace PII in each message's text with [KIND] markers."""
    return op.map("redact", up, redact_message)
