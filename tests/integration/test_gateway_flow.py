"""Signed events through the real gateway, then the real ingest flow: the same messages
come out, once each, with the tenant the registry gave them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from flows.topics import ensure_topics
from tests.integration.gateway_server import (
    GatewayServer,
    partner_headers,
    tenant_entry,
    zalo_headers,
)

ROOT = Path(__file__).resolve().parents[2]


def zalo_event(keys, msg_id: str, user: str, text: str, ms: int) -> bytes:
    event = {
        "app_id": keys.app_id,
        "event_name": "user_send_text",
        "sender": {"id": user},
        "recipient": {"id": keys.oa_id},
        "message": {"msg_id": msg_id, "text": text},
        "timestamp": str(ms),
    }
    return json.dumps(event, ensure_ascii=False).encode()


def partner_message(message_id: str, conversation: str, text: str, ms: int) -> bytes:
    body = {
        "id": message_id,
        "platform": "shopee",
        "conversation_id": conversation,
        "user_id": "u-1",
        "content": text,
        "timestamp": ms,
        "tenant": "someone-else",  # ignored: the tenant is the signer's
    }
    return json.dumps(body, ensure_ascii=False).encode()


def written(path: Path) -> list[dict]:
    """The records of a JSONL file the sink may still be appending to: whole lines only."""
    data = path.read_bytes()
    return [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def test_signed_events_come_out_of_ingest(kafka_brokers, unique, tmp_path) -> None:
    prefix = unique("gwflow") + "."
    topics = [prefix + t for t in ("raw.zalo", "raw.webhook", "raw.csv")]
    ensure_topics(kafka_brokers, topics, 3)
    keys, entry = tenant_entry(unique("tenant"))
    now_ms = int(time.time() * 1000) - 60_000
    expected: set[str] = set()

    with (
        GatewayServer(
            tmp_path / "gateway", entry, brokers=kafka_brokers, gateway_topic_prefix=prefix
        ) as gateway,
        httpx.Client(base_url=gateway.url, timeout=10) as http,
    ):
        for i in range(20):
            body = zalo_event(keys, f"zm-{i}", f"user-{i % 3}", f"Xin chào lần {i}", now_ms + i)
            for _ in range(2 if i % 5 == 0 else 1):  # Zalo retries: duplicates
                r = http.post(
                    "/webhooks/zalo",
                    content=body,
                    headers=zalo_headers(keys, body, str(now_ms + i)),
                )
                assert r.status_code == 200, r.text
            expected.add(f"zalo:zm-{i}")
        for i in range(20):
            body = partner_message(f"pm-{i}", f"c-{i % 4}", f"Order {i} is late", now_ms + i)
            r = http.post(
                f"/webhooks/partner/{keys.tenant}",
                content=body,
                headers=partner_headers(keys.partner_secret, body),
            )
            assert r.status_code == 200, r.text
            expected.add(f"shopee:pm-{i}")
        rows = "\n".join(
            f'cm-{i};cc-{i % 2};u-{i};"Dòng {i}; có dấu chấm phẩy";{now_ms + i}' for i in range(10)
        )
        csv_body = ("\ufeffmessage_id;conversation_id;user_id;content;timestamp\n" + rows).encode()
        r = http.post(
            f"/exports/csv/{keys.tenant}",
            content=csv_body,
            headers={"Authorization": f"Bearer {keys.api_key}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["events"] == 10
        expected |= {f"csv:cm-{i}" for i in range(10)}

    out = tmp_path / "out"
    source = "kafka:" + ",".join(topics)
    env = {**os.environ, "HEADWATER_KAFKA_BROKERS": kafka_brokers, "HEADWATER_METRICS_PORT": "0"}
    flow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bytewax.run",
            f"flows.ingest:build(source={source!r}, sink='file:{out}', "
            f"archive_dir={str(tmp_path / 'archive')!r})",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    messages: list[dict] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            path = out / "messages.jsonl"
            if path.exists():
                messages = written(path)
                if len(messages) >= len(expected):
                    time.sleep(3)  # anything more would be a duplicate: wait for it
                    messages = written(path)
                    break
            assert flow.poll() is None, flow.stderr.read().decode()[-3000:]
            time.sleep(0.5)
    finally:
        flow.kill()
        flow.wait()

    ids = [m["message_id"] for m in messages]
    assert sorted(ids) == sorted(expected)  # each once: the Zalo retries were dropped
    assert {m["tenant"] for m in messages} == {keys.tenant}
    by_id = {m["message_id"]: m for m in messages}
    assert by_id["zalo:zm-3"]["conversation_id"] == f"zalo:{keys.oa_id}:user-0"
    assert by_id["zalo:zm-3"]["text"] == "Xin chào lần 3"
    assert by_id["csv:cm-1"]["text"] == "Dòng 1; có dấu chấm phẩy"
    assert by_id["shopee:pm-2"]["conversation_id"] == "c-2"
