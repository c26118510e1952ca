"""Which segment collections exist, which one the alias serves, and moving the alias.

The alias says which collection serves. Beside it Headwater keeps a registry (the Weaviate
collection `HeadwaterCollections`, one object per versioned collection) of the
collections in rotation: the one being built, the one serving, and those the alias left,
kept for a rollback until they are retired. The live index writes to every collection in
rotation (`operators.index.fanout`), so each of them has every message: a swap or a
rollback changes what is read, never what is stored.

A collection's name is `<alias>_<model version>`, with `_g<n>` after it from the second
build under one model on (`operators.index.writer.collection_name`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import weaviate
import weaviate.classes.config as wc
from weaviate.classes.query import Filter
from weaviate.exceptions import UnexpectedStatusCodeError

from operators.common.clock import Clock, wall_clock_ms
from operators.index.writer import ALIAS, collection_name, create_collection

REGISTRY = "HeadwaterCollections"
REGISTRY_NAMESPACE = uuid.UUID("3c1f0b5e-2a7d-5e19-8c64-1b9d7e0a4f22")

RETIRE_GRACE_S = 86_400.0
"""How long a collection the alias left is kept for a rollback before `retire` deletes it."""
RETIRE_DRAIN_S = 3.0
"""Between unregistering a collection and deleting it: longer than the live index's
refresh of its write targets, so no write recreates what was just deleted."""

State = Literal["building", "serving", "standby", "unregistered"]
"""building: a build started and the alias never served it; serving: the alias target;
standby: in rotation, the alias left it (or a swap to it was rolled back);
unregistered: a versioned collection outside the rotation (made before the registry)."""

_GENERATION = re.compile(r"_g(\d+)$")


def generation_of(collection: str) -> int:
    """The generation in a versioned collection's name: 1 without `_g<n>`."""
    found = _GENERATION.search(collection)
    return int(found[1]) if found else 1


class RegistryError(RuntimeError):
    """A move the rotation does not allow (retiring what serves, rolling back to nothing)."""


@dataclass(frozen=True)
class Entry:
    """A versioned collection and where it stands."""

    collection: str
    model_version: str
    generation: int
    state: State
    created_ms: int = 0
    left_ms: int = 0
    """When the alias last left it (standby since); 0 while it serves or was never served."""


class Registry:
    """The rotation of one alias's collections, kept in Weaviate beside them."""

    def __init__(
        self,
        client: weaviate.WeaviateClient,
        alias: str = ALIAS,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.alias = alias
        self._clock = clock
        self._sleep = sleep
        self._versioned = re.compile(rf"^{re.escape(alias)}_(?P<model>[0-9A-Za-z-]+?)(?:_g\d+)?$")

    # -- reading -------------------------------------------------------------------------

    def serving(self) -> str | None:
        found = self._client.alias.get(alias_name=self.alias)
        return None if found is None else found.collection

    def entries(self) -> list[Entry]:
        """Every versioned collection of the alias, registered or not, oldest first."""
        serving = self.serving()
        existing = self._existing()
        registered = self._registered(existing)
        entries = []
        for name in sorted(n for n in existing if self._versioned.match(n)):
            record = registered.get(name)
            model = self._versioned.match(name)
            assert model is not None
            if name == serving:
                state: State = "serving"
            elif record is None:
                state = "unregistered"
            else:
                state = "standby" if record.get("left_ms") else "building"
            entries.append(
                Entry(
                    name,
                    model["model"],
                    generation_of(name),
                    state,
                    int(record.get("created_ms") or 0) if record else 0,
                    int(record.get("left_ms") or 0) if record else 0,
                )
            )
        return sorted(entries, key=lambda e: (e.created_ms, e.collection))

    def in_rotation(self) -> list[Entry]:
        """The collections the live index writes to: the serving one and every registered
        one (building or standby)."""
        return [e for e in self.entries() if e.state in ("serving", "building", "standby")]

    # -- moving --------------------------------------------------------------------------

    def begin_build(self, model_version: str, *, new_generation: bool = False) -> Entry:
        """The collection a build for `model_version` writes to: the one being built for
        it already, else a new one (the next generation when the name is taken)."""
        name, exists = self.build_name(model_version, new_generation=new_generation)
        if not exists:
            create_collection(self._client, name)
            self._record(name, model_version, left_ms=0)
        return next(e for e in self.entries() if e.collection == name)

    def build_name(self, model_version: str, *, new_generation: bool = False) -> tuple[str, bool]:
        """The collection `begin_build` would write to, and whether it is building already."""
        entries = self.entries()
        if not new_generation:
            for e in entries:
                if e.model_version == model_version and e.state == "building":
                    return e.collection, True
        taken = [e.generation for e in entries if e.model_version == model_version]
        return collection_name(model_version, max(taken, default=0) + 1, self.alias), False

    def register(self, collection: str) -> None:
        """Put a collection that exists (the serving one, made before the registry) in
        the rotation, so it stays written to after the alias leaves it."""
        match = self._versioned.match(collection)
        existing = self._existing()
        if match is None or collection not in existing:
            raise RegistryError(f"{collection!r} is not a collection of alias {self.alias}")
        if collection not in self._registered(existing):
            left = 0 if collection == self.serving() else self._clock()
            self._record(collection, match["model"], left_ms=left)

    def point_alias(self, collection: str) -> str | None:
        """Point the alias at `collection` (in one update); the collection it left."""
        if not self._client.collections.exists(collection):
            raise RegistryError(f"collection {collection} does not exist")
        previous = self.serving()
        if previous is not None:
            self.register(previous)
        self.register(collection)
        if previous is None:
            self._client.alias.create(alias_name=self.alias, target_collection=collection)
        elif previous != collection:
            self._client.alias.update(alias_name=self.alias, new_target_collection=collection)
            self._set_left(previous, self._clock())
        self._set_left(collection, 0)
        return previous

    def rollback_target(self) -> str:
        """The collection the alias left last: where a rollback points it."""
        standby = [e for e in self.entries() if e.state == "standby"]
        if not standby:
            raise RegistryError(f"alias {self.alias} has no collection to roll back to")
        return max(standby, key=lambda e: e.left_ms).collection

    def retire(
        self, collection: str | None = None, *, grace_s: float = RETIRE_GRACE_S
    ) -> list[str]:
        """Delete `collection`, or every standby collection the alias left over `grace_s`
        ago. The serving collection is never deleted. Returns what was deleted."""
        entries = {e.collection: e for e in self.entries()}
        if collection is not None:
            entry = entries.get(collection)
            if entry is None:
                raise RegistryError(f"no collection {collection} behind alias {self.alias}")
            if entry.state == "serving":
                raise RegistryError(f"{collection} serves alias {self.alias}; swap first")
            doomed = [collection]
        else:
            cutoff = self._clock() - grace_s * 1000
            doomed = [
                e.collection
                for e in entries.values()
                if e.state == "standby" and e.left_ms <= cutoff
            ]
        if not doomed:
            return []
        for name in doomed:
            self._unrecord(name)
        self._sleep(RETIRE_DRAIN_S)
        for name in doomed:
            self._client.collections.delete(name)
        return doomed

    # -- the registry collection -----------------------------------------------------------

    def _existing(self) -> set[str]:
        """Every collection's name, read once per call that needs them."""
        return set(self._client.collections.list_all(simple=True))

    def _registry(self):
        if not self._client.collections.exists(REGISTRY):
            try:
                self._client.collections.create(
                    REGISTRY,
                    vector_config=wc.Configure.Vectors.self_provided(),
                    properties=[
                        wc.Property(
                            name="alias",
                            data_type=wc.DataType.TEXT,
                            tokenization=wc.Tokenization.FIELD,
                        ),
                        wc.Property(
                            name="collection",
                            data_type=wc.DataType.TEXT,
                            tokenization=wc.Tokenization.FIELD,
                        ),
                        wc.Property(
                            name="model_version",
                            data_type=wc.DataType.TEXT,
                            tokenization=wc.Tokenization.FIELD,
                        ),
                        wc.Property(name="created_ms", data_type=wc.DataType.INT),
                        wc.Property(name="left_ms", data_type=wc.DataType.INT),
                    ],
                )
            except UnexpectedStatusCodeError:
                if not self._client.collections.exists(REGISTRY):
                    raise
        return self._client.collections.get(REGISTRY)

    def _registered(self, existing: set[str]) -> dict[str, dict]:
        """The records of the collections in `existing` (a record outlives a collection
        deleted by hand)."""
        if REGISTRY not in existing:
            return {}
        found = self._client.collections.get(REGISTRY).query.fetch_objects(
            filters=Filter.by_property("alias").equal(self.alias), limit=1000
        )
        return {
            str(o.properties["collection"]): dict(o.properties)
            for o in found.objects
            if str(o.properties["collection"]) in existing
        }

    def _uuid(self, collection: str) -> uuid.UUID:
        return uuid.uuid5(REGISTRY_NAMESPACE, f"{self.alias}\x1f{collection}")

    def _record(self, collection: str, model_version: str, *, left_ms: int) -> None:
        properties = {
            "alias": self.alias,
            "collection": collection,
            "model_version": model_version,
            "created_ms": self._clock(),
            "left_ms": left_ms,
        }
        registry, key = self._registry(), self._uuid(collection)
        if registry.data.exists(key):  # the record of a collection deleted by hand
            registry.data.replace(uuid=key, properties=properties)
        else:
            registry.data.insert(properties, uuid=key)

    def _set_left(self, collection: str, left_ms: int) -> None:
        self._registry().data.update(uuid=self._uuid(collection), properties={"left_ms": left_ms})

    def _unrecord(self, collection: str) -> None:
        self._registry().data.delete_by_id(self._uuid(collection))
