"""Audit trail for redactions: a keyed HMAC per value instead of the value.

A compliance review holding the key can ask "was 0912 345 678 in message X?" by
hashing the candidate the same way and comparing; without the key the records
reveal nothing. Values are canonicalised first, so the same number matches
however it was written ("0912.345.678", "+84 912 345 678").
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import unicodedata

from operators.pii.recognizers import vietnamese_e164
from operators.pii.redact import Redaction
from schemas.pii_audit import PiiAudit

_NOT_DIGIT = re.compile(r"[^0-9]")
_SPACES = re.compile(r"\s+")
_OBFUSCATED_AT = re.compile(r"\s?[\[(]\s?(?:at|a còng)\s?[\])]\s?", re.IGNORECASE)
_OBFUSCATED_DOT = re.compile(r"\s?[\[(]\s?(?:dot|chấm)\s?[\])]\s?", re.IGNORECASE)


def canonical_value(kind: str, value: str) -> str:
    """The form of a value that is hashed: one spelling per real-world value."""
    value = unicodedata.normalize("NFC", value).strip()
    if kind == "phone":
        digits = _NOT_DIGIT.sub("", value)
        return vietnamese_e164(digits) or "+" + digits
    if kind in ("national_id", "card", "bank_account"):
        return _NOT_DIGIT.sub("", value)
    if kind == "email":
        return _OBFUSCATED_DOT.sub(".", _OBFUSCATED_AT.sub("@", value)).replace(" ", "").lower()
    if kind == "ip":
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            return value.lower()
    return _SPACES.sub(" ", value).casefold()


def key_id(key: bytes) -> str:
    return hmac.new(key, b"headwater-pii-audit-key-id", hashlib.sha256).hexdigest()[:12]


def value_hmac(kind: str, value: str, key: bytes) -> str:
    message = f"{kind}:{canonical_value(kind, value)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def audit_records(message_id: str, text: str, redaction: Redaction, key: bytes) -> list[PiiAudit]:
    """One record per span of `redaction`, which must be `redact(text)`."""
    kid = key_id(key)
    return [
        PiiAudit(
            message_id=message_id,
            kind=span.kind,
            start=span.start,
            end=span.end,
            value_hmac=value_hmac(span.kind, text[span.start : span.end], key),
            key_id=kid,
        )
        for span in redaction.spans
    ]


def matches(record: PiiAudit, candidate: str, key: bytes) -> bool:
    """Whether `candidate` is the value `record` was made from (same key required)."""
    if record.key_id != key_id(key):
        return False
    return hmac.compare_digest(record.value_hmac, value_hmac(record.kind, candidate, key))
