"""The rules for identifiers that come from outside: tenants, platforms and ids.

One place for each rule, used wherever such a value enters (the ingest parser today, the
services' registry and requests too). A failed rule is a `ValueError` that says what the
rule is, so pydantic reports it with the field named.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

TENANT_RULE = "1-64 characters of A-Z a-z 0-9 _ -"
_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")

PLATFORM_RULE = "1-32 characters of A-Z a-z 0-9 _ . -"
_PLATFORM = re.compile(r"[A-Za-z0-9_.-]{1,32}")

MAX_ID_CHARS = 256
ID_RULE = f"1-{MAX_ID_CHARS} printable characters (a string or an integer)"


def is_valid_tenant(value: object) -> bool:
    """Whether `value` is a tenant id: Weaviate's tenant rule, so it always is one there."""
    return isinstance(value, str) and _TENANT.fullmatch(value) is not None


def _preview(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def check_tenant(value: str) -> str:
    if not is_valid_tenant(value):
        raise ValueError(f"a tenant is {TENANT_RULE}, got {_preview(value)}")
    return value


def _check_platform(value: str) -> str:
    if _PLATFORM.fullmatch(value) is None:
        raise ValueError(f"a platform is {PLATFORM_RULE}, got {_preview(value)}")
    return value


def _id_text(value: Any) -> Any:
    # Integers are ids some senders use (JSON numbers); floats, booleans and the rest are not.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"an id is {ID_RULE}, got {type(value).__name__}")
    return value


def _check_id(value: str) -> str:
    # `isprintable` is False for control, format, separator (but ' ') and surrogate characters.
    if not 1 <= len(value) <= MAX_ID_CHARS or not value.isprintable():
        raise ValueError(f"an id is {ID_RULE}, got {_preview(value)}")
    return value


TenantId = Annotated[
    str,
    AfterValidator(check_tenant),
    Field(examples=["acme"], json_schema_extra={"pattern": f"^{_TENANT.pattern}$"}),
]
"""A Headwater tenant: 1–64 characters of `A–Z a–z 0–9 _ -`."""

Platform = Annotated[
    str,
    AfterValidator(_check_platform),
    Field(json_schema_extra={"pattern": f"^{_PLATFORM.pattern}$"}),
]
"""The platform a message was sent on, a short identifier (`zalo`, `shopee`, `csv`)."""

Identifier = Annotated[
    str,
    BeforeValidator(_id_text),
    AfterValidator(_check_id),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_ID_CHARS}),
]
"""A sender's id for a message, conversation, user or request: printable, bounded."""
