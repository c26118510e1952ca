"""The raw archive: every input line, appended as received, in immutable segment files.

Layout: `<root>/<source>/<YYYY-MM-DD>/<segment>.jsonl`, a segment per worker, run and day,
each line `{"received_at", "origin", "raw"}`, or `{"received_at", "origin", "raw_base64"}`
for input that was not UTF-8: its exact bytes, in base64. Segments are created exclusively and only
ever appended to, so an existing segment is never rewritten. After a crash, recovery
replays from the last snapshot and the replayed lines are appended again: the archive is
at-least-once, and `origin` (file:line or topic/partition/offset) identifies repeats.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from schemas.raw import RawLine

ArchiveItem = tuple[str, RawLine]  # (source or "unknown", line)


def _archive_record(line: RawLine) -> dict[str, object]:
    record: dict[str, object] = {"received_at": line.received_at, "origin": line.origin}
    if line.undecodable is None:
        record["raw"] = line.text
    else:
        record["raw_base64"] = base64.b64encode(line.undecodable).decode("ascii")
    return record


class _ArchivePartition(StatelessSinkPartition[ArchiveItem]):
    def __init__(self, root: Path, worker_index: int) -> None:
        self._root = root
        self._run = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-w{worker_index}-{uuid.uuid4().hex[:8]}"
        self._open: dict[tuple[str, str], IO[bytes]] = {}

    def _segment(self, source: str, day: str) -> IO[bytes]:
        f = self._open.get((source, day))
        if f is None:
            folder = self._root / source / day
            folder.mkdir(parents=True, exist_ok=True)
            f = open(folder / f"{self._run}.jsonl", "xb")  # noqa: SIM115 - closed by close()
            self._open[(source, day)] = f
        return f

    def write_batch(self, items: list[ArchiveItem]) -> None:
        touched = set()
        for source, line in items:
            day = datetime.fromtimestamp(line.received_at / 1000, UTC).strftime("%Y-%m-%d")
            f = self._segment(source, day)
            f.write(orjson.dumps(_archive_record(line)) + b"\n")
            touched.add(f)
        for f in touched:
            f.flush()

    def close(self) -> None:
        for f in self._open.values():
            f.flush()
            os.fsync(f.fileno())
            f.close()


class RawArchiveSink(DynamicSink[ArchiveItem]):
    def __init__(self, root: Path) -> None:
        self._root = root

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ArchivePartition:
        return _ArchivePartition(self._root, worker_index)
