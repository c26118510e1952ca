"""Helpers shared by the tests that read flow outputs."""

from __future__ import annotations

from pathlib import Path

import orjson
from prometheus_client import REGISTRY


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def duplicates_counted() -> float:
    return REGISTRY.get_sample_value("headwater_ingest_duplicates_total") or 0.0
