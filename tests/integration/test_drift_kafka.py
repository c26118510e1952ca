"""The drift flow on the real Kafka: the expected alerts, none for a steady tenant, and no
alert sent twice across a SIGKILL and restart."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.bench_drift import BOT_NORMAL, BOT_REFUSAL, TOPIC_A, TOPIC_B, fill
from flows.drift import drift_config
from flows.settings import Settings
from flows.topics import ALERTS, ensure_topics
from models import load_embedder
from operators.drift.detectors import TenantDrift
from schemas.message import ChatMessage, Feedback

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_714_532_400_000
OVERRIDES = {"drift_reference_size": 100, "drift_window_size": 50}


def scenario(
    tenant: str, seed: int, drifting: bool, n: int = 600, change: int = 400, users: bool = True
) -> tuple[list[ChatMessage], list[Feedback]]:
    """Per step: a user message, a bot reply, a feedback score; drift after `change`.

    The shifts are large because the histories are short: ADWIN's power grows with the
    events on both sides of a change (benchmarks/bench_drift.py measures the small ones).
    """
    rng = random.Random(seed)
    messages, feedback = [], []
    for i in range(n):
        after = drifting and i >= change
        user = fill(rng.choice(TOPIC_B if after else TOPIC_A), rng)
        refused = rng.random() < (0.4 if after else 0.02)
        bot = rng.choice(BOT_REFUSAL) if refused else fill(rng.choice(BOT_NORMAL), rng)
        for k, (role, text) in enumerate((("user", user), ("bot", bot))):
            if role == "user" and not users:
                continue
            mid = f"webhook:{tenant}-{i}-{k}"
            messages.append(
                ChatMessage(
                    message_id=mid,
                    idempotency_key=mid,
                    tenant=tenant,
                    source="webhook",
                    platform="webhook",
                    conversation_id=f"c-{i % 11}",
                    sender_id="u",
                    role=role,
                    text=text,
                    language="vi",
                    event_ms=T0 + i * 2000 + k,
                    received_at=T0 + i * 2000,
                )
            )
        feedback.append(
            Feedback(
                feedback_id=f"f-{tenant}-{i}",
                tenant=tenant,
                source="webhook",
                platform="webhook",
                message_id=f"webhook:{tenant}-{i}-1",
                conversation_id=f"c-{i % 11}",
                score=1.0 if rng.random() < (0.4 if after else 0.8) else 0.0,
                event_ms=T0 + i * 2000 + 1500,
                received_at=T0 + i * 2000,
            )
        )
    return messages, feedback


def expected_ids(
    messages: list[ChatMessage], feedback: list[Feedback]
) -> dict[str, tuple[str, str]]:
    """alert_id -> (tenant, signal), from the detectors called directly, real embedder."""
    embedder = load_embedder()
    config = drift_config(Settings(**OVERRIDES), embedder.version)
    users = [m for m in messages if m.role == "user"]
    vectors = dict(
        zip(
            (m.message_id for m in users),
            embedder.embed_passages([m.text for m in users]),
            strict=True,
        )
    )
    states: dict[str, TenantDrift] = {}
    alerts = []
    for m in messages:
        state = states.setdefault(m.tenant, TenantDrift(m.tenant, config))
        alerts += (
            state.on_user_message(m, vectors[m.message_id])
            if m.role == "user"
            else state.on_bot_message(m)
        )
    for f in feedback:
        alerts += states.setdefault(f.tenant, TenantDrift(f.tenant, config)).on_feedback(f)
    return {a.alert_id: (a.tenant, a.signal) for a in alerts}


def produce(brokers: str, topic: str, records: list) -> None:
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20})
    for record in records:
        producer.produce(topic, key=record.key.encode(), value=record.to_json())
        producer.poll(0)
    assert producer.flush(30) == 0


class AlertReader:
    """Alerts of some tenants written to drift.alerts from now on."""

    def __init__(self, brokers: str, tenants: set[str]) -> None:
        self.tenants = tenants
        self.alerts: list[dict] = []
        self.consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": uuid.uuid4().hex,
                "enable.auto.commit": False,
            }
        )
        meta = self.consumer.list_topics(ALERTS.name, timeout=10).topics[ALERTS.name]
        parts = []
        for p in meta.partitions:
            _, end = self.consumer.get_watermark_offsets(TopicPartition(ALERTS.name, p), timeout=10)
            parts.append(TopicPartition(ALERTS.name, p, end))
        self.consumer.assign(parts)

    def poll(self, seconds: float = 0.3) -> None:
        for msg in self.consumer.consume(num_messages=1000, timeout=seconds):
            if msg.error():
                continue
            alert = orjson.loads(msg.value())
            if alert["tenant"] in self.tenants:
                assert msg.key().decode() == alert["tenant"]
                self.alerts.append(alert)

    def ids(self) -> set[str]:
        return {a["alert_id"] for a in self.alerts}


def start_flow(brokers: str, topics: list[str], recovery: Path, snapshot_s: int = 2):
    source = "kafka:" + ",".join(topics)
    env = {**os.environ, "HEADWATER_KAFKA_BROKERS": brokers, "HEADWATER_METRICS_PORT": "0"}
    args = ", ".join(f"{k}={v!r}" for k, v in {"drift_source": source, **OVERRIDES}.items())
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bytewax.run",
            f"flows.drift:build({args})",
            "-r",
            str(recovery),
            "-s",
            str(snapshot_s),
            "-b",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_until(reader: AlertReader, done, flow, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reader.poll()
        if done():
            return
        if flow.poll() is not None:
            pytest.fail(f"drift flow exited: {flow.stderr.read().decode()[-3000:]}")
    pytest.fail(f"timed out; alerts so far: {[(a['tenant'], a['signal']) for a in reader.alerts]}")


@pytest.fixture
def setup(kafka_brokers: str, unique, tmp_path: Path):
    topics = [unique("test.drift.messages"), unique("test.drift.feedback")]
    ensure_topics(kafka_brokers, topics, 1)
    ensure_topics(kafka_brokers, [ALERTS.name], 4)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    return topics, recovery


def test_drift_scenario_alerts_and_steady_control_stays_quiet(kafka_brokers, setup, unique):
    topics, recovery = setup
    drifting, steady = unique("drifting"), unique("steady")
    msgs_d, fb_d = scenario(drifting, 1, True)
    msgs_s, fb_s = scenario(steady, 2, False)
    expected = expected_ids(msgs_d + msgs_s, fb_d + fb_s)
    assert {(drifting, s) for s in ("embedding", "refusal", "accuracy")} <= set(expected.values())
    assert all(tenant == drifting for tenant, _ in expected.values())

    reader = AlertReader(kafka_brokers, {drifting, steady})
    flow = start_flow(kafka_brokers, topics, recovery)
    try:
        produce(kafka_brokers, topics[0], msgs_d + msgs_s)
        produce(kafka_brokers, topics[1], fb_d + fb_s)
        wait_until(reader, lambda: reader.ids() >= set(expected), flow)
        reader.poll(2)  # anything more would be an alert too many
    finally:
        flow.kill()
        flow.wait()
        reader.consumer.close()

    assert Counter(a["alert_id"] for a in reader.alerts) == Counter(list(expected))
    assert {a["tenant"] for a in reader.alerts} == {drifting}
    by_signal = {a["signal"]: a for a in reader.alerts}
    assert by_signal["embedding"]["action"] == "reindex"
    assert by_signal["embedding"]["reference"]["kind"] == "first_n"
    assert by_signal["refusal"]["action"] == by_signal["accuracy"]["action"] == "retrain"


def test_alerts_are_not_sent_twice_across_sigkill(kafka_brokers, setup, unique):
    topics, recovery = setup
    a, b, c = unique("before"), unique("killed"), unique("after")
    # bot replies and feedback only: the embedder's time would go to no purpose here
    runs = {t: scenario(t, seed, True, users=False) for seed, t in enumerate((a, b, c), start=10)}
    expected = expected_ids(
        [m for ms, _ in runs.values() for m in ms], [f for _, fs in runs.values() for f in fs]
    )
    want = {t: {i for i, (tenant, _) in expected.items() if tenant == t} for t in runs}
    assert all(want.values())
    reader = AlertReader(kafka_brokers, set(runs))

    def ids_of(tenant: str) -> set[str]:
        return {x["alert_id"] for x in reader.alerts if x["tenant"] == tenant}

    half = 400  # steps before the change: B's reference and steady part
    flow = start_flow(kafka_brokers, topics, recovery)
    try:
        produce(kafka_brokers, topics[0], runs[a][0] + runs[b][0][:half])
        produce(kafka_brokers, topics[1], runs[a][1] + runs[b][1][:half])
        wait_until(reader, lambda: ids_of(a) >= want[a], flow)
        time.sleep(3)  # a snapshot now holds B's reference and steady part
        produce(kafka_brokers, topics[0], runs[b][0][half:])
        produce(kafka_brokers, topics[1], runs[b][1][half:])
        wait_until(reader, lambda: len(ids_of(b)) >= 1, flow)
    finally:
        flow.send_signal(signal.SIGKILL)
        flow.wait()

    flow = start_flow(kafka_brokers, topics, recovery)
    try:
        produce(kafka_brokers, topics[0], runs[c][0])
        produce(kafka_brokers, topics[1], runs[c][1])
        wait_until(reader, lambda: reader.ids() >= set(expected), flow)
        reader.poll(3)  # a resent alert would arrive now
    finally:
        flow.kill()
        flow.wait()
        reader.consumer.close()

    counts = Counter(x["alert_id"] for x in reader.alerts)
    assert counts == Counter(list(expected)), "every alert exactly once"
    assert ids_of(c) == want[c], "the restarted flow went on detecting"
