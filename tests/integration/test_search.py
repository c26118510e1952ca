"""The search API over real sockets: `python -m services.search` (two uvicorn workers)
against the real Weaviate and Redis of `make services` (DESIGN "HTTP interfaces",
"Weaviate"; README "The search API").

Test data lives in collections of this run's own, `ChatSegment_<model>_g<digits>`, behind
aliases of its own (`SearchTest<hex>`, the servers' HEADWATER_SEARCH_ALIAS), in tenants
named with the run's id; objects carry vectors of the real embedder. Everything is deleted
at the end. Servers:

- `main`: most tests (long TTL, so a repeated request is a hit whatever the timing);
- `swap`: its alias is swapped between collections (and to one of another model);
- `fresh`: a one-second TTL, for the staleness bound;
- one with a Redis of its own (`redis-server` on a free port), killed mid-test;
- one whose Weaviate is a port nothing listens on;
- one on a throwaway Weaviate, SIGSTOPped and SIGCONTed (a hung Weaviate).

No test measures time: a wait is a generous client timeout, or a sleep past a bound the
server is configured with (TTL, alias refresh) before asserting what must hold after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant

from models import Embedder, load_embedder
from models.paths import MINILM, MODELS_DIR
from operators.index.search import MODEL_ALPHA
from operators.index.write_notices import WriteNotices
from operators.index.writer import create_collection, object_properties
from schemas.segment import Segment
from tests.integration import gateway_server as gs
from tests.integration.search_server import SearchServer
from tests.integration.segments import segment
from tests.integration.throwaway_kafka import free_port
from tests.integration.throwaway_weaviate import BINARY, ThrowawayWeaviate

RUN = uuid.uuid4().hex[:8]
HEX = uuid.uuid4().hex[:10]
TIMEOUT_S = 10.0
"""Client timeout of an ordinary request."""
FAST_S = 5.0
"""Client timeout of a request that must be answered without waiting on Weaviate."""
REFRESH_S = 0.2
"""HEADWATER_SEARCH_ALIAS_REFRESH_S of the servers whose alias changes."""
FRESH_TTL_S = 1.0
NOTICES_REFRESH_S = 0.1
"""HEADWATER_SEARCH_WRITE_NOTICES_REFRESH_S of the `main` server."""
MAX_CHARS, MAX_K, MAX_BODY = 200, 20, 1024
SLOW_RATE = 5

UNIQUE_WORD = f"quokka{RUN}"
"""A word only tenant B's data has."""
TTL_WORD = f"kestrel{RUN}"

ROLES = (
    "a",
    "b",
    "flight",
    "slow",
    "busy",
    "misses",
    "empty",
    "swap",
    "fresh",
    "notices",
    "hung",
)
MISS_RATE = 3
"""search_miss_rate_limit_per_s of the `misses` tenant."""


def tenant(role: str) -> str:
    return f"{role}-{RUN}"


def registry() -> tuple[dict[str, gs.TenantKeys], str]:
    keys: dict[str, gs.TenantKeys] = {}
    toml = ""
    for role in ROLES:
        rate = SLOW_RATE if role == "slow" else 100_000
        misses = MISS_RATE if role == "misses" else 100_000
        k, entry = gs.tenant_entry(
            tenant(role), search_rate_limit_per_s=rate, search_miss_rate_limit_per_s=misses
        )
        keys[role] = k
        toml += entry
    return keys, toml


KEYS, REGISTRY = registry()


def generation(model_version: str) -> str:
    return f"ChatSegment_{model_version}_g{random.randrange(10**8, 10**9)}"


def seg(role: str, name: str, texts: Sequence[str]) -> Segment:
    return segment(tenant(role), f"{tenant(role)}-{name}", texts)


A_TEXTS = {
    "cancel": ["how do I cancel an order?", "go to my orders, open the order and tap cancel"],
    "late": ["my parcel is late, where is my tracking number?", "it ships tomorrow"],
    "refund": ["I want a refund for the broken blender", "we will refund you in 3 days"],
}
A_SEGMENTS = [seg("a", name, texts) for name, texts in A_TEXTS.items()]
# B has the same conversations word for word (so a leak would score as high as A's own
# hits), and one with a word nobody else has.
B_SEGMENTS = [seg("b", name, texts) for name, texts in A_TEXTS.items()] + [
    seg("b", "secret", [f"the {UNIQUE_WORD} invoice was charged twice", "we refunded it"])
]
FLIGHT_SEGMENT = seg("flight", "reset", ["the password reset email never arrived"])
SLOW_SEGMENT = seg("slow", "hours", ["what are your opening hours?", "9 to 5"])
BUSY_SEGMENT = seg("busy", "hours", ["what are your opening hours?", "8 to 6"])
MISSES_SEGMENT = seg("misses", "hours", ["what are your opening hours?", "10 to 4"])
FRESH_OLD = seg("fresh", "old", [f"the {TTL_WORD} lamp is broken"])
FRESH_NEW = seg("fresh", "new", [f"a second {TTL_WORD} lamp arrived broken too"])
NOTICE_WORD = f"heron{RUN}"
NOTICE_OLD = seg("notices", "old", [f"the {NOTICE_WORD} kettle leaks"])
NOTICE_NEW = seg("notices", "new", [f"my {NOTICE_WORD} kettle leaks as well"])
SWAP_OLD = seg("swap", "old", ["restart the router, then wait a minute"])
SWAP_NEW = seg("swap", "new", ["restart the modem, the router is fine"])
SWAP_OTHER_MODEL = seg("swap", "minilm", ["restart the router from the app"])
HUNG_SEGMENT = seg("hung", "wifi", ["the wifi drops every evening", "move the router"])


Identity = tuple[str, int, tuple[str, ...]]


def identity(hits: Sequence[dict[str, Any]]) -> list[Identity]:
    return [(h["conversation_id"], h["segment"], tuple(h["message_ids"])) for h in hits]


def identity_of(s: Segment) -> Identity:
    return (s.conversation_id, s.number, tuple(line.message_id for line in s.lines))


def conversations(hits: Sequence[dict[str, Any]]) -> set[str]:
    return {h["conversation_id"] for h in hits}


def ids_of(segments: Sequence[Segment]) -> set[str]:
    return {s.conversation_id for s in segments}


# -- Weaviate: collections of our own -----------------------------------------------------


def put(
    client: weaviate.WeaviateClient,
    collection: str,
    embedder: Embedder,
    segments: Sequence[Segment],
) -> None:
    """Write `segments` whole, with their vectors, as the index writer does."""
    col = client.collections.get(collection)
    vectors = embedder.neutralize_languages(
        embedder.embed_passages([s.text for s in segments]), [s.language for s in segments]
    )
    now_ms = int(time.time() * 1000)
    by_tenant: dict[str, list[DataObject[Any, Any]]] = {}
    for s, vector in zip(segments, vectors, strict=True):
        by_tenant.setdefault(s.tenant, []).append(
            DataObject(
                uuid=s.uuid,
                properties=object_properties(s, embedder.version, now_ms),
                vector=vector.tolist(),
            )
        )
    existing = set(col.tenants.get())
    missing = [Tenant(name=t) for t in by_tenant if t not in existing]
    if missing:
        col.tenants.create(missing)
    for name, objects in by_tenant.items():
        result = col.with_tenant(name).data.insert_many(objects)
        assert not result.errors, result.errors


@dataclass(frozen=True)
class World:
    client: weaviate.WeaviateClient
    embedder: Embedder
    main_alias: str
    main: str
    swap_alias: str
    swap_old: str
    swap_new: str
    mismatch: str
    other_model: str
    minilm: Embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def world(weaviate_client: weaviate.WeaviateClient, embedder: Embedder) -> Iterator[World]:
    minilm = load_embedder(MODELS_DIR / MINILM.name, threads=1)
    w = World(
        client=weaviate_client,
        embedder=embedder,
        main_alias=f"SearchTest{HEX}",
        main=generation(embedder.version),
        swap_alias=f"SearchTest{HEX}Swap",
        swap_old=generation(embedder.version),
        swap_new=generation(embedder.version),
        mismatch=generation("000000000000"),
        minilm=minilm,
        other_model=generation(minilm.version),
    )
    collections = [w.main, w.swap_old, w.swap_new, w.mismatch, w.other_model]
    try:
        for name in collections:
            create_collection(weaviate_client, name)
        put(
            weaviate_client,
            w.main,
            embedder,
            [
                *A_SEGMENTS,
                *B_SEGMENTS,
                FLIGHT_SEGMENT,
                SLOW_SEGMENT,
                BUSY_SEGMENT,
                MISSES_SEGMENT,
                FRESH_OLD,
                NOTICE_OLD,
            ],
        )
        put(weaviate_client, w.swap_old, embedder, [SWAP_OLD])
        put(weaviate_client, w.swap_new, embedder, [SWAP_NEW])
        put(weaviate_client, w.other_model, w.minilm, [SWAP_OTHER_MODEL])
        weaviate_client.alias.create(alias_name=w.main_alias, target_collection=w.main)
        weaviate_client.alias.create(alias_name=w.swap_alias, target_collection=w.swap_old)
        yield w
    finally:
        for alias in (w.main_alias, w.swap_alias):
            with contextlib.suppress(weaviate.exceptions.WeaviateBaseError):
                weaviate_client.alias.delete(alias_name=alias)
        for name in collections:
            weaviate_client.collections.delete(name)


# -- servers ------------------------------------------------------------------------------


def started(server: SearchServer, *, ready: bool = True) -> Iterator[SearchServer]:
    try:
        server.start(ready=ready)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def main(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchServer]:
    yield from started(
        SearchServer(
            tmp_path_factory.mktemp("search-main"),
            REGISTRY,
            search_alias=world.main_alias,
            search_cache_ttl_s=600,
            search_write_notices_refresh_s=NOTICES_REFRESH_S,
            search_max_query_chars=MAX_CHARS,
            search_max_k=MAX_K,
            search_max_body_bytes=MAX_BODY,
        )
    )


@pytest.fixture(scope="module")
def swap(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchServer]:
    yield from started(
        SearchServer(
            tmp_path_factory.mktemp("search-swap"),
            REGISTRY,
            search_alias=world.swap_alias,
            search_alias_refresh_s=REFRESH_S,
            search_cache_ttl_s=600,
        )
    )


@pytest.fixture(scope="module")
def fresh(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchServer]:
    yield from started(
        SearchServer(
            tmp_path_factory.mktemp("search-fresh"),
            REGISTRY,
            search_alias=world.main_alias,
            search_cache_ttl_s=FRESH_TTL_S,
        )
    )


def search(
    server: SearchServer,
    role: str | None,
    q: str | None,
    *,
    timeout_s: float = TIMEOUT_S,
    **params: Any,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEYS[role].api_key}"} if role else {}
    if q is not None:
        params["q"] = q
    return httpx.get(server.url + "/v1/search", params=params, headers=headers, timeout=timeout_s)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"hits", "model_version", "cached", "took_ms"}
    return body


def refused(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# -- tenants ------------------------------------------------------------------------------

ISOLATION_QUESTION = "how do I cancel my order?"


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0], ids=["bm25", "hybrid", "vector"])
def test_a_tenant_sees_only_its_own_segments(main: SearchServer, alpha: float) -> None:
    a, b = ids_of(A_SEGMENTS), ids_of(B_SEGMENTS)
    first = ok(search(main, "a", ISOLATION_QUESTION, k=10, alpha=alpha))
    again = ok(search(main, "a", ISOLATION_QUESTION, k=10, alpha=alpha))
    assert (first["cached"], again["cached"]) == (False, True)
    assert identity(again["hits"]) == identity(first["hits"])
    assert first["hits"], "A's own cancel conversation matches"
    assert conversations(first["hits"]) <= a
    assert f"{tenant('a')}-cancel" == first["hits"][0]["conversation_id"]
    # The same question finds B's copies for B: A not seeing them means something.
    for_b = ok(search(main, "b", ISOLATION_QUESTION, k=10, alpha=alpha))
    assert for_b["cached"] is False  # B's answer is not A's cached one
    assert for_b["hits"] and conversations(for_b["hits"]) <= b
    assert for_b["hits"][0]["conversation_id"] == f"{tenant('b')}-cancel"
    assert ok(search(main, "b", ISOLATION_QUESTION, k=10, alpha=alpha))["cached"] is True
    assert conversations(ok(search(main, "a", ISOLATION_QUESTION, k=10, alpha=alpha))["hits"]) <= a


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0], ids=["bm25", "hybrid", "vector"])
def test_a_word_only_in_another_tenants_data_finds_nothing_of_it(
    main: SearchServer, alpha: float
) -> None:
    question = f"{UNIQUE_WORD} invoice"
    for _ in range(2):  # uncached, then cached
        hits = ok(search(main, "a", question, k=10, alpha=alpha))["hits"]
        assert not conversations(hits) & ids_of(B_SEGMENTS)
        assert all(UNIQUE_WORD not in h["text"] for h in hits)
        if alpha == 0.0:
            assert hits == []  # no A segment has the word
    hits_b = ok(search(main, "b", question, k=10, alpha=alpha))["hits"]
    assert hits_b[0]["conversation_id"] == f"{tenant('b')}-secret"


def test_a_tenant_parameter_changes_nothing(main: SearchServer) -> None:
    question = "where is my parcel tracking number?"
    plain = ok(search(main, "a", question, k=10))
    forged = ok(search(main, "a", question, k=10, tenant=tenant("b")))
    assert identity(forged["hits"]) == identity(plain["hits"])
    assert conversations(forged["hits"]) <= ids_of(A_SEGMENTS)
    assert forged["hits"][0]["conversation_id"] == f"{tenant('a')}-late"
    # The same forgery on a fresh question (a miss, so a real search): still A's only.
    forged_miss = ok(search(main, "a", "parcel tracking late", k=10, tenant=tenant("b")))
    assert forged_miss["cached"] is False
    assert forged_miss["hits"] and conversations(forged_miss["hits"]) <= ids_of(A_SEGMENTS)
    # A body cannot name a tenant at all.
    body = {"q": question, "k": 10, "tenant": tenant("b")}
    response = httpx.post(
        main.url + "/v1/search",
        json=body,
        headers={"Authorization": f"Bearer {KEYS['a'].api_key}"},
        timeout=TIMEOUT_S,
    )
    assert "tenant" in refused(response, 422, "invalid_request")["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer hw_not_a_key",
        "Bearer",
        f"Basic {KEYS['a'].api_key}",
        f"Token {KEYS['a'].api_key}",
        KEYS["a"].api_key,
    ],
    ids=["none", "wrong-key", "empty-key", "basic", "token", "no-scheme"],
)
def test_no_valid_key_is_401(main: SearchServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    get = httpx.get(
        main.url + "/v1/search", params={"q": "cancel"}, headers=headers, timeout=TIMEOUT_S
    )
    assert "Bearer" in refused(get, 401, "bad_api_key")["detail"]
    post = httpx.post(
        main.url + "/v1/search", json={"q": "cancel"}, headers=headers, timeout=TIMEOUT_S
    )
    refused(post, 401, "bad_api_key")


def test_the_scheme_is_case_insensitive_and_the_key_decides(main: SearchServer) -> None:
    response = httpx.get(
        main.url + "/v1/search",
        params={"q": UNIQUE_WORD, "alpha": 0},
        headers={"Authorization": f"bearer {KEYS['b'].api_key}"},
        timeout=TIMEOUT_S,
    )
    assert conversations(ok(response)["hits"]) == {f"{tenant('b')}-secret"}


def test_a_tenant_with_nothing_indexed_gets_no_hits(main: SearchServer, world: World) -> None:
    body = ok(search(main, "empty", ISOLATION_QUESTION))
    assert body["hits"] == []
    assert body["model_version"] == world.embedder.version


# -- the cache ----------------------------------------------------------------------------


def test_a_repeated_request_is_answered_from_the_cache(main: SearchServer, world: World) -> None:
    before = main.metrics()
    question = "I want a refund for my blender"
    first = ok(search(main, "a", question, k=3, alpha=0.5))
    second = ok(search(main, "a", question, k=3, alpha=0.5))
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["hits"] == first["hits"]  # scores and texts too
    assert first["model_version"] == second["model_version"] == world.embedder.version
    assert first["hits"][0]["conversation_id"] == f"{tenant('a')}-refund"
    top = next(s for s in A_SEGMENTS if s.conversation_id == f"{tenant('a')}-refund")
    assert first["hits"][0]["text"] == top.text
    assert identity(first["hits"][:1]) == [identity_of(top)]
    assert isinstance(first["took_ms"], float | int) and first["took_ms"] >= 0
    after = main.metrics()
    count = "headwater_search_seconds_count"
    delta = {
        outcome: after.value(count, tenant=tenant("a"), cache=outcome)
        - before.value(count, tenant=tenant("a"), cache=outcome)
        for outcome in ("miss", "local", "redis", "shared")
    }
    assert delta["miss"] == 1
    assert delta["local"] + delta["redis"] + delta["shared"] == 1
    # Another k or alpha is another answer.
    other_k = ok(search(main, "a", question, k=1, alpha=0.5))
    assert other_k["cached"] is False and len(other_k["hits"]) == 1
    assert ok(search(main, "a", question, k=3, alpha=0.25))["cached"] is False


def test_variants_of_a_question_share_one_entry(main: SearchServer) -> None:
    first = ok(search(main, "a", "Is the Café open on Sundays?", k=3))
    assert first["cached"] is False
    for variant in (
        "is the café open on sundays?",
        "  IS THE CAFÉ   OPEN\ton SUNDAYS?  ",
        unicodedata.normalize("NFD", "Is the Café open on Sundays?"),  # é decomposed
    ):
        again = ok(search(main, "a", variant, k=3))
        assert again["cached"] is True, variant
        assert again["hits"] == first["hits"]
    assert ok(search(main, "a", "is the cafe open on sundays?", k=3))["cached"] is False


def point(world: World, server: SearchServer, collection: str) -> None:
    """Swap the `swap` server's alias to `collection` and wait until its workers read it."""
    world.client.alias.update(alias_name=world.swap_alias, new_target_collection=collection)
    assert world.client.alias.get(alias_name=world.swap_alias).collection == collection
    # Each /readyz is a new connection, answered by whichever worker accepts it: many in a
    # row naming the collection say that every worker has read the alias.
    deadline, in_a_row = time.monotonic() + 30, 0
    while in_a_row < 20:
        assert time.monotonic() < deadline, "the workers did not all read the alias"
        detail = httpx.get(server.url + "/readyz", timeout=TIMEOUT_S).json()["detail"]
        in_a_row = in_a_row + 1 if collection in detail else 0
        time.sleep(REFRESH_S / 4)
    time.sleep(REFRESH_S * 5)  # every worker reads it once per interval; five, to be sure


def test_an_alias_swap_is_a_miss_with_the_new_collections_hits(
    swap: SearchServer, world: World
) -> None:
    point(world, swap, world.swap_old)
    question = "should I restart the router?"
    first = ok(search(swap, "swap", question))
    assert first["cached"] is False
    assert ok(search(swap, "swap", question))["cached"] is True
    assert identity(first["hits"]) == [identity_of(SWAP_OLD)]

    point(world, swap, world.swap_new)
    swapped = ok(search(swap, "swap", question))
    assert swapped["cached"] is False
    assert identity(swapped["hits"]) == [identity_of(SWAP_NEW)]
    assert swapped["hits"][0]["text"] == SWAP_NEW.text
    again = ok(search(swap, "swap", question))
    assert again["cached"] is True and identity(again["hits"]) == [identity_of(SWAP_NEW)]

    # A rollback serves the old collection's answers again, never the new one's.
    point(world, swap, world.swap_old)
    back = ok(search(swap, "swap", question))
    assert identity(back["hits"]) == [identity_of(SWAP_OLD)]


def test_an_alias_on_another_models_collection_is_503(swap: SearchServer, world: World) -> None:
    point(world, swap, world.swap_old)
    question = "router restart again"
    assert identity(ok(search(swap, "swap", question))["hits"]) == [identity_of(SWAP_OLD)]
    try:
        point(world, swap, world.mismatch)
        for q in (question, "a question never asked"):  # cached or not
            response = search(swap, "swap", q, timeout_s=FAST_S)
            detail = refused(response, 503, "model_mismatch")["detail"]
            assert world.mismatch in detail and "not built here" in detail
            assert int(response.headers["Retry-After"]) >= 1
        ready = httpx.get(swap.url + "/readyz", timeout=FAST_S)
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready" and "000000000000" in ready.json()["detail"]
        assert httpx.get(swap.url + "/healthz", timeout=FAST_S).status_code == 200
    finally:
        point(world, swap, world.swap_old)
    assert httpx.get(swap.url + "/readyz", timeout=FAST_S).status_code == 200
    assert identity(ok(search(swap, "swap", question))["hits"]) == [identity_of(SWAP_OLD)]


def test_an_alias_on_another_built_models_collection_is_searched_with_that_model(
    swap: SearchServer, world: World
) -> None:
    question = "router restart again"
    try:
        point(world, swap, world.other_model)
        answer = ok(search(swap, "swap", question))
        assert answer["model_version"] == world.minilm.version != world.embedder.version
        assert identity(answer["hits"]) == [identity_of(SWAP_OTHER_MODEL)]
    finally:
        point(world, swap, world.swap_old)
    answer = ok(search(swap, "swap", question))
    assert answer["model_version"] == world.embedder.version


def test_a_new_segment_is_in_the_answer_once_the_ttl_has_passed(
    fresh: SearchServer, world: World
) -> None:
    question = f"{TTL_WORD} lamp"
    first = ok(search(fresh, "fresh", question, alpha=0))
    assert first["cached"] is False
    assert identity(first["hits"]) == [identity_of(FRESH_OLD)]
    put(world.client, world.main, world.embedder, [FRESH_NEW])
    second = ok(search(fresh, "fresh", question, alpha=0))
    if second["cached"]:  # within the TTL, the answer may be stale
        assert second["hits"] == first["hits"]
    # Every cached answer was computed before now: one TTL on, none is served any more.
    time.sleep(FRESH_TTL_S + 0.3)
    later = ok(search(fresh, "fresh", question, alpha=0))
    assert later["cached"] is False
    assert set(identity(later["hits"])) == {identity_of(FRESH_OLD), identity_of(FRESH_NEW)}


def test_a_write_notice_drops_the_tenants_cached_answers_long_before_the_ttl(
    main: SearchServer, world: World, settings
) -> None:
    question, other = f"{NOTICE_WORD} kettle", "how do I cancel an order?"
    first = ok(search(main, "notices", question, alpha=0))
    assert identity(first["hits"]) == [identity_of(NOTICE_OLD)]
    ok(search(main, "a", other))
    put(world.client, world.main, world.embedder, [NOTICE_NEW])
    # Without a notice, the 10-minute TTL keeps serving the answer cached before the write.
    assert ok(search(main, "notices", question, alpha=0))["hits"] == first["hits"]
    notices = WriteNotices(settings.redis_url)
    notices.written({tenant("notices")})  # what the index step does after each write
    notices.close()
    time.sleep(10 * NOTICES_REFRESH_S)  # every worker has read the notice
    later = ok(search(main, "notices", question, alpha=0))
    assert later["cached"] is False
    assert set(identity(later["hits"])) == {identity_of(NOTICE_OLD), identity_of(NOTICE_NEW)}
    assert ok(search(main, "a", other))["cached"] is True  # another tenant's answers stay


# -- single flight ------------------------------------------------------------------------


async def _burst(url: str, key: str, question: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.get(
                    url + "/v1/search",
                    params={"q": question},
                    headers={"Authorization": f"Bearer {key}"},
                )
                for _ in range(n)
            )
        )


def test_concurrent_identical_misses_are_searched_once(main: SearchServer) -> None:
    # A few rounds, each on a fresh question: the first search of a worker is slow, so in
    # one round the other worker may see only stored answers; later ones overlap.
    n, count = 20, "headwater_search_seconds_count"
    for round_ in range(3):
        before = main.metrics().by(count, "cache", tenant=tenant("flight"))
        question = f"password reset email {RUN} round {round_}"
        responses = asyncio.run(_burst(main.url, KEYS["flight"].api_key, question, n))
        bodies = [ok(r) for r in responses]
        assert {tuple(identity(b["hits"])) for b in bodies} == {(identity_of(FLIGHT_SEGMENT),)}
        after = main.metrics().by(count, "cache", tenant=tenant("flight"))
        searched = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k)}
        assert searched.get("miss") == 1, (round_, searched)
        assert sum(searched.values()) == n
        assert set(searched) <= {"miss", "shared", "redis", "local"}
        assert Counter(b["cached"] for b in bodies) == {False: 1, True: n - 1}, searched


# -- quotas -------------------------------------------------------------------------------


async def _sequential(url: str, key: str, question: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT_S) as client:
        return [
            await client.get(
                "/v1/search", params={"q": question}, headers={"Authorization": f"Bearer {key}"}
            )
            for _ in range(n)
        ]


async def _both(url: str, n: int) -> tuple[list[httpx.Response], list[httpx.Response], float]:
    start = time.monotonic()
    slow, busy = await asyncio.gather(
        _sequential(url, KEYS["slow"].api_key, "opening hours", n),
        _sequential(url, KEYS["busy"].api_key, "opening hours", n),
    )
    return slow, busy, time.monotonic() - start


def test_a_tenant_over_its_rate_is_429_and_another_is_not(main: SearchServer) -> None:
    n = 40
    slow, busy, took_s = asyncio.run(_both(main.url, n))
    statuses = Counter(r.status_code for r in slow)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[429] > 0, statuses
    # A sliding window admits at most the rate in each fixed second the burst touched.
    assert 1 <= statuses[200] <= SLOW_RATE * (int(took_s) + 2), (statuses, took_s)
    for r in slow:
        if r.status_code == 429:
            assert (
                refused(r, 429, "rate_limited")["detail"] == f"over {SLOW_RATE} searches a second"
            )
            assert int(r.headers["Retry-After"]) >= 1
        else:
            assert identity(r.json()["hits"]) == [identity_of(SLOW_SEGMENT)]
    assert [r.status_code for r in busy] == [200] * n
    assert all(identity(r.json()["hits"]) == [identity_of(BUSY_SEGMENT)] for r in busy)
    refusals = main.metrics().value("headwater_search_refusals_total", reason="rate_limited")
    assert refusals >= statuses[429]


def test_a_tenant_over_its_rate_of_misses_is_429_and_its_hits_are_not(
    main: SearchServer,
) -> None:
    answers = [search(main, "misses", f"opening hours {RUN} variant {i}") for i in range(20)]
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) == {200, 429}, statuses
    for r in answers:
        if r.status_code == 429:
            assert refused(r, 429, "too_many_misses")["detail"] == (
                f"over {MISS_RATE} searches a second the cache cannot answer"
            )
            assert int(r.headers["Retry-After"]) >= 1
    answered = next(i for i, r in enumerate(answers) if r.status_code == 200)
    again = [search(main, "misses", f"opening hours {RUN} variant {answered}") for _ in range(10)]
    assert [r.status_code for r in again] == [200] * 10
    assert all(r.json()["cached"] for r in again)
    assert identity(again[0].json()["hits"]) == [identity_of(MISSES_SEGMENT)]


# -- bounds and routes --------------------------------------------------------------------


def test_a_question_over_the_bound_is_422_naming_q(main: SearchServer) -> None:
    body = refused(search(main, "a", "x" * (MAX_CHARS + 1)), 422, "query_too_long")
    assert body["detail"].startswith("q:") and str(MAX_CHARS) in body["detail"]
    ok(search(main, "a", "x" * MAX_CHARS))


@pytest.mark.parametrize("k", ["0", str(MAX_K + 1), "-1", "abc", "2.5"])
def test_k_out_of_bounds_is_422_naming_k(main: SearchServer, k: str) -> None:
    body = refused(search(main, "a", "cancel", k=k), 422, "invalid_request")
    assert body["detail"].startswith("k:"), body


def test_k_at_the_bounds_is_answered(main: SearchServer) -> None:
    assert len(ok(search(main, "a", "order", k=1, alpha=1))["hits"]) == 1
    assert len(ok(search(main, "a", "order", k=MAX_K, alpha=1))["hits"]) == len(A_SEGMENTS)


@pytest.mark.parametrize("alpha", ["2", "-0.1", "1.5", "nope"])
def test_alpha_out_of_bounds_is_422_naming_alpha(main: SearchServer, alpha: str) -> None:
    body = refused(search(main, "a", "cancel", alpha=alpha), 422, "invalid_request")
    assert body["detail"].startswith("alpha:"), body


@pytest.mark.parametrize("q", [None, "", "   \t "], ids=["missing", "empty", "blank"])
def test_a_missing_question_is_422(main: SearchServer, q: str | None) -> None:
    body = refused(search(main, "a", q), 422, "invalid_request")
    assert body["detail"].startswith("q:")


def post(server: SearchServer, role: str, content: bytes | Any, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEYS[role].api_key}", **kw.pop("headers", {})}
    if isinstance(content, bytes) or not isinstance(content, dict):
        return httpx.post(
            server.url + "/v1/search",
            content=content,
            headers={"Content-Type": "application/json", **headers},
            timeout=TIMEOUT_S,
        )
    return httpx.post(server.url + "/v1/search", json=content, headers=headers, timeout=TIMEOUT_S)


def test_post_answers_as_get_does(main: SearchServer) -> None:
    question = "cancel the order please"
    got = ok(search(main, "a", question, k=2, alpha=0.3))
    posted = ok(post(main, "a", {"q": question, "k": 2, "alpha": 0.3}))
    assert posted["hits"] == got["hits"]
    assert posted["cached"] is True  # one cache for both
    assert posted["hits"][0]["conversation_id"] == f"{tenant('a')}-cancel"
    # The defaults are GET's: k=5, and alpha chosen from the question (MODEL_ALPHA for one
    # in English with a multilingual model).
    defaults_post = ok(post(main, "a", {"q": "my parcel is late"}))
    defaults_get = ok(search(main, "a", "my parcel is late", k=5, alpha=MODEL_ALPHA))
    assert defaults_get["cached"] is True
    assert defaults_get["hits"] == defaults_post["hits"]


def test_a_post_body_over_the_bound_is_413(main: SearchServer) -> None:
    big = {"q": "cancel " + "x" * MAX_BODY}
    refused(post(main, "a", big), 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bound is counted as it comes
        yield b'{"q": "cancel '
        for _ in range(4):
            yield b"x" * (MAX_BODY // 2)
        yield b'"}'

    refused(post(main, "a", chunks()), 413, "too_large")
    ok(post(main, "a", {"q": "cancel " + "x" * (MAX_CHARS - 20)}))


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'{"q": 3}', b'{"q": "cancel", "k": "many"}'],
    ids=["broken", "empty", "array", "q-number", "k-string"],
)
def test_a_post_body_that_is_not_the_json_object_is_422(main: SearchServer, content: bytes) -> None:
    refused(post(main, "a", content), 422, "invalid_request")


def test_a_post_body_is_bounded_like_get(main: SearchServer) -> None:
    body = refused(post(main, "a", {"q": "cancel", "k": MAX_K + 1}), 422, "invalid_request")
    assert body["detail"].startswith("k:")
    body = refused(post(main, "a", {"q": "y" * (MAX_CHARS + 1)}), 422, "query_too_long")
    assert body["detail"].startswith("q:")
    body = refused(post(main, "a", {"q": "cancel", "alpha": 2}), 422, "invalid_request")
    assert body["detail"].startswith("alpha:")


def test_unknown_routes_and_methods(main: SearchServer) -> None:
    for path in ("/v1/nothing", "/v2/search", "/"):
        response = httpx.get(main.url + path, timeout=TIMEOUT_S)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    response = httpx.delete(main.url + "/v1/search", timeout=TIMEOUT_S)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_the_docs_are_served(main: SearchServer) -> None:
    docs = httpx.get(main.url + "/docs", timeout=TIMEOUT_S)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(main.url + "/openapi.json", timeout=TIMEOUT_S)
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"get", "post"} <= set(paths["/v1/search"])
    assert {"401", "422", "429", "503"} <= set(paths["/v1/search"]["get"]["responses"])
    body = paths["/v1/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"q", "k", "alpha"} <= set(body["properties"])


def test_health_ready_and_metrics(main: SearchServer, world: World) -> None:
    assert httpx.get(main.url + "/healthz", timeout=TIMEOUT_S).json() == {"status": "ok"}
    ready = httpx.get(main.url + "/readyz", timeout=TIMEOUT_S).json()
    assert ready == {"status": "ready", "detail": f"{world.main_alias} -> {world.main}"}
    metrics = main.metrics()
    assert metrics.value("headwater_search_requests_total", tenant=tenant("a"), status="200") > 0


# -- Redis stopped mid-run ----------------------------------------------------------------


class ThrowawayRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            pytest.fail("redis-server is not on PATH (Debian's redis-server package)")
        with open(self.directory / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [redis_server, "--port", str(self.port), "--bind", "127.0.0.1"]
                + ["--save", "", "--appendonly", "no", "--dir", str(self.directory)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the throwaway redis-server did not start"
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_searches_go_on_uncached_while_redis_is_down(
    world: World, tmp_path: Path, main: SearchServer
) -> None:
    store = ThrowawayRedis(tmp_path)
    store.start()
    # A rate low enough that every search checks its quota in Redis (no leases).
    _, entry = gs.tenant_entry(tenant("a"), search_rate_limit_per_s=40)
    server = SearchServer(
        tmp_path / "server",
        entry,
        search_alias=world.main_alias,
        redis_url=store.url,
        search_local_cache_size=0,  # every hit comes from Redis
        search_cache_ttl_s=600,
    )
    try:
        server.start()
        questions = ["how can I cancel an order", "refund for a blender", "tracking number late"]
        before = {}
        for q in questions:
            first, second = (ok(search(server, "a", q)) for _ in range(2))
            assert (first["cached"], second["cached"]) == (False, True)
            assert second["hits"] == first["hits"]
            before[q] = first["hits"]
        m = server.metrics()
        assert m.value("headwater_search_cache_errors_total") == 0
        assert m.by("headwater_search_seconds_count", "cache") == {"miss": 3, "redis": 3}

        store.kill()
        after = [ok(search(server, "a", q, timeout_s=FAST_S)) for q in questions * 3]
        assert all(body["cached"] is False for body in after)
        for body, q in zip(after, questions * 3, strict=True):
            assert identity(body["hits"]) == identity(before[q])  # answers stay correct
            assert body["hits"] == ok(search(main, "a", q))["hits"]  # as a healthy server's
        # Isolation holds uncached too.
        assert conversations(ok(search(server, "a", ISOLATION_QUESTION))["hits"]) <= ids_of(
            A_SEGMENTS
        )
        m = server.metrics()
        assert m.value("headwater_search_cache_errors_total") > 0
        counts = m.by("headwater_search_seconds_count", "cache")
        assert counts == {"miss": 3, "redis": 3, "bypass": len(after) + 1}, counts
        assert m.value("headwater_quota_unchecked_total", scope="search") > 0
    finally:
        server.stop()
        store.kill()


# -- Weaviate down, Weaviate hung ---------------------------------------------------------


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchServer]:
    http, grpc_port = free_port(), free_port()
    yield from started(
        SearchServer(
            tmp_path_factory.mktemp("search-nowhere"),
            REGISTRY,
            weaviate_url=f"http://127.0.0.1:{http}",
            weaviate_grpc_port=grpc_port,
            search_timeout_s=1,
        ),
        ready=False,
    )


def test_weaviate_down_the_service_starts_but_is_not_ready(nowhere: SearchServer) -> None:
    assert httpx.get(nowhere.url + "/healthz", timeout=FAST_S).status_code == 200
    ready = httpx.get(nowhere.url + "/readyz", timeout=FAST_S)
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "cannot read alias ChatSegment" in ready.json()["detail"]


def test_weaviate_down_a_search_is_503_at_once(nowhere: SearchServer) -> None:
    for _ in range(3):
        response = search(nowhere, "a", "cancel my order", timeout_s=FAST_S)
        refused(response, 503, "weaviate_unavailable")
        assert response.headers["Retry-After"] == "1"
        response = post(nowhere, "a", {"q": "refund please", "k": 2})
        refused(response, 503, "weaviate_unavailable")
    # The key is still checked first, the parameters next.
    refused(search(nowhere, None, "cancel", timeout_s=FAST_S), 401, "bad_api_key")
    refused(search(nowhere, "a", "cancel", k=0, timeout_s=FAST_S), 422, "invalid_request")
    m = nowhere.metrics()
    assert m.value("headwater_search_refusals_total", reason="weaviate_unavailable") >= 6


@pytest.fixture(scope="module")
def hung_weaviate(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[ThrowawayWeaviate]:
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing; run `make services` (it builds Weaviate)")
    data = tmp_path_factory.mktemp("throwaway-weaviate")
    server = ThrowawayWeaviate(data)
    server.start()
    try:
        with server.connect() as client:
            collection = f"ChatSegment_{embedder.version}"
            create_collection(client, collection)
            put(client, collection, embedder, [HUNG_SEGMENT])
            client.alias.create(alias_name="ChatSegment", target_collection=collection)
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.kill()
        shutil.rmtree(data, ignore_errors=True)


def test_weaviate_hung_a_miss_is_503_and_the_service_answers(
    hung_weaviate: ThrowawayWeaviate, tmp_path: Path
) -> None:
    weaviate_pid = hung_weaviate.proc.pid if hung_weaviate.proc else 0
    # One worker: /readyz answering 200 then says that the worker searching is connected
    # (a 0.5 s timeout is short for a first connection on a busy machine; a second worker
    # might still be retrying it).
    server = SearchServer(
        tmp_path / "server",
        REGISTRY,
        workers=1,
        weaviate_url=f"http://127.0.0.1:{hung_weaviate.http_port}",
        weaviate_grpc_port=hung_weaviate.grpc_port,
        search_timeout_s=0.5,
        search_alias_refresh_s=REFRESH_S,
        search_cache_ttl_s=600,
    )
    stopped = False
    try:
        server.start()
        cached_question = "wifi drops in the evening"
        # The first search may outlast the 0.5 s timeout on a busy machine (a first model
        # run, a first gRPC connection): ask until it is answered and cached.
        deadline = time.monotonic() + 30
        while (response := search(server, "hung", cached_question)).status_code != 200:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.2)
        first = ok(response)
        assert identity(first["hits"]) == [identity_of(HUNG_SEGMENT)]

        os.kill(weaviate_pid, signal.SIGSTOP)
        stopped = True
        for i in range(3):
            response = search(server, "hung", f"router moved {i}", timeout_s=FAST_S)
            refused(response, 503, "weaviate_unavailable")
            assert response.headers["Retry-After"] == "1"
            assert httpx.get(server.url + "/healthz", timeout=FAST_S).status_code == 200
        # Cached answers are still served.
        cached = ok(search(server, "hung", cached_question, timeout_s=FAST_S))
        assert cached["cached"] is True and cached["hits"] == first["hits"]
        deadline = time.monotonic() + 10  # the next alias read fails too: not ready
        while httpx.get(server.url + "/readyz", timeout=FAST_S).status_code != 503:
            assert time.monotonic() < deadline, "/readyz stayed 200 with Weaviate hung"
            time.sleep(REFRESH_S)
        m = server.metrics()
        assert m.value("headwater_search_weaviate_errors_total", kind="timeout") >= 1

        os.kill(weaviate_pid, signal.SIGCONT)
        stopped = False
        deadline = time.monotonic() + 20
        while True:
            response = search(server, "hung", "router moved 0", timeout_s=FAST_S)
            if response.status_code == 200:
                break
            refused(response, 503, "weaviate_unavailable")
            assert time.monotonic() < deadline, "no answer after Weaviate came back"
            time.sleep(0.2)
        assert identity(response.json()["hits"]) == [identity_of(HUNG_SEGMENT)]
        server.wait("/readyz", timeout_s=20)
    finally:
        if stopped:
            os.kill(weaviate_pid, signal.SIGCONT)
        server.stop()
