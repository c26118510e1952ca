"""Hostile input through the whole pipeline (files in, Weaviate out) and the Kafka flows.

Every input record ends in exactly one place (a message, a feedback record, a dead letter
with a reason, or the duplicate count), the flows keep running, the raw archive holds
every record's exact bytes, and Weaviate holds only tenants that follow the tenant rule.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import get_args

import orjson
import pytest
from bytewax.testing import run_main
from confluent_kafka import Consumer, Producer, TopicPartition

from flows.topics import REJECTED, ensure_topics
from models import load_embedder
from operators.index.writer import collection_name
from schemas.ids import is_valid_tenant
from schemas.message import RejectReason
from tests.hostile import cr_only_block, drawn_envelopes, handwritten_lines
from tests.outputs import duplicates_counted, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
REASONS = frozenset(get_args(RejectReason))


def archived_bytes(archive: Path) -> Counter[bytes]:
    records = Counter()
    for segment in archive.rglob("*.jsonl"):
        for line in segment.read_bytes().splitlines():
            record = orjson.loads(line)
            if "raw_base64" in record:
                records[base64.b64decode(record["raw_base64"])] += 1
            else:
                records[record["raw"].encode()] += 1
    return records


def test_the_pipeline_accounts_for_every_hostile_line(tmp_path: Path, weaviate_client) -> None:
    from flows.pipeline import build

    run = uuid.uuid4().hex[:8]
    tenants = (f"acme_{run}", f"globex-{run}")
    drawn = drawn_envelopes(tenants, 300)
    handwritten = handwritten_lines(tenants[0])
    cr_block = cr_only_block(tenants[1])
    records = [drawn[0], *handwritten, *drawn[1:], *cr_block.split(b"\r")]
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join([drawn[0], *handwritten, *drawn[1:], cr_block]) + b"\n")
    out, archive = tmp_path / "out", tmp_path / "archive"

    before = duplicates_counted()
    run_main(
        build(source=f"file:{source}", sink=f"file:{out}", archive_dir=str(archive), metrics_port=0)
    )
    duplicates = duplicates_counted() - before

    messages = read_jsonl(out / "messages.jsonl")
    feedback = read_jsonl(out / "feedback.jsonl")
    rejected = read_jsonl(out / "rejected.jsonl")
    reasons = Counter(r["reason"] for r in rejected)
    print(
        f"\n{len(records)} records: {len(messages)} messages, {len(feedback)} feedback, "
        f"{duplicates:.0f} duplicates, rejected {dict(reasons)}"
    )

    ids = [(m["tenant"], m["message_id"]) for m in messages]
    assert len(ids) == len(set(ids))
    assert len(messages) + len(feedback) + len(rejected) + duplicates == len(records)
    assert set(reasons) <= REASONS - {"index_rejected"}  # ingest let nothing bad through
    assert {"not_utf8", "invalid_tenant", "too_large", "not_json", "invalid_schema"} <= set(reasons)
    assert all(r["errors"] and all(r["errors"]) for r in rejected)
    assert len(messages) > 50 and set(tenants) <= {m["tenant"] for m in messages}
    assert all(is_valid_tenant(m["tenant"]) for m in messages)  # an integer one is its digits
    assert archived_bytes(archive) == Counter(records)  # exactly as read, bytes and all

    stored = weaviate_client.collections.get(collection_name(load_embedder().version))
    names = set(stored.tenants.get())
    assert set(tenants) <= names
    assert all(is_valid_tenant(name) for name in names)


# --- the Kafka flows ------------------------------------------------------------------------


def start(flow: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bytewax.run", flow],
        cwd=ROOT,
        env={**os.environ, "HEADWATER_METRICS_PORT": "0", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def read_rejected(brokers: str, marker: str, want: int, flows: list, timeout_s: float) -> list:
    """Dead letters on chat.rejected whose raw holds `marker`, until `want` arrived."""
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": uuid.uuid4().hex, "enable.auto.commit": False}
    )
    meta = consumer.list_topics(REJECTED.name, timeout=10).topics[REJECTED.name]
    consumer.assign([TopicPartition(REJECTED.name, p, 0) for p in meta.partitions])
    found: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < want and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5_000, timeout=0.5):
                if msg.error() is None and marker.encode() in msg.value():
                    found.append(orjson.loads(msg.value()))
            for flow in flows:
                if flow.poll() is not None:
                    pytest.fail(f"a flow exited: {flow.stderr.read().decode()[-3000:]}")
    finally:
        consumer.close()
    return found


def test_the_kafka_flows_turn_poison_records_into_dead_letters(kafka_brokers, unique) -> None:
    marker = uuid.uuid4().hex
    raw_topic, messages_topic = unique("test.raw.hostile"), unique("test.chat.hostile")
    ensure_topics(kafka_brokers, [raw_topic, messages_topic], 1)
    valid = f'{{"source": "webhook", "tenant": "t_{marker[:8]}", "payload": {{"id": "{marker}"'
    raw_records = [
        (None, None),  # no key, no value
        (b"\xff\xfe", (valid + ', "content": "caf\xe9"}}').encode("latin-1")),  # neither UTF-8
        (b"k", f'["{marker}"]'.encode()),
        (b"k", f"not json {marker}".encode()),
        (b"k", f'{{"source": "webhook", "tenant": "acme corp", "payload": "{marker}"}}'.encode()),
    ]
    poison_messages = [
        f"not a message {marker}".encode(),
        orjson.dumps({"message_id": marker, "tenant": "acme corp", "text": "hi"}),
        b"\xff" + marker.encode(),
    ]
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for key, value in raw_records:
        producer.produce(raw_topic, key=key, value=value)
    for value in poison_messages:
        producer.produce(messages_topic, key=b"\xff", value=value)
    producer.produce(messages_topic, value=None)
    assert producer.flush(30) == 0

    env = {"HEADWATER_KAFKA_BROKERS": kafka_brokers}
    flows = [
        start("flows.ingest", {**env, "HEADWATER_SOURCE": f"kafka:{raw_topic}"}),
        start("flows.index", {**env, "HEADWATER_INDEX_SOURCE": f"kafka:{messages_topic}"}),
        start("flows.drift", {**env, "HEADWATER_DRIFT_SOURCE": f"kafka:{messages_topic}"}),
    ]
    try:
        # The null record carries no marker: the ingest ones are 4 of 5, the index ones 3.
        found = read_rejected(kafka_brokers, marker, 4 + 3, flows, 90)
        time.sleep(2)  # the drift flow skips what it cannot read: it must still be running
        for flow in flows:
            assert flow.poll() is None, flow.stderr.read().decode()[-3000:]
    finally:
        for flow in flows:
            flow.kill()
            flow.wait()
    reasons = Counter(r["reason"] for r in found)
    assert reasons == {"not_utf8": 1, "not_json": 2, "invalid_tenant": 1, "invalid_schema": 3}
