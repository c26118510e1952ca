"""What a failed Weaviate call means for the index: wait for the store, or give up a record.

Every failure the index writer sees is sorted here, and only here, into one of three kinds:

- ``unavailable``: the store cannot serve anyone now (connection refused, gRPC UNAVAILABLE or
  DEADLINE_EXCEEDED, timeouts, HTTP 502/503/504/429, a read-only store, and 401/403: it
  refuses us as a whole). The writer retries with back-off for as long as the outage bound
  allows, then raises so the flow stops and recovery replays.
- ``refused``: the store refused what the call was about (HTTP 400/422, gRPC INVALID_ARGUMENT,
  an invalid tenant name, an object's validation error in a batch result). Those records
  become dead letters with the server's message; the flow goes on.
- ``unknown``: anything else (gRPC UNKNOWN or INTERNAL, HTTP 500, an unexpected client
  error). Retried a few times at once, then treated as refused and logged at ERROR.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import grpc  # type: ignore[import-untyped]
import httpx
from weaviate.exceptions import (
    AuthenticationFailedError,
    SchemaValidationError,
    UnexpectedStatusCodeError,
    WeaviateAddInvalidPropertyError,
    WeaviateBaseError,
    WeaviateBatchValidationError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInsertInvalidPropertyError,
    WeaviateInsertManyAllFailedError,
    WeaviateInvalidInputError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

Kind = Literal["unavailable", "refused", "unknown"]

STORE_ERRORS: tuple[type[BaseException], ...] = (
    WeaviateBaseError,
    grpc.RpcError,
    httpx.HTTPError,
    OSError,  # ConnectionError, TimeoutError, socket errors
)
"""What the store and its client raise. Anything else out of a call is a programmer error
and is raised as it is."""

_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    WeaviateConnectionError,  # also operators.common.weaviate.WeaviateUnavailableError
    WeaviateTimeoutError,
    WeaviateGRPCUnavailableError,
    WeaviateStartUpError,
    WeaviateClosedClientError,
    WeaviateRetryError,
    AuthenticationFailedError,
    httpx.TransportError,
    OSError,
)
_REFUSED_TYPES: tuple[type[BaseException], ...] = (
    WeaviateInvalidInputError,
    WeaviateInsertInvalidPropertyError,
    WeaviateAddInvalidPropertyError,
    WeaviateBatchValidationError,
    SchemaValidationError,
)

_GRPC_KINDS: dict[grpc.StatusCode, Kind] = {
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "unavailable",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "unavailable",
    grpc.StatusCode.ABORTED: "unavailable",
    grpc.StatusCode.UNAUTHENTICATED: "unavailable",
    grpc.StatusCode.PERMISSION_DENIED: "unavailable",
    grpc.StatusCode.INVALID_ARGUMENT: "refused",
    grpc.StatusCode.OUT_OF_RANGE: "refused",
    grpc.StatusCode.ALREADY_EXISTS: "refused",
}
"""gRPC codes with a kind of their own; the others (UNKNOWN, INTERNAL, NOT_FOUND, ...) are
decided by their message, else unknown. Weaviate's gRPC API answers most refusals of a query
with UNKNOWN and a message."""

_UNAVAILABLE_HTTP = frozenset({401, 403, 408, 429, 502, 503, 504})

_TEMPORARY_WORDS = (
    "connection refused",
    "connection reset",
    "broken pipe",
    "no route to host",
    "unavailable",
    "deadline exceeded",
    "timed out",
    "timeout",
    "read-only",
    "read only",
    "too many requests",
    "try again",
    "shutting down",
    "consistency level",
    "leader",  # raft: no leader / leadership lost
    "non-existing index",  # just restarted: the collection's shards are not loaded yet
)
_MISSING_WORDS = ("tenant not found", "class not found", "could not find class")
"""A tenant or collection deleted behind the writer's back: reconnecting re-creates it."""
_VALIDATION_WORDS = (
    "invalid",
    "not a valid",
    "don't match",
    "do not match",
    "no such prop",
    "requires a",
    "validat",
    "cannot parse",
    "could not parse",
    "failed to parse",
    "must be",
    "too long",
    "exceeds",
)

_ALL_FAILED_PREFIX = "Here is the set of all errors: "


def classify(exc: BaseException) -> Kind:
    """The kind of a failed call: from its type, its status code, else its message."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _own_kind(current)
        if kind is not None:
            return kind
        current = current.__cause__ or current.__context__
    return "unknown"


def classify_message(message: str) -> Kind:
    """The kind of one object's error in a batch result (the server's text is all there is)."""
    text = message.lower()
    if any(word in text for word in _TEMPORARY_WORDS):
        return "unavailable"
    if any(word in text for word in _MISSING_WORDS):
        return "unknown"
    if any(word in text for word in _VALIDATION_WORDS):
        return "refused"
    return "unknown"


def worst(kinds: Iterable[Kind]) -> Kind:
    """The kind that decides for several errors: unavailable, then unknown, then refused."""
    found = set(kinds)
    for kind in ("unavailable", "unknown", "refused"):
        if kind in found:
            return kind  # type: ignore[return-value]
    return "unknown"


def all_failed_messages(exc: WeaviateInsertManyAllFailedError) -> list[str]:
    """The distinct object errors of a batch in which every object failed."""
    text = str(exc)
    _, sep, rest = text.partition(_ALL_FAILED_PREFIX)
    messages = [m for m in rest.split("\n") if m.strip()] if sep else []
    return messages or [text]


def describe(exc: BaseException) -> str:
    """The server's message of a failed call, for a dead letter (at most 2,000 characters)."""
    text = str(exc)
    if isinstance(exc, UnexpectedStatusCodeError):
        body = exc.error
        if isinstance(body, dict) and isinstance(body.get("error"), list):
            messages = [e.get("message") for e in body["error"] if isinstance(e, dict)]
            text = "; ".join(m for m in messages if m) or text
        elif isinstance(body, str) and body:
            text = body
    return text[:2000]


class ObjectErrors(WeaviateBaseError):
    """Objects of a batch failed, none of them refused: the batch is retried as their kind."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        self.kind = worst(classify_message(m) for m in messages)
        super().__init__("; ".join(dict.fromkeys(messages))[:2000])


def _own_kind(exc: BaseException) -> Kind | None:
    """The kind this exception shows by itself; None: look at what it was raised from."""
    if isinstance(exc, ObjectErrors):
        return exc.kind
    if isinstance(exc, WeaviateInsertManyAllFailedError):
        return worst(classify_message(m) for m in all_failed_messages(exc))
    if isinstance(exc, UnexpectedStatusCodeError):
        return _status_kind(exc.status_code, describe(exc))
    if isinstance(exc, _UNAVAILABLE_TYPES):
        return "unavailable"
    if isinstance(exc, _REFUSED_TYPES):
        return "refused"
    if isinstance(exc, grpc.RpcError) and isinstance(exc, grpc.Call):
        code = exc.code()
        return _GRPC_KINDS.get(code) or classify_message(str(exc.details()))
    return None


def _status_kind(status: int, message: str) -> Kind:
    if status < 100:  # the client puts a gRPC code there for a gRPC call
        code = next((c for c in grpc.StatusCode if c.value[0] == status), None)
        return (_GRPC_KINDS.get(code) if code else None) or classify_message(message)
    if status in _UNAVAILABLE_HTTP:
        return "unavailable"
    if status == 404 or any(word in message.lower() for word in _MISSING_WORDS):
        return "unknown"
    if 400 <= status < 500:
        return "refused"
    return classify_message(message)  # a 500 says nothing by itself; its message may
