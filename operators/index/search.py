"""Searching a tenant's segments: the hybrid query (BM25 + vector) every query path runs,
and which collection (and so which model) an alias serves.

A query is embedded with the model of the collection it reads. `serving_collection`
reads the alias target, whose name carries the model version
(`ChatSegment_<model version>`, with `_g<generation>` after it for a second build under
one model); `query_embedder` loads that model, or refuses with `ModelMismatchError` when
it is not built here.

The keyword side searches the exact text and its folded copy (`operators.index.keywords`)
with the question and its folded form.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import weaviate
from weaviate.classes.query import MetadataQuery

from models import Embedder, ModelNotBuiltError, load_embedder_of_version
from operators.index.keywords import FOLDED, KEYWORD_PROPERTIES, keyword_query
from operators.index.writer import ALIAS
from operators.ingest.normalize import detect_language

RETURNED = ("conversation_id", "segment", "text", "message_ids")
"""The properties a search returns."""

_VERSIONED = re.compile(r"^[A-Za-z][A-Za-z0-9]*_(?P<model>[0-9A-Za-z-]+?)(?:_g\d+)?$")


@dataclass(frozen=True)
class Hit:
    conversation_id: str
    segment: int
    text: str
    message_ids: list[str]
    score: float


@dataclass(frozen=True)
class Serving:
    """The collection an alias points at, and the model version its vectors come from."""

    alias: str
    collection: str
    model_version: str


class ModelMismatchError(RuntimeError):
    """The query would be embedded by another model than the collection's."""


def model_version_of(collection: str) -> str:
    """The model version in a versioned collection's name (`ChatSegment_<version>[_g<n>]`)."""
    match = _VERSIONED.match(collection)
    if match is None:
        raise ValueError(f"{collection!r} is not a versioned collection name")
    return match["model"]


def serving_collection(client: weaviate.WeaviateClient, alias: str = ALIAS) -> Serving | None:
    """What `alias` points at now; None while it does not exist (nothing indexed yet)."""
    found = client.alias.get(alias_name=alias)
    if found is None:
        return None
    return Serving(alias, found.collection, model_version_of(found.collection))


def query_embedder(serving: Serving, threads: int | None = None) -> Embedder:
    """The embedder of the model whose vectors `serving`'s collection holds."""
    try:
        return load_embedder_of_version(serving.model_version, threads)
    except ModelNotBuiltError as exc:
        raise ModelMismatchError(
            f"{serving.alias} serves {serving.collection}, embedded by model "
            f"{serving.model_version}, which is not built here: {exc}"
        ) from None


FOLDED_RECHECK_S = 60.0
"""How long a collection found without the folded copy is believed to lack it."""
_folded: dict[str, tuple[bool, float]] = {}


def keyword_properties(client: weaviate.WeaviateClient, collection: str) -> list[str]:
    """The properties BM25 searches: `text`, and its folded copy where the collection has
    one (a collection made before it was added has only `text` until the index adds it)."""
    has, checked = _folded.get(collection, (False, -math.inf))
    if not has and time.monotonic() - checked > FOLDED_RECHECK_S:
        config = client.collections.get(collection).config.get()
        has = any(p.name == FOLDED for p in config.properties)
        _folded[collection] = (has, time.monotonic())
    return list(KEYWORD_PROPERTIES) if has else ["text"]


MODEL_ALPHA = 1.0
"""The vector's weight for a question the model reads well (with its diacritics, or in
English, and no code in it): keywords add nothing there, and for a question asked across
languages they pull the wrong conversations up (benchmarks/README.md, "Retrieval")."""
KEYWORD_ALPHA = 0.5
"""The vector's weight for a question the model reads poorly: Vietnamese typed without
marks, or one with a code in it (an order number, a product code). On the retrieval set
the vector alone finds 0.56 of the unmarked questions' answers within 3, keywords 1.00."""


MONOLINGUAL_ALPHA = 0.5
"""The vector's weight with a model that has no language means (MiniLM): its vectors read
Vietnamese poorly, so keywords keep half the weight for every question."""


def default_alpha(question: str, embedder: Embedder) -> float:
    """The hybrid weight of the vector side for `question` when the caller names none."""
    if not embedder.language_means:
        return MONOLINGUAL_ALPHA
    return question_alpha(question)


def question_alpha(question: str) -> float:
    """`MODEL_ALPHA`, or `KEYWORD_ALPHA` for a question the model reads poorly.

    >>> question_alpha("Tôi muốn hủy đơn hàng"), question_alpha("how do I cancel my order?")
    (1.0, 1.0)
    >>> question_alpha("toi muon huy don hang"), question_alpha("đơn DH240501123 đâu rồi?")
    (0.5, 0.5)
    """
    if any(c.isdigit() for c in question):
        return KEYWORD_ALPHA
    if question.isascii() and detect_language(question) != "en":
        return KEYWORD_ALPHA
    return MODEL_ALPHA


CANDIDATES = 20
"""Candidates each side of a hybrid query fetches at least (twice `limit` when more)."""


@dataclass(frozen=True)
class Candidate:
    properties: Mapping[str, Any]
    score: float


def hybrid(
    client: weaviate.WeaviateClient,
    collection: str,
    tenant: str,
    question: str,
    vector: Sequence[float],
    *,
    limit: int = 3,
    alpha: float = MONOLINGUAL_ALPHA,
) -> list[Hit]:
    """The best segments of `tenant` in `collection` for `question` and its `vector`;
    `alpha` weights the vector side (see `default_alpha`).

    Each side fetches its own candidates (`CANDIDATES`, or twice `limit` when more) and
    `fuse` ranks them here, so for any `limit` up to 10 the candidates are the same and
    asking for more hits never reorders the first ones.
    """
    tenant_view = client.collections.get(collection).with_tenant(tenant)
    depth = max(CANDIDATES, 2 * limit)
    returned = list(RETURNED)
    by_vector: list[Candidate] = []
    by_keywords: list[Candidate] = []
    if alpha > 0:
        found = tenant_view.query.near_vector(
            list(vector),
            limit=depth,
            return_properties=returned,
            return_metadata=MetadataQuery(distance=True),
        )
        by_vector = [Candidate(o.properties, 1 - (o.metadata.distance or 0)) for o in found.objects]
    if alpha < 1:
        found = tenant_view.query.bm25(
            query=keyword_query(question),
            query_properties=keyword_properties(client, collection),
            limit=depth,
            return_properties=returned,
            return_metadata=MetadataQuery(score=True),
        )
        by_keywords = [Candidate(o.properties, o.metadata.score or 0.0) for o in found.objects]
    return fuse(by_vector, by_keywords, alpha=alpha, limit=limit)


def fuse(
    by_vector: Sequence[Candidate], by_keywords: Sequence[Candidate], *, alpha: float, limit: int
) -> list[Hit]:
    """Relative-score fusion (Weaviate's `relativeScoreFusion`): each side's scores scaled
    to 0..1 over its candidates, `alpha` times the vector's plus 1 - `alpha` times the
    keywords'; a candidate one side did not return scores 0 there."""
    vector_scores, keyword_scores = _relative(by_vector), _relative(by_keywords)
    properties = {_key(c.properties): c.properties for c in [*by_keywords, *by_vector]}
    fused = {
        key: alpha * vector_scores.get(key, 0.0) + (1 - alpha) * keyword_scores.get(key, 0.0)
        for key in properties
    }
    best = sorted(fused, key=lambda key: (-fused[key], key))[:limit]
    return [hit_of(properties[key], fused[key]) for key in best]


def _relative(candidates: Sequence[Candidate]) -> dict[tuple[str, int], float]:
    if not candidates:
        return {}
    low = min(c.score for c in candidates)
    spread = max(c.score for c in candidates) - low
    return {_key(c.properties): (c.score - low) / spread if spread > 0 else 1.0 for c in candidates}


def _key(properties: Mapping[str, Any]) -> tuple[str, int]:
    return str(properties["conversation_id"]), int(properties["segment"])


def hit_of(properties: Mapping[str, Any], score: float | None) -> Hit:
    return Hit(
        str(properties["conversation_id"]),
        int(properties["segment"]),
        str(properties["text"]),
        [str(m) for m in properties["message_ids"]],
        float(score or 0.0),
    )
