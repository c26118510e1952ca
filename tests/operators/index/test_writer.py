"""SegmentWriter's decisions on a fake Weaviate: wait out an outage, dead-letter a refusal.

The clock is fake: it moves only when the writer sleeps, so nothing here waits.
"""

from __future__ import annotations

import logging

import grpc
import numpy as np
import pytest
from prometheus_client import REGISTRY
from weaviate.exceptions import UnexpectedStatusCodeError

from operators.common.weaviate import WeaviateUnavailableError
from operators.index.writer import (
    FIRST_BACKOFF_S,
    MAX_BACKOFF_S,
    UNKNOWN_ATTEMPTS,
    SegmentWriter,
    Written,
)
from schemas.segment import Segment
from tests.operators.index.fakes import (
    DIM,
    LINES,
    FakeRpcError,
    FakeTime,
    FakeWeaviate,
    query_error,
    status_error,
)

INVALID_TENANT = "tenant name at index 0:  'acme corp' is not a valid tenant name"
BAD_VECTOR = "vector dimensions do not match the index dimensions"


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def store(time: FakeTime) -> FakeWeaviate:
    return FakeWeaviate(time)


def writer_of(store: FakeWeaviate, time: FakeTime, retry_s: float = 10.0) -> SegmentWriter:
    return SegmentWriter(
        store.connect,
        "m1",
        retry_s=retry_s,
        clock=lambda: 1_000,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )


def seg(tenant: str = "acme", conversation: str = "c1", number: int = 1, lines: int = 2):
    return Segment(tenant, conversation, number, LINES[:lines])


def write(writer: SegmentWriter, *segments: Segment) -> Written:
    return writer.write(list(segments), np.ones((len(segments), DIM), dtype=np.float32))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stored_ids(written: Written) -> list[str]:
    return [s.key + f"/{s.number}" for s, _ in written.stored]


# --- outages ---------------------------------------------------------------------------


def test_an_outage_shorter_than_the_bound_is_waited_out(store, time, caplog) -> None:
    writer = writer_of(store, time, retry_s=10)
    assert stored_ids(write(writer, seg(number=1))) == ["acme/c1/1"]
    retries = sample("headwater_index_weaviate_retries_total", kind="unavailable")
    store.down_until = time.now + 7

    with caplog.at_level(logging.WARNING, logger="operators.index.writer"):
        written = write(writer, seg(number=2), seg("globex", number=3))

    assert stored_ids(written) == ["acme/c1/2", "globex/c1/3"] and written.rejected == []
    assert 7 <= sum(time.sleeps) < 10
    # Back-off: 0.25 s doubling, at most 5 s.
    assert time.sleeps[:3] == [FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S, 4 * FIRST_BACKOFF_S]
    assert max(time.sleeps) <= MAX_BACKOFF_S
    attempts = len(time.sleeps)
    assert sample("headwater_index_weaviate_retries_total", kind="unavailable") == (
        retries + attempts
    )
    assert sample("headwater_index_weaviate_up") == 1
    warnings = [r.getMessage() for r in caplog.records if "unavailable (attempt" in r.getMessage()]
    assert len(warnings) == attempts  # one line per attempt, not one per call the client makes
    assert warnings[0].startswith("weaviate unavailable (attempt 1, down 0.0 s of 10 s allowed)")
    assert f"attempt {attempts}," in warnings[-1]
    assert any(r.getMessage().startswith("weaviate reachable again after") for r in caplog.records)


def test_an_outage_past_the_bound_raises_at_the_bound(store, time) -> None:
    writer = writer_of(store, time, retry_s=10)
    write(writer, seg(number=1))
    store.down_until = 1_000.0

    with pytest.raises(WeaviateUnavailableError, match="past the 10 s retry bound"):
        write(writer, seg(number=2))

    assert sum(time.sleeps) == pytest.approx(10)  # the last wait ends at the bound, not after
    assert sample("headwater_index_weaviate_up") == 0
    store.down_until = 0
    assert write(writer, seg(number=3)).stored and sample("headwater_index_weaviate_up") == 1


def test_each_outage_gets_the_whole_bound(store, time) -> None:
    writer = writer_of(store, time, retry_s=10)
    for _ in range(3):  # three outages of 8 s: each one alone is within the bound
        store.down_until = time.now + 8
        assert write(writer, seg(number=len(time.sleeps))).stored


def test_an_outage_while_connecting_is_retried(store, time) -> None:
    store.down_until = 3  # connect raises WeaviateConnectionError (connection refused)
    written = write(writer_of(store, time), seg())
    assert written.stored and store.connects == 1
    assert store.calls.count("connect") == len(time.sleeps) + 1


def test_a_batch_whose_objects_all_fail_with_connection_errors_is_retried(store, time) -> None:
    store.object_error = lambda props, attempt: "connection refused" if attempt < 3 else None
    written = write(writer_of(store, time), seg(number=1), seg(number=2))
    assert stored_ids(written) == ["acme/c1/1", "acme/c1/2"] and written.rejected == []
    assert store.calls.count("insert_many") == 3


def test_objects_failing_for_a_while_are_sent_again_and_the_stored_ones_are_not(
    store, time
) -> None:
    store.object_error = lambda props, attempt: (
        "shard is read-only" if props["segment"] == 2 and attempt < 2 else None
    )
    written = write(writer_of(store, time), seg(number=1), seg(number=2))
    assert sorted(stored_ids(written)) == ["acme/c1/1", "acme/c1/2"]
    assert sorted(store.inserts.values()) == [1, 2]


# --- refusals --------------------------------------------------------------------------


def test_a_refused_object_is_a_dead_letter_and_the_rest_is_stored(store, time) -> None:
    store.object_error = lambda props, attempt: BAD_VECTOR if props["segment"] == 2 else None
    refused = sample("headwater_index_weaviate_errors_total", kind="refused")

    written = write(writer_of(store, time), seg(number=1), seg(number=2), seg(number=3))

    assert stored_ids(written) == ["acme/c1/1", "acme/c1/3"]
    (dead,) = written.rejected
    assert (dead.reason, dead.tenant, dead.errors) == ("index_rejected", "acme", (BAD_VECTOR,))
    assert '"segment":2' in dead.raw.replace(" ", "")
    assert time.sleeps == [] and store.calls.count("insert_many") == 1
    assert sample("headwater_index_weaviate_errors_total", kind="refused") == refused + 1


def test_a_batch_whose_objects_are_all_refused_is_dead_lettered_at_once(store, time) -> None:
    store.object_error = lambda props, attempt: BAD_VECTOR
    written = write(writer_of(store, time), seg(number=1), seg(number=2))
    assert written.stored == [] and [r.errors for r in written.rejected] == [(BAD_VECTOR,)] * 2
    assert time.sleeps == [] and store.calls.count("insert_many") == 1


def test_every_object_failing_with_different_errors_is_sorted_one_by_one(store, time) -> None:
    # All fail, so the client only says which errors there were, not whose: each object is
    # then sent alone, the refused one is a dead letter and the other one is retried.
    def error(props: dict, attempt: int) -> str | None:
        if props["segment"] == 1:
            return BAD_VECTOR
        return "connection refused" if attempt < 3 else None

    store.object_error = error
    written = write(writer_of(store, time), seg(number=1), seg(number=2))
    assert stored_ids(written) == ["acme/c1/2"]
    assert [r.errors for r in written.rejected] == [(BAD_VECTOR,)]
    assert store.inserts[seg(number=1).uuid] == 2  # in the batch, then alone


def test_a_refused_tenant_dead_letters_its_segments_and_the_others_are_written(store, time) -> None:
    def refuse_bad_names():
        return status_error(422, INVALID_TENANT)

    writer = writer_of(store, time)
    store.fail("tenants.create", refuse_bad_names)  # acme corp's creation; acme's comes after
    written = write(writer, seg("acme corp", number=1), seg("acme", number=2), seg("acme corp"))

    assert stored_ids(written) == ["acme/c1/2"]
    assert [(r.tenant, r.errors) for r in written.rejected] == [
        ("acme corp", (INVALID_TENANT,)),
        ("acme corp", (INVALID_TENANT,)),
    ]
    assert time.sleeps == [] and "acme corp" not in store.tenants


def test_a_query_the_store_refuses_is_not_retried(store, time) -> None:
    store.fail("fetch_objects", FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad filter"))
    written = write(writer_of(store, time), seg())
    assert [r.errors for r in written.rejected] == [("bad filter",)]
    assert time.sleeps == [] and store.calls.count("fetch_objects") == 1


def test_a_store_that_refuses_the_collection_stops_the_flow(store, time) -> None:
    # Not something one record did: dead-lettering every segment would hide it.
    store.fail("collections.create", status_error(422, "vectorizer: invalid config"))
    with pytest.raises(UnexpectedStatusCodeError):
        write(writer_of(store, time), seg())


def test_an_unknown_error_is_retried_briefly_then_dead_lettered(store, time, caplog) -> None:
    store.fail("fetch_objects", query_error(grpc.StatusCode.INTERNAL, "panic: odd"), times=9)
    unknown = sample("headwater_index_weaviate_errors_total", kind="unknown")

    with caplog.at_level(logging.WARNING, logger="operators.index.writer"):
        written = write(writer_of(store, time), seg(number=1), seg(number=2))

    assert written.stored == [] and len(written.rejected) == 2
    assert "panic: odd" in written.rejected[0].errors[0]
    assert store.calls.count("fetch_objects") == UNKNOWN_ATTEMPTS
    assert time.sleeps == [FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S]
    assert sample("headwater_index_weaviate_errors_total", kind="unknown") == (
        unknown + UNKNOWN_ATTEMPTS
    )
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "unknown kind" in error.getMessage() and "dead letters" in error.getMessage()


def test_an_unknown_error_that_goes_away_costs_nothing(store, time) -> None:
    store.fail("insert_many", query_error(grpc.StatusCode.UNKNOWN, "hiccup"))
    written = write(writer_of(store, time), seg())
    assert written.stored and written.rejected == [] and time.sleeps == [FIRST_BACKOFF_S]


def test_a_deleted_tenant_is_created_again(store, time) -> None:
    writer = writer_of(store, time)
    write(writer, seg(number=1))
    store.tenants.clear()  # someone deleted it; the writer still thinks it exists
    store.object_error = lambda props, attempt: (
        None if "acme" in store.tenants else 'tenant not found: "acme"'
    )
    written = write(writer, seg(number=2))
    assert stored_ids(written) == ["acme/c1/2"] and "acme" in store.tenants


def test_an_error_of_the_code_itself_is_raised(store, time) -> None:
    store.fail("insert_many", TypeError("a bug"))
    with pytest.raises(TypeError):
        write(writer_of(store, time), seg())
