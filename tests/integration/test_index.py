"""The index on the real Kafka and Weaviate: idempotent replays, SIGKILL, tenants, no PII.

Test data lives in tenants no other run uses, inside the shared `ChatSegment_<model>`
collection; topics are unique too. Segments are cut by a token budget and by event-time
gaps far longer than a test runs, so the wall clock never forgets a conversation and
every run segments the same input the same way.
"""

from __future__ import annotations

import os
import random
import signal
import string
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from bytewax.testing import run_main
from confluent_kafka import Consumer, Producer, TopicPartition
from weaviate.classes.query import MetadataQuery
from weaviate.exceptions import WeaviateBaseError

from flows.samples.generate import StreamGenerator
from flows.topics import ensure_topics
from models import load_embedder
from operators.index.search import Serving
from operators.index.segment import SegmentBuilder, SegmentState
from operators.index.write_notices import WRITTEN_KEY
from operators.index.writer import ALIAS, collection_name
from operators.pii import redact
from schemas.message import ChatMessage
from schemas.segment import Segment, SegmentLine, latest_versions

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_714_532_400_000  # 2024-05-01T03:00:00Z
GAP_S = 600  # event-time gaps of 700 s and more close segments; no test runs that long
MAX_TOKENS = 40
SEGMENTING = {"segment_gap_s": GAP_S, "segment_max_tokens": MAX_TOKENS}
WORDS = (
    "đơn",
    "hàng",
    "giao",
    "ship",
    "đổi",
    "size",
    "áo",
    "màu",
    "đen",
    "hoàn",
    "tiền",
    "order",
    "cancel",
    "delivery",
    "refund",
    "invoice",
    "shop",
    "ạ",
    "nhé",
    "ok",
)


@pytest.fixture(scope="session")
def embedder():
    return load_embedder()


def collection(client, embedder, tenant: str):
    return client.collections.get(collection_name(embedder.version)).with_tenant(tenant)


def stored(client, embedder, tenant: str) -> dict[uuid.UUID, object]:
    """Every object of a tenant, with its vector; empty until the tenant exists."""
    base = client.collections.get(collection_name(embedder.version))
    if base.tenants.get_by_name(tenant) is None:
        return {}
    return {o.uuid: o for o in base.with_tenant(tenant).iterator(include_vector=True)}


def stored_all(client, embedder, tenants: Iterable[str]) -> dict[uuid.UUID, object]:
    out: dict[uuid.UUID, object] = {}
    for tenant in tenants:
        out.update(stored(client, embedder, tenant))
    return out


def message_ids(objects: dict[uuid.UUID, object]) -> dict[uuid.UUID, list[str]]:
    return {u: list(o.properties["message_ids"]) for u, o in objects.items()}


def expected_segments(messages: list[ChatMessage], count_tokens) -> dict[uuid.UUID, Segment]:
    """The final segments, from SegmentBuilder over each conversation in topic order."""
    convs: dict[str, list[ChatMessage]] = defaultdict(list)
    for m in messages:
        convs[m.key].append(m)
    out: list[Segment] = []
    for conv in convs.values():
        builder = SegmentBuilder(
            SegmentState(),
            gap_ms=GAP_S * 1000,
            max_tokens=MAX_TOKENS,
            coalesce_ms=0,
            count_tokens=count_tokens,
            clock=lambda: 0,
        )
        for m in conv:
            out += builder.add([m])
        out += builder.flush()
    return {s.uuid: s for s in latest_versions(out)}


def assert_matches(
    objects: dict[uuid.UUID, object], expected: dict[uuid.UUID, Segment], dim: int
) -> None:
    assert message_ids(objects) == {
        u: [ln.message_id for ln in s.lines] for u, s in expected.items()
    }
    for u, seg in expected.items():
        props = objects[u].properties
        assert props["text"] == seg.text
        assert props["segment"] == seg.number and props["message_count"] == len(seg.lines)
        assert (props["tenant"], props["conversation_id"]) == (seg.tenant, seg.conversation_id)
        assert len(objects[u].vector["default"]) == dim
    every_id = [
        (o.properties["tenant"], i) for o in objects.values() for i in o.properties["message_ids"]
    ]
    assert len(every_id) == len(set(every_id))  # each message in exactly one segment


def contents(objects: dict[uuid.UUID, object]) -> dict[uuid.UUID, tuple[dict, np.ndarray]]:
    """What a replay must reproduce: every property but `indexed_at`, and the vector."""
    return {
        u: (
            {k: v for k, v in o.properties.items() if k != "indexed_at"},
            np.asarray(o.vector["default"]),
        )
        for u, o in objects.items()
    }


def assert_same_contents(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for u, (props, vector) in first.items():
        assert second[u][0] == props
        assert np.allclose(second[u][1], vector, atol=1e-5)


def indexed_at_ms(obj) -> int:
    return round(obj.properties["indexed_at"].timestamp() * 1000)


def wait_for(
    check: Callable[[], bool],
    timeout_s: float,
    flow=None,
    log: Path | None = None,
    what: str = "the index",
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if flow is not None and flow.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            pytest.fail(f"index flow exited ({flow.returncode}): {tail}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


# --- chat.messages streams -----------------------------------------------------------------


def chat_stream(
    seed: int, tenants: tuple[str, ...], conversations: int, n: int, duplicates: float = 0.05
) -> list[ChatMessage]:
    """Interleaved conversations with long event-time gaps and redelivered messages."""
    rand = random.Random(seed)
    convs = [(tenants[i % len(tenants)], f"conv-{seed}-{i}") for i in range(conversations)]
    clocks = {c: T0 + rand.randint(0, 600_000) for c in convs}
    last: dict[tuple[str, str], ChatMessage] = {}
    out: list[ChatMessage] = []
    for i in range(n):
        tenant, conv = c = rand.choice(convs)
        clocks[c] += 1000 * (
            rand.randint(700, 3000) if rand.random() < 0.15 else rand.randint(5, 90)
        )
        text = " ".join(rand.choice(WORDS) for _ in range(rand.randint(2, 8)))
        current = ChatMessage(
            message_id=f"shopee:{seed}-{i}",
            idempotency_key=f"shopee:{seed}-{i}",
            tenant=tenant,
            source="webhook",
            platform="shopee",
            conversation_id=conv,
            sender_id="u-1",
            role=rand.choice(("user", "agent")),
            text=text,
            language="vi",
            event_ms=clocks[c],
            received_at=clocks[c] + 50,
        )
        out.append(current)
        if c in last and rand.random() < duplicates:
            # An at-least-once redelivery of the message before: in the open segment, or in
            # the one this message just closed.
            out.append(last[c])
        last[c] = current
    return out


def producer(brokers: str) -> Producer:
    return Producer({"bootstrap.servers": brokers, "linger.ms": 5, "enable.idempotence": True})


def produce(brokers: str, topic: str, messages: list[ChatMessage], pause_s: float = 0.0) -> None:
    p = producer(brokers)
    for m in messages:
        p.produce(topic, key=m.key.encode(), value=m.to_json())
        p.poll(0)
        if pause_s:
            time.sleep(pause_s)
    assert p.flush(30) == 0


def read_topic(brokers: str, topic: str) -> list[ChatMessage]:
    """Everything on the topic, in each partition's order (a conversation is in one)."""
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex, "enable.auto.commit": False}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[ChatMessage] = []
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 30
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                out.append(ChatMessage.from_json(msg.value()))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        assert len(done) == len(ends), "could not read the topic to its end"
        return out
    finally:
        consumer.close()


def start_index(brokers: str, topic: str, log: Path, recovery: Path | None = None):
    spec = (
        f"flows.index:build(index_source='kafka:{topic}', "
        + ", ".join(f"{k}={v!r}" for k, v in SEGMENTING.items())
        + ")"
    )
    args = [sys.executable, "-m", "bytewax.run", spec]
    if recovery is not None:
        args += ["-r", str(recovery), "-s", "1", "-b", "0"]
    env = {**os.environ, "HEADWATER_KAFKA_BROKERS": brokers, "HEADWATER_METRICS_PORT": "0"}
    with log.open("ab") as err:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)


def stop(flow) -> None:
    if flow.poll() is None:
        flow.send_signal(signal.SIGKILL)
    flow.wait()


def unit(seed: int, dim: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_writer_skips_stale_versions_and_returns_refused_objects(
    weaviate_client, embedder, settings, unique
) -> None:
    from flows.index import writer_for

    tenant = unique("acme")
    lines = tuple(SegmentLine.of(m) for m in chat_stream(3, (tenant,), 1, 3, duplicates=0))
    full, short = (Segment(tenant, "conv", 100, lines), Segment(tenant, "conv", 100, lines[:2]))
    other = Segment(tenant, "conv", 101, lines[:1])
    writer = writer_for(settings, embedder.version)
    dim = embedder.dim
    try:
        written = writer.write([full], np.stack([unit(1, dim)]))  # creates the tenant
        assert [seg for seg, _ in written.stored] == [full]
        assert not written.stale and not written.rejected

        written = writer.write([short], np.stack([unit(2, dim)]))
        assert written.stale == [short] and not written.stored
        obj = collection(weaviate_client, embedder, tenant).query.fetch_object_by_id(
            full.uuid, include_vector=True
        )
        assert obj.properties["message_ids"] == [ln.message_id for ln in lines]
        assert np.allclose(obj.vector["default"], unit(1, dim), atol=1e-6)

        written = writer.write([full], np.stack([unit(3, dim)]))  # as long: rewritten
        assert [seg for seg, _ in written.stored] == [full]
        obj = collection(weaviate_client, embedder, tenant).query.fetch_object_by_id(
            full.uuid, include_vector=True
        )
        assert np.allclose(obj.vector["default"], unit(3, dim), atol=1e-6)

        # A vector of the wrong length is refused: a dead letter, the rest is stored.
        written = writer.write([other, full], [unit(4, dim - 1), unit(5, dim)])
        assert [seg for seg, _ in written.stored] == [full]
        (dead,) = written.rejected
        assert (dead.reason, dead.tenant, dead.source) == ("index_rejected", tenant, "index")
        assert orjson.loads(dead.raw)["segment"] == 101 and dead.errors[0]
    finally:
        writer.close()
    assert set(stored(weaviate_client, embedder, tenant)) == {full.uuid}


@pytest.fixture
def topic(kafka_brokers: str, unique) -> str:
    name = unique("test.index.messages")
    ensure_topics(kafka_brokers, [name], 3)
    return name


def test_kafka_replay_from_scratch_is_idempotent(
    kafka_brokers, weaviate_client, embedder, topic, unique, tmp_path
) -> None:
    tenants = (unique("acme"), unique("globex"))
    produce(kafka_brokers, topic, chat_stream(21, tenants, conversations=10, n=180))
    expected = expected_segments(read_topic(kafka_brokers, topic), embedder.token_counts)
    assert len(expected) >= 3 * 10  # several segments per conversation

    def run(log: Path) -> dict:
        started_ms = time.time_ns() // 1_000_000
        flow = start_index(kafka_brokers, topic, log)  # no recovery: from the beginning

        def done() -> bool:
            objects = stored_all(weaviate_client, embedder, tenants)
            return message_ids(objects) == {
                u: [ln.message_id for ln in s.lines] for u, s in expected.items()
            } and all(indexed_at_ms(o) >= started_ms for o in objects.values())

        try:
            wait_for(done, 90, flow, log)
        finally:
            stop(flow)
        objects = stored_all(weaviate_client, embedder, tenants)
        assert_matches(objects, expected, embedder.dim)
        return contents(objects)

    first = run(tmp_path / "run1.log")
    second = run(tmp_path / "run2.log")  # every object rewritten, none added
    assert_same_contents(first, second)


KILLS = 5


def test_sigkill_at_random_points_leaves_each_segment_once_and_whole(
    kafka_brokers, weaviate_client, embedder, settings, topic, unique, tmp_path
) -> None:
    tenant = unique("acme")
    rand = random.Random(77)
    messages = chat_stream(77, (tenant,), conversations=12, n=500)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    log = tmp_path / "index.log"

    killed = threading.Event()
    produced = [0]
    produced_at_kills: list[int] = []
    part = len(messages) // (KILLS + 1)

    def produce_while_killing() -> None:
        p = producer(kafka_brokers)
        for i, m in enumerate(messages):
            # However slow the restarts, each kill comes while the stream flows: the
            # stream's (k+1)th part waits for the kth kill.
            while i >= part * (len(produced_at_kills) + 1) and not killed.is_set():
                time.sleep(0.05)
            live = m.model_copy(update={"received_at": time.time_ns() // 1_000_000})
            p.produce(topic, key=m.key.encode(), value=live.to_json())
            p.poll(0)
            produced[0] += 1
            if not killed.is_set():
                time.sleep(0.12)
        assert p.flush(30) == 0

    producing = threading.Thread(target=produce_while_killing)
    checking = threading.Event()
    seen: dict[uuid.UUID, set[str]] = {}
    violations: list[str] = []
    scans = [0]

    def check() -> None:
        from operators.common.weaviate import connect_weaviate

        with connect_weaviate(settings) as client:
            while not checking.is_set():
                try:
                    objects = stored(client, embedder, tenant)
                except WeaviateBaseError as exc:
                    violations.append(f"query failed: {exc}")
                    return
                for u, obj in objects.items():
                    vector = obj.vector.get("default")
                    if vector is None or len(vector) != embedder.dim:
                        violations.append(f"{u}: no vector")
                    ids = set(obj.properties["message_ids"])
                    if not seen.get(u, set()) <= ids:
                        violations.append(f"{u}: lost {sorted(seen[u] - ids)}")
                    seen[u] = ids
                scans[0] += 1
                time.sleep(0.05)

    checker = threading.Thread(target=check)
    producing.start()
    checker.start()

    def last_write_ms() -> int:
        objects = stored(weaviate_client, embedder, tenant).values()
        return max((indexed_at_ms(o) for o in objects), default=0)

    try:
        for _ in range(KILLS):
            started_ms = time.time_ns() // 1_000_000
            flow = start_index(kafka_brokers, topic, log, recovery)
            # Kill it at a random point once it is at work: after its first write.
            wait_for(
                lambda s=started_ms: last_write_ms() >= s,
                60,
                flow,
                log,
                "a write of the restarted flow",
            )
            time.sleep(rand.uniform(0.0, 2.0))
            assert flow.poll() is None, log.read_text(errors="replace")[-3000:]
            flow.send_signal(signal.SIGKILL)
            flow.wait()
            produced_at_kills.append(produced[0])
        killed.set()
        producing.join()
        expected = expected_segments(read_topic(kafka_brokers, topic), embedder.token_counts)
        want = {u: [ln.message_id for ln in s.lines] for u, s in expected.items()}
        flow = start_index(kafka_brokers, topic, log, recovery)
        try:
            wait_for(
                lambda: message_ids(stored(weaviate_client, embedder, tenant)) == want,
                90,
                flow,
                log,
            )
            time.sleep(2)  # late rewrites, if any, must not change the result
        finally:
            stop(flow)
    finally:
        killed.set()
        checking.set()
        checker.join()
        producing.join()

    # Each kill came while the stream was still flowing.
    assert len(produced_at_kills) == KILLS
    assert produced_at_kills == sorted(set(produced_at_kills))
    assert produced_at_kills[0] > 0 and produced_at_kills[-1] < len(messages)
    assert len(expected) >= 3 * 12
    assert_matches(stored(weaviate_client, embedder, tenant), expected, embedder.dim)
    assert violations == []
    assert scans[0] > 50 and seen.keys() == expected.keys()


# --- the whole pipeline in file mode ---------------------------------------------------------

PII_LINES = (
    "Số điện thoại của em là 0912 345 678, shop gọi lại giúp em",
    "hotline cá nhân: +84 912 345 678 nhé",
    "SĐT người nhận 0977.12.34.56, giao giờ hành chính",
    "CCCD 079203001234 của em đây ạ",
    "căn cước: 079 203 001 234",
    "Email của mình là hoanganh.le@gmail.com",
    "Tên tôi là Đỗ Quang Huy, tôi cần hỗ trợ về thẻ tín dụng",
    "Người nhận: Trần Thị Mai - 0912.888.999 - 45 Lê Lợi, Q1",
    "Em tên là Ngọc Ánh ạ, em muốn hỏi về đơn hàng",
    "thanh toán bằng thẻ 4111 1111 1111 1111 được không",
    "số thẻ 5500 0000 0000 0004 hết hạn 12/27",
    "Please reach Emily Tran at +65 9123 4567 or emily.tran@example.com",
)
MARKERS = ("[PHONE]", "[NATIONAL_ID]", "[EMAIL]", "[PERSON]", "[CARD]")


def envelope(tenant: str, conv: str, mid: str, event_ms: int, text: str, role: str) -> str:
    return orjson.dumps(
        {
            "source": "webhook",
            "tenant": tenant,
            "received_at": event_ms + 100,
            "payload": {
                "id": mid,
                "platform": "shopee",
                "conversation_id": conv,
                "user_id": "u-1",
                "role": role,
                "content": text,
                "timestamp": event_ms,
            },
        }
    ).decode()


def phrase(rand: random.Random) -> str:
    token = "".join(rand.choice(string.ascii_lowercase) for _ in range(10))
    return f"mã khuyến mãi {token} còn dùng được không"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, weaviate_client, embedder, redis_client):
    """The pipeline run twice over one file: the tenants, the phrases, both runs' objects."""
    from flows.pipeline import build

    run = uuid.uuid4().hex[:10]
    tenants = (f"acme_{run}", f"globex_{run}")
    rand = random.Random(run)
    phrases = {t: phrase(rand) for t in tenants}
    lines = list(StreamGenerator(seed=31, tenants=tenants).lines(300, conversations=12))
    for t_i, tenant in enumerate(tenants):
        event_ms = T0 + 3_600_000
        for i, text in enumerate(PII_LINES + (phrases[tenant], "cảm ơn shop nhiều")):
            event_ms += rand.randint(5, 90) * 1000
            lines.append(
                envelope(
                    tenant,
                    f"pii-{t_i}",
                    f"p-{t_i}-{i}",
                    event_ms,
                    text,
                    "user" if i % 3 else "agent",
                )
            )
    tmp = tmp_path_factory.mktemp("pipeline")
    source = tmp / "stream.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def once(name: str) -> dict:
        started_ms = time.time_ns() // 1_000_000
        run_main(
            build(
                source=f"file:{source}",
                sink=f"file:{tmp / name}",
                archive_dir=str(tmp / f"{name}-archive"),
                metrics_port=0,
                allowed_lateness_s=600,
                **SEGMENTING,
            )
        )
        objects = stored_all(weaviate_client, embedder, tenants)
        assert objects and all(indexed_at_ms(o) >= started_ms for o in objects.values())
        return objects

    before_ms = time.time_ns() // 1_000_000
    first = once("run1")
    second = once("run2")
    written = {t: redis_client.zscore(WRITTEN_KEY, t) for t in tenants}
    messages = [
        ChatMessage.from_json(line)
        for line in (tmp / "run2" / "messages.jsonl").read_bytes().splitlines()
    ]
    return {
        "tenants": tenants,
        "phrases": phrases,
        "first": first,
        "second": second,
        "messages": messages,
        "written": {t: (ms, before_ms) for t, ms in written.items()},
    }


def test_each_tenant_written_is_noticed_for_the_search_cache(pipeline) -> None:
    for tenant, (noticed_ms, before_ms) in pipeline["written"].items():
        assert noticed_ms is not None and noticed_ms >= before_ms, tenant


def test_file_replay_is_idempotent_and_segments_every_message(pipeline, embedder) -> None:
    first, second = pipeline["first"], pipeline["second"]
    assert_same_contents(contents(first), contents(second))
    expected = expected_segments(pipeline["messages"], embedder.token_counts)
    assert len(expected) > 2 * 14  # several segments per conversation
    assert_matches(second, expected, embedder.dim)
    # A file is a held backfill, and every segment closes or ends with it: each stored
    # vector is the embedding of the segment's whole text, less its language's mean.
    segments = list(expected.values())
    whole = embedder.neutralize_languages(
        embedder.embed_passages([seg.text for seg in segments]), [s.language for s in segments]
    )
    for u, vector in zip(expected, whole, strict=True):
        assert np.allclose(second[u].vector["default"], vector, atol=1e-5)


def test_no_pii_reaches_weaviate(pipeline) -> None:
    objects = pipeline["second"]
    found = {u: redact(o.properties["text"]).spans for u, o in objects.items()}
    assert {u: spans for u, spans in found.items() if spans} == {}
    pii_texts = "\n".join(
        o.properties["text"]
        for o in objects.values()
        if o.properties["conversation_id"].startswith("pii-")
    )
    for marker in MARKERS:  # the PII lines are there, redacted
        assert marker in pii_texts


def hit_ids(objects: Iterable) -> set[uuid.UUID]:
    return {o.uuid for o in objects}


def graphql(settings, query: str) -> dict:
    resp = httpx.post(f"{settings.weaviate_url}/v1/graphql", json={"query": query}, timeout=30)
    resp.raise_for_status()
    return resp.json()


def written(embedder) -> Serving:
    """The collection the pipeline wrote: whatever the dev alias serves, the queries read it."""
    return Serving(ALIAS, collection_name(embedder.version), embedder.version)


def test_no_query_of_one_tenant_returns_another_tenants_data(
    pipeline, weaviate_client, embedder, settings
) -> None:
    from flows.query import graphql_search, search

    serving = written(embedder)
    a, b = pipeline["tenants"]
    objects = pipeline["second"]
    of_a = {u for u, o in objects.items() if o.properties["tenant"] == a}
    of_b = {u for u, o in objects.items() if o.properties["tenant"] == b}
    target = next(u for u, o in objects.items() if pipeline["phrases"][a] in o.properties["text"])
    vector = list(objects[target].vector["default"])
    words = pipeline["phrases"][a]
    token = words.split()[3]  # the one word no other text has
    alias = weaviate_client.collections.get(serving.collection)

    def client_queries(tenant: str) -> dict[str, set[uuid.UUID]]:
        q = alias.with_tenant(tenant).query
        return {
            "near_vector": hit_ids(q.near_vector(vector, limit=50).objects),
            "bm25": hit_ids(q.bm25(query=token, limit=50).objects),
            "bm25_common": hit_ids(q.bm25(query="shop đơn hàng", limit=50).objects),
            "hybrid": hit_ids(q.hybrid(query=words, vector=vector, limit=50).objects),
        }

    def graphql_queries(tenant: str) -> dict[str, set[uuid.UUID]]:
        vec = orjson.dumps(vector).decode()
        args = {
            "near_vector": f"nearVector: {{vector: {vec}}}",
            "bm25": f"bm25: {{query: {orjson.dumps(token).decode()}}}",
            "bm25_common": 'bm25: {query: "shop đơn hàng"}',
            "hybrid": f"hybrid: {{query: {orjson.dumps(words).decode()}, vector: {vec}}}",
        }
        out = {}
        for name, arg in args.items():
            body = graphql(
                settings,
                f'{{ Get {{ {serving.collection}(tenant: "{tenant}", limit: 50, {arg}) '
                "{ tenant _additional { id } } } }",
            )
            assert "errors" not in body, body
            rows = body["data"]["Get"][serving.collection]
            assert {r["tenant"] for r in rows} <= {tenant}
            out[name] = {uuid.UUID(r["_additional"]["id"]) for r in rows}
        return out

    for queries in (client_queries, graphql_queries):
        for_a, for_b = queries(a), queries(b)
        for name in for_a:
            assert for_a[name] <= of_a and for_b[name] <= of_b, name
        assert target in for_a["near_vector"] and target in for_a["bm25"]
        assert target in for_a["hybrid"]
        assert for_b["near_vector"] and for_b["bm25_common"] and for_b["hybrid"]
        assert for_b["bm25"] == set()  # the token is only in tenant A
        assert for_a["bm25"] == {target}

    convs_of_b = {objects[u].properties["conversation_id"] for u in of_b}
    for hits in (
        search(weaviate_client, b, words, limit=20, serving=serving),
        graphql_search(settings, weaviate_client, serving, b, words, limit=20),
    ):
        assert hits and {h.conversation_id for h in hits} <= convs_of_b
        assert not any(words in h.text for h in hits)


def test_a_query_without_a_tenant_fails(pipeline, weaviate_client, embedder, settings) -> None:
    objects = pipeline["second"]
    vector = list(next(iter(objects.values())).vector["default"])
    q = weaviate_client.collections.get(ALIAS).query
    with pytest.raises(WeaviateBaseError, match="(?i)tenant"):
        q.near_vector(vector, limit=1)
    with pytest.raises(WeaviateBaseError, match="(?i)tenant"):
        q.bm25(query="shop", limit=1)
    with pytest.raises(WeaviateBaseError, match="(?i)tenant"):
        q.hybrid(query="shop", vector=vector, limit=1, return_metadata=MetadataQuery(score=True))
    body = graphql(
        settings, f'{{ Get {{ {ALIAS}(limit: 1, bm25: {{query: "shop"}}) {{ text }} }} }}'
    )
    assert body.get("errors") and "tenant" in orjson.dumps(body["errors"]).decode().lower()
    assert not (body.get("data") or {}).get("Get", {}).get(ALIAS)


def test_graphql_and_client_find_the_segment_of_a_fresh_phrase(
    pipeline, weaviate_client, embedder, settings
) -> None:
    from flows.query import graphql_search, search

    serving = written(embedder)
    objects = pipeline["second"]
    for tenant, words in pipeline["phrases"].items():
        (target,) = [o for o in objects.values() if words in o.properties["text"]]
        for hits in (
            search(weaviate_client, tenant, words, serving=serving),
            graphql_search(settings, weaviate_client, serving, tenant, words),
        ):
            assert hits, tenant
            top = hits[0]
            assert (top.conversation_id, top.segment) == (
                target.properties["conversation_id"],
                target.properties["segment"],
            )
            assert words in top.text
            assert top.message_ids == list(target.properties["message_ids"])
