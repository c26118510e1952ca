"""Writing segment versions to Weaviate: the versioned collection behind the alias.

Writes go to `ChatSegment_<model version>` itself, never through the alias, so a swap
to another collection cannot redirect them. Each object is written whole, with its
vector, under its UUIDv5. A version with fewer messages than the stored one is skipped:
after a restart the flow replays from its last snapshot and re-sends shorter versions
of segments that Weaviate already holds in full, and a reader must never see a segment
lose messages. Objects Weaviate refuses come back as dead letters; connection failures
are retried, then raised so the flow stops and recovery replays.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import weaviate
import weaviate.classes.config as wc
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.classes.tenants import Tenant
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
    WeaviateTimeoutError,
)

from operators.common.clock import Clock, wall_clock_ms
from schemas.message import Rejected
from schemas.segment import Segment

log = logging.getLogger(__name__)

ALIAS = "ChatSegment"

RETRIABLE = (
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateTimeoutError,
    WeaviateQueryError,
    ConnectionError,
    TimeoutError,
)


def collection_name(model_version: str) -> str:
    return f"{ALIAS}_{model_version}"


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
        _text("model_version"),
        wc.Property(name="indexed_at", data_type=wc.DataType.DATE),
    ]


def ensure_collection(client: weaviate.WeaviateClient, model_version: str) -> str:
    """Create the versioned collection and the alias when missing; the collection's name."""
    name = collection_name(model_version)
    if not client.collections.exists(name):
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
    alias = client.alias.get(alias_name=ALIAS)
    if alias is None:
        try:
            client.alias.create(alias_name=ALIAS, target_collection=name)
        except WeaviateBaseError:
            if client.alias.get(alias_name=ALIAS) is None:
                raise
    elif alias.collection != name:
        log.warning(
            "alias %s points at %s; writing to %s (not through the alias)",
            ALIAS,
            alias.collection,
            name,
        )
    return name


@dataclass(frozen=True)
class Written:
    """What one write did: segments stored (with when), skipped as stale, refused."""

    stored: list[tuple[Segment, int]]
    stale: list[Segment]
    rejected: list[Rejected]


class SegmentWriter:
    """Upserts segment versions into one tenant-per-customer collection."""

    def __init__(
        self,
        connect: Callable[[], weaviate.WeaviateClient],
        model_version: str,
        *,
        retry_s: float = 60.0,
        clock: Clock = wall_clock_ms,
    ) -> None:
        self._connect = connect
        self._model_version = model_version
        self._retry_s = retry_s
        self._clock = clock
        self._client: weaviate.WeaviateClient | None = None
        self._tenants: set[str] = set()
        self._lock = threading.Lock()  # worker threads of one process share the writer

    @property
    def name(self) -> str:
        return collection_name(self._model_version)

    def write(self, segments: Sequence[Segment], vectors: np.ndarray) -> Written:
        """Store segments (one version each) with their vectors; retry what is retriable."""
        by_tenant: dict[str, list[tuple[Segment, np.ndarray]]] = {}
        for seg, vec in zip(segments, vectors, strict=True):
            by_tenant.setdefault(seg.tenant, []).append((seg, vec))
        stored: list[tuple[Segment, int]] = []
        stale: list[Segment] = []
        rejected: list[Rejected] = []
        with self._lock:
            for tenant, items in by_tenant.items():
                s, st, r = self._retrying(functools.partial(self._write_tenant, tenant, items))
                stored.extend(s)
                stale.extend(st)
                rejected.extend(r)
        return Written(stored, stale, rejected)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _retrying(self, call: Callable[[], tuple]) -> tuple:
        for attempt in Retrying(
            stop=stop_after_delay(self._retry_s),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(RETRIABLE),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        ):
            with attempt:
                try:
                    return call()
                except RETRIABLE:
                    self.close()  # reconnect on the next attempt
                    raise
        raise AssertionError("unreachable")

    def _collection(self, tenant: str):
        if self._client is None:
            self._client = self._connect()
            atexit.register(self.close)  # map steps have no shutdown hook
            ensure_collection(self._client, self._model_version)
            self._tenants = {t for t in self._client.collections.get(self.name).tenants.get()}
        collection = self._client.collections.get(self.name)
        if tenant not in self._tenants:
            collection.tenants.create([Tenant(name=tenant)])
            self._tenants.add(tenant)
        return collection.with_tenant(tenant)

    def _write_tenant(
        self, tenant: str, items: list[tuple[Segment, np.ndarray]]
    ) -> tuple[list[tuple[Segment, int]], list[Segment], list[Rejected]]:
        collection = self._collection(tenant)
        stored_counts = self._stored_counts(collection, [seg.uuid for seg, _ in items])
        fresh = [(s, v) for s, v in items if len(s.lines) >= stored_counts.get(s.uuid, 0)]
        stale = [s for s, _ in items if len(s.lines) < stored_counts.get(s.uuid, 0)]
        if not fresh:
            return [], stale, []
        indexed_at = self._clock()
        objects = [
            DataObject(
                uuid=seg.uuid,
                properties=seg.properties(self._model_version, indexed_at),
                vector=vec.tolist(),
            )
            for seg, vec in fresh
        ]
        try:
            result = collection.data.insert_many(objects)
            errors = {i: e.message for i, e in result.errors.items()}
        except WeaviateInsertManyAllFailedError as exc:
            errors = dict.fromkeys(range(len(objects)), str(exc))
        acked = self._clock()
        stored = [(seg, acked) for i, (seg, _) in enumerate(fresh) if i not in errors]
        rejected = [_dead_letter(fresh[i][0], message, acked) for i, message in errors.items()]
        return stored, stale, rejected

    @staticmethod
    def _stored_counts(collection, ids: list) -> dict:
        found = collection.query.fetch_objects(
            filters=Filter.by_id().contains_any(ids),
            limit=len(ids),
            return_properties=["message_count"],
        )
        return {obj.uuid: int(obj.properties["message_count"]) for obj in found.objects}


def _dead_letter(seg: Segment, message: str, at_ms: int) -> Rejected:
    return Rejected(
        reason="index_rejected",
        errors=(message,),
        source="index",
        tenant=seg.tenant,
        received_at=at_ms,
        raw=seg.to_json().decode(),
    )
