"""The end of a reindex: what each worker did, written where the `build` command sums it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from operators.reindex.copy import Copied

FIELDS = ("segments", "stored", "stale", "rejected", "tokens")


Done = tuple[str, Copied]
"""(shard key, what a page of it did)."""


class _Totals(StatelessSinkPartition[Done]):
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self.totals = dict.fromkeys(FIELDS, 0)
        self.shards: dict[str, int] = {}

    def write_batch(self, items: list[Done]) -> None:
        for shard, copied in items:
            self.shards[shard] = self.shards.get(shard, 0) + copied.segments
            for name in FIELDS:
                self.totals[name] += getattr(copied, name)

    def close(self) -> None:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_bytes(orjson.dumps({**self.totals, "shards": self.shards}))


class CostReport(DynamicSink[Done]):
    """Each worker's totals, written at the end of its run to `<prefix>.<worker>.json`
    (nothing without a prefix)."""

    def __init__(self, prefix: str | None) -> None:
        self._prefix = prefix

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Totals:
        path = None if self._prefix is None else Path(f"{self._prefix}.{worker_index}.json")
        return _Totals(path)


def read_reports(directory: Path) -> dict[str, Any]:
    """The totals of the reports in `directory`, summed; `shards`: segments read per shard."""
    totals: dict[str, Any] = dict.fromkeys(FIELDS, 0)
    shards: dict[str, int] = {}
    for path in sorted(directory.glob("*.json")):
        report = orjson.loads(path.read_bytes())
        for name in FIELDS:
            totals[name] += int(report.get(name, 0))
        for shard, read in report.get("shards", {}).items():
            shards[shard] = shards.get(shard, 0) + int(read)
    return {**totals, "shards": shards}
