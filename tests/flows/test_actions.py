"""The actions flow: alerts from a file, each acted on once across runs, bad records to
dead letters, and `python -m flows.actions` as a command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from jsonschema import Draft202012Validator

from flows.actions import build
from operators.actions.audit import AuditLog
from operators.actions.policy import ActionPolicy
from operators.actions.step import act_on_alerts
from schemas.action import ActionAudit, RetrainRequest
from schemas.generate import SCHEMA_DIR, SUFFIX
from schemas.message import Rejected
from tests.operators.actions.fakes import FakeClock, KeptPublisher, RecordingRunner, alert

ROOT = Path(__file__).resolve().parents[2]
BAD = b'{"alert_id": "half an alert"}'


def write_alerts(directory: Path, lines: list[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "alerts.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def read_jsonl(path: Path, record_type: type) -> list:
    return [record_type.from_json(line) for line in path.read_bytes().splitlines() if line]


def schema_errors(stem: str, path: Path) -> list[str]:
    schema = orjson.loads((SCHEMA_DIR / f"{stem}{SUFFIX}").read_bytes())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        err.message
        for line in path.read_bytes().splitlines()
        for err in validator.iter_errors(orjson.loads(line))
    ]


def test_each_alert_is_decided_once_in_one_place(entry_point, tmp_path: Path) -> None:
    alerts = [alert("a-1"), alert("r-1", "reindex"), alert("a-1"), alert("a-2", tenant="globex")]
    runner, publisher = RecordingRunner(), KeptPublisher()
    policy = ActionPolicy(
        AuditLog(tmp_path / "audit.jsonl"),
        runner=runner,
        publish=publisher.publish,
        clock=FakeClock(),
    )
    out: list[ActionAudit] = []
    flow = Dataflow("t")
    decided = act_on_alerts("act", op.input("in", flow, TestingSource(alerts)), policy)
    op.output("out", decided, TestingSink(out))
    entry_point(flow)
    assert [(r.alert_id, r.decision) for r in out] == [
        ("a-1", "published"),
        ("r-1", "planned"),
        ("a-1", "duplicate"),
        ("a-2", "published"),
    ]
    assert out == AuditLog(tmp_path / "audit.jsonl").records()
    assert runner.calls == [("plan", "acme")]
    assert [r.request_id for r in publisher.requests] == ["a-1", "a-2"]


def test_file_in_file_out_and_a_second_run_acts_on_nothing(entry_point, tmp_path: Path) -> None:
    alerts_dir, out_dir = tmp_path / "alerts", tmp_path / "out"
    audit_path = tmp_path / "actions" / "audit.jsonl"
    write_alerts(
        alerts_dir,
        [
            alert("a-1").to_json(),
            alert("r-1", "reindex", tenant="globex").to_json(),
            BAD,
            alert("a-1").to_json(),
            b"not json",
            alert("r-1", "reindex", tenant="globex").to_json(),
        ],
    )
    settings = {
        "actions_source": f"file:{alerts_dir}",
        "actions_sink": f"file:{out_dir}",
        "actions_audit_path": audit_path,
        "metrics_port": 0,
    }
    runner = RecordingRunner()
    entry_point(build(runner=runner, **settings))

    requests = read_jsonl(out_dir / "training_requests.jsonl", RetrainRequest)
    assert [(r.request_id, r.alert_id, r.tenant) for r in requests] == [("a-1", "a-1", "acme")]
    assert requests[0].alert == alert("a-1")
    assert runner.calls == [("plan", "globex")]
    audit = AuditLog(audit_path).records()
    assert Counter((r.alert_id, r.decision) for r in audit) == {
        ("a-1", "published"): 1,
        ("a-1", "duplicate"): 1,
        ("r-1", "planned"): 1,
        ("r-1", "duplicate"): 1,
    }
    rejected = read_jsonl(out_dir / "rejected.jsonl", Rejected)
    assert sorted(r.raw for r in rejected) == sorted([BAD.decode(), "not json"])
    assert {r.reason for r in rejected} == {"invalid_schema"}
    assert {r.source for r in rejected} == {f"file:{alerts_dir / 'alerts.jsonl'}"}
    assert schema_errors("training.requests", out_dir / "training_requests.jsonl") == []
    assert schema_errors("actions.audit", audit_path) == []
    assert schema_errors("chat.rejected", out_dir / "rejected.jsonl") == []

    again = RecordingRunner()
    entry_point(build(runner=again, **settings))
    assert again.calls == []
    assert len(read_jsonl(out_dir / "training_requests.jsonl", RetrainRequest)) == 1
    decisions = Counter(r.decision for r in AuditLog(audit_path).records()[len(audit) :])
    assert decisions == {"duplicate": 4}


def test_start_mode_starts_each_reindex_once(tmp_path: Path) -> None:
    alerts_dir = tmp_path / "alerts"
    write_alerts(alerts_dir, [alert("r-1", "reindex").to_json()] * 3)
    runner = RecordingRunner()
    flow = build(
        runner=runner,
        actions_source=f"file:{alerts_dir}",
        actions_sink=f"file:{tmp_path / 'out'}",
        actions_audit_path=tmp_path / "audit.jsonl",
        actions_reindex="start",
        metrics_port=0,
    )
    run_main(flow)
    assert runner.calls == [("start", "acme")]
    assert [r.decision for r in AuditLog(tmp_path / "audit.jsonl").records()] == [
        "starting",
        "started",
        "duplicate",
        "duplicate",
    ]


def test_python_dash_m_flows_actions(tmp_path: Path) -> None:
    alerts_dir, out_dir = tmp_path / "alerts", tmp_path / "out"
    write_alerts(alerts_dir, [alert("a-1").to_json(), BAD, alert("a-1").to_json()])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")},
        "HEADWATER_ACTIONS_SOURCE": f"file:{alerts_dir}",
        "HEADWATER_ACTIONS_SINK": f"file:{out_dir}",
        "HEADWATER_ACTIONS_AUDIT_PATH": str(tmp_path / "audit.jsonl"),
        "HEADWATER_METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flows.actions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    printed = [ActionAudit.from_json(line) for line in done.stdout.splitlines()]
    assert [(r.alert_id, r.decision) for r in printed] == [
        ("a-1", "published"),
        ("a-1", "duplicate"),
    ]
    assert printed == AuditLog(tmp_path / "audit.jsonl").records()
    assert len(read_jsonl(out_dir / "training_requests.jsonl", RetrainRequest)) == 1
    assert [r.raw for r in read_jsonl(out_dir / "rejected.jsonl", Rejected)] == [BAD.decode()]
