"""Writing segment versions to Weaviate: the versioned collection behind the alias.

Writes go to `ChatSegment_<model version>` itself, never through the alias, so a swap
to another collection cannot redirect them. Each object is written whole, with its
vector, under its UUIDv5. A version with fewer messages than the stored one is skipped:
after a restart the flow replays from its last snapshot and re-sends shorter versions
of segments that Weaviate already holds in full, and a reader must never see a segment
lose messages.

Failures are sorted by `operators.index.failures.classify`. What Weaviate refuses (an
object, a tenant) comes back as dead letters and the rest of the batch is written. An
outage is retried with back-off, this writer being the only layer that retries (its
client is opened with `client_retries=False`); past `retry_s` of it the writer raises, so
the flow stops and recovery replays. A call failing with an error of unknown kind is
made `UNKNOWN_ATTEMPTS` times in all, then its records become dead letters too.

The retry loop is written here rather than with tenacity: the bound is on the outage, not
on one call (it starts at the outage's first failure and carries over the calls made
while it lasts), the budget depends on the kind of each failure, and the writer
reconnects and keeps the outage's state for the `weaviate_up` gauge and its log lines.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np
import weaviate
import weaviate.classes.config as wc
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.classes.tenants import Tenant
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateInsertManyAllFailedError,
)

from operators.common.clock import Clock, wall_clock_ms
from operators.common.weaviate import WeaviateUnavailableError
from operators.index import metrics
from operators.index.failures import (
    STORE_ERRORS,
    ObjectErrors,
    all_failed_messages,
    classify,
    classify_message,
    describe,
)
from operators.index.keywords import FOLDED, folded
from schemas.message import Rejected

log = logging.getLogger(__name__)

ALIAS = "ChatSegment"

UNKNOWN_ATTEMPTS = 3
"""Calls made for an error of unknown kind before its records become dead letters."""
FIRST_BACKOFF_S = 0.25
MAX_BACKOFF_S = 5.0
"""Back-off between attempts: 0.25 s, doubling, at most 5 s (and never past the bound)."""

T = TypeVar("T")
Step = Callable[[weaviate.WeaviateClient], T]
Creates = Literal["collection_and_alias", "collection", "nothing"]
"""What a writer sets up when it connects (see `SegmentWriter`)."""


class CollectionGoneError(RuntimeError):
    """A writer that creates nothing found its collection deleted (retired)."""


def collection_name(model_version: str, generation: int = 1, alias: str = ALIAS) -> str:
    """`<alias>_<model version>`, with `_g<generation>` after it from the second build on."""
    base = f"{alias}_{model_version}"
    return base if generation == 1 else f"{base}_g{generation}"


def _text(name: str, *, searchable: bool = False) -> wc.Property:
    return wc.Property(
        name=name,
        data_type=wc.DataType.TEXT,
        tokenization=wc.Tokenization.WORD if searchable else wc.Tokenization.FIELD,
        index_searchable=searchable,
    )


def segment_properties() -> list[wc.Property]:
    return [
        _text("tenant"),
        _text("conversation_id"),
        wc.Property(name="segment", data_type=wc.DataType.INT),
        _text("text", searchable=True),
        _text(FOLDED, searchable=True),
        wc.Property(
            name="message_ids",
            data_type=wc.DataType.TEXT_ARRAY,
            tokenization=wc.Tokenization.FIELD,
            index_searchable=False,
        ),
        wc.Property(name="message_count", data_type=wc.DataType.INT),
        wc.Property(name="first_event_time", data_type=wc.DataType.DATE),
        wc.Property(name="last_event_time", data_type=wc.DataType.DATE),
        wc.Property(
            name="languages",
            data_type=wc.DataType.TEXT_ARRAY,
            tokenization=wc.Tokenization.FIELD,
            index_searchable=False,
        ),
        wc.Property(
            name="sources",
            data_type=wc.DataType.TEXT_ARRAY,
            tokenization=wc.Tokenization.FIELD,
            index_searchable=False,
        ),
        _text("language"),
        _text("model_version"),
        wc.Property(name="indexed_at", data_type=wc.DataType.DATE),
    ]


def create_collection(client: weaviate.WeaviateClient, name: str) -> None:
    """Create a segment collection named `name`, or complete the one that exists."""
    if client.collections.exists(name):
        add_missing_properties(client, name)
        return
    try:
        client.collections.create(
            name,
            multi_tenancy_config=wc.Configure.multi_tenancy(enabled=True),
            vector_config=wc.Configure.Vectors.self_provided(
                vector_index_config=wc.Configure.VectorIndex.hnsw(
                    distance_metric=wc.VectorDistances.COSINE
                )
            ),
            properties=segment_properties(),
        )
    except UnexpectedStatusCodeError:
        if not client.collections.exists(name):  # not a race with another process
            raise


class Storable(Protocol):
    """What the writer stores: a segment version, or a stored segment being copied."""

    @property
    def uuid(self) -> uuid.UUID: ...

    @property
    def tenant(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def message_count(self) -> int: ...

    def properties(self, model_version: str, indexed_at_ms: int) -> dict[str, object]: ...

    def to_json(self) -> bytes: ...


S = TypeVar("S", bound=Storable)


def object_properties(seg: Storable, model_version: str, indexed_at_ms: int) -> dict[str, object]:
    """A segment's Weaviate object: its properties and the folded copy of its text."""
    return {**seg.properties(model_version, indexed_at_ms), FOLDED: folded(seg.text)}


def ensure_collection(client: weaviate.WeaviateClient, name: str, alias: str = ALIAS) -> str:
    """Create the collection, and the alias pointing at it when the alias is missing."""
    create_collection(client, name)
    found = client.alias.get(alias_name=alias)
    if found is None:
        try:
            client.alias.create(alias_name=alias, target_collection=name)
        except WeaviateBaseError:
            if client.alias.get(alias_name=alias) is None:
                raise
    elif found.collection != name:
        log.info("alias %s points at %s; writing to %s too", alias, found.collection, name)
    return name


def add_missing_properties(client: weaviate.WeaviateClient, name: str) -> None:
    """Give a collection made by an earlier layout the properties added since (its objects
    get their values when next written)."""
    collection = client.collections.get(name)
    present = {p.name for p in collection.config.get().properties}
    for prop in segment_properties():
        if prop.name not in present:
            log.info("adding property %s to %s", prop.name, name)
            try:
                collection.config.add_property(prop)
            except UnexpectedStatusCodeError:
                if prop.name not in {p.name for p in collection.config.get().properties}:
                    raise


@dataclass(frozen=True)
class Written(Generic[S]):
    """What one write did: segments stored (with when), skipped as stale, refused."""

    stored: list[tuple[S, int]]
    stale: list[S]
    rejected: list[Rejected]


class Refused(Exception):
    """Weaviate refused what a call was about, or failed on it in a way not known
    `UNKNOWN_ATTEMPTS` times: its records become dead letters with `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def backoff_s(attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...)."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (attempt - 1))


class SegmentWriter:
    """Upserts segment versions into one tenant-per-customer collection.

    `connect` opens a client; pass one opened with `client_retries=False`, so that
    `retry_s` bounds an outage (the client's own retries would add a minute per call).
    `collection` names the collection (default `<alias>_<model version>`); `creates` says
    what the writer sets up when it connects: the collection and, when missing, the alias
    pointing at it; the collection only; or nothing (a collection that is gone raises
    `CollectionGoneError`). `sleep` and `monotonic` are for tests.
    """

    def __init__(
        self,
        connect: Callable[[], weaviate.WeaviateClient],
        model_version: str,
        *,
        collection: str | None = None,
        creates: Creates = "collection_and_alias",
        alias: str = ALIAS,
        retry_s: float = 60.0,
        clock: Clock = wall_clock_ms,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._model_version = model_version
        self._name = collection or collection_name(model_version, alias=alias)
        self._creates = creates
        self._alias = alias
        self._retry_s = retry_s
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._client: weaviate.WeaviateClient | None = None
        self._tenants: set[str] = set()
        self._lock = threading.Lock()  # worker threads of one process share the writer
        self._closes_at_exit = False
        self._down_since: float | None = None  # monotonic time of an outage's first failure
        self._down_attempts = 0
        metrics.WEAVIATE_UP.set(1)

    @property
    def name(self) -> str:
        return self._name

    @property
    def model_version(self) -> str:
        return self._model_version

    def write(self, segments: Sequence[S], vectors: np.ndarray) -> Written[S]:
        """Store segments (one version each) with their vectors.

        Returns what was stored, what was stale and the dead letters of what Weaviate
        refused; raises `WeaviateUnavailableError` when Weaviate stays out of reach for
        `retry_s`.
        """
        by_tenant: dict[str, list[tuple[S, np.ndarray]]] = {}
        for seg, vec in zip(segments, vectors, strict=True):
            by_tenant.setdefault(seg.tenant, []).append((seg, vec))
        stored: list[tuple[S, int]] = []
        stale: list[S] = []
        rejected: list[Rejected] = []
        with self._lock:
            for tenant, items in by_tenant.items():
                s, st, r = self._write_tenant(tenant, items)
                stored.extend(s)
                stale.extend(st)
                rejected.extend(r)
        return Written(stored, stale, rejected)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # a client that lost its server may fail to close
                log.debug("closing the Weaviate client failed: %s", exc)

    # --- one tenant's segments --------------------------------------------------------

    def _write_tenant(
        self, tenant: str, items: list[tuple[S, np.ndarray]]
    ) -> tuple[list[tuple[S, int]], list[S], list[Rejected]]:
        ids = [seg.uuid for seg, _ in items]
        try:
            self._run(lambda client: self._ensure_tenant(client, tenant), f"tenant {tenant!r}")
            counts = self._run(
                lambda client: _stored_counts(self._tenant_of(client, tenant), ids),
                f"the stored versions of {len(ids)} segments of tenant {tenant!r}",
            )
        except Refused as exc:
            return [], [], [self._dead_letter(seg, exc.message) for seg, _ in items]
        fresh = [(s, v) for s, v in items if s.message_count >= counts.get(s.uuid, 0)]
        stale = [s for s, _ in items if s.message_count < counts.get(s.uuid, 0)]
        if not fresh:
            return [], stale, []
        stored, rejected = self._insert(tenant, fresh)
        return stored, stale, rejected

    def _insert(
        self, tenant: str, items: list[tuple[S, np.ndarray]]
    ) -> tuple[list[tuple[S, int]], list[Rejected]]:
        """Insert; refused objects are dead letters, the others are sent again."""
        stored: list[tuple[S, int]] = []
        rejected: list[Rejected] = []
        pending = [(seg, vec.tolist()) for seg, vec in items]
        last_error: dict[object, str] = {}

        def attempt(client: weaviate.WeaviateClient) -> None:
            nonlocal pending
            collection = self._tenant_of(client, tenant)
            indexed_at = self._clock()
            objects = [
                DataObject(
                    uuid=seg.uuid,
                    properties=object_properties(seg, self._model_version, indexed_at),
                    vector=vec,
                )
                for seg, vec in pending
            ]
            errors = _insert_many(collection, objects)
            acked = self._clock()
            again = []
            for i, (seg, vec) in enumerate(pending):
                message = errors.get(i)
                if message is None:
                    stored.append((seg, acked))
                    continue
                kind = classify_message(message)
                metrics.WEAVIATE_ERRORS.labels(kind=kind).inc()
                if kind == "refused":
                    rejected.append(self._dead_letter(seg, message))
                else:
                    again.append((seg, vec))
                    last_error[seg.uuid] = message
            pending = again
            if again:
                raise ObjectErrors([last_error[seg.uuid] for seg, _ in again])

        try:
            self._run(attempt, f"{len(items)} objects of tenant {tenant!r}")
        except Refused as exc:
            rejected += [
                self._dead_letter(seg, last_error.get(seg.uuid, exc.message)) for seg, _ in pending
            ]
        return stored, rejected

    # --- retrying -----------------------------------------------------------------------

    def _run(self, step: Step[T], about: str) -> T:
        """`step` with a ready client, until it returns or its failure is decided.

        Unavailable: wait and retry until the outage has lasted `retry_s`, then raise.
        Unknown: retry, `UNKNOWN_ATTEMPTS` calls in all. Refused, or unknown that many
        times: raise `Refused` for the records the step is `about`; but a failure to
        connect or to set up the collection is raised as it is (no record caused it).
        """
        unknown = 0
        while True:
            ready = False
            try:
                client = self._ready()
                ready = True
                result = step(client)
            except STORE_ERRORS as exc:
                kind = classify(exc)
                if not isinstance(exc, ObjectErrors):  # an insert counts its objects' errors
                    metrics.WEAVIATE_ERRORS.labels(kind=kind).inc()
                if kind == "unavailable":
                    self.close()  # the next attempt reconnects on a fresh channel
                    self._wait_out(exc)
                    continue
                if kind == "unknown":
                    self.close()  # and reloads the collection and its tenants
                    unknown += 1
                    if unknown < UNKNOWN_ATTEMPTS:
                        delay = backoff_s(unknown)
                        log.warning(
                            "weaviate failed on %s (unknown error, attempt %d of %d), "
                            "retrying in %.2f s: %s",
                            about if ready else f"connecting to {self.name}",
                            unknown,
                            UNKNOWN_ATTEMPTS,
                            delay,
                            exc,
                        )
                        metrics.WEAVIATE_RETRIES.labels(kind="unknown").inc()
                        self._sleep(delay)
                        continue
                if not ready:
                    raise
                if kind == "unknown":
                    log.error(
                        "weaviate failed %d times on %s with an error of unknown kind; "
                        "its segments become dead letters (index_rejected): %s",
                        unknown,
                        about,
                        exc,
                    )
                else:
                    log.warning("weaviate refused %s; dead letters: %s", about, describe(exc))
                raise Refused(describe(exc)) from exc
            self._reachable()
            return result

    def _wait_out(self, exc: BaseException) -> None:
        """Sleep before the next attempt in an outage; raise once it has lasted `retry_s`."""
        now = self._monotonic()
        if self._down_since is None:
            self._down_since, self._down_attempts = now, 0
            metrics.WEAVIATE_UP.set(0)
        self._down_attempts += 1
        down = now - self._down_since
        if down >= self._retry_s:
            attempts, self._down_since = self._down_attempts, None
            log.error(
                "weaviate unreachable for %.1f s (%d attempts), past the %g s bound "
                "(HEADWATER_INDEX_RETRY_S); stopping: %s",
                down,
                attempts,
                self._retry_s,
                exc,
            )
            raise WeaviateUnavailableError(
                f"unreachable for {down:.1f} s ({attempts} attempts), past the "
                f"{self._retry_s:g} s retry bound: {exc}"
            ) from exc
        delay = min(backoff_s(self._down_attempts), self._retry_s - down)
        log.warning(
            "weaviate unavailable (attempt %d, down %.1f s of %g s allowed), "
            "retrying in %.2f s: %s",
            self._down_attempts,
            down,
            self._retry_s,
            delay,
            exc,
        )
        metrics.WEAVIATE_RETRIES.labels(kind="unavailable").inc()
        self._sleep(delay)

    def _reachable(self) -> None:
        if self._down_since is not None:
            log.warning(
                "weaviate reachable again after %.1f s (%d failed attempts)",
                self._monotonic() - self._down_since,
                self._down_attempts,
            )
            self._down_since = None
        metrics.WEAVIATE_UP.set(1)

    # --- the client ---------------------------------------------------------------------

    def _ready(self) -> weaviate.WeaviateClient:
        """The connected client, with the collection and the alias in place."""
        if self._client is None:
            client = self._connect()
            try:
                if self._creates == "collection_and_alias":
                    ensure_collection(client, self.name, self._alias)
                elif self._creates == "collection":
                    create_collection(client, self.name)
                elif not client.collections.exists(self.name):
                    raise CollectionGoneError(f"collection {self.name} does not exist")
                tenants = set(client.collections.get(self.name).tenants.get())
            except BaseException:
                with contextlib.suppress(Exception):
                    client.close()
                raise
            self._client, self._tenants = client, tenants
            if not self._closes_at_exit:
                atexit.register(self.close)  # map steps have no shutdown hook
                self._closes_at_exit = True
        return self._client

    def _ensure_tenant(self, client: weaviate.WeaviateClient, tenant: str) -> None:
        if tenant not in self._tenants:
            client.collections.get(self.name).tenants.create([Tenant(name=tenant)])
            self._tenants.add(tenant)

    def _tenant_of(self, client: weaviate.WeaviateClient, tenant: str):
        self._ensure_tenant(client, tenant)  # a reconnect forgot which tenants exist
        return client.collections.get(self.name).with_tenant(tenant)

    def _dead_letter(self, seg: Storable, message: str) -> Rejected:
        return _dead_letter(seg, message, self._clock())


def _stored_counts(collection, ids: list) -> dict:
    found = collection.query.fetch_objects(
        filters=Filter.by_id().contains_any(ids),
        limit=len(ids),
        return_properties=["message_count"],
    )
    return {obj.uuid: int(obj.properties["message_count"]) for obj in found.objects}


def _insert_many(collection, objects: list[DataObject[Any, Any]]) -> dict[int, str]:
    """Each failed object's error, by its index in `objects`."""
    try:
        result = collection.data.insert_many(objects)
    except WeaviateInsertManyAllFailedError as exc:
        messages = all_failed_messages(exc)
        if len(messages) == 1 or len(objects) == 1:
            return dict.fromkeys(range(len(objects)), messages[0])
        # Every object failed, with several errors: which is whose is lost, so each object
        # is sent alone once more for its own.
        errors: dict[int, str] = {}
        for i, obj in enumerate(objects):
            errors.update((i, m) for m in _insert_many(collection, [obj]).values())
        return errors
    return {i: e.message for i, e in result.errors.items()}


def _dead_letter(seg: Storable, message: str, at_ms: int) -> Rejected:
    return Rejected(
        reason="index_rejected",
        errors=(message,),
        source="index",
        tenant=seg.tenant,
        received_at=at_ms,
        raw=seg.to_json().decode(),
    )
