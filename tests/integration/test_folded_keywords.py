"""The folded copy in a real Weaviate: a question typed without diacritics finds its
segment by keywords, and a collection made before the copy existed is still searched,
then completed by the index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import weaviate
import weaviate.classes.config as wc
from weaviate.classes.data import DataObject

from operators.index import search
from operators.index.keywords import FOLDED
from operators.index.search import hybrid
from operators.index.writer import create_collection, object_properties, segment_properties
from tests.integration.segments import segment

TENANT = "acme"
VECTOR = [1.0] + [0.0] * 383


@pytest.fixture
def old_collection(weaviate_client: weaviate.WeaviateClient) -> Iterator[str]:
    """A segment collection as made before the folded copy, with one segment."""
    name = f"KeywordsTest_{uuid.uuid4().hex[:10]}"
    weaviate_client.collections.create(
        name,
        multi_tenancy_config=wc.Configure.multi_tenancy(enabled=True),
        vector_config=wc.Configure.Vectors.self_provided(),
        properties=[p for p in segment_properties() if p.name != FOLDED],
    )
    collection = weaviate_client.collections.get(name)
    collection.tenants.create(TENANT)
    old = segment(TENANT, "old", ["Shop ơi em muốn hủy đơn hàng"])
    properties = {k: v for k, v in object_properties(old, "v", 0).items() if k != FOLDED}
    collection.with_tenant(TENANT).data.insert_many(
        [DataObject(uuid=old.uuid, properties=properties, vector=VECTOR)]
    )
    yield name
    weaviate_client.collections.delete(name)


def conversations(client: weaviate.WeaviateClient, name: str, question: str) -> list[str]:
    hits = hybrid(client, name, TENANT, question, VECTOR, limit=5, alpha=0)
    return [h.conversation_id for h in hits]


def test_an_old_collection_is_searched_then_completed(
    weaviate_client: weaviate.WeaviateClient, old_collection: str, monkeypatch
) -> None:
    monkeypatch.setattr(search, "FOLDED_RECHECK_S", 0.0)
    assert search.keyword_properties(weaviate_client, old_collection) == ["text"]
    assert conversations(weaviate_client, old_collection, "hủy đơn hàng") == ["old"]
    assert conversations(weaviate_client, old_collection, "huy don hang") == []

    create_collection(weaviate_client, old_collection)  # what the index does at start
    assert search.keyword_properties(weaviate_client, old_collection) == ["text", FOLDED]
    new = segment(TENANT, "new", ["Cho em đổi địa chỉ giao hàng với ạ"])
    weaviate_client.collections.get(old_collection).with_tenant(TENANT).data.insert(
        object_properties(new, "v", 0), uuid=new.uuid, vector=VECTOR
    )
    assert conversations(weaviate_client, old_collection, "doi dia chi") == ["new"]
    assert conversations(weaviate_client, old_collection, "hủy đơn") == ["old"]
