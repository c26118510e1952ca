"""Weaviate as Headwater uses it: native multi-tenancy, self-provided vectors, aliases."""

from __future__ import annotations

import uuid

import httpx
import numpy as np
import pytest
import weaviate.classes.config as wc
from weaviate.classes.query import MetadataQuery
from weaviate.classes.tenants import Tenant
from weaviate.exceptions import WeaviateBaseError

DIM = 8


def unit(seed: int) -> list[float]:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()


@pytest.fixture
def collection(weaviate_client, unique):
    name = unique("TestSegment").replace("_", "")
    created = weaviate_client.collections.create(
        name,
        multi_tenancy_config=wc.Configure.multi_tenancy(enabled=True),
        vector_config=wc.Configure.Vectors.self_provided(),
        properties=[
            wc.Property(name="text", data_type=wc.DataType.TEXT),
            wc.Property(name="conversation_id", data_type=wc.DataType.TEXT),
        ],
    )
    created.tenants.create([Tenant(name="acme"), Tenant(name="globex")])
    yield created
    weaviate_client.collections.delete(name)


def insert(collection, tenant: str, rows: dict[str, int]) -> dict[str, uuid.UUID]:
    ids = {}
    with_tenant = collection.with_tenant(tenant)
    for text, seed in rows.items():
        ids[text] = with_tenant.data.insert(
            properties={"text": text, "conversation_id": f"{tenant}-c1"}, vector=unit(seed)
        )
    return ids


def test_near_vector_returns_the_closest_object_of_the_tenant_only(collection) -> None:
    insert(collection, "acme", {"giao hàng": 1, "đổi trả": 2, "hoàn tiền": 3})
    insert(collection, "globex", {"cancel order": 1})

    res = collection.with_tenant("acme").query.near_vector(
        unit(2), limit=2, return_metadata=MetadataQuery(distance=True)
    )
    assert [o.properties["text"] for o in res.objects][0] == "đổi trả"
    assert res.objects[0].metadata.distance == pytest.approx(0.0, abs=1e-5)
    assert all(o.properties["conversation_id"].startswith("acme") for o in res.objects)

    res_b = collection.with_tenant("globex").query.near_vector(unit(1), limit=10)
    assert [o.properties["text"] for o in res_b.objects] == ["cancel order"]


def test_object_keeps_its_vector(collection) -> None:
    ids = insert(collection, "acme", {"giao hàng": 7})
    obj = collection.with_tenant("acme").query.fetch_object_by_id(
        ids["giao hàng"], include_vector=True
    )
    assert np.allclose(obj.vector["default"], unit(7), atol=1e-6)


def test_query_without_tenant_fails(collection) -> None:
    insert(collection, "acme", {"giao hàng": 1})
    with pytest.raises(WeaviateBaseError, match="(?i)tenant"):
        collection.query.near_vector(unit(1), limit=1)


def test_raw_graphql_get_over_http(collection, settings) -> None:
    insert(collection, "acme", {"giao hàng": 1, "đổi trả": 2})
    vector = ", ".join(f"{x:.7f}" for x in unit(1))
    query = (
        f'{{ Get {{ {collection.name}(tenant: "acme", limit: 1, nearVector: {{vector: [{vector}]}})'
        " { text _additional { distance } } } }"
    )
    resp = httpx.post(f"{settings.weaviate_url}/v1/graphql", json={"query": query}, timeout=30)
    resp.raise_for_status()
    body = resp.json()
    assert "errors" not in body, body
    hits = body["data"]["Get"][collection.name]
    assert hits[0]["text"] == "giao hàng"
    assert hits[0]["_additional"]["distance"] < 1e-4


def test_alias_is_created_and_switched(weaviate_client, unique) -> None:
    blue, green = unique("TestBlue").replace("_", ""), unique("TestGreen").replace("_", "")
    alias = unique("TestAlias").replace("_", "")
    for name, text in ((blue, "model v1"), (green, "model v2")):
        c = weaviate_client.collections.create(
            name,
            vector_config=wc.Configure.Vectors.self_provided(),
            properties=[wc.Property(name="text", data_type=wc.DataType.TEXT)],
        )
        c.data.insert(properties={"text": text}, vector=unit(1))
    try:
        weaviate_client.alias.create(alias_name=alias, target_collection=blue)
        assert weaviate_client.alias.get(alias_name=alias).collection == blue
        via_alias = weaviate_client.collections.get(alias)
        assert via_alias.query.fetch_objects().objects[0].properties["text"] == "model v1"

        assert weaviate_client.alias.update(alias_name=alias, new_target_collection=green)
        assert weaviate_client.alias.get(alias_name=alias).collection == green
        assert via_alias.query.fetch_objects().objects[0].properties["text"] == "model v2"
    finally:
        weaviate_client.alias.delete(alias_name=alias)
        weaviate_client.collections.delete([blue, green])
