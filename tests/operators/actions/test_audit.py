"""The audit log: what it remembers, across instances and restarts, and what it skips."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from operators.actions.audit import AuditLog
from schemas.action import ActionAudit
from tests.operators.actions.fakes import T0


def record(alert_id: str, decision: str = "published", at_ms: int = T0) -> ActionAudit:
    return ActionAudit(
        alert_id=alert_id,
        action="retrain",
        tenant="acme",
        decision=decision,
        at_ms=at_ms,
        detail={"request_id": alert_id},
    )


def test_a_decision_is_remembered_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "actions" / "audit.jsonl"
    log = AuditLog(path)
    with log.locked() as audit:
        assert audit.last("a-1") is None
        audit.append(record("a-1"))
        assert audit.last("a-1") == record("a-1")

    restarted = AuditLog(path)
    with restarted.locked() as audit:
        last = audit.last("a-1")
        assert last is not None and last.acted and last.decision == "published"
        assert audit.last("a-2") is None
    assert restarted.records() == [record("a-1")]


def test_a_duplicate_does_not_replace_the_decision_it_repeats(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    with log.locked() as audit:
        audit.append(record("a-1", "failed"))
        audit.append(record("a-1", "planned"))
        audit.append(record("a-1", "duplicate"))
        assert audit.last("a-1") == record("a-1", "planned")
    with AuditLog(log.path).locked() as audit:
        assert audit.last("a-1") == record("a-1", "planned")
    assert [r.decision for r in log.records()] == ["failed", "planned", "duplicate"]


def test_only_acting_decisions_count_as_acted() -> None:
    acted = {d: record("a", d).acted for d in ("planned", "starting", "started", "published")}
    assert all(acted.values())
    assert not record("a", "failed").acted and not record("a", "duplicate").acted


def test_each_instance_sees_what_another_appended_at_its_next_lock(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first, second = AuditLog(path), AuditLog(path)
    with first.locked() as audit:
        audit.append(record("a-1"))
    with second.locked() as audit:
        assert audit.last("a-1") is not None
        audit.append(record("a-2"))
    with first.locked() as audit:
        assert audit.last("a-2") is not None


def test_a_cut_short_last_line_is_skipped_and_the_next_append_starts_a_new_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(record("a-1").to_json() + b"\n" + record("a-2").to_json()[:40])
    log = AuditLog(path)
    with log.locked() as audit:
        assert audit.last("a-1") is not None
        assert audit.last("a-2") is None
        audit.append(record("a-3"))
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and ActionAudit.from_json(lines[-2]) == record("a-3")
    assert [r.alert_id for r in AuditLog(path).records()] == ["a-1", "a-3"]
    with AuditLog(path).locked() as audit:
        assert audit.last("a-3") is not None and audit.last("a-2") is None


def test_lines_that_are_not_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"alert_id": "x"}\nnot json\n\n' + record("a-1").to_json() + b"\n")
    with AuditLog(path).locked() as audit:
        assert audit.last("x") is None and audit.last("a-1") is not None


def test_append_outside_the_lock_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="outside locked"):
        AuditLog(tmp_path / "audit.jsonl").append(record("a-1"))


def test_the_lock_is_exclusive(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    order: list[str] = []
    held = threading.Event()

    def other() -> None:
        held.wait()
        with AuditLog(path).locked() as audit:
            order.append("other")
            assert audit.last("a-1") is not None  # it waited for the append

    thread = threading.Thread(target=other)
    thread.start()
    with AuditLog(path).locked() as audit:
        held.set()
        time.sleep(0.3)
        order.append("first")
        audit.append(record("a-1"))
    thread.join(5)
    assert order == ["first", "other"]
