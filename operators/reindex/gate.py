"""Before a swap: copy what the new collection still lacks, then check it can serve.

`catch_up` compares every stored segment of the source with the target (UUID and message
count, read by cursor, no vectors) and re-embeds what is missing or shorter there: what a
mirror of the live index missed (it writes the new collection from the moment it reads
the rotation, about a second after the build began) and tenants created during the build.

`check` is the gate. For each tenant of the source:
- the target holds as many objects, less those the source stored in the last
  `in_flight_s` (still on their way to both);
- every object of the target has a vector of the model's size;
- each of the tenant's most recent questions (the first user line of its latest
  segments) returns results from the target, embedded by the target's model.
A failed gate names each failure; the caller leaves the alias where it was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import weaviate
from weaviate.classes.query import Filter, Sort

from models import Embedder
from operators.index.search import default_alpha, hybrid, model_version_of
from operators.reindex.copy import Reembedder
from operators.reindex.stored import COPIED, StoredSegment

log = logging.getLogger(__name__)

PAGE = 1_000
QUESTIONS = 5
IN_FLIGHT_S = 10.0


def tenants_of(client: weaviate.WeaviateClient, collection: str) -> list[str]:
    return sorted(client.collections.get(collection).tenants.get())


def _counts(view, after=None) -> Iterator[list[tuple]]:
    while True:
        found = view.query.fetch_objects(
            after=after, limit=PAGE, return_properties=["message_count"]
        )
        if not found.objects:
            return
        yield [(o.uuid, _int(o.properties.get("message_count"))) for o in found.objects]
        after = found.objects[-1].uuid


def catch_up(
    client: weaviate.WeaviateClient,
    source: str,
    target: str,
    reembedder: Reembedder,
    tenants: Sequence[str] | None = None,
) -> dict[str, int]:
    """Copy to `target` each segment it lacks or holds shorter; the count per tenant.

    When both collections are of one model (a new generation, or one tenant rebuilt), the
    source's vectors are copied as they are instead of embedded again."""
    same_model = model_version_of(source) == reembedder.embedder.version
    source_base = client.collections.get(source)
    target_base = client.collections.get(target)
    have_target = set(target_base.tenants.get())
    repaired: dict[str, int] = {}
    for tenant in tenants if tenants is not None else tenants_of(client, source):
        view = source_base.with_tenant(tenant)
        count = 0
        for page in _counts(view):
            held: dict = {}
            if tenant in have_target:
                found = target_base.with_tenant(tenant).query.fetch_objects(
                    filters=Filter.by_id().contains_any([u for u, _ in page]),
                    limit=len(page),
                    return_properties=["message_count"],
                )
                held = {o.uuid: _int(o.properties.get("message_count")) for o in found.objects}
            lacking = [u for u, n in page if held.get(u, -1) < n]
            if not lacking:
                continue
            found = view.query.fetch_objects(
                filters=Filter.by_id().contains_any(lacking),
                limit=len(lacking),
                return_properties=list(COPIED),
                include_vector=same_model,
            )
            segments = [StoredSegment(o.uuid, o.properties) for o in found.objects]
            if same_model:
                vectors = np.array([_vector(o.vector) for o in found.objects], dtype=np.float32)
                copied = reembedder.write(segments, vectors, tokens=0)
            else:
                copied = reembedder.copy(segments)
            have_target.add(tenant)
            count += copied.stored
        repaired[tenant] = count
        if count:
            log.info("caught up %d segments of tenant %s in %s", count, tenant, target)
    return repaired


@dataclass
class TenantCheck:
    tenant: str
    source: int
    target: int
    in_flight: int = 0
    without_vector: int = 0
    questions: int = 0
    answered: int = 0
    found_own: int = 0
    """Questions whose own segment came back within the first 5."""
    failures: list[str] = field(default_factory=list)


@dataclass
class GateResult:
    source: str
    target: str
    checks: list[TenantCheck]

    @property
    def failures(self) -> list[str]:
        return [f"tenant {c.tenant}: {f}" for c in self.checks for f in c.failures]

    @property
    def ok(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        lines = [
            f"gate {self.source} -> {self.target}:",
            f"  {'tenant':<24} {'source':>8} {'target':>8} {'in flight':>9} "
            f"{'no vector':>9} {'answered':>9} {'own in 5':>8}",
        ]
        for c in self.checks:
            lines.append(
                f"  {c.tenant:<24} {c.source:>8} {c.target:>8} {c.in_flight:>9} "
                f"{c.without_vector:>9} {f'{c.answered}/{c.questions}':>9} {c.found_own:>8}"
            )
        lines += [f"  FAILED {f}" for f in self.failures] or ["  passed"]
        return "\n".join(lines)


def check(
    client: weaviate.WeaviateClient,
    source: str,
    target: str,
    embedder: Embedder,
    *,
    questions: int = QUESTIONS,
    in_flight_s: float = IN_FLIGHT_S,
) -> GateResult:
    """The gate over every tenant of `source` (see the module's docstring)."""
    source_base = client.collections.get(source)
    target_base = client.collections.get(target)
    target_tenants = set(target_base.tenants.get())
    recent = datetime.now(UTC) - timedelta(seconds=in_flight_s)
    checks = []
    for tenant in tenants_of(client, source):
        src = source_base.with_tenant(tenant)
        n_source = _total(src)
        if tenant not in target_tenants:
            checks.append(TenantCheck(tenant, n_source, 0, failures=["missing from the target"]))
            continue
        dst = target_base.with_tenant(tenant)
        c = TenantCheck(tenant, n_source, _total(dst))
        c.in_flight = _total(src, Filter.by_property("indexed_at").greater_or_equal(recent))
        if c.target < c.source - c.in_flight:
            c.failures.append(
                f"{c.source - c.target} of {c.source} objects missing "
                f"({c.in_flight} arrived in the last {in_flight_s:g} s)"
            )
        c.without_vector = _without_vector(dst, embedder.dim)
        if c.without_vector:
            c.failures.append(f"{c.without_vector} objects without a {embedder.dim}-d vector")
        _ask(client, target, src, embedder, c, questions)
        checks.append(c)
    return GateResult(source, target, checks)


def _total(view, filters=None) -> int:
    return int(view.aggregate.over_all(total_count=True, filters=filters).total_count or 0)


def _without_vector(view, dim: int) -> int:
    missing = 0
    after = None
    while True:
        found = view.query.fetch_objects(
            after=after, limit=PAGE, include_vector=True, return_properties=[]
        )
        if not found.objects:
            return missing
        for o in found.objects:
            vector = _vector(o.vector)
            if vector is None or len(vector) != dim:
                missing += 1
        after = found.objects[-1].uuid


def _ask(client, target, source_view, embedder: Embedder, c: TenantCheck, limit: int) -> None:
    latest = source_view.query.fetch_objects(
        limit=limit,
        sort=Sort.by_property("indexed_at", ascending=False),
        return_properties=["conversation_id", "segment", "text"],
    )
    for o in latest.objects:
        question = _question(str(o.properties.get("text") or ""))
        if not question:
            continue
        c.questions += 1
        vector = embedder.embed_queries([question])[0]
        hits = hybrid(
            client,
            target,
            c.tenant,
            question,
            vector.tolist(),
            limit=5,
            alpha=default_alpha(question, embedder),
        )
        if hits:
            c.answered += 1
        own = (str(o.properties["conversation_id"]), int(o.properties["segment"]))
        if any((h.conversation_id, h.segment) == own for h in hits):
            c.found_own += 1
    if c.answered < c.questions:
        c.failures.append(
            f"{c.questions - c.answered} of {c.questions} recent questions returned nothing"
        )


def _question(text: str) -> str:
    lines = text.split("\n")
    for line in lines:
        if line.startswith("user: "):
            return line.removeprefix("user: ").strip()
    return lines[0].partition(": ")[2].strip() if lines else ""


def _vector(stored: object) -> Any:
    return stored.get("default") if isinstance(stored, dict) else stored


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0
