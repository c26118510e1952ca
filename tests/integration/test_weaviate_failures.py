"""The index writer against a real Weaviate that refuses records, and one that goes away.

Refusals use the shared Weaviate (127.0.0.1:8080), in tenants no other run uses. Outages
use a throwaway Weaviate started here from the binary `make services` built, on free ports
and with its own temporary data directory: it is SIGKILLed and started again. The shared
Weaviate is never stopped.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
import weaviate.classes.config as wc
from prometheus_client import REGISTRY

from flows.index import writer_for
from models import load_embedder
from operators.common.weaviate import WeaviateUnavailableError
from operators.index.writer import collection_name, segment_properties
from tests.integration.segments import segment
from tests.integration.throwaway_weaviate import BINARY, ThrowawayWeaviate


def units(n: int, dim: int) -> np.ndarray:
    return np.ones((n, dim), dtype=np.float32) / np.sqrt(dim)


def retries() -> float:
    return (
        REGISTRY.get_sample_value("headwater_index_weaviate_retries_total", {"kind": "unavailable"})
        or 0.0
    )


@pytest.fixture(scope="module")
def throwaway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayWeaviate]:
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing; run `make services` (it builds Weaviate)")
    data = tmp_path_factory.mktemp("throwaway-weaviate")
    server = ThrowawayWeaviate(data)
    server.start()
    yield server
    server.kill()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def running(throwaway: ThrowawayWeaviate) -> ThrowawayWeaviate:
    if not throwaway.running():
        throwaway.start()
    return throwaway


@pytest.fixture(scope="module")
def model_version() -> str:
    return load_embedder().version


# --- refusals: the shared Weaviate ---------------------------------------------------------


def test_refused_objects_and_tenants_are_dead_letters_and_the_rest_is_stored(
    settings, weaviate_client, unique, model_version
) -> None:
    tenant = unique("refusals")
    writer = writer_for(settings, model_version)
    first = segment(tenant, "c-1")
    assert [s for s, _ in writer.write([first], units(1, 384)).stored] == [first]
    before = retries()

    wrong_length = segment(tenant, "c-2")
    stored = segment(tenant, "c-3")
    bad_tenant = segment("acme corp", "c-1")  # not a tenant name Weaviate accepts
    written = writer.write(
        [wrong_length, bad_tenant, stored], [units(1, 3)[0], units(1, 384)[0], units(1, 384)[0]]
    )
    writer.close()

    assert [s for s, _ in written.stored] == [stored]
    by_conversation = {
        (r.tenant, orjson.loads(r.raw)["conversation_id"]): r for r in written.rejected
    }
    assert set(by_conversation) == {(tenant, "c-2"), ("acme corp", "c-1")}
    assert all(r.reason == "index_rejected" for r in written.rejected)
    assert "length" in by_conversation[tenant, "c-2"].errors[0]  # the server's own words
    assert "not a valid tenant name" in by_conversation["acme corp", "c-1"].errors[0]
    assert retries() == before  # refusals are not retried
    objects = weaviate_client.collections.get(writer.name).with_tenant(tenant)
    assert {o.uuid for o in objects.iterator()} == {first.uuid, stored.uuid}


# --- a throwaway Weaviate: a property of the wrong type, then outages ----------------------


def test_a_property_of_the_wrong_type_is_refused_for_every_object_at_once(running) -> None:
    # A collection whose message_count is text: every object of the batch fails alike.
    model = "wrongtype"
    with running.connect() as client:
        client.collections.create(
            collection_name(model),
            multi_tenancy_config=wc.Configure.multi_tenancy(enabled=True),
            vector_config=wc.Configure.Vectors.self_provided(),
            properties=[
                wc.Property(name="message_count", data_type=wc.DataType.TEXT)
                if p.name == "message_count"
                else p
                for p in segment_properties()
            ],
        )
    writer = running.writer(model, retry_s=5)
    before = retries()
    written = writer.write([segment("acme", "c-1"), segment("acme", "c-2")], units(2, 8))
    writer.close()
    assert written.stored == [] and len(written.rejected) == 2
    assert all("invalid text property" in r.errors[0] for r in written.rejected)
    assert retries() == before


def test_the_writer_waits_out_a_weaviate_killed_and_restarted(running, caplog) -> None:
    writer = running.writer("restart", retry_s=45)
    first = [segment("acme", f"c-{i}") for i in range(3)]
    assert len(writer.write(first, units(3, 8)).stored) == 3
    before = retries()

    running.kill()
    failed: list[BaseException] = []

    def restart() -> None:
        try:
            running.start()
        except BaseException as exc:
            failed.append(exc)

    restarter = threading.Timer(2.0, restart)  # down ~2 s, plus the ~5-10 s it takes to start
    restarter.start()
    later = [segment("acme", f"c-{i}") for i in range(3, 6)] + [segment("globex", "c-1")]
    try:
        with caplog.at_level(logging.WARNING, logger="operators.index.writer"):
            written = writer.write(later, units(4, 8))
    finally:
        restarter.join()
        writer.close()
    assert not failed, running.log_tail()

    assert [s for s, _ in written.stored] == later and written.rejected == []
    # The writer made the attempts itself (the client's retries would sit a minute in one).
    assert retries() - before >= 2
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("weaviate unavailable (attempt 2,") for m in messages)
    assert any(m.startswith("weaviate reachable again after") for m in messages)
    with running.connect() as client:
        base = client.collections.get(collection_name("restart"))
        found = {o.uuid for t in ("acme", "globex") for o in base.with_tenant(t).iterator()}
    assert found == {s.uuid for s in first + later}


def test_an_outage_longer_than_the_bound_stops_the_writer(running) -> None:
    writer = running.writer("outlast", retry_s=3)
    assert writer.write([segment("acme", "c-1")], units(1, 8)).stored
    before = retries()
    running.kill()
    with pytest.raises(WeaviateUnavailableError, match="past the 3 s retry bound"):
        writer.write([segment("acme", "c-2")], units(1, 8))
    writer.close()
    assert retries() - before >= 2
