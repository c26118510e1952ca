"""Reindex rate against embedding alone, and query latency during a build against idle.

    .venv/bin/python benchmarks/bench_reindex.py [--lines 100000] [--query-rate 5]

1. Indexes the first `--lines` lines of the ingest benchmark's 1,000,000-event stream
   (as `bench_index_bulk.py` does) with MiniLM into a collection behind an alias of this
   run: the serving collection a model upgrade starts from.
2. Idle: queries the alias at `--query-rate` per second for `--idle-s` (the query path
   of `flows.query.search`: the alias target, its model, the hybrid query).
3. Builds the multilingual collection with `python -m bytewax.run flows.reindex:build`
   (one process, as `python -m flows.reindex build` runs it) while the same queries go on.
4. Baseline in the same script: the same stored texts, a random `--baseline-sample`,
   embedded alone with the multilingual model in calls of the reindex's page size, once
   before the build and once after (the mean is the baseline).

Prints segments/s, tokens/s and CPU-s of the reindex (whole run, and steady: from 10 % to
the end, without start-up), the ratio to the baseline, and query p50/p95 idle and during
the build, and the CPU the local Weaviate server spent during the build. Deletes the
alias and its collections at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.testing import run_main  # noqa: E402
from weaviate.classes.query import Filter  # noqa: E402

from benchmarks.bench_index_bulk import prefix_file  # noqa: E402
from flows.index import index  # noqa: E402
from flows.ingest import ingest, read_raw, write_outputs  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import load_embedder  # noqa: E402
from models.paths import MINILM, MODELS_DIR, MULTILINGUAL  # noqa: E402
from operators.common.weaviate import connect_weaviate  # noqa: E402
from operators.index.search import (  # noqa: E402
    default_alpha,
    hybrid,
    query_embedder,
    serving_collection,
)
from operators.reindex.registry import REGISTRY, Registry  # noqa: E402
from operators.reindex.report import read_reports  # noqa: E402

QUESTIONS = (
    "I want to return my order",
    "đơn hàng của tôi đang ở đâu",
    "how do I change my password",
    "toi muon huy don hang",
)


def count(client, collection: str, tenants: list[str]) -> int:
    base = client.collections.get(collection)
    present = set(base.tenants.get())
    return sum(
        base.with_tenant(t).aggregate.over_all(total_count=True).total_count or 0
        for t in tenants
        if t in present
    )


class Queries:
    """Questions to the alias at `rate` per second, each one's latency kept by phase."""

    def __init__(self, client, alias: str, tenants: list[str], rate: float) -> None:
        self._client, self._alias, self._tenants, self._rate = client, alias, tenants, rate
        self.phase = "idle"
        self.latencies: dict[str, list[float]] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        i = 0
        next_at = time.perf_counter()
        while not self._stop.is_set():
            question = QUESTIONS[i % len(QUESTIONS)]
            tenant = self._tenants[i % len(self._tenants)]
            started = time.perf_counter()
            try:
                serving = serving_collection(self._client, self._alias)
                embedder = query_embedder(serving)
                vector = embedder.embed_queries([question])[0].tolist()
                hybrid(
                    self._client,
                    serving.collection,
                    tenant,
                    question,
                    vector,
                    limit=5,
                    alpha=default_alpha(question, embedder),
                )
                self.latencies.setdefault(self.phase, []).append(time.perf_counter() - started)
            except Exception as exc:
                self.errors += 1
                print(f"  query failed: {exc}", flush=True)
            i += 1
            next_at += 1 / self._rate
            self._stop.wait(max(0.0, next_at - time.perf_counter()))


def weaviate_cpu_s() -> float | None:
    """CPU-seconds the local Weaviate server has used (None when it is not found here)."""
    found = subprocess.run(["pgrep", "-f", "weaviate-server"], capture_output=True, text=True)
    pids = found.stdout.split()
    if not pids:
        return None
    fields = Path(f"/proc/{pids[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def embed_only(texts: list[str], page: int) -> tuple[float, float]:
    """Seconds and CPU-seconds to embed `texts` as passages in calls of `page`."""
    embedder = load_embedder(MODELS_DIR / MULTILINGUAL.name)
    embedder.embed_passages(texts[:page])  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), page):
        embedder.embed_passages(texts[i : i + page])
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--baseline-sample", type=int, default=3_000)
    parser.add_argument("--query-rate", type=float, default=5.0)
    parser.add_argument("--idle-s", type=float, default=30.0)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    alias = f"BenchRx{run}"
    work = Path(tempfile.mkdtemp(prefix="bench-reindex-"))
    tenants = prefix_file(args.lines, run, work / "stream.jsonl")
    settings = Settings(
        source=f"file:{work / 'stream.jsonl'}",
        archive_dir=work / "archive",
        metrics_port=0,
        weaviate_alias=alias,
        embedding_model_dir=MODELS_DIR / MINILM.name,
        index_write_notices=False,
    )
    print(f"indexing {args.lines:,} lines with MiniLM behind alias {alias} ...", flush=True)
    flow = Dataflow("bench_reindex_source")
    out = ingest(flow, read_raw(flow, settings), settings)
    write_outputs(out, settings, f"file:{work / 'out'}")
    index(out.messages, settings, input_ends=True)
    started = time.perf_counter()
    run_main(flow)
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)

    client = connect_weaviate(settings)
    registry = Registry(client, alias)
    source = registry.serving()
    assert source is not None
    segments = count(client, source, tenants)
    texts = [
        o.properties["text"]
        for t in tenants
        for o in client.collections.get(source).with_tenant(t).iterator(return_properties=["text"])
    ]
    sample = random.Random(7).sample(texts, min(args.baseline_sample, len(texts)))
    print(f"{segments:,} segments; baseline before ...", flush=True)
    before = embed_only(sample, settings.reindex_page_size)

    queries = Queries(client, alias, tenants, args.query_rate)
    queries.start()
    time.sleep(args.idle_s)
    queries.phase = "during the build"

    target = registry.begin_build(load_embedder(MODELS_DIR / MULTILINGUAL.name).version)
    report = work / "report" / "worker"
    env = {**os.environ, "HEADWATER_WEAVIATE_ALIAS": alias, "HEADWATER_METRICS_PORT": "0"}
    call = (
        f"flows.reindex:build(collection={target.collection!r}, report={str(report)!r}, "
        f"reindex_model_dir={str(MODELS_DIR / MULTILINGUAL.name)!r})"
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    weaviate_before = weaviate_cpu_s()
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "bytewax.run", call], env=env, cwd=ROOT)
    timeline = []
    while child.poll() is None:
        timeline.append((time.perf_counter(), count(client, target.collection, tenants)))
        time.sleep(1.0)
    wall = time.perf_counter() - started
    assert child.returncode == 0, f"the build failed: {child.returncode}"
    after_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    weaviate_after = weaviate_cpu_s()
    cpu = (after_usage.ru_utime - usage.ru_utime) + (after_usage.ru_stime - usage.ru_stime)
    queries.phase = "after"
    time.sleep(1.0)
    queries.stop()
    totals = read_reports(report.parent)
    after = embed_only(sample, settings.reindex_page_size)

    steady_from = next((t, n) for t, n in timeline if n >= segments * 0.1)
    steady_rate = (segments - steady_from[1]) / (started + wall - steady_from[0])
    baseline_wall = (before[0] + after[0]) / 2
    baseline_cpu = (before[1] + after[1]) / 2
    baseline_rate = len(sample) / baseline_wall
    print()
    print(f"lines {args.lines:,}, segments {segments:,}, tokens {totals['tokens']:,}")
    print("| run | segments | seconds | segments/s | tokens/s | CPU-ms per segment |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| reindex, 1 process (whole run, with start-up) | {totals['segments']:,} | "
        f"{wall:.1f} | {totals['segments'] / wall:.1f} | {totals['tokens'] / wall:,.0f} | "
        f"{1000 * cpu / totals['segments']:.1f} |"
    )
    print(f"| reindex, steady (10 % to the end) | – | – | {steady_rate:.1f} | – | – |")
    print(
        f"| baseline: embed {len(sample):,} of the texts only (before {before[0]:.1f} s, "
        f"after {after[0]:.1f} s) | {len(sample):,} | {baseline_wall:.1f} | "
        f"{baseline_rate:.1f} | – | {1000 * baseline_cpu / len(sample):.1f} |"
    )
    print(
        f"reindex: {totals['segments'] / wall / baseline_rate:.2f}x the embed-only baseline "
        f"(steady: {steady_rate / baseline_rate:.2f}x)"
    )
    print()
    print("| queries | n | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: |")
    for phase in ("idle", "during the build"):
        lat = np.array(queries.latencies.get(phase, [0.0])) * 1000
        p50, p95 = np.percentile(lat, 50), np.percentile(lat, 95)
        print(f"| {phase} | {len(lat)} | {p50:.0f} | {p95:.0f} |")
    print(f"query errors: {queries.errors}")
    if weaviate_before is not None and weaviate_after is not None:
        spent = weaviate_after - weaviate_before
        print(
            f"Weaviate during the build: {spent:.1f} CPU-s, "
            f"{1000 * spent / totals['segments']:.1f} CPU-ms per segment (queries included)"
        )

    client.alias.delete(alias_name=alias)
    for name in client.collections.list_all(simple=True):
        if name.startswith(f"{alias}_"):
            client.collections.delete(name)
    client.collections.get(REGISTRY).data.delete_many(
        where=Filter.by_property("alias").equal(alias)
    )
    client.close()


if __name__ == "__main__":
    main()
