"""Test helpers of the actions tests: alerts, a reindex runner that records its calls (in
memory, and in a JSONL file when a flow runs in another process), a publisher that keeps
what it was given, and a fake clock."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from operators.actions.reindex_runner import ReindexError
from schemas.action import RetrainRequest
from schemas.alert import DriftAlert, Evidence

T0 = 1_714_532_400_000


def alert(
    alert_id: str = "a-1", action: str = "retrain", tenant: str = "acme", **fields: Any
) -> DriftAlert:
    values: dict[str, Any] = {
        "alert_id": alert_id,
        "detector": "ADWIN",
        "signal": "refusal" if action == "retrain" else "embedding",
        "action": action,
        "severity": "warning",
        "tenant": tenant,
        "model_version": "m1",
        "detected_ms": T0,
        "window": {"window_mean": 0.14, "window_events": 50},
        "reference": {"id": f"baseline:{tenant}:refusal:1-2", "mean": 0.02},
        "cooldown_until_ms": T0 + 3_600_000,
        "parameters": {"delta": 0.01, "clock": 8},
        "evidence": Evidence(
            first_event_ms=T0 - 60_000, last_event_ms=T0, events=50, first_id="m-1", last_id="m-50"
        ),
    }
    return DriftAlert(**(values | fields))


class RecordingRunner:
    """A reindex runner that records `(kind, tenant)` calls; `fail` makes them fail."""

    def __init__(self, path: Path | None = None, fail: str | None = None) -> None:
        self.path = path
        self.fail = fail
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _record(self, kind: str, tenant: str, alert_id: str | None) -> None:
        with self._lock:
            self.calls.append((kind, tenant))
            if self.path is not None:
                line = orjson.dumps({"kind": kind, "tenant": tenant, "alert_id": alert_id})
                with open(self.path, "ab") as f:
                    f.write(line + b"\n")
        if self.fail is not None:
            raise ReindexError(self.fail)

    def plan(self, tenant: str) -> dict[str, Any]:
        self._record("plan", tenant, None)
        return {"plan": {"tenant": tenant, "segments": 3}}

    def start(self, tenant: str, alert_id: str) -> dict[str, Any]:
        self._record("start", tenant, alert_id)
        return {"pid": 4242, "log": f"reindex-{tenant}-{alert_id}.log"}


def recorded_calls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


class KeptPublisher:
    """A publisher that keeps the requests; `fail` makes it raise, as an outage does."""

    def __init__(self, fail: bool = False) -> None:
        self.requests: list[RetrainRequest] = []
        self.fail = fail

    def publish(self, request: RetrainRequest) -> str:
        if self.fail:
            raise RuntimeError("actions_publish: Kafka is away")
        self.requests.append(request)
        return f"kept:{len(self.requests)}"


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        self.now += 1000
        return self.now
