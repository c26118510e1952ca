"""Decoding alerts from outside: never raises; an alert round trips; the rest is a dead
letter carrying the input as read."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from operators.actions.decode import to_alert
from operators.common.kafka import value_text
from schemas.alert import DriftAlert
from schemas.message import Rejected
from tests.operators.actions.fakes import T0, alert

ids = st.text(min_size=1, max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def alerts(draw: st.DrawFn) -> DriftAlert:
    return alert(
        draw(ids),
        draw(st.sampled_from(["retrain", "reindex"])),
        tenant=draw(ids),
        detector=draw(st.sampled_from(["ADWIN", "KSWIN", "PageHinkley"])),
        severity=draw(st.sampled_from(["info", "warning", "critical"])),
        detected_ms=draw(st.integers(0, 4_000_000_000_000)),
        window=draw(
            st.dictionaries(
                st.text(max_size=10), finite | st.integers(-(2**53), 2**53) | st.none(), max_size=4
            )
        ),
        parameters=draw(
            st.dictionaries(st.text(max_size=10), finite | st.text(max_size=10), max_size=4)
        ),
    )


@given(alerts())
def test_an_alert_round_trips(a: DriftAlert) -> None:
    assert to_alert(a.to_json(), origin="kafka:drift.alerts", received_at=T0) == a
    assert to_alert(a.to_json().decode(), origin="file:alerts.jsonl", received_at=T0) == a


@given(st.one_of(st.none(), st.binary(max_size=300), st.text(max_size=300)))
def test_anything_else_is_a_dead_letter_never_an_exception(value: bytes | str | None) -> None:
    result = to_alert(value, origin="kafka:drift.alerts", received_at=T0)
    assert isinstance(result, Rejected)
    assert result.reason == "invalid_schema" and result.errors
    assert result.source == "kafka:drift.alerts" and result.received_at == T0
    assert result.raw == value_text(value)


@given(alerts(), st.sampled_from(["alert_id", "action", "tenant", "evidence", "detected_at"]))
def test_an_alert_missing_a_field_is_a_dead_letter(a: DriftAlert, field: str) -> None:
    obj = orjson.loads(a.to_json())
    del obj[field]
    result = to_alert(orjson.dumps(obj), origin="kafka:drift.alerts", received_at=T0)
    assert isinstance(result, Rejected) and field in result.errors[0]


@given(alerts(), st.sampled_from(["panic", "", 1, None]))
def test_an_unknown_action_is_a_dead_letter(a: DriftAlert, action: object) -> None:
    obj = orjson.loads(a.to_json()) | {"action": action}
    assert isinstance(to_alert(orjson.dumps(obj), origin="x", received_at=T0), Rejected)
