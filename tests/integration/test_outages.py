"""The Kafka flows under recovery ride out outages while a stream flows.

On a Weaviate and a Kafka broker of the test's own (the shared ones are never stopped):
Weaviate goes away for 45 s, then the broker for 45 s, then each flow is SIGKILLed and
restarted, while a producer sends a live stream. Afterwards every accepted message is in
exactly one stored segment, and no flow stopped by itself. What the flows' metrics said
during each outage is printed (the README's "Outages" section describes it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from flows.topics import ALL_TOPICS, MESSAGES, ensure_topics
from models import load_embedder
from operators.common.weaviate import connect_weaviate
from operators.index.writer import collection_name
from tests.integration.throwaway_kafka import ThrowawayKafka, free_port
from tests.integration.throwaway_weaviate import BINARY, ThrowawayWeaviate

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 45
RATE = 20  # messages a second
WATCHED = ("headwater_index_weaviate_up", "headwater_kafka", "headwater_ingest_source_errors")


class Flow:
    """A flow run as `python -m bytewax.run` with recovery, killed and restarted by the test."""

    def __init__(self, name: str, env: dict[str, str], recovery: Path, logs: Path) -> None:
        self.name, self.recovery, self.logs = name, recovery, logs
        self.metrics_port = free_port()
        self.env = {**os.environ, **env, "HEADWATER_METRICS_PORT": str(self.metrics_port)}
        recovery.mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.logs / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", f"flows.{self.name}"]
            + ["-r", str(self.recovery), "-s", "1", "-b", "0"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def assert_running(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.logs / f"{self.name}-{self.starts}.log").read_text(errors="replace")
            pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{log[-4000:]}")

    def sigkill(self) -> None:
        self.assert_running()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def metrics(self) -> list[str]:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError as exc:
            return [f"(metrics not served: {exc})"]
        return [line for line in text.splitlines() if line.startswith(WATCHED)]


class Stream(threading.Thread):
    """A live stream of webhook messages, RATE a second, until stopped."""

    def __init__(self, brokers: str, topic: str, tenant: str) -> None:
        super().__init__(daemon=True)
        self.topic, self.tenant = topic, tenant
        # Delivery may wait out the broker's outage: librdkafka keeps and retries them.
        self.producer = Producer(
            {"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 20}
        )
        self.sent: list[str] = []
        self.failed: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            n += 1
            message_id = f"m{n}"
            envelope = {
                "source": "webhook",
                "tenant": self.tenant,
                "payload": {
                    "id": message_id,
                    "conversation_id": f"c{n % 25}",
                    "user_id": "u1",
                    "content": f"Đơn hàng {n} của em giao chưa ạ?",
                    "timestamp": time.time(),
                },
            }
            self.producer.produce(
                self.topic,
                key=f"c{n % 25}".encode(),
                value=orjson.dumps(envelope),
                on_delivery=self._delivered(f"webhook:{message_id}"),
            )
            self.producer.poll(0)
            time.sleep(1 / RATE)

    def _delivered(self, message_id: str):
        def callback(err, _msg) -> None:
            (self.failed if err else self.sent).append(message_id)

        return callback

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        assert self.producer.flush(120) == 0


def accepted_messages(brokers: str, tenant: str) -> set[str]:
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex, "enable.auto.commit": False}
    )
    meta = consumer.list_topics(MESSAGES.name, timeout=10).topics[MESSAGES.name]
    consumer.assign([TopicPartition(MESSAGES.name, p, 0) for p in meta.partitions])
    ids: set[str] = set()
    try:
        while batch := consumer.consume(num_messages=10_000, timeout=3):
            for msg in batch:
                if msg.error() is None:
                    record = orjson.loads(msg.value())
                    if record["tenant"] == tenant:
                        ids.add(record["message_id"])
    finally:
        consumer.close()
    return ids


def stored_message_ids(weaviate: ThrowawayWeaviate, tenant: str) -> Counter[str]:
    client = connect_weaviate(weaviate.settings(), timeout_s=10)
    try:
        collection = client.collections.get(collection_name(load_embedder().version))
        if tenant not in collection.tenants.get():
            return Counter()
        counts: Counter[str] = Counter()
        for obj in collection.with_tenant(tenant).iterator(return_properties=["message_ids"]):
            counts.update(obj.properties["message_ids"])
        return counts
    finally:
        client.close()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ThrowawayWeaviate, ThrowawayKafka]]:
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing; run `make services` (it builds Weaviate)")
    weaviate = ThrowawayWeaviate(tmp_path / "weaviate")
    (tmp_path / "weaviate").mkdir()
    kafka = ThrowawayKafka(tmp_path / "kafka")
    weaviate.start()
    kafka.start()
    yield weaviate, kafka
    weaviate.kill()
    kafka.stop()


def test_outages_and_kills_lose_nothing_and_store_nothing_twice(stores, tmp_path: Path) -> None:
    weaviate, kafka = stores
    raw_topic = "raw.webhook"
    ensure_topics(kafka.brokers, ALL_TOPICS, 3)
    tenant = f"acme_{uuid.uuid4().hex[:8]}"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        "HEADWATER_KAFKA_BROKERS": kafka.brokers,
        "HEADWATER_WEAVIATE_URL": f"http://127.0.0.1:{weaviate.http_port}",
        "HEADWATER_WEAVIATE_GRPC_PORT": str(weaviate.grpc_port),
        "HEADWATER_SOURCE": f"kafka:{raw_topic}",
        "HEADWATER_ARCHIVE_DIR": str(tmp_path / "archive"),
        # A restarted Weaviate takes ~10 s to serve again: the 45 s outage lasts ~55 s.
        "HEADWATER_INDEX_RETRY_S": str(OUTAGE_S * 2),
    }
    ingest = Flow("ingest", env, tmp_path / "recovery" / "ingest", logs)
    index = Flow("index", env, tmp_path / "recovery" / "index", logs)
    flows = (ingest, index)
    for flow in flows:
        flow.start()
    stream = Stream(kafka.brokers, raw_topic, tenant)
    stream.start()
    seen: dict[str, list[str]] = {}

    def during(what: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(5, max(0, deadline - time.monotonic())))
            for flow in flows:
                flow.assert_running()
            seen.setdefault(what, [])
            seen[what] = [f"{f.name}: {line}" for f in flows for line in f.metrics()]

    during("before", 15)
    weaviate.kill()
    during("weaviate down", OUTAGE_S)
    weaviate.start()
    during("weaviate back", 15)
    kafka.stop()
    during("kafka down", OUTAGE_S)
    kafka.start()
    during("kafka back", 15)
    for flow in flows:
        flow.sigkill()
        time.sleep(2)
        flow.start()
        during(f"{flow.name} restarted", 10)
    stream.stop()

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for flow in flows:
            flow.assert_running()
        stored = stored_message_ids(weaviate, tenant)
        if set(stored) >= set(stream.sent):
            break
        time.sleep(3)
    for flow in flows:
        flow.sigkill()
    for what, lines in seen.items():
        print(f"\n[{what}]\n  " + "\n  ".join(lines))

    # What an operator sees: each outage in the metrics while it lasts, and gone after.
    assert "index: headwater_index_weaviate_up 0.0" in seen["weaviate down"]
    assert "index: headwater_index_weaviate_up 1.0" in seen["weaviate back"]
    for flow in ("ingest", "index"):
        assert f'{flow}: headwater_kafka_up{{client="read_kafka"}} 0.0' in seen["kafka down"]
        assert f'{flow}: headwater_kafka_up{{client="read_kafka"}} 1.0' in seen["kafka back"]

    sent = set(stream.sent)
    assert stream.failed == [] and len(sent) > 100 * RATE
    assert accepted_messages(kafka.brokers, tenant) == sent  # nothing acknowledged is lost
    stored = stored_message_ids(weaviate, tenant)
    assert set(stored) == sent
    assert {n for n in stored.values()} == {1}  # each message in exactly one segment
