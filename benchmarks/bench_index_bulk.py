"""Bulk indexing rate: the pipeline (ingest + index) on a prefix of the 1,000,000-event file.

    .venv/bin/python benchmarks/bench_index_bulk.py [--lines 100000]

Takes the first `--lines` lines of the ingest benchmark's stream (`.cache/bench/
stream-1000000.jsonl`, generated when missing), renames its tenants to ones of this run,
and runs ingest + index on it in this process (`flows.pipeline` without the drift steps;
one worker; needs Weaviate and the model). Reports segments embedded and upserted per
second, messages per second and tokens embedded per message, against a baseline in the
same script: embedding alone the final texts of the same segments (read back from
Weaviate; a random `--baseline-sample` of them), in calls of 32. Prints its progress
every `--progress-s` seconds.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.testing import run_main  # noqa: E402

from benchmarks.bench_ingest import generate  # noqa: E402
from flows.index import index  # noqa: E402
from flows.ingest import ingest, read_raw, write_outputs  # noqa: E402
from flows.samples.generate import TENANTS  # noqa: E402
from flows.settings import Settings  # noqa: E402
from models import load_embedder  # noqa: E402
from operators.common.metrics import total  # noqa: E402
from operators.common.weaviate import connect_weaviate  # noqa: E402
from operators.index import metrics as index_metrics  # noqa: E402
from operators.index.writer import collection_name  # noqa: E402
from operators.index.writer import collection_name as pipeline_collection  # noqa: E402
from operators.ingest import metrics as ingest_metrics  # noqa: E402


def prefix_file(lines: int, run: str, out: Path) -> list[str]:
    """The first `lines` lines with this run's tenant names; the tenants."""
    source = generate(1_000_000)
    tenants = {t: f"bulk{run}{t}" for t in TENANTS}
    with source.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= lines:
                break
            for old, new in tenants.items():
                line = line.replace(f'"tenant":"{old}"', f'"tenant":"{new}"')
            dst.write(line)
    return list(tenants.values())


def report_progress(every_s: float, stop: threading.Event) -> None:
    started = time.perf_counter()
    while not stop.wait(every_s):
        print(
            f"  {time.perf_counter() - started:,.0f} s: lines read "
            f"{total(ingest_metrics.RECEIVED):,.0f}, messages "
            f"{total(ingest_metrics.EMITTED, output='messages'):,.0f}, versions upserted "
            f"{total(index_metrics.SEGMENTS, outcome='stored'):,.0f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=20_000,
        help="final segment texts the baseline embeds",
    )
    parser.add_argument("--progress-s", type=float, default=60)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="bench-index-bulk-"))
    tenants = prefix_file(args.lines, run, work / "stream.jsonl")

    settings = Settings(
        source=f"file:{work / 'stream.jsonl'}", archive_dir=work / "archive", metrics_port=0
    )
    flow = Dataflow("bench_index_bulk")
    out = ingest(flow, read_raw(flow, settings), settings)
    write_outputs(out, settings, f"file:{work / 'out'}")
    index(out.messages, settings, input_ends=True)
    stop = threading.Event()
    threading.Thread(target=report_progress, args=(args.progress_s, stop), daemon=True).start()
    started = time.perf_counter()
    run_main(flow)
    elapsed = time.perf_counter() - started
    stop.set()

    client = connect_weaviate(settings)
    embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
    collection = client.collections.get(collection_name(embedder.version))  # what was written
    texts = [
        obj.properties["text"]
        for tenant in tenants
        for obj in collection.with_tenant(tenant).iterator(return_properties=["text"])
    ]
    sample = random.Random(7).sample(texts, min(args.baseline_sample, len(texts)))
    started = time.perf_counter()
    for i in range(0, len(sample), 32):
        embedder.embed_passages(sample[i : i + 32])
    embed_only = time.perf_counter() - started
    client.collections.get(pipeline_collection(embedder.version)).tenants.remove(tenants)
    client.close()

    messages = total(ingest_metrics.EMITTED, output="messages")
    versions = total(index_metrics.SEGMENTS, outcome="stored")
    tokens = total(index_metrics.EMBEDDED_TOKENS)
    print(
        f"lines {args.lines:,}, messages {messages:,.0f}, segments {len(texts):,}, "
        f"versions upserted {versions:,.0f}, tokens embedded per message "
        f"{tokens / messages:.1f}"
    )
    print("| run | seconds | segments/s | versions/s | messages/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| ingest + index, 1 worker | {elapsed:.1f} | {len(texts) / elapsed:.1f} | "
        f"{versions / elapsed:.1f} | {messages / elapsed:.0f} |"
    )
    print(
        f"| baseline: embed {len(sample):,} of the final segment texts only | "
        f"{embed_only:.1f} | {len(sample) / embed_only:.1f} | – | – |"
    )
    ratio = (len(texts) / elapsed) / (len(sample) / embed_only)
    print(f"ingest + index: {ratio:.2f}× the embed-only baseline's segments/s")
    print(
        f"peak RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )


if __name__ == "__main__":
    main()
