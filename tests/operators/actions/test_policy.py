"""The policy: each alert acted on once, every decision audited, failures retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from operators.actions import metrics as action_metrics
from operators.actions.audit import AuditLog
from operators.actions.policy import ActionPolicy
from operators.common.metrics import total
from schemas.action import ActionAudit, RetrainRequest
from tests.operators.actions.fakes import FakeClock, KeptPublisher, RecordingRunner, alert


def policy(
    path: Path,
    runner: RecordingRunner | None = None,
    publisher: KeptPublisher | None = None,
    reindex: str = "plan",
) -> tuple[ActionPolicy, RecordingRunner, KeptPublisher]:
    runner = runner or RecordingRunner()
    publisher = publisher or KeptPublisher()
    made = ActionPolicy(
        AuditLog(path),
        runner=runner,
        publish=publisher.publish,
        reindex=reindex,  # type: ignore[arg-type]
        clock=FakeClock(),
    )
    return made, runner, publisher


def decisions(records: list[ActionAudit]) -> list[str]:
    return [r.decision for r in records]


def test_retrain_publishes_a_request_whose_id_is_the_alert_id(tmp_path: Path) -> None:
    p, runner, publisher = policy(tmp_path / "audit.jsonl")
    a = alert("a-1", "retrain")
    [done] = p.decide(a)
    [request] = publisher.requests
    assert request == RetrainRequest.from_alert(a, request.requested_ms)
    assert request.request_id == request.alert_id == "a-1"
    assert (request.tenant, request.signal, request.detector, request.severity) == (
        "acme",
        "refusal",
        "ADWIN",
        "warning",
    )
    assert request.alert == a and request.model_version == "m1"
    assert (done.decision, done.action, done.tenant) == ("published", "retrain", "acme")
    assert done.detail == {"request_id": "a-1", "to": "kept:1"}
    assert runner.calls == []


def test_an_alert_acted_on_is_a_duplicate_in_this_run_and_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    p, _, publisher = policy(path)
    assert decisions(p.decide(alert("a-1"))) == ["published"]
    [dup] = p.decide(alert("a-1"))
    assert dup.decision == "duplicate" and dup.detail["acted"] == "published"
    assert dup.detail["acted_at"].endswith("Z")

    restarted, _, publisher_after = policy(path)
    assert decisions(restarted.decide(alert("a-1"))) == ["duplicate"]
    assert decisions(restarted.decide(alert("a-2"))) == ["published"]
    assert [r.request_id for r in publisher.requests] == ["a-1"]
    assert [r.request_id for r in publisher_after.requests] == ["a-2"]
    assert decisions(AuditLog(path).records()) == [
        "published",
        "duplicate",
        "duplicate",
        "published",
    ]


def test_reindex_plans_by_default(tmp_path: Path) -> None:
    p, runner, publisher = policy(tmp_path / "audit.jsonl")
    [done] = p.decide(alert("r-1", "reindex", tenant="globex"))
    assert done.decision == "planned"
    assert done.detail == {"plan": {"tenant": "globex", "segments": 3}}
    assert decisions(p.decide(alert("r-1", "reindex", tenant="globex"))) == ["duplicate"]
    assert runner.calls == [("plan", "globex")]
    assert publisher.requests == []


def test_reindex_start_audits_starting_before_it_launches(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    seen: list[list[str]] = []

    class Watching(RecordingRunner):
        def start(self, tenant: str, alert_id: str) -> dict:
            seen.append(decisions(AuditLog(path).records()))
            return super().start(tenant, alert_id)

    p, runner, _ = policy(path, runner=Watching(), reindex="start")
    records = p.decide(alert("r-1", "reindex"))
    assert decisions(records) == ["starting", "started"]
    assert records[1].detail == {"pid": 4242, "log": "reindex-acme-r-1.log"}
    assert seen == [["starting"]]
    assert decisions(p.decide(alert("r-1", "reindex"))) == ["duplicate"]
    assert runner.calls == [("start", "acme")]


def test_a_start_interrupted_by_a_crash_is_not_launched_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    crashed = ActionAudit(
        alert_id="r-1", action="reindex", tenant="acme", decision="starting", at_ms=1, detail={}
    )
    path.write_bytes(crashed.to_json() + b"\n")
    p, runner, _ = policy(path, reindex="start")
    [dup] = p.decide(alert("r-1", "reindex"))
    assert dup.decision == "duplicate"
    assert dup.detail == {
        "acted": "starting",
        "acted_at": "1970-01-01T00:00:00.001Z",
        "interrupted": True,
    }
    assert runner.calls == []


def test_a_failed_reindex_is_audited_and_tried_again_when_the_alert_comes_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    failing = RecordingRunner(fail="plan exited 1: No module named flows.reindex")
    p, _, _ = policy(path, runner=failing)
    [failed] = p.decide(alert("r-1", "reindex"))
    assert failed.decision == "failed"
    assert failed.detail == {
        "mode": "plan",
        "error": "plan exited 1: No module named flows.reindex",
    }

    p2, runner, _ = policy(path)
    assert decisions(p2.decide(alert("r-1", "reindex"))) == ["planned"]
    assert decisions(p2.decide(alert("r-1", "reindex"))) == ["duplicate"]
    assert runner.calls == [("plan", "acme")]


def test_a_failed_start_is_tried_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    p, _, _ = policy(path, runner=RecordingRunner(fail="build exited 2"), reindex="start")
    assert decisions(p.decide(alert("r-1", "reindex"))) == ["starting", "failed"]
    p2, runner, _ = policy(path, reindex="start")
    assert decisions(p2.decide(alert("r-1", "reindex"))) == ["starting", "started"]
    assert runner.calls == [("start", "acme")]


def test_a_publish_that_raises_stops_with_nothing_audited(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    p, _, _ = policy(path, publisher=KeptPublisher(fail=True))
    with pytest.raises(RuntimeError, match="Kafka is away"):
        p.decide(alert("a-1"))
    assert AuditLog(path).records() == []
    p2, _, publisher = policy(path)
    assert decisions(p2.decide(alert("a-1"))) == ["published"]
    assert len(publisher.requests) == 1


def test_a_reindex_for_a_tenant_that_breaks_the_rule_runs_nothing(tmp_path: Path) -> None:
    p, runner, _ = policy(tmp_path / "audit.jsonl")
    [failed] = p.decide(alert("r-1", "reindex", tenant="acme; rm -rf /"))
    assert failed.decision == "failed" and "A-Z a-z 0-9 _ -" in failed.detail["error"]
    assert runner.calls == []


def test_decisions_are_counted_by_action_and_decision(tmp_path: Path) -> None:
    before = {
        (a, d): total(action_metrics.ALERTS, action=a, decision=d)
        for a, d in (("retrain", "published"), ("retrain", "duplicate"), ("reindex", "planned"))
    }
    p, _, _ = policy(tmp_path / "audit.jsonl")
    for a in (alert("a-1"), alert("a-1"), alert("a-1"), alert("r-1", "reindex")):
        p.decide(a)
    after = {key: total(action_metrics.ALERTS, action=key[0], decision=key[1]) for key in before}
    assert {k: after[k] - before[k] for k in before} == {
        ("retrain", "published"): 1,
        ("retrain", "duplicate"): 2,
        ("reindex", "planned"): 1,
    }


def test_the_reindex_mode_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plan' or 'start"):
        policy(tmp_path / "audit.jsonl", reindex="now")
