"""The embedded pipeline end to end on the bundled sample, as `make run` shows it.

    python -m flows.demo                      # bundled sample -> Weaviate, then queries
    HEADWATER_SOURCE=file:chats.jsonl python -m flows.demo

Runs `flows.pipeline` in this process with a progress display, prints what happened to
the input (accepted, duplicates, rejected, late, feedback, segments indexed) and answers
questions: one through GraphQL, the others through the v4 client, among them one in
Vietnamese whose answer was written in English and one typed without diacritics.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

import orjson
from bytewax.testing import run_main
from prometheus_client import Counter
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flows import pipeline
from flows.query import graphql_query, graphql_search, print_hits, search
from flows.settings import SAMPLE_DIR, Settings
from models import load_embedder
from operators.common.metrics import REJECTED, total
from operators.common.weaviate import connect_weaviate
from operators.drift import metrics as drift_metrics
from operators.index import metrics as index_metrics
from operators.index.search import (
    Serving,
    default_alpha,
    keyword_properties,
    query_embedder,
    serving_collection,
)
from operators.index.writer import ALIAS, collection_name
from operators.ingest import metrics as ingest_metrics
from operators.pii.redact import REDACTIONS

DEMO_SAMPLE = SAMPLE_DIR / "pipeline_sample.jsonl"
QUESTIONS = (
    ("graphql", "acme", "how do I cancel an order?"),
    ("client", "globex", "phí ship ra Hà Nội bao nhiêu?"),
    # umbrella's address changes were all written in English
    ("client, asked in Vietnamese", "umbrella", "Tôi muốn đổi địa chỉ nhận hàng"),
    ("client, typed without diacritics", "acme", "shop oi doi size ao duoc khong"),
)


def count_lines(pattern: str) -> int:
    count = 0
    for name in sorted(glob.glob(pattern)):
        with open(name, "rb") as f:
            count += sum(1 for _ in f)
        if name.endswith(".csv"):
            count -= 1  # the header row
    return count


def run_with_progress(settings: Settings, console: Console) -> None:
    expected = count_lines(settings.source_path or "")
    flow = pipeline.build()
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_main(flow)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    columns = (
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        read = progress.add_task("input lines read", total=expected or None)
        indexed = progress.add_task("messages indexed", total=None)
        worker = threading.Thread(target=run, name="pipeline", daemon=True)
        worker.start()
        while not done.wait(0.2):
            _update(progress, read, indexed)
        _update(progress, read, indexed)
        accepted = total(ingest_metrics.EMITTED, output="messages")
        progress.update(indexed, total=accepted, completed=total(index_metrics.MESSAGES))
    if errors:
        raise errors[0]


def _update(progress: Progress, read: TaskID, indexed: TaskID) -> None:
    progress.update(read, completed=total(ingest_metrics.RECEIVED))
    progress.update(indexed, completed=total(index_metrics.MESSAGES))


def summary_table(segments_by_tenant: dict[str, int]) -> Table:
    table = Table(title="What happened to the input", show_header=False)
    accepted = total(ingest_metrics.EMITTED, output="messages")
    rows: Iterable[tuple[str, float]] = (
        ("input lines", total(ingest_metrics.RECEIVED)),
        ("accepted messages", accepted),
        ("duplicates dropped", total(ingest_metrics.DUPLICATES)),
        ("rejected (dead letters)", total(REJECTED)),
        ("feedback records", total(ingest_metrics.EMITTED, output="feedback")),
        ("late messages (flagged, kept)", total(ingest_metrics.LATE)),
        ("PII values redacted", total(REDACTIONS)),
        ("segment versions upserted", total(index_metrics.SEGMENTS, outcome="stored")),
        ("segments in Weaviate (these tenants)", sum(segments_by_tenant.values())),
        ("drift alerts", total(drift_metrics.RETRAIN_EVENTS) + total(drift_metrics.REINDEX_EVENTS)),
    )
    for name, value in rows:
        table.add_row(name, f"{value:,.0f}")
    tokens = total(index_metrics.EMBEDDED_TOKENS)
    if accepted:
        table.add_row("tokens embedded per message", f"{tokens / accepted:,.1f}")
    for reason in sorted(_labels(REJECTED, "reason")):
        count = total(REJECTED, reason=reason)
        table.add_row(f"  rejected: {reason}", f"{count:,.0f}")
    for tenant, count in sorted(segments_by_tenant.items()):
        table.add_row(f"  segments of tenant {tenant}", f"{count:,}")
    return table


def _labels(counter: Counter, label: str) -> set[str]:
    return {
        s.labels[label]
        for f in counter.collect()
        for s in f.samples
        if s.name.endswith("_total") and s.value
    }


def print_alerts(alerts_file: Path, console: Console) -> None:
    if not alerts_file.exists():
        return
    with alerts_file.open("rb") as f:
        for line in f:
            alert = orjson.loads(line)
            console.print(
                f"drift alert: tenant {alert['tenant']}, {alert['signal']} -> "
                f"{alert['action']} ({alert['detector']}, at {alert['detected_at']})",
                highlight=False,
            )


def input_tenants(messages_file: Path) -> set[str]:
    """The tenants of this run's messages (the index may hold others)."""
    if not messages_file.exists():  # the input had no accepted message
        return set()
    with messages_file.open("rb") as f:
        return {orjson.loads(line)["tenant"] for line in f}


def written_collection(settings: Settings) -> Serving:
    """The collection the pipeline writes to with the configured model."""
    version = load_embedder(settings.embedding_model_dir, settings.embedding_threads).version
    return Serving(ALIAS, collection_name(version), version)


def main() -> int:
    console = Console()
    if "HEADWATER_SOURCE" not in os.environ and DEMO_SAMPLE.exists():
        os.environ["HEADWATER_SOURCE"] = f"file:{DEMO_SAMPLE}"
    settings = Settings()
    out_dir = pipeline.side_sink(settings).removeprefix("file:")
    console.print(
        f"[bold]Headwater pipeline[/] {settings.source}\n  -> Weaviate "
        f"{settings.weaviate_url} (alias {ALIAS}); other outputs -> {out_dir}"
    )
    run_with_progress(settings, console)

    serving = written_collection(settings)
    with connect_weaviate(settings) as client:
        collection = client.collections.get(serving.collection)
        segments = {
            name: collection.with_tenant(name).aggregate.over_all(total_count=True).total_count or 0
            for name in input_tenants(Path(out_dir) / "messages.jsonl")
        }
        console.print(summary_table(segments))
        print_alerts(Path(out_dir) / "alerts.jsonl", console)
        served = serving_collection(client)
        if served is not None and served != serving:
            console.print(
                f"\n[yellow]{ALIAS} serves {served.collection} (model {served.model_version}),"
                f" built before the default model changed; until a reindex swaps it, the"
                f" questions below read {serving.collection}, which this run wrote.[/]"
            )
        console.print(
            f"\nQuestions read {serving.collection} and are embedded with its model, "
            f"{serving.model_version}."
        )
        for how, tenant, question in QUESTIONS:
            console.print(f"\n[bold]Q ({tenant}, {how}):[/] {question}")
            if how == "graphql":
                shown = graphql_query(
                    serving.collection,
                    tenant,
                    question,
                    [],
                    keyword_properties=keyword_properties(client, serving.collection),
                )
                console.print(
                    f"[dim]{shown.replace('vector: []', 'vector: [<384 floats>]')}[/]",
                    soft_wrap=True,
                    highlight=False,
                )
                hits = graphql_search(settings, client, serving, tenant, question, limit=2)
            else:
                alpha = default_alpha(question, query_embedder(serving))
                sides = "the vector alone" if alpha == 1 else "vector and keywords fused"
                console.print(
                    f"[dim]flows.query.search(client, {tenant!r}, question, limit=2): "
                    f"alpha {alpha} ({sides}) on {serving.collection}[/]",
                    highlight=False,
                )
                hits = search(client, tenant, question, limit=2, serving=serving)
            print_hits(hits, out=sys.stdout)
    console.print(
        f'\nAsk your own: python -m flows.query --tenant acme "..."  (outputs in {Path(out_dir)})'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
