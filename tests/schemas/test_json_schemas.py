"""The checked-in JSON Schemas are current, and what Headwater writes validates against them."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from jsonschema import Draft202012Validator

from operators.ingest.parse import Parser
from schemas.__main__ import main
from schemas.generate import BOUNDARY_RECORDS, SCHEMA_DIR, SUFFIX, generate, render, stale_files
from schemas.message import ChatMessage, Feedback
from schemas.raw import RawLine
from tests.schemas.records import OUTPUT_FILES, ROOT, SAMPLE


@cache
def validator(stem: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{stem}{SUFFIX}").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def invalid(stem: str, lines: list[bytes]) -> list[str]:
    """One message per line that does not validate: line number, path and error."""
    out = []
    for number, line in enumerate(lines, start=1):
        for err in validator(stem).iter_errors(orjson.loads(line)):
            out.append(f"{number}: {'/'.join(map(str, err.absolute_path))}: {err.message}")
    return out


# ---- (a) the checked-in files are what the models give


def test_checked_in_schemas_are_current() -> None:
    assert stale_files() == [], "the models changed: run `python -m schemas`"


def test_every_boundary_record_has_exactly_one_file() -> None:
    assert (
        {p.name for p in SCHEMA_DIR.glob(f"*{SUFFIX}")}
        == set(generate())
        == {
            f"{stem}{SUFFIX}"
            for stem in (
                "raw.envelope",
                "chat.messages",
                "chat.rejected",
                "chat.feedback",
                "pii.audit",
                "drift.alerts",
                "training.requests",
                "actions.audit",
            )
        }
    )


def test_output_is_deterministic_sorted_and_ends_in_one_newline() -> None:
    first, second = generate(), generate()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert render(json.loads(text)) == text  # keys sorted, 2-space indent
        assert json.loads(text)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schemas_describe_the_serialized_form() -> None:
    message = validator("chat.messages").schema["properties"]
    assert "event_ms" not in message and message["event_time"]["type"] == "string"
    assert validator("chat.feedback").schema["properties"]["event_time"]["type"] == "string"
    alert = validator("drift.alerts").schema
    for name in ("detected_at", "cooldown_until"):
        assert alert["properties"][name]["type"] == "string"
    evidence = alert["$defs"]["Evidence"]["properties"]
    assert evidence["first_event_time"]["type"] == evidence["last_event_time"]["type"] == "string"
    # Output records always carry every field, defaults included.
    assert set(validator("chat.messages").schema["required"]) == set(message)
    assert "tenant" not in validator("raw.envelope").schema["required"]  # optional on input


def test_check_names_stale_missing_and_extra_files(tmp_path: Path, capsys) -> None:
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    messages = tmp_path / f"chat.messages{SUFFIX}"
    messages.write_text(messages.read_text().replace('"string"', '"integer"', 1))
    (tmp_path / f"pii.audit{SUFFIX}").unlink()
    (tmp_path / f"chat.old{SUFFIX}").write_text("{}\n")
    capsys.readouterr()

    assert main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for name in ("chat.messages", "pii.audit", "chat.old"):
        assert f"{name}{SUFFIX}" in err
    assert "chat.feedback" not in err

    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    assert not (tmp_path / f"chat.old{SUFFIX}").exists()


def test_python_dash_m_schemas_check(tmp_path: Path) -> None:
    stale = subprocess.run(
        [sys.executable, "-m", "schemas", "--check", "--dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert stale.returncode == 1
    assert all(f"{stem}{SUFFIX}" in stale.stderr for stem in BOUNDARY_RECORDS)
    current = subprocess.run(
        [sys.executable, "-m", "schemas", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert current.returncode == 0, current.stderr


# ---- (b) real outputs validate


@pytest.mark.parametrize(("file", "stem"), sorted(OUTPUT_FILES.items()))
def test_ingest_outputs_validate(ingest_out: Path, file: str, stem: str) -> None:
    lines = (ingest_out / file).read_bytes().splitlines()
    assert lines, f"the sample gave no {file}"
    assert invalid(stem, lines) == []


def test_accepted_envelopes_validate_and_refused_ones_were_rejected() -> None:
    parser = Parser(default_tz=ZoneInfo("Asia/Ho_Chi_Minh"), max_clock_skew_ms=300_000)
    accepted = refused = 0
    for number, text in enumerate(SAMPLE.read_text(encoding="utf-8").splitlines(), start=1):
        result = parser.parse(RawLine(text, 1_714_600_000_000, f"sample:{number}"))
        try:
            envelope = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        valid = validator("raw.envelope").is_valid(envelope)
        if isinstance(result, ChatMessage | Feedback):
            accepted += 1
            assert valid, f"line {number} was accepted but is not a valid envelope: {text}"
        elif not valid:
            refused += 1
    assert accepted > 3000
    assert refused > 0  # the sample's unknown sources: the schema refuses them too


def test_drift_alerts_validate(drift_alerts: list) -> None:
    assert {a.signal for a in drift_alerts} == {
        "embedding",
        "refusal",
        "toxicity",
        "accuracy",
        "data",
    }
    assert invalid("drift.alerts", [a.to_json() for a in drift_alerts]) == []


# ---- (c) the validator refuses what breaks the contract


@cache
def valid_record(stem: str) -> dict[str, Any]:
    records: dict[str, dict[str, Any]] = {
        "chat.messages": {
            "message_id": "zalo:96d3cdf3",
            "idempotency_key": "zalo:96d3cdf3",
            "tenant": "acme",
            "source": "zalo",
            "platform": "zalo",
            "conversation_id": "zalo:3886:2468",
            "sender_id": "2468",
            "role": "user",
            "text": "Xin chào",
            "language": "vi",
            "event_time": "2024-05-01T03:00:00.123Z",
            "pii": [{"kind": "phone", "count": 1}],
            "late": False,
            "received_at": 1714532400500,
        },
        "chat.rejected": {
            "reason": "not_json",
            "errors": ["x"],
            "source": None,
            "tenant": None,
            "received_at": 1714532400500,
            "raw": "{",
        },
        "chat.feedback": {
            "feedback_id": "webhook:f-1",
            "tenant": "acme",
            "source": "webhook",
            "platform": "webhook",
            "message_id": "webhook:m-1",
            "conversation_id": "c-1",
            "score": 0.5,
            "event_time": "2024-05-01T03:00:00.123Z",
            "received_at": 1714532400500,
        },
        "pii.audit": {
            "message_id": "zalo:1",
            "kind": "phone",
            "start": 4,
            "end": 16,
            "value_hmac": "ab" * 32,
            "key_id": "3b1f0c2a9d4e",
        },
        "drift.alerts": {
            "alert_id": "a-1",
            "detector": "ADWIN",
            "signal": "refusal",
            "action": "retrain",
            "severity": "warning",
            "tenant": "acme",
            "model_version": "m1",
            "detected_at": "2024-05-01T03:00:00.000Z",
            "window": {"window_mean": 0.1},
            "reference": {"id": "r"},
            "cooldown_until": "2024-05-01T04:00:00.000Z",
            "parameters": {"delta": 0.01},
            "evidence": {
                "first_event_time": "2024-05-01T02:59:00.000Z",
                "last_event_time": "2024-05-01T03:00:00.000Z",
                "events": 10,
                "first_id": "a",
                "last_id": "b",
            },
        },
        "actions.audit": {
            "alert_id": "a-1",
            "action": "reindex",
            "tenant": "acme",
            "decision": "planned",
            "at": "2024-05-01T03:00:01.000Z",
            "detail": {"plan": {"segments": 3}},
        },
        "raw.envelope": {
            "source": "zalo",
            "tenant": "acme",
            "received_at": 1714532400123,
            "payload": {"event_name": "user_send_text"},
        },
    }
    alert = records["drift.alerts"]
    records["training.requests"] = {
        "request_id": alert["alert_id"],
        **{k: alert[k] for k in ("alert_id", "tenant", "model_version", "signal", "detector")},
        "severity": alert["severity"],
        "requested_at": "2024-05-01T03:00:01.000Z",
        "alert": alert,
    }
    return records[stem]


WRONG = {
    "string": 12345,
    "integer": "12345",
    "number": "0.5",
    "boolean": "no",
    "array": "[]",
    "object": "{}",
}


@pytest.mark.parametrize("stem", sorted(BOUNDARY_RECORDS))
def test_a_wrong_type_in_any_required_field_is_refused(stem: str) -> None:
    record = valid_record(stem)
    assert validator(stem).is_valid(record)
    schema = validator(stem).schema
    tried = 0
    for name in schema["required"]:
        prop = schema["properties"][name]
        kind = prop.get("type")
        if isinstance(kind, str):
            wrong = copy.deepcopy(record)
            wrong[name] = WRONG[kind]
            assert not validator(stem).is_valid(wrong), f"{stem}.{name} = {WRONG[kind]!r}"
            tried += 1
        missing = {k: v for k, v in record.items() if k != name}
        assert not validator(stem).is_valid(missing), f"{stem} without {name}"
    assert tried >= 1


@pytest.mark.parametrize(
    ("stem", "path", "value"),
    [
        ("chat.messages", ["event_time"], 1714532400123),  # milliseconds, not the string
        ("chat.messages", ["event_time"], "2024-05-01T10:00:00+07:00"),  # not UTC ms `Z`
        ("chat.messages", ["role"], "robot"),
        ("chat.messages", ["late"], None),
        ("chat.messages", ["pii", 0, "count"], 0),
        ("chat.messages", ["pii", 0, "kind"], 7),
        ("chat.feedback", ["score"], 1.5),
        ("chat.rejected", ["reason"], "because"),
        ("chat.rejected", ["errors", 0], {"msg": "x"}),
        ("drift.alerts", ["evidence", "events"], 0),
        ("drift.alerts", ["evidence", "last_event_time"], 1714532400000),
        ("drift.alerts", ["window", "window_mean"], "0.1"),
        ("drift.alerts", ["action"], "panic"),
        ("raw.envelope", ["source"], "telegram"),
        ("raw.envelope", ["received_at"], -1),
        ("raw.envelope", ["payload"], [1, 2]),
        ("pii.audit", ["start"], -1),
        ("training.requests", ["requested_at"], 1714532401000),
        ("training.requests", ["alert", "action"], "panic"),
        ("actions.audit", ["decision"], "maybe"),
        ("actions.audit", ["detail"], None),
    ],
)
def test_the_validator_refuses_a_broken_field(stem: str, path: list, value: Any) -> None:
    record = copy.deepcopy(valid_record(stem))
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert not validator(stem).is_valid(record)


def test_a_real_message_with_a_wrong_field_type_is_refused(ingest_out: Path) -> None:
    line = (ingest_out / "messages.jsonl").read_bytes().splitlines()[0]
    assert invalid("chat.messages", [line]) == []
    broken = orjson.loads(line) | {"received_at": str(orjson.loads(line)["received_at"])}
    assert invalid("chat.messages", [orjson.dumps(broken)]) != []
