"""PII: finding and redacting personal data, and the audit trail of what was redacted.

`redact(text) -> Redaction` is the contract every step relies on (DESIGN.md, "PII").
"""

from operators.pii.redact import KINDS, PiiSpan, Redaction, find_pii, marker, redact

__all__ = ["KINDS", "PiiSpan", "Redaction", "find_pii", "marker", "redact"]
