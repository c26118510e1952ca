"""The smoke job of `make run`: sample file -> Kafka -> back -> Weaviate -> GraphQL."""

from __future__ import annotations

import pytest
from bytewax.testing import run_main

from flows import smoke
from flows.settings import Settings


def sample_records(settings: Settings) -> list[smoke.SmokeRecord]:
    with open(settings.source_path, encoding="utf-8") as f:
        return [r for r in map(smoke.to_record, f) if r is not None]


def test_to_record_skips_what_is_not_a_chat_envelope() -> None:
    assert smoke.to_record("not json") is None
    assert smoke.to_record('{"source": "webhook", "payload": "<html>"}') is None
    assert smoke.to_record('{"source": "zalo", "payload": {"event_name": "follow"}}') is None


@pytest.mark.usefixtures("kafka_brokers", "weaviate_client")
def test_smoke_flows_end_in_weaviate(weaviate_client, settings: Settings) -> None:
    records = sample_records(settings)
    run_main(smoke.produce())
    run_main(smoke.index())

    from models import load_embedder

    name = smoke.smoke_collection(load_embedder().version)
    collection = weaviate_client.collections.get(name)
    expected_by_tenant: dict[str, set[str]] = {}
    for r in records:
        expected_by_tenant.setdefault(r.tenant, set()).add(r.message_id)
    for tenant, ids in expected_by_tenant.items():
        stored = collection.with_tenant(tenant).query.fetch_objects(limit=1000).objects
        assert {o.properties["message_id"] for o in stored} == ids

    answer = smoke.graphql_near_vector(settings, "globex", "how do I cancel an order?", limit=1)
    assert "errors" not in answer, answer
    top = answer["hits"][0]
    assert "cancel my order" in top["text"]
