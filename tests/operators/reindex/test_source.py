"""A reindex shard's partition: read and embed a page while the previous one is written,
and a snapshot that covers only what was written."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pytest

from operators.reindex.copy import Copied, Embedded
from operators.reindex.source import Cursor, _ShardPartition
from operators.reindex.stored import Shard, StoredSegment

IDS = sorted(uuid.uuid5(uuid.NAMESPACE_URL, str(i)) for i in range(7))


def segment(u: uuid.UUID) -> StoredSegment:
    return StoredSegment(u, {"tenant": "acme", "text": f"user: {u}", "message_count": 1})


def read(shard: Shard, after: uuid.UUID | None) -> tuple[list[StoredSegment], bool]:
    """Pages of 3 of IDS after the cursor."""
    rest = [u for u in IDS if after is None or u > after]
    return [segment(u) for u in rest[:3]], len(rest) <= 3


@dataclass
class RecordingCopier:
    written: list[uuid.UUID] = field(default_factory=list)
    fail_on: int | None = None

    def embed(self, segments) -> Embedded:
        return Embedded(segments, np.zeros((len(segments), 4), np.float32), len(segments))

    def write_embedded(self, embedded: Embedded) -> Copied:
        if self.fail_on is not None and len(self.written) >= self.fail_on:
            raise RuntimeError("weaviate gave up")
        self.written += [s.uuid for s in embedded.segments]
        n = len(embedded.segments)
        return Copied(n, n, 0, 0, embedded.tokens)


def drain(partition: _ShardPartition) -> list[tuple[str, Copied]]:
    out = []
    while True:
        try:
            out += partition.next_batch()
        except StopIteration:
            return out


@pytest.fixture
def writes():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def test_every_page_is_written_once_in_order(writes) -> None:
    copier = RecordingCopier()
    out = drain(_ShardPartition(read, copier, writes, Shard("acme"), None))
    assert copier.written == IDS
    assert [c.segments for _, c in out] == [3, 3, 1]
    assert {key for key, _ in out} == {"acme"}


def test_the_snapshot_covers_only_the_pages_written(writes) -> None:
    copier = RecordingCopier()
    partition = _ShardPartition(read, copier, writes, Shard("acme"), None)
    assert partition.next_batch() == []  # page 1 embedded, its write in flight
    assert partition.snapshot() == Cursor()
    partition.next_batch()  # page 1 written, page 2 in flight
    assert partition.snapshot() == Cursor(str(IDS[2]), 3, False)


def test_a_restart_from_the_snapshot_writes_the_page_in_flight_again(writes) -> None:
    first = RecordingCopier()
    partition = _ShardPartition(read, first, writes, Shard("acme"), None)
    partition.next_batch()
    partition.next_batch()
    checkpoint = partition.snapshot()
    again = RecordingCopier()
    drain(_ShardPartition(read, again, writes, Shard("acme"), checkpoint))
    assert again.written == IDS[3:]


def test_a_finished_shard_is_not_read_again(writes) -> None:
    copier = RecordingCopier()
    partition = _ShardPartition(read, copier, writes, Shard("acme"), None)
    drain(partition)
    assert partition.snapshot().done and partition.snapshot().read == len(IDS)
    resumed = RecordingCopier()
    assert drain(_ShardPartition(read, resumed, writes, Shard("acme"), partition.snapshot())) == []
    assert resumed.written == []


def test_a_write_that_gives_up_stops_the_partition(writes) -> None:
    copier = RecordingCopier(fail_on=3)
    partition = _ShardPartition(read, copier, writes, Shard("acme"), None)
    with pytest.raises(RuntimeError, match="gave up"):
        drain(partition)
    assert partition.snapshot() == Cursor(str(IDS[2]), 3, False)
