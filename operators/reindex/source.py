"""The Bytewax source of a reindex: one partition per shard of a tenant, each reading its
stored segments page by page with a cursor and copying each page (re-embedded) to the new
collection before it reads the next.

The copy happens in the partition, not in a step after it: Bytewax has no back-pressure,
and a source that only read would run ahead of the embedder by the whole corpus (memory
without bound, and checkpoints that cover reads, not writes). Here a partition holds one
page, and its snapshot, the cursor after its last written page, is exactly what is done:
a run restarted with recovery goes on from there, and a finished shard is not read again.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import weaviate
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential
from weaviate.exceptions import WeaviateBaseError

from operators.reindex import metrics
from operators.reindex.copy import Copied
from operators.reindex.report import Done
from operators.reindex.stored import Shard, StoredSegment, read_page

log = logging.getLogger(__name__)

Read = Callable[[Shard, uuid.UUID | None], tuple[list[StoredSegment], bool]]
Copy = Callable[[list[StoredSegment]], Copied]


@dataclass(frozen=True)
class Cursor:
    """Where a shard stands: after this UUID, having copied `read` segments."""

    after: str | None = None
    read: int = 0
    done: bool = False


class _ShardPartition(StatefulSourcePartition[Done, Cursor]):
    def __init__(self, read: Read, copy: Copy, shard: Shard, resume: Cursor | None) -> None:
        self._read = read
        self._copy = copy
        self._shard = shard
        self._cursor = resume or Cursor()

    def next_batch(self) -> list[Done]:
        cursor = self._cursor
        if cursor.done:
            raise StopIteration
        after = uuid.UUID(cursor.after) if cursor.after else None
        page, ends = self._read(self._shard, after)
        copied = self._copy(page)
        self._cursor = Cursor(
            str(page[-1].uuid) if page else cursor.after, cursor.read + len(page), ends
        )
        if ends:
            log.info("shard %s done: %d segments", self._shard.key, self._cursor.read)
        return [(self._shard.key, copied)] if page else []

    def snapshot(self) -> Cursor:
        return self._cursor


class CopiedSegments(FixedPartitionedSource[Done, Cursor]):
    """The stored segments of `shards` in `collection`, `page_size` at a time, each page
    given to `copy`; what comes out is what each page did. A read that fails is retried
    for `retry_s`, then the run stops (and resumes from its snapshot when started
    again); `copy` retries its own writes."""

    def __init__(
        self,
        connect: Callable[[], weaviate.WeaviateClient],
        collection: str,
        shards: Sequence[Shard],
        copy: Copy,
        *,
        page_size: int = 32,
        retry_s: float = 60.0,
    ) -> None:
        self._connect = connect
        self._collection = collection
        self._shards = {s.key: s for s in shards}
        self._copy = copy
        self._page_size = page_size
        self._retry_s = retry_s
        self._client: weaviate.WeaviateClient | None = None
        self._lock = threading.Lock()

    def list_parts(self) -> list[str]:
        return list(self._shards)

    def build_part(
        self, step_id: str, for_part: str, resume_state: Cursor | None
    ) -> _ShardPartition:
        return _ShardPartition(self._read, self._copy, self._shards[for_part], resume_state)

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
