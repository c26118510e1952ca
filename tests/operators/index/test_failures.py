"""Sorting Weaviate failures by kind, and the connection that leaves retries to its caller."""

from __future__ import annotations

import grpc
import httpx
import pytest
from weaviate.exceptions import (
    WeaviateBaseError,
    WeaviateConnectionError,
    WeaviateInsertManyAllFailedError,
    WeaviateInvalidInputError,
    WeaviateQueryError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from operators.common.weaviate import FailFastStub, WeaviateUnavailableError
from operators.index.failures import (
    ObjectErrors,
    all_failed_messages,
    classify,
    classify_message,
    describe,
)
from tests.operators.index.fakes import FakeRpcError, query_error, status_error


def retried_by_the_client() -> WeaviateQueryError:
    """What a client with its own retries raises after a minute of UNAVAILABLE."""
    try:
        try:
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
        except grpc.RpcError as exc:
            raise WeaviateRetryError(str(exc), 5) from exc
    except WeaviateRetryError as exc:
        error = WeaviateQueryError(str(exc), "GRPC search")
        error.__context__ = exc
        return error


INVALID_TENANT = (
    "tenant name at index 0:  'acme corp' is not a valid tenant name. should only contain "
    "alphanumeric characters (a-z, A-Z, 0-9), underscore (_), and hyphen (-)"
)


@pytest.mark.parametrize(
    "exc",
    [
        WeaviateConnectionError("Error: [Errno 111] Connection refused"),
        WeaviateUnavailableError("gRPC Search: UNAVAILABLE"),
        WeaviateTimeoutError("read timed out"),
        WeaviateStartUpError("Could not connect to Weaviate"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        httpx.ConnectError("connection refused"),
        retried_by_the_client(),
        query_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"),
        query_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
        query_error(grpc.StatusCode.UNKNOWN, "dial tcp 10.0.0.2:7001: connection refused"),
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Socket closed"),
        status_error(503, "service unavailable"),
        status_error(502, "bad gateway"),
        status_error(429, "too many requests"),
        status_error(401, "anonymous access not enabled"),
        status_error(403, "forbidden"),
        status_error(500, "store is read-only"),
        query_error(
            grpc.StatusCode.UNKNOWN,
            "explorer: list class: search: tried to browse non-existing index for C_m1",
        ),
    ],
    ids=repr,
)
def test_an_unreachable_store_is_unavailable(exc: BaseException) -> None:
    assert classify(exc) == "unavailable"


@pytest.mark.parametrize(
    "exc",
    [
        status_error(422, INVALID_TENANT),
        status_error(400, "invalid filter"),
        WeaviateInvalidInputError("vector must be a list"),
        FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad request"),
        query_error(grpc.StatusCode.UNKNOWN, "no such prop with name 'x' found in class"),
        WeaviateInsertManyAllFailedError(
            "Here is the set of all errors: vector dimensions do not match the index dimensions"
        ),
    ],
    ids=repr,
)
def test_what_the_store_refuses_is_refused(exc: BaseException) -> None:
    assert classify(exc) == "refused"


@pytest.mark.parametrize(
    "exc",
    [
        status_error(500, "something broke"),
        status_error(404, "not found"),
        status_error(422, "updating schema: TYPE_ADD_TENANT: class not found"),
        query_error(grpc.StatusCode.UNKNOWN, 'tenant not found: "acme"'),
        query_error(grpc.StatusCode.INTERNAL, "panic"),
        WeaviateBaseError("what now"),
        KeyError("message_count"),
    ],
    ids=repr,
)
def test_anything_else_is_unknown(exc: BaseException) -> None:
    assert classify(exc) == "unknown"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("invalid integer property 'n' on class 'C': requires an integer", "refused"),
        (
            "new node has a vector with length 1. Existing nodes have vectors with length 3: "
            "vector dimensions do not match the index dimensions",
            "refused",
        ),
        (
            "calculate distance between insert node and entrypoint: 3 vs 2: vector lengths "
            "don't match",
            "refused",
        ),
        ("connection refused", "unavailable"),
        ("context deadline exceeded", "unavailable"),
        ("shard C_abc: store is read-only", "unavailable"),
        ("cannot achieve consistency level QUORUM", "unavailable"),
        ('tenant not found: "acme"', "unknown"),
        ("something new", "unknown"),
    ],
)
def test_an_objects_error_in_a_batch_result_is_sorted_by_its_message(
    message: str, kind: str
) -> None:
    assert classify_message(message) == kind


def test_a_batch_in_which_every_object_failed_takes_its_worst_kind() -> None:
    exc = WeaviateInsertManyAllFailedError(
        "Here is the set of all errors: invalid text property 'x'\nconnection refused"
    )
    assert all_failed_messages(exc) == ["invalid text property 'x'", "connection refused"]
    assert classify(exc) == "unavailable"
    assert ObjectErrors(["invalid text property 'x'", 'tenant not found: "a"']).kind == "unknown"


def test_a_dead_letter_gets_the_servers_own_message() -> None:
    assert describe(status_error(422, INVALID_TENANT)) == INVALID_TENANT
    assert "no such prop" in describe(query_error(grpc.StatusCode.UNKNOWN, "no such prop 'x'"))
    assert len(describe(WeaviateBaseError("x" * 5000))) == 2000


class Stub:
    """A gRPC stub whose Search ends with `code`."""

    def __init__(self, code: grpc.StatusCode | None) -> None:
        self.code, self.calls = code, 0

    def Search(self, request: str, timeout: float) -> str:  # gRPC names methods so
        self.calls += 1
        if self.code is not None:
            raise FakeRpcError(self.code, "failed to connect to all addresses")
        return f"reply to {request}"


def test_a_fail_fast_stub_turns_unavailable_into_an_error_the_client_does_not_retry() -> None:
    # weaviate-client's own retry loop only catches grpc.RpcError.
    stub = Stub(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(WeaviateUnavailableError, match="UNAVAILABLE") as raised:
        FailFastStub(stub).Search("q", timeout=1)
    assert not isinstance(raised.value, grpc.RpcError) and stub.calls == 1
    assert classify(raised.value) == "unavailable"

    with pytest.raises(grpc.RpcError):  # other codes are the client's to handle
        FailFastStub(Stub(grpc.StatusCode.INVALID_ARGUMENT)).Search("q", timeout=1)
    assert FailFastStub(Stub(None)).Search("q", timeout=1) == "reply to q"
