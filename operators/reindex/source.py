"""The Bytewax source of a reindex: one partition per shard of a tenant, each reading its
stored segments page by page with a cursor and copying each page (re-embedded) to the new
collection before it reads the next.

The copy happens in the partition, not in a step after it: Bytewax has no back-pressure,
and a source that only read would run ahead of the embedder by the whole corpus (memory
without bound, and checkpoints that cover reads, not writes). Here a partition holds at
most two pages, one embedding and one being written, and its snapshot, the cursor after
its last written page, is what is done: a run restarted with recovery goes on from there,
and a finished shard is not read again.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import weaviate
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential
from weaviate.exceptions import WeaviateBaseError

from operators.reindex import metrics
from operators.reindex.copy import Copied, Embedded
from operators.reindex.report import Done
from operators.reindex.stored import Shard, StoredSegment, read_page

log = logging.getLogger(__name__)

Read = Callable[[Shard, uuid.UUID | None], tuple[list[StoredSegment], bool]]


class Copier(Protocol):
    """Embeds a page, then writes it (`operators.reindex.copy.Reembedder`)."""

    def embed(self, segments: Sequence[StoredSegment]) -> Embedded: ...

    def write_embedded(self, embedded: Embedded) -> Copied: ...


@dataclass(frozen=True)
class Cursor:
    """Where a shard stands: after this UUID, having copied `read` segments."""

    after: str | None = None
    read: int = 0
    done: bool = False


class _ShardPartition(StatefulSourcePartition[Done, Cursor]):
    """Reads and embeds page n+1 while page n is written (one write in flight); the
    snapshot is the cursor after the last page written, so a restart reads the page that
    was in flight again."""

    def __init__(
        self, read: Read, copier: Copier, writes: Executor, shard: Shard, resume: Cursor | None
    ) -> None:
        self._read = read
        self._copier = copier
        self._writes = writes
        self._shard = shard
        self._cursor = resume or Cursor()
        self._reading = self._cursor
        self._pending: tuple[Future[Copied], Cursor] | None = None

    def next_batch(self) -> list[Done]:
        if self._cursor.done:
            raise StopIteration
        embedded, after_page = None, None
        if not self._reading.done:
            reading = self._reading
            page, ends = self._read(
                self._shard, uuid.UUID(reading.after) if reading.after else None
            )
            embedded = self._copier.embed(page)
            last = str(page[-1].uuid) if page else reading.after
            after_page = self._reading = Cursor(last, reading.read + len(page), ends)
        done = self._finish_pending()
        if embedded is not None and after_page is not None:
            if embedded.segments:
                self._pending = (
                    self._writes.submit(self._copier.write_embedded, embedded),
                    after_page,
                )
            else:
                self._cursor = after_page
        if self._cursor.done:
            log.info("shard %s done: %d segments", self._shard.key, self._cursor.read)
        return done

    def _finish_pending(self) -> list[Done]:
        if self._pending is None:
            return []
        future, after = self._pending
        self._pending = None
        copied = future.result()  # a write that gave up raises here and stops the run
        self._cursor = after
        return [(self._shard.key, copied)]

    def snapshot(self) -> Cursor:
        return self._cursor


class CopiedSegments(FixedPartitionedSource[Done, Cursor]):
    """The stored segments of `shards` in `collection`, `page_size` at a time, each page
    embedded and written by `copier`; what comes out is what each page did. A read that
    fails is retried for `retry_s`, then the run stops (and resumes from its snapshot when
    started again); `copier` retries its own writes."""

    def __init__(
        self,
        connect: Callable[[], weaviate.WeaviateClient],
        collection: str,
        shards: Sequence[Shard],
        copier: Copier,
        *,
        page_size: int = 32,
        retry_s: float = 60.0,
    ) -> None:
        self._connect = connect
        self._collection = collection
        self._shards = {s.key: s for s in shards}
        self._copier = copier
        self._writes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reindex-write")
        self._page_size = page_size
        self._retry_s = retry_s
        self._client: weaviate.WeaviateClient | None = None
        self._lock = threading.Lock()

    def list_parts(self) -> list[str]:
        return list(self._shards)

    def build_part(
        self, step_id: str, for_part: str, resume_state: Cursor | None
    ) -> _ShardPartition:
        return _ShardPartition(
            self._read, self._copier, self._writes, self._shards[for_part], resume_state
        )

    def _read(self, shard: Shard, after: uuid.UUID | None) -> tuple[list[StoredSegment], bool]:
        @retry(
            retry=retry_if_exception_type(WeaviateBaseError),
            stop=stop_after_delay(self._retry_s),
            wait=wait_exponential(multiplier=0.25, max=5),
            before_sleep=lambda state: _retrying(shard, state),
            reraise=True,
        )
        def attempt() -> tuple[list[StoredSegment], bool]:
            try:
                return read_page(self._collection_view(), shard, after, self._page_size)
            except WeaviateBaseError:
                self._reset()
                raise

        return attempt()

    def _collection_view(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
                atexit.register(self._reset)
            return self._client.collections.get(self._collection)

    def _reset(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _retrying(shard: Shard, state: Any) -> None:
    metrics.ERRORS.labels(kind="read").inc()
    log.warning(
        "reading shard %s failed (attempt %d), retrying: %s",
        shard.key,
        state.attempt_number,
        state.outcome.exception(),
    )
