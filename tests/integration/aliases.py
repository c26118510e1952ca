"""Removing what a test made behind an alias of its own."""

from __future__ import annotations

import weaviate
from weaviate.classes.query import Filter

from operators.reindex.registry import REGISTRY


def drop_alias(client: weaviate.WeaviateClient, alias: str) -> None:
    """Delete `alias`, its collections (`<alias>_*`) and its records in the rotation."""
    if client.alias.get(alias_name=alias) is not None:
        client.alias.delete(alias_name=alias)
    for collection in client.collections.list_all(simple=True):
        if collection.startswith(f"{alias}_"):
            client.collections.delete(collection)
    if client.collections.exists(REGISTRY):
        client.collections.get(REGISTRY).data.delete_many(
            where=Filter.by_property("alias").equal(alias)
        )
