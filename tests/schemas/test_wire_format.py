"""The records' JSON is the contract: pydantic's codec writes the bytes the old one wrote.

The hand-written orjson codecs `schemas/` had before live on in
`benchmarks/bench_schemas.py` (its baseline); here they are the oracle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from benchmarks.bench_schemas import LEGACY
from schemas.alert import DriftAlert, Evidence
from schemas.message import ChatMessage, Feedback, PiiCount, Rejected
from schemas.pii_audit import PiiAudit
from tests.schemas.records import OUTPUT_FILES

TYPES = {
    "chat.messages": ChatMessage,
    "chat.rejected": Rejected,
    "chat.feedback": Feedback,
    "pii.audit": PiiAudit,
}

MESSAGE = ChatMessage(
    message_id="zalo:96d3cdf3",
    idempotency_key="zalo:96d3cdf3",
    tenant="acme",
    source="zalo",
    platform="zalo",
    conversation_id="zalo:3886:2468",
    sender_id="2468",
    role="user",
    text="Sđt em là [PHONE] ạ",
    language="vi",
    event_ms=1_714_532_400_123,
    received_at=1_714_532_400_500,
    pii=(PiiCount(kind="phone", count=1),),
    late=True,
)
ALERT = DriftAlert(
    alert_id="a-1",
    detector="ADWIN",
    signal="refusal",
    action="retrain",
    severity="warning",
    tenant="acme",
    model_version="m1",
    detected_ms=1_714_532_400_000,
    cooldown_until_ms=1_714_536_000_000,
    parameters={"delta": 0.01, "clock": 8},
    window={"window_mean": 0.14, "window_events": 50, "reference_sd": None},
    reference={"id": "baseline:acme:refusal:1-2", "size": 100},
    evidence=Evidence(
        first_event_ms=1_714_532_351_000,
        last_event_ms=1_714_532_400_000,
        events=50,
        first_id="webhook:922",
        last_id="webhook:971",
    ),
)


def test_the_exact_bytes_of_each_record() -> None:
    assert (
        MESSAGE.to_json()
        == (
            '{"message_id":"zalo:96d3cdf3","idempotency_key":"zalo:96d3cdf3","tenant":"acme",'
            '"source":"zalo","platform":"zalo","conversation_id":"zalo:3886:2468",'
            '"sender_id":"2468","role":"user","text":"Sđt em là [PHONE] ạ","language":"vi",'
            '"event_time":"2024-05-01T03:00:00.123Z","pii":[{"kind":"phone","count":1}],'
            '"late":true,"received_at":1714532400500}'
        ).encode()
    )
    assert Feedback(
        feedback_id="webhook:f-1",
        tenant="acme",
        source="webhook",
        platform="shopee",
        message_id="shopee:m-1",
        conversation_id="c-9",
        score=1,
        event_ms=1_714_532_400_000,
        received_at=1_714_532_400_500,
    ).to_json() == (
        b'{"feedback_id":"webhook:f-1","tenant":"acme","source":"webhook","platform":"shopee",'
        b'"message_id":"shopee:m-1","conversation_id":"c-9","score":1.0,'
        b'"event_time":"2024-05-01T03:00:00.000Z","received_at":1714532400500}'
    )
    assert Rejected(
        reason="not_json", errors=("bad",), received_at=1_714_532_400_500, raw='{"a"'
    ).to_json() == (
        b'{"reason":"not_json","errors":["bad"],"source":null,"tenant":null,'
        b'"received_at":1714532400500,"raw":"{\\"a\\""}'
    )
    assert PiiAudit(
        message_id="zalo:1", kind="phone", start=4, end=16, value_hmac="abab", key_id="k1"
    ).to_json() == (
        b'{"message_id":"zalo:1","kind":"phone","start":4,"end":16,"value_hmac":"abab",'
        b'"key_id":"k1"}'
    )
    assert ALERT.to_json() == (
        b'{"alert_id":"a-1","detector":"ADWIN","signal":"refusal","action":"retrain",'
        b'"severity":"warning","tenant":"acme","model_version":"m1",'
        b'"detected_at":"2024-05-01T03:00:00.000Z",'
        b'"window":{"window_mean":0.14,"window_events":50,"reference_sd":null},'
        b'"reference":{"id":"baseline:acme:refusal:1-2","size":100},'
        b'"cooldown_until":"2024-05-01T04:00:00.000Z","parameters":{"delta":0.01,"clock":8},'
        b'"evidence":{"first_event_time":"2024-05-01T02:59:11.000Z",'
        b'"last_event_time":"2024-05-01T03:00:00.000Z","events":50,"first_id":"webhook:922",'
        b'"last_id":"webhook:971"}}'
    )


@pytest.mark.parametrize("record", [MESSAGE, ALERT], ids=["message", "alert"])
def test_from_json_reads_bytes_and_str(record) -> None:
    assert type(record).from_json(record.to_json()) == record
    assert type(record).from_json(record.to_json().decode()) == record


def test_from_json_takes_wire_names_only() -> None:
    body = orjson.loads(MESSAGE.to_json())
    del body["event_time"]
    body["event_ms"] = MESSAGE.event_ms
    with pytest.raises(ValidationError, match="event_time"):
        ChatMessage.from_json(orjson.dumps(body))
    with pytest.raises(ValidationError, match="ISO 8601"):
        ChatMessage.from_json(
            MESSAGE.to_json().replace(b'"2024-05-01T03:00:00.123Z"', b"1714532400123")
        )
    with pytest.raises(ValidationError):
        ChatMessage.from_json(b"not json")
    with pytest.raises(ValidationError):
        ChatMessage.from_json(MESSAGE.to_json().replace(b".123Z", b".123 yesterday"))
    # Records are built by field name; the model dump keeps Python's form.
    assert MESSAGE.model_dump()["event_ms"] == MESSAGE.event_ms
    with pytest.raises(ValidationError):
        ChatMessage(**{**MESSAGE.model_dump(exclude={"event_ms"}), "event_time": 1})


@pytest.mark.parametrize(("file", "stem"), sorted(OUTPUT_FILES.items()))
def test_every_ingest_output_line_reads_back_to_the_same_bytes(
    ingest_out: Path, file: str, stem: str
) -> None:
    cls: Any = TYPES[stem]
    to_legacy, from_legacy = LEGACY[cls]
    for line in (ingest_out / file).read_bytes().splitlines():
        record = cls.from_json(line)
        assert record.to_json() == line
        assert to_legacy(record) == line
        assert from_legacy(line) == record


def test_detector_alerts_are_written_as_before(drift_alerts: list) -> None:
    to_legacy, from_legacy = LEGACY[DriftAlert]
    for alert in drift_alerts:
        assert alert.to_json() == to_legacy(alert)
        assert DriftAlert.from_json(alert.to_json()) == from_legacy(alert.to_json()) == alert


@pytest.mark.parametrize(
    "value",
    [
        np.float64(0.1),
        np.float32(0.1),
        np.int64(5),
        np.bool_(True),
        np.array([0.1, 0.2], dtype=np.float32),
        np.array([[1, 2]], dtype=np.int32),
    ],
    ids=lambda v: f"{type(v).__name__}-{getattr(v, 'dtype', '')}",
)
def test_numpy_values_in_an_alert_are_written_as_orjson_wrote_them(value) -> None:
    alert = ALERT.model_copy(update={"reference": {"x": value}, "parameters": {"y": value}})
    assert alert.to_json() == LEGACY[DriftAlert][0](alert)


# ---- any field values: the same bytes as the old codec

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # no lone surrogates
TENANT = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
MS = st.integers(0, 4_102_444_800_000)
FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=150, deadline=None)
@given(
    st.builds(
        ChatMessage,
        message_id=TEXT,
        idempotency_key=TEXT,
        tenant=TENANT,
        source=TEXT,
        platform=TEXT,
        conversation_id=TEXT,
        sender_id=TEXT,
        role=st.sampled_from(["user", "agent", "bot"]),
        text=TEXT,
        language=st.sampled_from(["vi", "en", "und"]),
        event_ms=MS,
        received_at=MS,
        pii=st.lists(st.builds(PiiCount, kind=TEXT, count=st.integers(1, 10**6)), max_size=3).map(
            tuple
        ),
        late=st.booleans(),
    )
)
def test_any_message(message: ChatMessage) -> None:
    assert message.to_json() == LEGACY[ChatMessage][0](message)
    assert ChatMessage.from_json(message.to_json()) == message


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        Feedback,
        feedback_id=TEXT,
        tenant=TENANT,
        source=TEXT,
        platform=TEXT,
        message_id=TEXT,
        conversation_id=TEXT,
        score=st.floats(0, 1),
        event_ms=MS,
        received_at=MS,
    ),
    st.builds(
        Rejected,
        reason=st.sampled_from(["not_json", "too_large"]),
        errors=st.lists(TEXT).map(tuple),
        source=st.none() | TEXT,
        tenant=st.none() | TEXT,
        received_at=MS,
        raw=TEXT,
    ),
)
def test_any_feedback_and_rejected(feedback: Feedback, rejected: Rejected) -> None:
    assert feedback.to_json() == LEGACY[Feedback][0](feedback)
    assert Feedback.from_json(feedback.to_json()) == feedback
    assert rejected.to_json() == LEGACY[Rejected][0](rejected)
    assert Rejected.from_json(rejected.to_json()) == rejected


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | FLOAT | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    window=st.dictionaries(TEXT, st.none() | st.integers(-(2**63), 2**63 - 1) | FLOAT, max_size=4),
    reference=st.dictionaries(TEXT, JSON_VALUE, max_size=4),
    parameters=st.dictionaries(TEXT, JSON_VALUE, max_size=4),
    times=st.lists(MS, min_size=4, max_size=4),
)
def test_any_alert(window: dict, reference: dict, parameters: dict, times: list[int]) -> None:
    alert = ALERT.model_copy(
        update={
            "window": window,
            "reference": reference,
            "parameters": parameters,
            "detected_ms": times[0],
            "cooldown_until_ms": times[1],
            "evidence": Evidence(
                first_event_ms=times[2], last_event_ms=times[3], events=1, first_id="a", last_id="b"
            ),
        }
    )
    assert alert.to_json() == LEGACY[DriftAlert][0](alert)
    back = orjson.loads(DriftAlert.from_json(alert.to_json()).to_json())
    assert back == orjson.loads(alert.to_json())
