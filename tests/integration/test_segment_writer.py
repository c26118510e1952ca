"""SegmentWriter against the real Weaviate: refusals become dead letters, outages are retried."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from weaviate.exceptions import WeaviateConnectionError

from flows.settings import Settings
from models import load_embedder
from operators.common.weaviate import connect_weaviate
from operators.index.writer import SegmentWriter
from tests.integration.segments import segment


@pytest.fixture(scope="module")
def model_version() -> str:
    return load_embedder().version


def connect(settings):
    return lambda: connect_weaviate(settings)


def test_an_object_weaviate_refuses_comes_back_as_a_dead_letter(
    settings, weaviate_client, unique, model_version
) -> None:
    tenant = unique("refuse")
    writer = SegmentWriter(connect(settings), model_version, retry_s=5)
    good = segment(tenant, "c-1", ["hello"])
    bad = segment(tenant, "c-2", ["a vector of the wrong length"])
    first = writer.write([good], np.ones((1, 384), dtype=np.float32) / np.sqrt(384))
    assert [seg for seg, _ in first.stored] == [good]

    written = writer.write([bad], np.ones((1, 3), dtype=np.float32))
    writer.close()

    assert written.stored == []
    (dead,) = written.rejected
    assert dead.reason == "index_rejected" and dead.tenant == tenant
    assert "length" in dead.errors[0]  # the server's own message about the vector
    assert orjson.loads(dead.raw)["conversation_id"] == "c-2"


def test_a_shorter_version_never_replaces_a_longer_one(
    settings, weaviate_client, unique, model_version
) -> None:
    tenant = unique("stale")
    writer = SegmentWriter(connect(settings), model_version, retry_s=5)
    vec = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    longer = segment(tenant, "c-1", ["one", "two", "three"])
    shorter = segment(tenant, "c-1", ["one", "two"])
    assert writer.write([longer], vec).stored
    written = writer.write([shorter], vec)
    writer.close()

    assert written.stale == [shorter] and written.stored == []
    stored = (
        weaviate_client.collections.get(writer.name)
        .with_tenant(tenant)
        .query.fetch_object_by_id(longer.uuid)
    )
    assert stored.properties["message_count"] == 3


def test_an_outage_is_retried_until_it_ends(settings, unique, model_version) -> None:
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise WeaviateConnectionError("refused")
        return connect(settings)()

    writer = SegmentWriter(flaky, model_version, retry_s=30)
    seg = segment(unique("flaky"), "c-1", ["hello"])
    written = writer.write([seg], np.ones((1, 384), dtype=np.float32) / np.sqrt(384))
    writer.close()
    assert len(attempts) == 3 and [s for s, _ in written.stored] == [seg]


def test_an_outage_past_the_bound_raises(unique, model_version) -> None:
    nowhere = Settings(weaviate_url="http://127.0.0.1:9", weaviate_grpc_port=19)
    writer = SegmentWriter(lambda: connect_weaviate(nowhere, timeout_s=1), model_version, retry_s=1)
    with pytest.raises(WeaviateConnectionError):
        writer.write(
            [segment(unique("down"), "c-1", ["hello"])], np.ones((1, 384), dtype=np.float32)
        )
