"""The actions flow on the real Kafka: each alert acted on exactly once across a kill, a
restart and a replay of its topic from the beginning; duplicates in the audit log; bad
records to dead letters; retrain requests on `training.requests` with request_id =
alert_id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from flows.topics import REJECTED, TRAINING_REQUESTS, ensure_topics
from operators.actions.audit import AuditLog
from schemas.action import ActionAudit
from tests.operators.actions.fakes import alert, recorded_calls

ROOT = Path(__file__).resolve().parents[2]


class TopicReader:
    """What is written to a topic from now on."""

    def __init__(self, brokers: str, topic: str) -> None:
        self.records: list[tuple[str, dict]] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": uuid.uuid4().hex,
                "enable.auto.commit": False,
            }
        )
        meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
        parts = []
        for p in meta.partitions:
            _, end = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            parts.append(TopicPartition(topic, p, end))
        self.consumer.assign(parts)

    def poll(self, seconds: float = 0.3) -> None:
        for msg in self.consumer.consume(num_messages=1000, timeout=seconds):
            if not msg.error():
                self.records.append(((msg.key() or b"").decode(), orjson.loads(msg.value())))

    def close(self) -> None:
        self.consumer.close()


def produce(brokers: str, topic: str, values: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": brokers})
    for key, value in values:
        producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0


def start_flow(brokers: str, topic: str, tmp: Path) -> subprocess.Popen:
    args = {
        "recording": str(tmp / "calls.jsonl"),
        "actions_source": f"kafka:{topic}",
        "actions_audit_path": str(tmp / "actions" / "audit.jsonl"),
        "actions_reindex": "start",
        "actions_sink": "kafka",
    }
    spec = ", ".join(f"{k}={v!r}" for k, v in args.items())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")},
        "HEADWATER_KAFKA_BROKERS": brokers,
        "HEADWATER_METRICS_PORT": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bytewax.run", f"tests.integration.actions_flow:build({spec})"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_until(
    done: Callable[[], bool], flow: subprocess.Popen, readers: list[TopicReader], timeout_s=60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for reader in readers:
            reader.poll()
        if done():
            return
        if flow.poll() is not None:
            assert flow.stderr is not None
            pytest.fail(f"actions flow exited: {flow.stderr.read().decode()[-3000:]}")
    pytest.fail("timed out")


def kill(flow: subprocess.Popen) -> None:
    flow.send_signal(signal.SIGKILL)
    flow.wait()


@pytest.fixture
def alerts_topic(kafka_brokers: str, unique) -> str:
    topic = unique("test.actions.alerts")
    ensure_topics(kafka_brokers, [topic], 2)
    ensure_topics(kafka_brokers, [TRAINING_REQUESTS.name, REJECTED.name], 4)
    return topic


def test_each_alert_is_acted_on_once_across_a_kill_and_a_replay(
    kafka_brokers: str, alerts_topic: str, unique, tmp_path: Path
) -> None:
    retrain_tenant, reindex_tenant = unique("retrain"), unique("reindex")
    a1, a2, a3, r1 = (unique(name) for name in ("a1", "a2", "a3", "r1"))
    bad = f'{{"alert_id": "{unique("bad")}", "action": "retrain"}}'.encode()

    def encoded(alert_id: str, action: str = "retrain") -> tuple[str, bytes]:
        tenant = retrain_tenant if action == "retrain" else reindex_tenant
        return tenant, alert(alert_id, action, tenant=tenant).to_json()

    audit_path = tmp_path / "actions" / "audit.jsonl"
    calls_path = tmp_path / "calls.jsonl"
    requests = TopicReader(kafka_brokers, TRAINING_REQUESTS.name)
    rejected = TopicReader(kafka_brokers, REJECTED.name)
    readers = [requests, rejected]

    def audit() -> list[ActionAudit]:
        return AuditLog(audit_path).records()

    def decided(alert_id: str, decision: str) -> int:
        return sum(1 for r in audit() if r.alert_id == alert_id and r.decision == decision)

    def our_requests() -> list[tuple[str, dict]]:
        return [(k, r) for k, r in requests.records if r["tenant"] == retrain_tenant]

    def our_rejected() -> list[dict]:
        return [r for _, r in rejected.records if r["raw"] == bad.decode()]

    # First run: two retrain alerts (one sent twice), a reindex alert, a bad record.
    produce(
        kafka_brokers,
        alerts_topic,
        [encoded(a1), encoded(r1, "reindex"), encoded(a1), ("x", bad), encoded(a2)],
    )
    flow = start_flow(kafka_brokers, alerts_topic, tmp_path)
    try:
        wait_until(
            lambda: (
                decided(a2, "published") == 1
                and decided(a1, "duplicate") == 1
                and decided(r1, "started") == 1
                and len(our_requests()) == 2
                and len(our_rejected()) == 1
            ),
            flow,
            readers,
        )
    finally:
        kill(flow)

    # Second run, without recovery: the topic is read again from the beginning, and the
    # reindex alert comes once more, with a new retrain alert.
    produce(kafka_brokers, alerts_topic, [encoded(r1, "reindex"), encoded(a3)])
    flow = start_flow(kafka_brokers, alerts_topic, tmp_path)
    try:
        wait_until(
            lambda: (
                decided(a3, "published") == 1
                and decided(r1, "duplicate") == 2
                and decided(a1, "duplicate") == 3
                and decided(a2, "duplicate") == 1
                and len(our_rejected()) == 2
            ),
            flow,
            readers,
        )
        for reader in readers:
            reader.poll(2)  # a request sent twice would arrive now
    finally:
        kill(flow)
        for reader in readers:
            reader.close()

    assert [(c["kind"], c["tenant"], c["alert_id"]) for c in recorded_calls(calls_path)] == [
        ("start", reindex_tenant, r1)
    ], "the reindex started exactly once"

    sent = our_requests()
    assert Counter(r["request_id"] for _, r in sent) == {a1: 1, a2: 1, a3: 1}
    for key, request in sent:
        assert request["request_id"] == request["alert_id"] == request["alert"]["alert_id"]
        assert key == request["tenant"] == retrain_tenant
        assert request["signal"] == "refusal" and request["model_version"] == "m1"

    decisions = Counter((r.alert_id, r.decision) for r in audit())
    assert decisions == {
        (a1, "published"): 1,
        (a1, "duplicate"): 3,
        (a2, "published"): 1,
        (a2, "duplicate"): 1,
        (a3, "published"): 1,
        (r1, "starting"): 1,
        (r1, "started"): 1,
        (r1, "duplicate"): 2,
    }
    published = {r.alert_id: r for r in audit() if r.decision == "published"}
    assert all(
        r.detail["to"].startswith(f"kafka:{TRAINING_REQUESTS.name}/") for r in published.values()
    )

    dead = our_rejected()
    assert len(dead) == 2, "the bad record, once a run"
    assert {(d["reason"], d["source"]) for d in dead} == {
        ("invalid_schema", f"kafka:{alerts_topic}")
    }
