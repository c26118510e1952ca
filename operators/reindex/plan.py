"""What a reindex will cost, measured before it starts: segments and tokens to embed, and
CPU time from the target model's rate on a sample of the segments themselves."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import weaviate

from models import Embedder
from operators.reindex.stored import Shard, read_page

SAMPLE = 64
"""Segments embedded to measure the rate (after one warm-up run of the same)."""


@dataclass(frozen=True)
class Plan:
    source: str
    target: str
    model_version: str
    tenants: dict[str, int]
    """Segments per tenant in the source."""
    segments: int
    tokens: int
    """Estimated: the sample's mean tokens (as embedded, truncated) times `segments`."""
    segments_per_s: float
    """One process, measured on the sample."""
    cpu_s_per_segment: float
    processes: int

    @property
    def cpu_hours(self) -> float:
        return self.segments * self.cpu_s_per_segment / 3600

    @property
    def wall_s(self) -> float:
        rate = self.segments_per_s * self.processes
        return self.segments / rate if rate > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "cpu_hours": self.cpu_hours, "wall_s": self.wall_s}

    def describe(self) -> str:
        return (
            f"plan: {self.segments:,} segments of {len(self.tenants)} tenants, ~{self.tokens:,} "
            f"tokens, {self.source} -> {self.target} (model {self.model_version})\n"
            f"      measured {self.segments_per_s:.0f} segments/s per process, "
            f"{self.cpu_s_per_segment * 1000:.1f} CPU-ms a segment: ~{self.cpu_hours:.3f} "
            f"CPU-hours, ~{self.wall_s:.0f} s with {self.processes} process(es)"
        )


def tenant_counts(
    client: weaviate.WeaviateClient, collection: str, tenants: Sequence[str]
) -> dict[str, int]:
    """Objects per tenant in `collection`; 0 for a tenant it does not have (yet)."""
    base = client.collections.get(collection)
    present = set(base.tenants.get())
    return {
        t: int(base.with_tenant(t).aggregate.over_all(total_count=True).total_count or 0)
        if t in present
        else 0
        for t in tenants
    }


def make_plan(
    client: weaviate.WeaviateClient,
    source: str,
    target: str,
    tenants: Sequence[str],
    embedder: Embedder,
    *,
    processes: int = 1,
) -> Plan:
    counts = tenant_counts(client, source, tenants)
    segments = sum(counts.values())
    texts: list[str] = []
    collection = client.collections.get(source)
    for tenant in tenants:
        if len(texts) >= SAMPLE:
            break
        page, _ = read_page(collection, Shard(tenant), None, SAMPLE - len(texts))
        texts += [s.text for s in page]
    rate, cpu_per_segment, tokens_each = 0.0, 0.0, 0.0
    if texts:
        embedder.embed_passages(texts)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed_passages(texts)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rate = len(texts) / wall if wall > 0 else 0.0
        cpu_per_segment = cpu / len(texts)
        cap = embedder.max_seq_length
        tokens_each = sum(min(n, cap) for n in embedder.token_counts(texts)) / len(texts)
    return Plan(
        source,
        target,
        embedder.version,
        counts,
        segments,
        round(tokens_each * segments),
        rate,
        cpu_per_segment,
        processes,
    )
