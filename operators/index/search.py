"""Searching a tenant's segments: the hybrid query (BM25 + vector) every query path runs,
and which collection (and so which model) an alias serves.

A query is embedded with the model of the collection it reads. `serving_collection`
reads the alias target, whose name carries the model version
(`ChatSegment_<model version>`, with `_g<generation>` after it for a second build under
one model); `check_model` refuses a query vector from another model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import weaviate
from weaviate.classes.query import HybridFusion, MetadataQuery

from operators.index.writer import ALIAS

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


def check_model(serving: Serving, model_version: str) -> None:
    if serving.model_version != model_version:
        raise ModelMismatchError(
            f"{serving.alias} serves {serving.collection}, embedded by model "
            f"{serving.model_version}; this embedder is {model_version} "
            "(set HEADWATER_EMBEDDING_MODEL_DIR to that model, or reindex)"
        )


def hybrid(
    client: weaviate.WeaviateClient,
    collection: str,
    tenant: str,
    question: str,
    vector: Sequence[float],
    *,
    limit: int = 3,
    alpha: float = 0.5,
) -> list[Hit]:
    """The best segments of `tenant` in `collection` for `question` and its `vector`."""
    res = (
        client.collections.get(collection)
        .with_tenant(tenant)
        .query.hybrid(
            query=question,
            vector=list(vector),
            alpha=alpha,
            limit=limit,
            fusion_type=HybridFusion.RELATIVE_SCORE,
            return_properties=list(RETURNED),
            return_metadata=MetadataQuery(score=True),
        )
    )
    return [hit_of(o.properties, o.metadata.score) for o in res.objects]


def hit_of(properties: Mapping[str, Any], score: float | None) -> Hit:
    return Hit(
        str(properties["conversation_id"]),
        int(properties["segment"]),
        str(properties["text"]),
        [str(m) for m in properties["message_ids"]],
        float(score or 0.0),
    )
