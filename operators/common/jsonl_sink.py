"""A resumable JSONL file sink: appends without fsync per batch, truncates on resume."""

from __future__ import annotations

import os
from pathlib import Path

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition


class _JsonlPartition(StatefulSinkPartition[bytes, int]):
    def __init__(self, path: Path, resume_offset: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "ab")  # noqa: SIM115 - closed by close()
        # A fresh run rewrites the file; a resumed one drops what came after its snapshot.
        self._f.truncate(resume_offset or 0)

    def write_batch(self, values: list[bytes]) -> None:
        self._f.write(b"".join(v + b"\n" for v in values))
        self._f.flush()

    def snapshot(self) -> int:
        os.fsync(self._f.fileno())
        return self._f.tell()

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


class JsonlSink(FixedPartitionedSink[bytes, int]):
    """One file, one partition: items are `(key, json bytes)`; exactly once with recovery.

    Bytewax's own FileSink fsyncs every batch; here the file is fsynced only when a
    snapshot is taken, which is all that resuming needs.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    def list_parts(self) -> list[str]:
        return [str(self._path)]

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _JsonlPartition:
        return _JsonlPartition(Path(for_part), resume_state)
