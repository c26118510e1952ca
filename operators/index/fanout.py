"""Writing each segment version to every collection in rotation, not only the serving one.

While a reindex builds a new collection, and after a swap until the old one is retired, a
message must reach both: the new one, so nothing received during the build is missing
after the swap, and the old one, so a rollback loses nothing either. `WriteTargets` reads
the rotation (`operators.reindex.registry`) every `refresh_s`; `FanOutWriter` writes the
primary collection (the one of the index's own model) and mirrors what it stored to the
others, embedding again with a target's own model when it differs.

A mirror is best effort: its failures are logged and counted
(`headwater_index_mirrored_segments_total{outcome="failed"}`), never stop the flow, and
never make dead letters; the reindex's catch-up before a swap copies what a mirror missed.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import weaviate

from models import Embedder, ModelNotBuiltError, load_embedder_of_version
from operators.index import metrics
from operators.index.writer import ALIAS, Creates, SegmentWriter, Written, collection_name
from operators.reindex.registry import Entry, Registry
from schemas.segment import Segment

log = logging.getLogger(__name__)

TARGETS_REFRESH_S = 1.0
"""How often the live index re-reads the rotation (`RETIRE_DRAIN_S` is longer)."""

MakeWriter = Callable[[str, str, Creates], SegmentWriter]
"""(collection, model version, what it creates) -> a writer."""


class WriteTargets:
    """The rotation of `alias`, read again every `refresh_s`; the last one read while
    Weaviate does not answer."""

    def __init__(
        self,
        connect: Callable[[], weaviate.WeaviateClient],
        alias: str = ALIAS,
        *,
        refresh_s: float = TARGETS_REFRESH_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._alias = alias
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._client: weaviate.WeaviateClient | None = None
        self._entries: list[Entry] = []
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def get(self) -> list[Entry]:
        with self._lock:
            if self._monotonic() - self._read_at >= self._refresh_s:
                self._read()
            return self._entries

    def _read(self) -> None:
        try:
            if self._client is None:
                self._client = self._connect()
                atexit.register(self.close)
            self._entries = Registry(self._client, self._alias).in_rotation()
        except Exception as exc:  # the writes themselves retry outages; keep the last view
            log.warning("could not read the collections of alias %s: %s", self._alias, exc)
            if self._client is not None:
                self._client.close()
                self._client = None
        self._read_at = self._monotonic()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class FanOutWriter:
    """Writes to the primary collection, then mirrors what it stored to the rest of the
    rotation. The primary is the serving collection when it is of `model_version`, else
    the newest collection in rotation of that model, else `<alias>_<model_version>`
    (created, with the alias when there is none: a first deployment)."""

    def __init__(
        self,
        model_version: str,
        make_writer: MakeWriter,
        targets: Callable[[], list[Entry]],
        *,
        alias: str = ALIAS,
        embedder_of: Callable[[str], Embedder] = load_embedder_of_version,
    ) -> None:
        self._model_version = model_version
        self._make_writer = make_writer
        self._targets = targets
        self._alias = alias
        self._embedder_of = embedder_of
        self._writers: dict[str, SegmentWriter] = {}
        self._embedders: dict[str, Embedder | None] = {}

    def write(self, segments: Sequence[Segment], vectors: np.ndarray) -> Written[Segment]:
        targets = self._targets()
        primary = self._primary(targets)
        written = self._writer(primary, self._model_version, "collection_and_alias").write(
            segments, vectors
        )
        if written.stored:
            by_uuid = {seg.uuid: vec for seg, vec in zip(segments, vectors, strict=True)}
            stored = [seg for seg, _ in written.stored]
            for entry in targets:
                if entry.collection != primary:
                    self._mirror(entry, stored, np.stack([by_uuid[s.uuid] for s in stored]))
        return written

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()

    def _primary(self, targets: list[Entry]) -> str:
        own = [e for e in targets if e.model_version == self._model_version]
        serving = [e for e in own if e.state == "serving"]
        if serving:
            return serving[0].collection
        if own:
            return max(own, key=lambda e: e.generation).collection
        return collection_name(self._model_version, alias=self._alias)

    def _writer(self, collection: str, model_version: str, creates: Creates) -> SegmentWriter:
        writer = self._writers.get(collection)
        if writer is None:
            writer = self._writers[collection] = self._make_writer(
                collection, model_version, creates
            )
        return writer

    def _mirror(self, entry: Entry, segments: list[Segment], vectors: np.ndarray) -> None:
        name = entry.collection
        try:
            if entry.model_version != self._model_version:
                embedder = self._embedder(entry.model_version)
                if embedder is None:
                    metrics.MIRRORED.labels(collection=name, outcome="failed").inc(len(segments))
                    return
                vectors = embedder.neutralize_languages(
                    embedder.embed_passages([s.text for s in segments]),
                    [s.language for s in segments],
                )
            written = self._writer(name, entry.model_version, "nothing").write(segments, vectors)
        except Exception as exc:  # best effort: the catch-up before a swap closes the gap
            log.warning("mirroring %d segments to %s failed: %s", len(segments), name, exc)
            metrics.MIRRORED.labels(collection=name, outcome="failed").inc(len(segments))
            dropped = self._writers.pop(name, None)
            if dropped is not None:
                dropped.close()
            return
        for outcome, count in (
            ("stored", len(written.stored)),
            ("stale", len(written.stale)),
            ("rejected", len(written.rejected)),
        ):
            metrics.MIRRORED.labels(collection=name, outcome=outcome).inc(count)

    def _embedder(self, version: str) -> Embedder | None:
        if version not in self._embedders:
            try:
                self._embedders[version] = self._embedder_of(version)
            except ModelNotBuiltError as exc:
                log.error("cannot mirror to the collections of model %s: %s", version, exc)
                self._embedders[version] = None
        return self._embedders[version]
