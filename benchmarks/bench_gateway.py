"""Webhook gateway throughput: signed webhooks acknowledged per second at p99 < 100 ms,
open loop at rising rates, next to a bare handler on the same server.

    .venv/bin/python benchmarks/bench_gateway.py [--rates 250,500,...] [--duration 5]
        [--workers 2]

Needs Kafka and Redis (`make services`); the gateway writes to topics of its own, deleted
afterwards. vegeta is installed into .cache/go-bin on first
use. Both servers run uvicorn with `--workers` processes on 127.0.0.1:

- `bare`: `benchmarks/bare_gateway.py`, the same routes answering 200 without work;
- `gateway`: `python -m services.gateway` — verify the signature, check the tenant's quota
  in Redis, write the envelope to Kafka (acks=all, idempotent) and answer once confirmed.

The requests alternate signed Zalo events and signed partner messages (~300 bytes each,
distinct ids), rebuilt before each rate so partner timestamps stay in their window. Each
rate runs `--duration` seconds with vegeta (open loop: requests leave at the rate
whatever the answers); a rate is good when every answer is 200 and p99 < 100 ms. The knee
is the highest good rate. The load generator, Kafka and Redis share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from benchmarks.loadgen import (  # noqa: E402
    Report,
    Request,
    ensure_vegeta,
    format_table,
    knee,
    sweep,
    write_targets,
)
from flows.settings import Settings  # noqa: E402
from flows.topics import ensure_topics  # noqa: E402
from tests.integration.gateway_server import (  # noqa: E402
    GatewayServer,
    TenantKeys,
    partner_headers,
    tenant_entry,
    zalo_headers,
)
from tests.integration.throwaway_kafka import free_port  # noqa: E402

P99_MS = 100.0
REQUESTS_PER_TARGETS = 4000


def requests(url: str, keys: TenantKeys) -> list[Request]:
    run = uuid.uuid4().hex[:8]
    out = []
    ts = str(int(time.time() * 1000))
    for i in range(REQUESTS_PER_TARGETS):
        if i % 2:
            body = json.dumps(
                {
                    "app_id": keys.app_id,
                    "event_name": "user_send_text",
                    "sender": {"id": f"user-{i % 500}"},
                    "recipient": {"id": keys.oa_id},
                    "message": {"msg_id": f"{run}-{i}", "text": "Tôi muốn hủy đơn hàng số 123"},
                    "timestamp": ts,
                },
                ensure_ascii=False,
            ).encode()
            out.append(Request("POST", f"{url}/webhooks/zalo", zalo_headers(keys, body, ts), body))
        else:
            body = json.dumps(
                {
                    "id": f"{run}-{i}",
                    "platform": "shopee",
                    "conversation_id": f"c-{i % 500}",
                    "user_id": f"u-{i % 500}",
                    "content": "Where is my order? It has been a week.",
                    "timestamp": int(time.time()),
                }
            ).encode()
            headers = partner_headers(keys.partner_secret, body)
            out.append(Request("POST", f"{url}/webhooks/partner/{keys.tenant}", headers, body))
    return out


def run_sweep(
    name: str, url: str, keys: TenantKeys, rates: list[int], duration: float, work: Path
) -> list[Report]:
    reports = []
    for rate in rates:
        targets = write_targets(work / f"{name}-targets.txt", requests(url, keys))
        (report,) = sweep(targets, [rate], duration, p99_ms=P99_MS)
        reports.append(report)
        print(
            f"  {name:8} {rate:>6}/s  p99 {report.p99_ms:8.1f} ms  "
            f"success {report.success_ratio:.4f}  {report.status_codes}",
            flush=True,
        )
        if not report.ok(P99_MS):
            break
        time.sleep(1.0)
    return reports


def wait_up(url: str) -> None:
    for _ in range(150):
        try:
            if httpx.get(url + "/docs", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,500,1000,1500,2000,2500,3000,4000,5000,6000")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    ensure_vegeta()
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-", dir=ROOT / ".cache"))
    keys, entry = tenant_entry(f"bench_{uuid.uuid4().hex[:6]}", rate_limit_per_s=1_000_000)

    port = free_port()
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.bare_gateway:app",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        start_new_session=True,
    )
    results: dict[str, list[Report]] = {}
    try:
        wait_up(f"http://127.0.0.1:{port}")
        print(f"bare handler, {args.workers} workers:", flush=True)
        results["bare"] = run_sweep(
            "bare", f"http://127.0.0.1:{port}", keys, rates, args.duration, work
        )
    finally:
        bare.terminate()
        bare.wait(20)
    # Topics of its own (deleted afterwards), so the benchmark leaves raw.* alone.
    prefix = f"bench_{uuid.uuid4().hex[:6]}."
    topics = [prefix + t for t in ("raw.zalo", "raw.webhook", "raw.csv")]
    brokers = Settings().kafka_brokers
    ensure_topics(brokers, topics, Settings().kafka_partitions)
    try:
        with GatewayServer(
            work / "gateway", entry, workers=args.workers, gateway_topic_prefix=prefix
        ) as gateway:
            print(f"gateway, {args.workers} workers:", flush=True)
            results["gateway"] = run_sweep("gateway", gateway.url, keys, rates, args.duration, work)
    finally:
        admin = AdminClient({"bootstrap.servers": brokers})
        for future in admin.delete_topics(topics).values():
            future.result()

    print()
    for name, reports in results.items():
        print(f"{name}:\n{format_table(reports, P99_MS)}")
    knees = {name: knee(reports, P99_MS) for name, reports in results.items()}
    bare_knee, gateway_knee = knees["bare"], knees["gateway"]
    print()
    for name, k in knees.items():
        print(
            f"{name:8} knee: {k.rate if k else 0}/s acknowledged at p99 < {P99_MS:.0f} ms"
            + (f" (p99 {k.p99_ms:.1f} ms)" if k else "")
        )
    if bare_knee and gateway_knee:
        print(f"gateway / bare: {gateway_knee.rate / bare_knee.rate:.2f}")


if __name__ == "__main__":
    main()
