"""Record JSON codecs: pydantic's own serializer against the hand-written orjson ones.

    .venv/bin/python benchmarks/bench_schemas.py [--rounds 7] [--seconds 0.3]

The records are real ones: the bundled sample (`flows/samples/pipeline_sample.jsonl`) run
through `Parser.parse` gives the messages, feedback and rejected inputs; the drift alerts
have the shape `TenantDrift` gives them. For each record type the script times, per call:

- `legacy`: the hand-written codec `schemas/` had before (`orjson.dumps` of a dict built
  field by field; `orjson.loads`, renaming the wire fields, `model_validate`), kept here;
- `pydantic`: what `schemas/` does now, `record.to_json()` (the model's core serializer,
  `__pydantic_serializer__.to_json(record, by_alias=True)`) and `Type.from_json(data)`
  (`model_validate_json`);
- for `to_json`, also `model_dump_json(by_alias=True).encode()`, the public spelling.

Variants alternate within each round (the order flips every round); each reports its
median round. Ratios are pydantic time / legacy time: below 1 is faster. It also checks
that both codecs write the same bytes for every record and read back equal records.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from operators.ingest.parse import Parser  # noqa: E402
from schemas.alert import DriftAlert, Evidence, alert_id  # noqa: E402
from schemas.message import (  # noqa: E402
    ChatMessage,
    Feedback,
    Rejected,
    iso_utc_ms,
    parse_iso_utc_ms,
)
from schemas.pii_audit import PiiAudit  # noqa: E402
from schemas.raw import RawLine  # noqa: E402

SAMPLE = ROOT / "flows" / "samples" / "pipeline_sample.jsonl"


# ---- the hand-written codecs schemas/ had before (the baseline; tests compare with them)


def legacy_message_to_json(m: ChatMessage) -> bytes:
    return orjson.dumps(
        {
            "message_id": m.message_id,
            "idempotency_key": m.idempotency_key,
            "tenant": m.tenant,
            "source": m.source,
            "platform": m.platform,
            "conversation_id": m.conversation_id,
            "sender_id": m.sender_id,
            "role": m.role,
            "text": m.text,
            "language": m.language,
            "event_time": iso_utc_ms(m.event_ms),
            "pii": [{"kind": p.kind, "count": p.count} for p in m.pii],
            "late": m.late,
            "received_at": m.received_at,
        }
    )


def _with_event_ms(data: bytes | str) -> dict:
    obj = orjson.loads(data)
    obj["event_ms"] = parse_iso_utc_ms(obj.pop("event_time"))
    return obj


def legacy_message_from_json(data: bytes | str) -> ChatMessage:
    return ChatMessage.model_validate(_with_event_ms(data))


def legacy_feedback_to_json(f: Feedback) -> bytes:
    return orjson.dumps(
        {
            "feedback_id": f.feedback_id,
            "tenant": f.tenant,
            "source": f.source,
            "platform": f.platform,
            "message_id": f.message_id,
            "conversation_id": f.conversation_id,
            "score": f.score,
            "event_time": iso_utc_ms(f.event_ms),
            "received_at": f.received_at,
        }
    )


def legacy_feedback_from_json(data: bytes | str) -> Feedback:
    return Feedback.model_validate(_with_event_ms(data))


def legacy_rejected_to_json(r: Rejected) -> bytes:
    return orjson.dumps(
        {
            "reason": r.reason,
            "errors": list(r.errors),
            "source": r.source,
            "tenant": r.tenant,
            "received_at": r.received_at,
            "raw": r.raw,
        }
    )


def legacy_rejected_from_json(data: bytes | str) -> Rejected:
    # Rejected had no from_json; this is what one written the same way would be.
    return Rejected.model_validate(orjson.loads(data))


def legacy_alert_to_json(a: DriftAlert) -> bytes:
    return orjson.dumps(
        {
            "alert_id": a.alert_id,
            "detector": a.detector,
            "signal": a.signal,
            "action": a.action,
            "severity": a.severity,
            "tenant": a.tenant,
            "model_version": a.model_version,
            "detected_at": iso_utc_ms(a.detected_ms),
            "window": a.window,
            "reference": a.reference,
            "cooldown_until": iso_utc_ms(a.cooldown_until_ms),
            "parameters": a.parameters,
            "evidence": {
                "first_event_time": iso_utc_ms(a.evidence.first_event_ms),
                "last_event_time": iso_utc_ms(a.evidence.last_event_ms),
                "events": a.evidence.events,
                "first_id": a.evidence.first_id,
                "last_id": a.evidence.last_id,
            },
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def legacy_alert_from_json(data: bytes | str) -> DriftAlert:
    obj = orjson.loads(data)
    evidence = obj.pop("evidence")
    obj["detected_ms"] = parse_iso_utc_ms(obj.pop("detected_at"))
    obj["cooldown_until_ms"] = parse_iso_utc_ms(obj.pop("cooldown_until"))
    obj["evidence"] = {
        "first_event_ms": parse_iso_utc_ms(evidence["first_event_time"]),
        "last_event_ms": parse_iso_utc_ms(evidence["last_event_time"]),
        "events": evidence["events"],
        "first_id": evidence["first_id"],
        "last_id": evidence["last_id"],
    }
    return DriftAlert.model_validate(obj)


def legacy_pii_audit_to_json(p: PiiAudit) -> bytes:
    return p.model_dump_json().encode()


def legacy_pii_audit_from_json(data: bytes | str) -> PiiAudit:
    return PiiAudit.model_validate(orjson.loads(data))


LEGACY: dict[Any, tuple[Callable[[Any], bytes], Callable[[bytes], Any]]] = {
    ChatMessage: (legacy_message_to_json, legacy_message_from_json),
    Feedback: (legacy_feedback_to_json, legacy_feedback_from_json),
    Rejected: (legacy_rejected_to_json, legacy_rejected_from_json),
    DriftAlert: (legacy_alert_to_json, legacy_alert_from_json),
    PiiAudit: (legacy_pii_audit_to_json, legacy_pii_audit_from_json),
}


# ---- records


def sample_records(path: Path = SAMPLE) -> dict[Any, list[Any]]:
    """The bundled sample through the parser: messages, feedback and rejected inputs."""
    parser = Parser(default_tz=ZoneInfo("Asia/Ho_Chi_Minh"), max_clock_skew_ms=300_000)
    out: dict[Any, list[Any]] = {ChatMessage: [], Feedback: [], Rejected: []}
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            result = parser.parse(RawLine(text, 1_714_600_000_000, f"file:{path}:{number}"))
            out[type(result)].append(result)
    return out


def sample_alerts(n: int = 200) -> list[DriftAlert]:
    """Alerts shaped like `TenantDrift`'s: refusal (ADWIN) and data (KSWIN) ones."""
    t0, alerts = 1_714_532_400_000, []
    for i in range(n):
        last, first = t0 + i * 60_000, t0 + i * 60_000 - 49_000
        signal = "refusal" if i % 2 else "data"
        ref: dict[str, Any] = {
            "id": f"baseline:acme:{signal}:{t0}-{t0 + 99_000}",
            "kind": "first_n",
            "size": 100,
            "mean": 0.02 + i * 1e-4,
            "first_event_time": iso_utc_ms(t0),
            "last_event_time": iso_utc_ms(t0 + 99_000),
        }
        window = (
            {
                "window_mean": 0.14 + i * 1e-5,
                "window_events": 50,
                "reference_mean": 0.02,
                "reference_sd": 0.1400142849854971,
            }
            if signal == "refusal"
            else {
                "log_length_window_mean": 3.912023005428146,
                "log_length_reference_mean": 3.5,
                "log_length_p_value": 3.2e-09,
                "marked_ratio_window_mean": None,
                "marked_ratio_reference_mean": 0.21,
                "window_events": 200,
            }
        )
        params = (
            {
                "delta": 0.01,
                "clock": 8,
                "max_buckets": 5,
                "min_window_length": 5,
                "grace_period": 10,
            }
            if signal == "refusal"
            else {
                "alpha": 1e-06,
                "window_size": 500,
                "stat_size": 100,
                "seed": 42,
                "window": None,
                "stride": 10,
            }
        )
        action = "retrain" if signal == "refusal" else "reindex"
        alerts.append(
            DriftAlert(
                alert_id=alert_id("acme", signal, action, ref["id"], first, last, f"webhook:{i}"),
                detector="ADWIN" if signal == "refusal" else "StridedKSWIN",
                signal=signal,
                action=action,
                severity="warning",
                tenant="acme",
                model_version="2346232dc401",
                detected_ms=last,
                window=window,
                reference=ref,
                cooldown_until_ms=last + 3_600_000,
                parameters=params,
                evidence=Evidence(
                    first_event_ms=first,
                    last_event_ms=last,
                    events=50,
                    first_id=f"webhook:{i - 49}",
                    last_id=f"webhook:{i}",
                ),
            )
        )
    return alerts


def sample_audits(n: int = 500) -> list[PiiAudit]:
    return [
        PiiAudit(
            message_id=f"zalo:{i:012x}",
            kind=("phone", "email")[i % 2],
            start=4,
            end=16,
            value_hmac=f"{i:064x}",
            key_id="3b1f0c2a9d4e",
        )
        for i in range(n)
    ]


# ---- timing


def per_call_us(fn: Callable[[Any], Any], items: Sequence[Any], seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    while True:
        for item in items:
            fn(item)
        calls += len(items)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / calls * 1e6


def check_same(records: dict[Any, list[Any]]) -> int:
    """Records whose two codecs disagree (bytes written, or the record read back)."""
    bad = 0
    for cls, items in records.items():
        to_legacy, from_legacy = LEGACY[cls]
        for record in items:
            data = record.to_json()
            if data != to_legacy(record) or not cls.from_json(data) == from_legacy(data) == record:
                bad += 1
                print(f"  differs ({cls.__name__}): {data[:120]!r}")
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="per variant and round")
    args = parser.parse_args(argv)

    records = sample_records()
    records[DriftAlert] = sample_alerts()
    records[PiiAudit] = sample_audits()
    counts = ", ".join(f"{len(v)} {k.__name__}" for k, v in records.items())
    print(f"records: {counts} (sample: {SAMPLE.relative_to(ROOT)})")
    bad = check_same(records)
    print(f"same bytes and records from both codecs: {'yes' if not bad else f'NO ({bad})'}")

    cases: list[tuple[str, dict[str, Callable[[Any], Any]], list[Any]]] = []
    for cls, items in records.items():
        to_legacy, from_legacy = LEGACY[cls]
        cases.append(
            (
                f"{cls.__name__}.to_json",
                {
                    "legacy": to_legacy,
                    "pydantic": cls.to_json,
                    "model_dump_json": lambda r: r.model_dump_json(by_alias=True).encode(),
                },
                items,
            )
        )
        cases.append(
            (
                f"{cls.__name__}.from_json",
                {
                    "legacy": from_legacy,
                    "pydantic": cls.from_json,
                },
                [r.to_json() for r in items],
            )
        )

    times: dict[tuple[str, str], list[float]] = {}
    for rnd in range(args.rounds):
        for name, variants, items in cases:
            order = list(variants.items())
            for variant, fn in order if rnd % 2 == 0 else reversed(order):
                times.setdefault((name, variant), []).append(per_call_us(fn, items, args.seconds))

    print(f"\nmedian of {args.rounds} rounds, µs per call; ratio = variant / legacy")
    print(
        f"{'case':<22} {'legacy':>8} {'pydantic':>9} {'ratio':>7} "
        f"{'model_dump_json':>16} {'ratio':>7}"
    )
    for name, variants, _ in cases:
        med = {v: statistics.median(times[(name, v)]) for v in variants}
        legacy = med["legacy"]
        row = f"{name:<22} {legacy:>8.2f} {med['pydantic']:>9.2f} {med['pydantic'] / legacy:>6.2f}x"
        if "model_dump_json" in med:
            dump = med["model_dump_json"]
            row += f" {dump:>16.2f} {dump / legacy:>6.2f}x"
        print(row)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
