"""Blue/green reindex on the real Weaviate and Kafka: the bundled sample indexed with
MiniLM, rebuilt with the multilingual model, killed and resumed, gated, swapped, rolled
back and swapped again under a query loop while the live index takes new messages.

The tests of this module run in order on one alias of their own.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from bytewax.testing import run_main
from confluent_kafka import Producer

from flows import pipeline
from flows.query import search
from flows.topics import MESSAGES, ensure_topics
from models import load_embedder
from models.paths import MINILM, MODELS_DIR, MULTILINGUAL
from operators.index.search import default_alpha, hybrid, query_embedder, serving_collection
from operators.reindex.report import read_reports
from operators.reindex.source import Cursor
from operators.reindex.stored import COPIED, shards
from schemas.message import ChatMessage
from tests.integration.aliases import drop_alias
from tests.integration.recovery import resume_epoch

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "flows/samples/pipeline_sample.jsonl"
MINILM_DIR = MODELS_DIR / MINILM.name
E5_DIR = MODELS_DIR / MULTILINGUAL.name
TENANTS = ("acme", "globex", "initech", "umbrella")
QUESTIONS = {
    "acme": "I want to return my order",
    "globex": "when will my package arrive",
    "initech": "Tôi muốn đổi mật khẩu",
    "umbrella": "Tôi muốn đổi địa chỉ nhận hàng",
}


@pytest.fixture(scope="module")
def alias() -> str:
    return f"Rx{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reindex")


@pytest.fixture(scope="module")
def env(alias: str, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HEADWATER_WEAVIATE_ALIAS": alias,
        "HEADWATER_METRICS_PORT": "0",
        "HEADWATER_INDEX_WRITE_NOTICES": "false",
        "HEADWATER_REINDEX_DIR": str(state),
        "HEADWATER_REINDEX_MODEL_DIR": str(E5_DIR),
    }


@pytest.fixture(scope="module")
def minilm_index(alias: str, state: Path, weaviate_client) -> Iterator[str]:
    """The sample, through the pipeline, into `<alias>_<MiniLM version>` (serving)."""
    run_main(
        pipeline.build(
            source=f"file:{SAMPLE}",
            sink=f"file:{state / 'pipeline'}",
            archive_dir=state / "archive",
            embedding_model_dir=MINILM_DIR,
            weaviate_alias=alias,
            metrics_port=0,
            index_write_notices=False,
        )
    )
    serving = serving_collection(weaviate_client, alias)
    assert serving is not None and serving.model_version == load_embedder(MINILM_DIR).version
    yield serving.collection
    drop_alias(weaviate_client, alias)


def reindex(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.reindex", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def uuids(client, collection: str, tenant: str) -> dict[uuid.UUID, int]:
    view = client.collections.get(collection).with_tenant(tenant)
    return {
        o.uuid: int(o.properties["message_count"])
        for o in view.iterator(return_properties=["message_count"])
    }


def count(client, collection: str) -> int:
    base = client.collections.get(collection)
    if not base.exists():
        return 0
    total = 0
    for tenant in base.tenants.get():
        total += base.with_tenant(tenant).aggregate.over_all(total_count=True).total_count or 0
    return total


def e5_collection(alias: str) -> str:
    return f"{alias}_{load_embedder(E5_DIR).version}"


def committed(recovery: Path) -> dict[str, Cursor]:
    """Each shard's cursor in the checkpoint a restart resumes from: the newest snapshot
    at or before the epoch every recovery partition has committed."""
    resume = resume_epoch(recovery)
    if resume is None:
        return {}
    snaps: list[tuple[str, int, bytes]] = []
    for part in recovery.glob("*.sqlite3"):
        with closing(sqlite3.connect(part)) as db:
            snaps += db.execute("SELECT state_key, snap_epoch, ser_change FROM snaps").fetchall()
    newest: dict[str, tuple[int, Cursor]] = {}
    for key, epoch, change in snaps:
        if epoch <= resume and (key not in newest or epoch > newest[key][0]):
            newest[key] = (epoch, pickle.loads(change))
    return {key: cursor for key, (_, cursor) in newest.items()}


def shard_sizes(client, collection: str, per_tenant: int) -> dict[str, int]:
    sizes = {}
    for shard in shards(TENANTS, per_tenant):
        ids = uuids(client, collection, shard.tenant)
        sizes[shard.key] = sum(shard.start <= u.int < shard.end for u in ids)
    return sizes


def test_a_build_killed_midway_resumes_from_its_checkpoint(
    minilm_index: str, alias: str, env: dict[str, str], state: Path, weaviate_client
) -> None:
    source, target = minilm_index, e5_collection(alias)
    total = count(weaviate_client, source)
    command = ["build", "--processes", "2", "--shards", "2", "--snapshot-s", "1"]
    first = subprocess.Popen(
        [sys.executable, "-m", "flows.reindex", *command],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    recovery = state / target / "all-shards2" / "recovery"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            done = sum(c.read for c in committed(recovery).values()) if recovery.exists() else 0
            if done >= total // 4:
                break
            time.sleep(0.1)
        assert first.poll() is None, "the build ended before it could be killed"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    checkpoint = committed(recovery)
    written_before = count(weaviate_client, target)
    assert sum(c.read for c in checkpoint.values()) < total
    finished = {key for key, c in checkpoint.items() if c.done}

    second = reindex(env, *command)
    assert second.returncode == 0, second.stderr
    assert "plan:" in second.stdout and "cost:" in second.stdout

    for tenant in TENANTS:
        assert uuids(weaviate_client, target, tenant) == uuids(weaviate_client, source, tenant)
    report = read_reports(sorted(recovery.parent.glob("run-*"))[-1])
    expected = {
        key: size - (checkpoint[key].read if key in checkpoint else 0)
        for key, size in shard_sizes(weaviate_client, source, 2).items()
    }
    assert report["shards"] == {key: n for key, n in expected.items() if n}
    assert not finished & set(report["shards"])  # finished shards are not read again
    redone = written_before + report["segments"] - total  # written after the checkpoint
    assert 0 <= redone < written_before


def test_a_tenant_the_source_lacks_is_refused_by_name(minilm_index: str, env) -> None:
    before = reindex(env, "status").stdout
    for command in (["plan"], ["build", "--new-generation"]):
        refused = reindex(env, *command, "--tenant", "acme", "--tenant", "nobody")
        assert refused.returncode == 2
        assert f"error: {minilm_index} has no tenant 'nobody'" in refused.stderr
    assert reindex(env, "status").stdout == before  # a refused build creates nothing


def test_a_failing_gate_leaves_the_alias_where_it_was(
    minilm_index: str, alias: str, env: dict[str, str], weaviate_client
) -> None:
    target = e5_collection(alias)
    broken = weaviate_client.collections.get(target).with_tenant("globex")
    victim = next(iter(broken.iterator(return_properties=list(COPIED))))
    broken.data.replace(uuid=victim.uuid, properties=victim.properties)  # no vector now

    refused = reindex(env, "swap", "--collection", target)
    assert refused.returncode == 1
    assert "tenant globex: 1 objects without a 384-d vector" in refused.stdout
    assert f"alias {alias} stays on {minilm_index}" in refused.stderr
    assert serving_collection(weaviate_client, alias).collection == minilm_index

    broken.data.delete_by_id(victim.uuid)  # the catch-up before the next swap copies it


class QueryLoop:
    """Threads asking every tenant its question through the alias, as the query paths do:
    the alias target, then that collection's model."""

    def __init__(self, client, alias: str, threads: int = 3) -> None:
        self._client, self._alias = client, alias
        self._stop = threading.Event()
        self.queries = 0
        self.errors: list[str] = []
        self.empty: list[str] = []
        self.collections: set[str] = set()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> QueryLoop:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for tenant, question in QUESTIONS.items():
                try:
                    serving = serving_collection(self._client, self._alias)
                    embedder = query_embedder(serving)
                    hits = hybrid(
                        self._client,
                        serving.collection,
                        tenant,
                        question,
                        embedder.embed_queries([question])[0].tolist(),
                        limit=3,
                        alpha=default_alpha(question, embedder),
                    )
                    self.collections.add(serving.collection)
                except Exception as exc:
                    self.errors.append(f"{tenant}: {exc!r}")
                    continue
                self.queries += 1
                if not hits:
                    self.empty.append(f"{tenant} in {serving.collection}")


class Traffic:
    """New messages on a Kafka topic the live index reads, for the sample's tenants and
    for one created during the build, a few a second until stopped."""

    def __init__(self, brokers: str, topic: str, new_tenant: str) -> None:
        self._producer = Producer({"bootstrap.servers": brokers})
        self._topic = topic
        self._tenants = ("acme", "umbrella", new_tenant)
        self._stop = threading.Event()
        self.sent: dict[str, list[str]] = {t: [] for t in self._tenants}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert self._producer.flush(30) == 0

    __exit__ = lambda self, *exc: self.stop()  # noqa: E731

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            tenant = self._tenants[i % len(self._tenants)]
            now = int(time.time() * 1000)
            message_id = f"webhook:live-{i}"
            message = ChatMessage(
                message_id=message_id,
                idempotency_key=message_id,
                tenant=tenant,
                source="webhook",
                platform="webhook",
                conversation_id=f"live-{i}",
                sender_id="u",
                role="user",
                text=f"Đơn hàng số {i} của tôi đang ở đâu?",
                language="vi",
                event_ms=now,
                received_at=now,
            )
            encoded = MESSAGES.encode(message)
            self._producer.produce(self._topic, key=encoded.key, value=encoded.value)
            self._producer.poll(0)
            self.sent[tenant].append(message_id)
            i += 1
            time.sleep(0.1)


def message_ids(client, collection: str, tenant: str) -> set[str]:
    base = client.collections.get(collection)
    if tenant not in base.tenants.get():
        return set()
    return {
        m
        for o in base.with_tenant(tenant).iterator(return_properties=["message_ids"])
        for m in o.properties["message_ids"]
    }


def test_swap_rollback_and_swap_again_under_queries_and_live_messages(
    minilm_index: str,
    alias: str,
    env: dict[str, str],
    state: Path,
    weaviate_client,
    kafka_brokers: str,
    unique,
) -> None:
    source, target = minilm_index, e5_collection(alias)
    topic = unique("reindex.messages")
    ensure_topics(kafka_brokers, [topic], 1)
    new_tenant = unique("newco").replace(".", "_")
    live_env = {**env, "HEADWATER_EMBEDDING_MODEL_DIR": str(MINILM_DIR)}
    live = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bytewax.run",
            f"flows.index:build(index_source='kafka:{topic}', sink='file:{state / 'live'}', "
            "index_coalesce_ms=50)",
        ],
        env=live_env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with (
            QueryLoop(weaviate_client, alias) as queries,
            Traffic(kafka_brokers, topic, new_tenant) as traffic,
        ):
            time.sleep(2)
            built = reindex(env, "build")  # finished by the first test: catches up only
            assert built.returncode == 0, built.stderr
            for step in (("swap",), ("rollback",), ("swap",)):
                done = reindex(env, *step)
                assert done.returncode == 0, done.stdout + done.stderr
                time.sleep(1.5)
            traffic.stop()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                missing = {
                    (collection, tenant): set(ids)
                    - message_ids(weaviate_client, collection, tenant)
                    for collection in (source, target)
                    for tenant, ids in traffic.sent.items()
                }
                if not any(missing.values()):
                    break
                time.sleep(1)
        assert not any(missing.values()), missing
        assert queries.errors == []
        assert queries.empty == []
        assert queries.queries > 20
        assert queries.collections == {source, target}
    finally:
        os.killpg(live.pid, signal.SIGKILL)
        live.wait(timeout=30)

    assert serving_collection(weaviate_client, alias).collection == target
    status = reindex(env, "status")
    assert f"alias {alias} -> {target}" in status.stdout
    assert "standby" in status.stdout and weaviate_client.collections.exists(source)

    serving = serving_collection(weaviate_client, alias)
    hits = search(
        weaviate_client, "umbrella", "Tôi muốn đổi địa chỉ nhận hàng", limit=2, serving=serving
    )
    assert "shipping address" in hits[0].text  # written in English, asked in Vietnamese

    kept = reindex(env, "retire")  # within its grace period
    assert "nothing past its grace period" in kept.stdout and weaviate_client.collections.exists(
        source
    )
    retired = reindex(env, "retire", "--grace-s", "0")
    assert f"retired: {source}" in retired.stdout
    assert not weaviate_client.collections.exists(source)


def test_one_tenant_rebuilt_alone_swaps_in_with_the_others_copied(
    minilm_index: str, alias: str, env: dict[str, str], weaviate_client
) -> None:
    serving = serving_collection(weaviate_client, alias).collection
    umbrella = len(uuids(weaviate_client, serving, "umbrella"))
    built = reindex(env, "build", "--tenant", "umbrella", "--new-generation")
    assert built.returncode == 0, built.stderr
    assert f"plan: {umbrella} segments of 1 tenants" in built.stdout
    rebuilt = f"{serving}_g2"
    assert rebuilt in built.stdout
    assert count(weaviate_client, rebuilt) == umbrella

    swapped = reindex(env, "swap")
    assert swapped.returncode == 0, swapped.stdout + swapped.stderr
    everyone = weaviate_client.collections.get(serving).tenants.get()  # with the live ones
    others = sum(len(uuids(weaviate_client, serving, t)) for t in everyone if t != "umbrella")
    assert f"catch-up: {others:,} segments copied to {rebuilt}" in swapped.stdout
    assert serving_collection(weaviate_client, alias).collection == rebuilt

    def vectors(collection: str) -> dict:
        view = weaviate_client.collections.get(collection).with_tenant("acme")
        return {o.uuid: o.vector["default"] for o in view.iterator(include_vector=True)}

    assert vectors(rebuilt) == vectors(serving)  # copied, not embedded again
