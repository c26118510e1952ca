"""Retrieval quality on a hand-written Vietnamese/English support set, per model.

    .venv/bin/python -m benchmarks.bench_retrieval [--set benchmarks/retrieval_set.json]
        [--model DIR ...] [--variants]

Each model's collection (`RetrievalEval_<model version>`, tenant `eval`, beside the
index's own, never behind its alias) gets one segment per conversation of the set:
its messages as the index renders them (each one's language detected as ingest does),
its whole text embedded as a passage less its language's mean, the folded copy for
keywords, all as `flows.index` writes them. Each query of the set is
embedded as a question and searched three ways: vector only, keywords only (BM25 over
the exact and the folded text) and hybrid, the query every search path runs
(`operators.index.search.hybrid`). A query finds its conversation at rank r when the
r-th hit is that conversation's segment.

Prints R@1, R@3 and MRR (over the first 10 hits) per kind of query and overall, for
each method and model. `--variants` adds the fusion and keyword choices that were
measured against the one in use (overall and worst-kind R@3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import weaviate
from rich.console import Console
from weaviate.classes.data import DataObject
from weaviate.classes.query import HybridFusion, MetadataQuery

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.settings import Settings  # noqa: E402
from models import Embedder, load_embedder  # noqa: E402
from models.paths import KNOWN_MODELS, MODELS_DIR  # noqa: E402
from operators.common.weaviate import connect_weaviate  # noqa: E402
from operators.index.keywords import KEYWORD_PROPERTIES, folded, keyword_query  # noqa: E402
from operators.index.search import (  # noqa: E402
    KEYWORD_ALPHA,
    MODEL_ALPHA,
    default_alpha,
    hybrid,
    question_alpha,
)
from operators.index.writer import create_collection, object_properties  # noqa: E402
from operators.ingest.normalize import detect_language  # noqa: E402
from schemas.segment import Segment, SegmentLine  # noqa: E402

DEFAULT_SET = ROOT / "benchmarks" / "retrieval_set.json"
TENANT = "eval"
DEPTH = 10
KINDS = (
    "vi_paraphrase",
    "vi_no_diacritics",
    "en_paraphrase",
    "en_to_vi",
    "vi_to_en",
    "near_neighbour",
)
ROLES = {"user": "user", "agent": "agent", "bot": "bot"}
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    conversation: str


@dataclass(frozen=True)
class EvalSet:
    conversations: dict[str, Segment]
    queries: list[Query]


def load_set(path: Path) -> EvalSet:
    data = json.loads(path.read_text(encoding="utf-8"))
    conversations: dict[str, Segment] = {}
    for n, conv in enumerate(data["conversations"]):
        start = START_MS + n * 3_600_000
        lines = tuple(
            SegmentLine(
                message_id=f"{conv['id']}-{i}",
                role=ROLES[m["role"]],
                text=m["text"],
                language=detect_language(m["text"]),
                source="partner",
                event_ms=start + i * 30_000,
                received_at=start + i * 30_000,
            )
            for i, m in enumerate(conv["messages"])
        )
        conversations[conv["id"]] = Segment(TENANT, conv["id"], n, lines, final=True)
    queries = [Query(q["kind"], q["text"], q["conversation"]) for q in data["queries"]]
    unknown = {q.conversation for q in queries} - set(conversations)
    if unknown:
        raise ValueError(f"{path}: queries name unknown conversations {sorted(unknown)}")
    return EvalSet(conversations, queries)


def index_set(client: weaviate.WeaviateClient, embedder: Embedder, evalset: EvalSet) -> str:
    """Write the set's segments into the model's evaluation collection; its name."""
    name = f"RetrievalEval_{embedder.version}"
    if client.collections.exists(name):
        client.collections.delete(name)
    create_collection(client, name)
    collection = client.collections.get(name)
    collection.tenants.create(TENANT)
    segments = list(evalset.conversations.values())
    vectors = embedder.neutralize_languages(
        embedder.embed_passages([s.text for s in segments]), [s.language for s in segments]
    )
    objects = [
        DataObject(
            uuid=s.uuid,
            properties=object_properties(s, embedder.version, START_MS),
            vector=v.tolist(),
        )
        for s, v in zip(segments, vectors, strict=True)
    ]
    result = collection.with_tenant(TENANT).data.insert_many(objects)
    if result.errors:
        raise RuntimeError(f"insert failed: {list(result.errors.values())[:3]}")
    return name


Search = Callable[[str, np.ndarray], list[str]]


def _ids(objects: Sequence) -> list[str]:
    return [str(o.properties["conversation_id"]) for o in objects]


def methods(
    client: weaviate.WeaviateClient, name: str, embedder: Embedder, variants: bool
) -> dict[str, Search]:
    tenant = client.collections.get(name).with_tenant(TENANT)
    keep = ["conversation_id"]

    def vector(_: str, v: np.ndarray) -> list[str]:
        return _ids(
            tenant.query.near_vector(v.tolist(), limit=DEPTH, return_properties=keep).objects
        )

    def bm25(query: str, properties: Sequence[str]) -> list[str]:
        found = tenant.query.bm25(
            query=query, query_properties=list(properties), limit=DEPTH, return_properties=keep
        )
        return _ids(found.objects)

    def fused(
        q: str,
        v: np.ndarray,
        alpha: float,
        fusion: HybridFusion,
        query: str,
        properties: Sequence[str],
    ) -> list[str]:
        found = tenant.query.hybrid(
            query=query,
            query_properties=list(properties),
            vector=v.tolist(),
            alpha=alpha,
            limit=DEPTH,
            fusion_type=fusion,
            return_properties=keep,
            return_metadata=MetadataQuery(score=True),
        )
        return _ids(found.objects)

    chosen: dict[str, Search] = {
        "vector": vector,
        "bm25": lambda q, v: bm25(keyword_query(q), KEYWORD_PROPERTIES),
        "hybrid": lambda q, v: [
            h.conversation_id
            for h in hybrid(
                client, name, TENANT, q, v, limit=DEPTH, alpha=default_alpha(q, embedder)
            )
        ],
    }
    if not variants:
        return chosen
    relative, ranked = HybridFusion.RELATIVE_SCORE, HybridFusion.RANKED
    exact = ["text"]

    def at(alpha: float) -> Search:
        return lambda q, v: [
            h.conversation_id for h in hybrid(client, name, TENANT, q, v, limit=DEPTH, alpha=alpha)
        ]

    def by_rule(well_read: float) -> Search:
        """The shipped rule with another alpha for the questions the model reads well."""

        def search(q: str, v: np.ndarray) -> list[str]:
            return at(well_read if question_alpha(q) == MODEL_ALPHA else KEYWORD_ALPHA)(q, v)

        return search

    chosen |= {
        "before: Weaviate hybrid a=0.5, exact text": lambda q, v: fused(
            q, v, 0.5, relative, q, exact
        ),
        "bm25 exact text only": lambda q, v: bm25(q, exact),
        "bm25 folded text only": lambda q, v: bm25(folded(q), ["text_folded"]),
        **{f"hybrid a={a}": at(a) for a in (0.3, 0.5, 0.7, 0.8, 0.9)},
        **{f"hybrid a={a}, 0.5 when read poorly": by_rule(a) for a in (0.8, 0.9)},
        "Weaviate hybrid relative a=0.8": lambda q, v: fused(
            q, v, 0.8, relative, keyword_query(q), KEYWORD_PROPERTIES
        ),
        "Weaviate hybrid ranked a=0.5": lambda q, v: fused(
            q, v, 0.5, ranked, keyword_query(q), KEYWORD_PROPERTIES
        ),
    }
    return chosen


@dataclass
class Scores:
    r1: float
    r3: float
    mrr: float


def score(ranks: list[int | None]) -> Scores:
    n = len(ranks)
    return Scores(
        sum(r is not None and r <= 1 for r in ranks) / n,
        sum(r is not None and r <= 3 for r in ranks) / n,
        sum(1 / r for r in ranks if r is not None) / n,
    )


def evaluate(
    evalset: EvalSet, embedder: Embedder, searches: dict[str, Search]
) -> dict[str, dict[str, Scores]]:
    """{method: {kind or "overall": scores}}."""
    vectors = embedder.embed_queries([q.text for q in evalset.queries])
    results: dict[str, dict[str, Scores]] = {}
    for method, search in searches.items():
        by_kind: dict[str, list[int | None]] = defaultdict(list)
        for query, vector in zip(evalset.queries, vectors, strict=True):
            found = search(query.text, vector)
            rank = found.index(query.conversation) + 1 if query.conversation in found else None
            by_kind[query.kind].append(rank)
        results[method] = {k: score(by_kind[k]) for k in KINDS if by_kind[k]}
        results[method]["overall"] = score([r for k in KINDS for r in by_kind[k]])
    return results


def model_table(results: dict[str, dict[str, Scores]]) -> str:
    """Markdown: R@1, R@3 and MRR per kind for vector, keywords and hybrid."""
    methods = ("vector", "bm25", "hybrid")
    head = "| kind | " + " | ".join(f"{m} R@1 | {m} R@3 | {m} MRR" for m in methods) + " |"
    rows = [head, "| --- |" + " ---: |" * 9]
    for kind in (*KINDS, "overall"):
        cells = [
            f"{getattr(results[m][kind], metric):.2f}"
            for m in methods
            for metric in ("r1", "r3", "mrr")
        ]
        if kind == "overall":
            cells = [f"**{c}**" for c in cells]
        rows.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def variants_table(results: dict[str, dict[str, Scores]]) -> str:
    """Markdown: overall R@3 and MRR and the worst kind of every method measured."""
    rows = ["| method | R@3 | MRR | worst kind (R@3) |", "| --- | ---: | ---: | --- |"]
    for method, by_kind in results.items():
        worst = min(KINDS, key=lambda k: by_kind[k].r3)
        overall = by_kind["overall"]
        rows.append(
            f"| {method} | {overall.r3:.2f} | {overall.mrr:.2f} | {worst} {by_kind[worst].r3:.2f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, dest="set_path")
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        help="built model directory (default: every model `make model` builds)",
    )
    parser.add_argument("--variants", action="store_true", help="also the fusion variants")
    parser.add_argument("--keep", action="store_true", help="keep the evaluation collections")
    args = parser.parse_args(argv)

    console = Console()
    evalset = load_set(args.set_path)
    console.print(
        f"{args.set_path.name}: {len(evalset.conversations)} conversations, "
        f"{len(evalset.queries)} queries"
    )
    model_dirs = args.model or [MODELS_DIR / m.name for m in KNOWN_MODELS]
    with connect_weaviate(Settings()) as client:
        for model_dir in model_dirs:
            embedder = load_embedder(model_dir)
            started = time.perf_counter()
            name = index_set(client, embedder, evalset)
            try:
                results = evaluate(
                    evalset, embedder, methods(client, name, embedder, args.variants)
                )
            finally:
                if not args.keep:
                    client.collections.delete(name)
            print(f"\n{model_dir.name} ({embedder.version}), hybrid as every query path runs it\n")
            print(model_table(results))
            if args.variants:
                print(f"\n{model_dir.name}: the choices measured\n")
                print(variants_table(results))
            console.print(f"[dim]{time.perf_counter() - started:.1f} s[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
