"""Freshness under load: receive -> queryable in Weaviate through the ingest and index flows.

    .venv/bin/python benchmarks/bench_freshness.py [--rates 10,25,50,100] [--seconds 60]
        [--index-processes 1]

Needs the services (`make services`) and the model (`make model`). Starts the ingest flow
(reading a fresh `raw.webhook` topic of its own, writing `chat.messages`) and the index
flow (reading `chat.messages` from its end) as two processes, then produces partner
webhook messages at each rate for `--seconds`, spread over 300 conversations of three
tenants of this run. Every message's `received_at` is the time it was produced.

- probe latency: a few messages a second carry a unique phrase; a prober sends BM25
  queries for each phrase (with its tenant) every 50 ms until it is found: produced ->
  queryable, the number that matters;
- ack latency: the index flow's `headwater_index_freshness_seconds` histogram (received ->
  upsert acknowledged), for every message, scraped from its metrics port;
- backlog: messages produced minus messages the index has acknowledged, at the end of a
  phase and 10 s later; beside it the closed segments still waiting for their whole-text
  re-embedding (`headwater_index_refines_pending`);
- CPU: seconds of CPU per process (ingest, index, Weaviate, Kafka, this script) per phase;
- baseline: the same probe loop on objects inserted straight into Weaviate with the
  client (embedding included), the floor of receive -> queryable on this machine.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import orjson
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from weaviate.exceptions import WeaviateTenantGetError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.samples.generate import AGENT_LINES, USER_LINES  # noqa: E402
from flows.settings import Settings  # noqa: E402
from flows.topics import ensure_topics  # noqa: E402
from models import load_embedder  # noqa: E402
from operators.common.weaviate import connect_weaviate  # noqa: E402
from operators.index.writer import collection_name, ensure_collection  # noqa: E402

INGEST_METRICS_PORT = 9471
INDEX_METRICS_PORT = 9472
PROBES_PER_SECOND = 4
POLL_S = 0.05
PROBE_TIMEOUT_S = 30.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Probe:
    tenant: str
    phrase: str
    sent_ms: int
    found_ms: int | None = None


@dataclass
class Prober:
    """Polls BM25 for each pending phrase until Weaviate returns it."""

    client: object
    collection: str
    pending: list[Probe] = field(default_factory=list)
    done: list[Probe] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    known_tenants: set[str] = field(default_factory=set)

    def add(self, probe: Probe) -> None:
        with self.lock:
            self.pending.append(probe)

    def run(self) -> None:
        col = self.client.collections.get(self.collection)
        while not self.stop.is_set():
            with self.lock:
                pending = list(self.pending)
            for probe in pending:
                res = (
                    col.with_tenant(probe.tenant).query.bm25(
                        query=probe.phrase,
                        query_properties=["text"],
                        limit=1,
                        return_properties=["message_count"],
                    )
                    if self._tenant_exists(col, probe.tenant)
                    else None
                )
                found = res is not None and res.objects
                if found or now_ms() - probe.sent_ms > PROBE_TIMEOUT_S * 1000:
                    probe.found_ms = now_ms() if found else None
                    with self.lock:
                        self.pending.remove(probe)
                        self.done.append(probe)
            time.sleep(POLL_S)

    def _tenant_exists(self, col, tenant: str) -> bool:
        if tenant not in self.known_tenants:
            try:
                if tenant in col.tenants.get():
                    self.known_tenants.add(tenant)
            except WeaviateTenantGetError:  # the index has not created the collection yet
                pass
        return tenant in self.known_tenants

    def take(self) -> list[Probe]:
        with self.lock:
            out, self.done = self.done, []
        return out


def envelope(tenant: str, conv: int, seq: int, text: str, role: str, t_ms: int) -> bytes:
    payload = {
        "id": f"m-{seq}",
        "platform": "shopee",
        "conversation_id": f"c-{conv}",
        "user_id": f"u-{conv}",
        "role": role,
        "content": text,
        "timestamp": t_ms,
        "idempotency_key": f"k-{seq}",
    }
    return orjson.dumps(
        {"source": "webhook", "tenant": tenant, "received_at": t_ms, "payload": payload}
    )


def scrape(port: int, name: str) -> dict[tuple, float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(name):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def histogram_quantiles(before: dict, after: dict, name: str, qs: tuple[float, ...]) -> list:
    buckets = []
    for (sample, labels), value in after.items():
        if sample == f"{name}_bucket":
            le = float(dict(labels)["le"])
            buckets.append((le, value - before.get((sample, labels), 0.0)))
    buckets.sort()
    count = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        target = q * count
        out.append(next((le for le, c in buckets if c >= target and count), float("nan")))
    return out


def counter(values: dict, name: str) -> float:
    return sum(v for (sample, _), v in values.items() if sample == name)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_pid(name: str) -> int | None:
    path = ROOT / ".cache" / name / f"{name}.pid"
    return int(path.read_text()) if path.exists() else None


def start(module_call: str, env: dict, log: Path, *args: str) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", module_call, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_index(processes: int, env: dict, work: Path) -> list[subprocess.Popen]:
    """The index flow as `processes` Bytewax processes sharing the partitions."""
    addresses = ";".join(f"127.0.0.1:{2101 + i}" for i in range(processes))
    return [
        start(
            f"flows.index:build(metrics_port={INDEX_METRICS_PORT + i})",
            env,
            work / f"index-{i}.log",
            *(("-i", str(i), "-a", addresses) if processes > 1 else ()),
        )
        for i in range(processes)
    ]


def scrape_index(processes: int) -> dict[tuple, float]:
    """The index metrics summed over its processes."""
    total: dict[tuple, float] = {}
    for i in range(processes):
        for key, value in scrape(INDEX_METRICS_PORT + i, "headwater_index").items():
            total[key] = total.get(key, 0.0) + value
    return total


def wait_until(pred, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def baseline(settings: Settings, seconds: float, rate: float) -> list[float]:
    """Embed + insert one object at a time straight into Weaviate; probe like the flows."""
    embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
    client = connect_weaviate(settings)
    name = ensure_collection(client, collection_name(embedder.version))
    from weaviate.classes.tenants import Tenant

    tenant = f"benchbase{uuid.uuid4().hex[:8]}"
    col = client.collections.get(name)
    col.tenants.create([Tenant(name=tenant)])
    prober = Prober(client, name)
    thread = threading.Thread(target=prober.run, daemon=True)
    thread.start()
    rand = random.Random(1)
    t_end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < t_end:
        phrase = f"basezq{uuid.uuid4().hex[:10]}"
        text = f"user: {rand.choice(USER_LINES)} {phrase}"
        sent = now_ms()
        vec = embedder.embed_passages([text])[0].tolist()
        col.with_tenant(tenant).data.insert(
            {
                "text": text,
                "tenant": tenant,
                "conversation_id": "base",
                "segment": i,
                "message_count": 1,
            },
            vector=vec,
        )
        prober.add(Probe(tenant, phrase, sent))
        i += 1
        time.sleep(max(0.0, 1 / rate - (now_ms() - sent) / 1000))
    wait_until(lambda: not prober.pending, 30, "baseline probes")
    prober.stop.set()
    thread.join()
    col.tenants.remove([tenant])
    client.close()
    return [(p.found_ms - p.sent_ms) / 1000 for p in prober.take() if p.found_ms]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,25,50,100")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--lateness-s",
        type=float,
        default=0.25,
        help="HEADWATER_ALLOWED_LATENESS_S of the ingest flow",
    )
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--index-processes", type=int, default=1)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    settings = Settings()
    run = uuid.uuid4().hex[:8]
    tenants = [f"fresh{run}{t}" for t in ("a", "b", "c")]
    raw_topic = f"bench.raw.webhook.{run}"
    ensure_topics(settings.kafka_brokers, [raw_topic], settings.kafka_partitions)

    work = Path(tempfile.mkdtemp(prefix="bench-freshness-"))
    env = {
        **os.environ,
        "HEADWATER_KAFKA_START": "end",
        "HEADWATER_ALLOWED_LATENESS_S": str(args.lateness_s),
    }
    ingest = start(
        f"flows.ingest:build(source='kafka:{raw_topic}', archive_dir='{work / 'archive'}', "
        f"metrics_port={INGEST_METRICS_PORT})",
        env,
        work / "ingest.log",
    )
    index = start_index(args.index_processes, env, work)
    try:
        for i in range(args.index_processes):
            wait_until(
                lambda i=i: scrape(INDEX_METRICS_PORT + i, "headwater_index") != {},
                60,
                "the index flow's metrics",
            )
        wait_until(
            lambda: scrape(INGEST_METRICS_PORT, "headwater_ingest") != {},
            60,
            "the ingest flow's metrics",
        )
        time.sleep(5)  # both consumers assigned and at the end of their topics
        report = run_phases(
            settings,
            rates,
            args,
            tenants,
            raw_topic,
            {"ingest": [ingest.pid], "index": [p.pid for p in index]},
        )
    finally:
        for proc in (ingest, *index):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    base = baseline(settings, min(args.seconds, 30), 10)
    print(
        f"\nbaseline (embed + insert one object, then probe), 10/s: "
        f"p50 {pct(base, 50):.3f} s  p95 {pct(base, 95):.3f} s  p99 {pct(base, 99):.3f} s"
    )
    print(
        "\n| rate msg/s | produced | probes | probe p50 | p95 | p99 | p95 / baseline p95 "
        "| ack p50 | ack p95 | backlog end | backlog +10 s | refinements pending end | +10 s "
        "| tokens / message | CPU s: ingest / index / weaviate / kafka / bench |"
    )
    print(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | --- |"
    )
    for row in report:
        lat = row["probe"]
        print(
            f"| {row['rate']:.0f} | {row['produced']} | {len(lat)} | {pct(lat, 50):.3f} | "
            f"{pct(lat, 95):.3f} | {pct(lat, 99):.3f} | {pct(lat, 95) / pct(base, 95):.1f}× | "
            f"{row['ack'][0]:.2f} | {row['ack'][1]:.2f} | {row['backlog_end']:.0f} | "
            f"{row['backlog_after']:.0f} | {row['refines_end']:.0f} | "
            f"{row['refines_after']:.0f} | {row['tokens_per_message']:.1f} | "
            + " / ".join(
                f"{row['cpu'][k]:.0f}" for k in ("ingest", "index", "weaviate", "kafka", "bench")
            )
            + " |"
        )
    print(f"\nlogs in {work}")


def run_phases(
    settings: Settings,
    rates: list[float],
    args,
    tenants: list[str],
    raw_topic: str,
    pids: dict[str, list[int]],
) -> list[dict]:
    client = connect_weaviate(settings)
    # The collection the index writes, whatever the alias serves (it may be an older model's).
    version = load_embedder(settings.embedding_model_dir, settings.embedding_threads).version
    prober = Prober(client, collection_name(version))
    probe_thread = threading.Thread(target=prober.run, daemon=True)
    probe_thread.start()
    producer = Producer({"bootstrap.servers": settings.kafka_brokers, "linger.ms": 0})
    all_pids = {
        **pids,
        "weaviate": [service_pid("weaviate")],
        "kafka": [service_pid("kafka")],
        "bench": [os.getpid()],
    }

    def cpu() -> dict[str, float]:
        return {
            k: sum(cpu_seconds(p) if p else float("nan") for p in ps) for k, ps in all_pids.items()
        }

    rand = random.Random(42)
    seq = 0
    produced_total = 0
    report = []
    for rate in rates:
        before = scrape_index(args.index_processes)
        cpu_before = cpu()
        probe_every = max(1, round(rate / PROBES_PER_SECOND))
        t0 = time.monotonic()
        produced = 0
        while time.monotonic() - t0 < args.seconds:
            due = t0 + produced / rate
            time.sleep(max(0.0, due - time.monotonic()))
            conv = rand.randrange(args.conversations)
            tenant = tenants[conv % len(tenants)]
            role = "user" if rand.random() < 0.6 else "bot"
            text = rand.choice(USER_LINES if role == "user" else AGENT_LINES).format(
                order=f"DH{rand.randint(240000000, 249999999)}", phone="[PHONE]", email="[EMAIL]"
            )
            phrase = None
            if produced % probe_every == 0:
                phrase = f"zq{uuid.uuid4().hex[:12]}"
                text = f"{text} {phrase}"
            sent = now_ms()
            producer.produce(
                raw_topic,
                key=f"c-{conv}".encode(),
                value=envelope(tenant, conv, seq, text, role, sent),
            )
            producer.poll(0)
            if phrase:
                prober.add(Probe(tenant, phrase, sent))
            seq += 1
            produced += 1
        producer.flush(10)
        produced_total += produced
        after = scrape_index(args.index_processes)
        backlog_end = produced_total - counter(after, "headwater_index_messages_total")
        time.sleep(10)
        later = scrape_index(args.index_processes)
        backlog_after = produced_total - counter(later, "headwater_index_messages_total")
        cpu_after = cpu()
        wait_until(lambda: not prober.pending, PROBE_TIMEOUT_S + 5, "the probes")
        probes = prober.take()
        lost = sum(1 for p in probes if p.found_ms is None)
        row = {
            "rate": rate,
            "produced": produced,
            "lost_probes": lost,
            "probe": [(p.found_ms - p.sent_ms) / 1000 for p in probes if p.found_ms],
            "ack": histogram_quantiles(
                before, after, "headwater_index_freshness_seconds", (0.5, 0.95)
            ),
            "backlog_end": backlog_end,
            "backlog_after": backlog_after,
            "refines_end": counter(after, "headwater_index_refines_pending"),
            "refines_after": counter(later, "headwater_index_refines_pending"),
            "cpu": {k: cpu_after[k] - cpu_before[k] for k in all_pids},
            "tokens_per_message": (
                (
                    counter(later, "headwater_index_embedded_tokens_total")
                    - counter(before, "headwater_index_embedded_tokens_total")
                )
                / max(
                    1.0,
                    counter(later, "headwater_index_messages_total")
                    - counter(before, "headwater_index_messages_total"),
                )
            ),
        }
        print(
            f"rate {rate:.0f}/s: produced {produced}, probes {len(probes)} "
            f"(not found in {PROBE_TIMEOUT_S:.0f} s: {lost}), probe p50/p95/p99 "
            f"{pct(row['probe'], 50):.3f}/{pct(row['probe'], 95):.3f}/"
            f"{pct(row['probe'], 99):.3f} s, backlog {backlog_end:.0f} -> "
            f"{backlog_after:.0f}, refinements pending {row['refines_end']:.0f} -> "
            f"{row['refines_after']:.0f}, {row['tokens_per_message']:.1f} tokens embedded "
            "per message",
            flush=True,
        )
        report.append(row)
    prober.stop.set()
    probe_thread.join()
    client.close()
    return report


if __name__ == "__main__":
    main()
