"""Checking who sent a webhook: Zalo's `X-ZEvent-Signature` and partners' signature.

Plain functions over the raw body; each failure is a `SignatureError` whose `reason` is
the short code the gateway answers and counts. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable


class SignatureError(Exception):
    """A signature that does not prove the sender; `reason` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def zalo_mac(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    """Zalo's mac: hex SHA-256 of app id + raw body + timestamp + OA secret key."""
    return hashlib.sha256(
        app_id.encode() + body + timestamp.encode() + oa_secret.encode()
    ).hexdigest()


def verify_zalo(
    header: str | None, body: bytes, *, app_id: str, timestamp: str, oa_secret: str
) -> None:
    """Check `X-ZEvent-Signature: mac=<hex>` for a Zalo event's raw body."""
    if not header:
        raise SignatureError("missing_signature", "X-ZEvent-Signature is required")
    scheme, sep, mac = header.strip().partition("=")
    if not sep or scheme.strip().lower() != "mac" or not mac.strip():
        raise SignatureError("malformed_signature", "X-ZEvent-Signature must be mac=<hex>")
    expected = zalo_mac(app_id, body, timestamp, oa_secret)
    if not hmac.compare_digest(mac.strip().lower().encode(), expected.encode()):
        raise SignatureError("bad_signature", "X-ZEvent-Signature does not match the body")


_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def partner_signature(secret: str, timestamp: str | int, body: bytes) -> str:
    """A partner's v1 signature: hex HMAC-SHA256(secret, "<t>.<raw body>"), `t` as sent."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, "sha256").hexdigest()


def _parse_partner_header(header: str) -> tuple[str, list[str]]:
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            if not _UNIX_SECONDS.fullmatch(value.strip()):
                raise SignatureError(
                    "malformed_signature", "X-Headwater-Signature t= is not unix seconds"
                )
            timestamp = value.strip()
        elif name == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise SignatureError(
            "malformed_signature", "X-Headwater-Signature must be t=<unix seconds>,v1=<hex>"
        )
    return timestamp, signatures


def verify_partner(
    header: str | None,
    body: bytes,
    *,
    secrets: Iterable[str],
    now_s: float,
    window_s: float,
) -> None:
    """Check `X-Headwater-Signature: t=<unix s>,v1=<hex>` (several v1 allowed) against
    any of the tenant's secrets, with `t` within `window_s` of now."""
    if not header:
        raise SignatureError("missing_signature", "X-Headwater-Signature is required")
    timestamp, signatures = _parse_partner_header(header)
    if abs(now_s - int(timestamp)) > window_s:
        raise SignatureError(
            "stale_timestamp",
            f"X-Headwater-Signature t= is more than {window_s:.0f} s from the gateway's clock",
        )
    expected = [partner_signature(s, timestamp, body).encode() for s in secrets]
    # Every pair is compared, so the time taken says nothing about which one matched.
    matched = False
    for given in signatures:
        for want in expected:
            matched |= hmac.compare_digest(given.encode(), want)
    if not matched:
        raise SignatureError("bad_signature", "X-Headwater-Signature does not match the body")
