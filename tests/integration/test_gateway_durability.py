"""What the gateway acknowledged is in Kafka: across a SIGKILL of the gateway, and across
a Kafka broker that goes away and comes back while senders keep sending."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson
from confluent_kafka import Consumer, TopicPartition

from flows.topics import ensure_topics
from tests.integration.gateway_server import GatewayServer, partner_headers, tenant_entry
from tests.integration.throwaway_kafka import ThrowawayKafka

SENDERS = 4


class Senders:
    """Threads posting signed partner messages with distinct ids as fast as answered,
    recording each id's answer (a status code, or 0 when no answer came)."""

    def __init__(self, url: str, tenant: str, secret: str) -> None:
        self.url, self.tenant, self.secret = url, tenant, secret
        self.answers: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(SENDERS)]

    def _run(self, n: int) -> None:
        with httpx.Client(timeout=5) as http:
            i = 0
            while not self._stop.is_set():
                message_id = f"s{n}-{i}-{uuid.uuid4().hex[:6]}"
                i += 1
                body = json.dumps(
                    {
                        "id": message_id,
                        "conversation_id": f"c-{i % 7}",
                        "user_id": "u",
                        "content": "hello",
                        "timestamp": int(time.time()),
                    }
                ).encode()
                try:
                    status = http.post(
                        f"{self.url}/webhooks/partner/{self.tenant}",
                        content=body,
                        headers=partner_headers(self.secret, body),
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                    time.sleep(0.05)
                with self._lock:
                    self.answers[message_id] = status

    def __enter__(self) -> Senders:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _answered(self) -> dict[str, int]:
        with self._lock:  # sender threads are still adding answers while this is read
            return dict(self.answers)

    def acknowledged(self) -> set[str]:
        return {m for m, status in self._answered().items() if status == 200}

    def statuses(self) -> Counter[int]:
        return Counter(self._answered().values())


def ids_on(brokers: str, topic: str) -> Counter[str]:
    """Every payload id on `topic`, read from the beginning to the end."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        seen: Counter[str] = Counter()
        done = {p for p, high in ends.items() if high == 0}
        deadline = time.monotonic() + 60
        while len(done) < len(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    continue
                seen[orjson.loads(msg.value())["payload"]["id"]] += 1
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        assert len(done) == len(ends), "could not read the topic to its end"
        return seen
    finally:
        consumer.close()


def test_sigkill_loses_nothing_acknowledged(kafka_brokers, unique, tmp_path: Path) -> None:
    prefix = unique("gwkill") + "."
    ensure_topics(kafka_brokers, [prefix + t for t in ("raw.zalo", "raw.webhook", "raw.csv")], 3)
    keys, entry = tenant_entry(unique("tenant"))
    # An ack slower than the default timeout would be a 503, not a loss: allow for a busy machine.
    gateway = GatewayServer(
        tmp_path / "gateway",
        entry,
        brokers=kafka_brokers,
        gateway_topic_prefix=prefix,
        gateway_ack_timeout_s="10",
    ).start()
    try:
        with Senders(gateway.url, keys.tenant, keys.partner_secret) as senders:
            time.sleep(3)
            before_kill = len(senders.acknowledged())
            gateway.kill()  # master and workers, mid-request
            time.sleep(1)
    finally:
        gateway.kill()

    acknowledged = senders.acknowledged()
    on_kafka = ids_on(kafka_brokers, prefix + "raw.webhook")
    print(f"\n{len(acknowledged)} acknowledged, {len(on_kafka)} on Kafka, {senders.statuses()}")
    assert before_kill > 50  # the kill came while requests were flowing
    assert senders.statuses()[0] > 0  # and some requests were cut off by it
    assert acknowledged <= set(on_kafka)  # nothing acknowledged is lost
    assert set(senders.statuses()) <= {200, 0}


def test_broker_outage_answers_503_and_loses_nothing(unique, tmp_path: Path) -> None:
    kafka = ThrowawayKafka(tmp_path / "kafka")
    kafka.start()
    try:
        ensure_topics(kafka.brokers, ["raw.zalo", "raw.webhook", "raw.csv"], 3)
        keys, entry = tenant_entry(unique("tenant"))
        with (
            GatewayServer(
                tmp_path / "gateway", entry, brokers=kafka.brokers, gateway_ack_timeout_s="1"
            ) as gateway,
            Senders(gateway.url, keys.tenant, keys.partner_secret) as senders,
        ):
            time.sleep(2)
            before = senders.statuses()[200]
            kafka.stop()
            time.sleep(4)
            during = senders.statuses()
            kafka.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and senders.statuses()[200] < during[200] + 50:
                time.sleep(0.5)
        statuses = senders.statuses()
        acknowledged = senders.acknowledged()
        on_kafka = ids_on(kafka.brokers, "raw.webhook")
    finally:
        kafka.stop()

    print(f"\n{len(acknowledged)} acknowledged, {len(on_kafka)} on Kafka, {statuses}")
    assert before > 20
    assert during[503] > 0  # the outage was answered 503, not 200, not a hang
    assert statuses[200] >= during[200] + 50  # and the gateway recovered by itself
    assert set(statuses) <= {200, 503}
    assert acknowledged <= set(on_kafka)
