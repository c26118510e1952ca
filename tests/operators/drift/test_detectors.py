"""Drift detectors: seeded streams with known detection indices, gates, cooldown, state."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import orjson
import pytest
from river.drift import ADWIN

from operators.drift.detectors import (
    DriftConfig,
    FeatureDrift,
    MeanShift,
    TenantDrift,
    load_reference_file,
)
from schemas.alert import DriftAlert
from schemas.message import ChatMessage, Feedback

T0 = 1_714_532_400_000
REFUSAL = "Xin lỗi, em không thể hỗ trợ yêu cầu này ạ"
TOXIC = "Đồ ngu, đọc kỹ đi"
CONTRACT_KEYS = {
    "alert_id",
    "detector",
    "signal",
    "action",
    "tenant",
    "model_version",
    "detected_at",
    "window",
    "reference",
    "cooldown_until",
}


def message(i: int, role: str, text: str, tenant: str = "acme", step_ms: int = 1000) -> ChatMessage:
    return ChatMessage(
        message_id=f"webhook:{i}",
        idempotency_key=f"webhook:{i}",
        tenant=tenant,
        source="webhook",
        platform="webhook",
        conversation_id=f"c-{i % 17}",
        sender_id="u-1",
        role=role,
        text=text,
        language="vi",
        event_ms=T0 + i * step_ms,
        received_at=T0 + i * step_ms,
    )


def feedback(i: int, score: float, tenant: str = "acme") -> Feedback:
    return Feedback(
        feedback_id=f"f-{i}",
        tenant=tenant,
        source="webhook",
        platform="webhook",
        message_id=f"webhook:{i}",
        conversation_id="c-1",
        score=score,
        event_ms=T0 + i * 1000,
        received_at=T0 + i * 1000,
    )


def bits(seed: int, rates: list[tuple[int, float]]) -> list[float]:
    rng = random.Random(seed)
    return [1.0 if rng.random() < p else 0.0 for n, p in rates for _ in range(n)]


def unit_vectors(seed: int, n: int, center: np.ndarray, noise: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = center + rng.normal(scale=noise, size=(n, center.size))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


CENTERS = np.random.default_rng(0).normal(size=(2, 32))


def first(monitor, stream) -> int | None:
    for i, x in enumerate(stream):
        if monitor.update(x).drift_detected:
            return i
    return None


# ---- MeanShift and FeatureDrift, river style


def test_mean_shift_finds_a_seeded_rise_at_a_known_index() -> None:
    rng = random.Random(11)
    stream = [rng.gauss(0.4, 0.1) for _ in range(2000)] + [rng.gauss(0.5, 0.1) for _ in range(500)]
    shift = MeanShift(ADWIN(delta=0.01, clock=8), direction="up", min_shift_sd=0.25)
    assert first(shift, stream) == 2103


def test_mean_shift_stays_quiet_on_a_stationary_stream() -> None:
    rng = random.Random(12)
    shift = MeanShift(ADWIN(delta=0.01, clock=8), direction="up", min_shift_sd=0.25)
    assert first(shift, [rng.gauss(0.4, 0.1) for _ in range(20_000)]) is None


def test_a_move_the_other_way_fires_the_detector_but_raises_nothing() -> None:
    rng = random.Random(13)
    stream = [rng.gauss(0.5, 0.1) for _ in range(2000)] + [rng.gauss(0.3, 0.1) for _ in range(500)]
    shift = MeanShift(ADWIN(delta=0.01, clock=8), direction="up")
    assert first(shift, stream) is None
    assert shift.fired >= 1


def test_a_rate_rise_below_the_threshold_is_not_an_alert() -> None:
    low = MeanShift(ADWIN(delta=0.01, clock=8), direction="up", reference_size=500, level=0.05)
    assert first(low, bits(5, [(3000, 0.0), (3000, 0.03)])) is None
    assert low.fired >= 1  # the detector saw the rise; the 5% level held it back


def test_refusal_rate_2_to_10_percent_is_found_at_a_known_index() -> None:
    rate = MeanShift(ADWIN(delta=0.01, clock=8), direction="up", reference_size=500, level=0.05)
    assert first(rate, bits(21, [(6000, 0.02), (2000, 0.10)])) == 6155


def test_accuracy_drop_is_found_at_a_known_index() -> None:
    rng = random.Random(31)
    scores = [1.0 if rng.random() < 0.8 else 0.0 for _ in range(3000)]
    scores += [1.0 if rng.random() < 0.6 else 0.0 for _ in range(1000)]
    accuracy = MeanShift(ADWIN(delta=0.01, clock=8), direction="down", min_shift_sd=0.25)
    assert first(accuracy, scores) == 3159


def test_feature_drift_finds_a_length_shift_on_the_right_feature() -> None:
    rng = random.Random(41)
    rows = [{"len": rng.gauss(3.5, 0.4), "mix": rng.random()} for _ in range(1500)]
    rows += [{"len": rng.gauss(4.1, 0.4), "mix": rng.random()} for _ in range(500)]
    data = FeatureDrift(["len", "mix"])
    assert first(data, rows) == 1569
    assert data.fired_on == ["len"]


@pytest.mark.parametrize(
    "kwargs",
    [{"direction": "sideways"}, {"reference_size": 1}, {"window_size": 5}, {"min_shift_sd": -1}],
)
def test_mean_shift_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MeanShift(ADWIN(), **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"refusal_threshold": 0},
        {"toxicity_threshold": 1.5},
        {"cooldown_ms": -1},
        {"window_size": 3},
    ],
)
def test_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DriftConfig(model_version="v", **kwargs)


# ---- TenantDrift: alerts, cooldown, state

CONFIG = DriftConfig(
    model_version="test-v1", cooldown_ms=3_600_000, reference_size=100, window_size=50
)


def bot_stream(
    seed: int,
    phases: list[tuple[int, float]],
    text: str = REFUSAL,
    start: int = 0,
    step_ms: int = 1000,
) -> list[ChatMessage]:
    rng = random.Random(seed)
    out, i = [], start
    for n, p in phases:
        for _ in range(n):
            out.append(
                message(
                    i,
                    "bot",
                    text if rng.random() < p else f"Dạ đơn {i} đang giao ạ",
                    step_ms=step_ms,
                )
            )
            i += 1
    return out


def run_bots(drift: TenantDrift, messages: list[ChatMessage]) -> list[DriftAlert]:
    return [a for m in messages for a in drift.on_bot_message(m)]


def test_refusal_alert_carries_the_contract_and_its_evidence() -> None:
    drift = TenantDrift("acme", CONFIG)
    alerts = run_bots(drift, bot_stream(1, [(800, 0.02), (400, 0.15)]))
    assert [(a.signal, a.action, a.detector) for a in alerts] == [("refusal", "retrain", "ADWIN")]
    alert = alerts[0]
    assert alert.evidence.last_id == "webhook:971"
    assert alert.evidence.events == 50
    assert alert.cooldown_until_ms == alert.evidence.last_event_ms + CONFIG.cooldown_ms
    assert alert.window["window_mean"] >= CONFIG.refusal_threshold
    assert alert.parameters["delta"] == 0.01
    body = orjson.loads(alert.to_json())
    assert set(body) >= CONTRACT_KEYS
    assert body["reference"]["id"].startswith("baseline:acme:refusal:")
    assert DriftAlert.from_json(alert.to_json()) == alert


def test_a_second_detection_inside_the_cooldown_is_suppressed() -> None:
    drift = TenantDrift("acme", CONFIG)
    rises = bot_stream(2, [(800, 0.02), (400, 0.15), (400, 0.45), (400, 0.85)])
    alerts = run_bots(drift, rises)  # 2,000 s of event time: all inside one hour
    assert len(alerts) == 1
    assert drift.suppressed >= 1
    later = bot_stream(3, [(400, 1.0)], start=len(rises) + 3600)  # past the cooldown
    late_alerts = run_bots(
        drift, [m.model_copy(update={"text": "ok"}) for m in later[:200]] + later
    )
    assert [a.signal for a in late_alerts] == ["refusal"]
    assert late_alerts[0].detected_ms >= alerts[0].cooldown_until_ms


def test_cooldown_is_per_signal() -> None:
    drift = TenantDrift("acme", CONFIG)
    refusals = bot_stream(4, [(800, 0.02), (400, 0.15)])
    toxic = bot_stream(5, [(800, 0.0), (400, 0.10)], text=TOXIC, start=len(refusals))
    alerts = run_bots(drift, refusals + toxic)
    assert [a.signal for a in alerts] == ["refusal", "toxicity"]


def test_the_same_events_give_the_same_alerts() -> None:
    events = bot_stream(6, [(800, 0.02), (400, 0.15)])
    once = [a.to_json() for a in run_bots(TenantDrift("acme", CONFIG), events)]
    again = [a.to_json() for a in run_bots(TenantDrift("acme", CONFIG), events)]
    assert once and once == again


def embedding_events(
    seed: int, before: int, after: int, share: float = 0.5
) -> list[tuple[ChatMessage, np.ndarray]]:
    rng = random.Random(seed)
    a = unit_vectors(seed, before + after, CENTERS[0])
    b = unit_vectors(seed + 1, after, CENTERS[1])
    out = []
    for i in range(before + after):
        v = b[i - before] if i >= before and rng.random() < share else a[i]
        out.append((message(i, "user", "Shop ơi còn hàng không ạ"), v))
    return out


def detected_at(alert: DriftAlert) -> int:
    """The index of the message an alert was raised at (`webhook:<index>`)."""
    return int(alert.evidence.last_id.removeprefix("webhook:"))


def run_users(drift: TenantDrift, events) -> list[DriftAlert]:
    return [a for m, v in events for a in drift.on_user_message(m, v)]


def test_embedding_shift_asks_for_a_reindex_against_the_first_n_reference() -> None:
    drift = TenantDrift("acme", CONFIG)
    events = embedding_events(7, 600, 300)
    alerts = run_users(drift, events)
    assert [(a.signal, a.action) for a in alerts] == [("embedding", "reindex")]
    assert 600 <= detected_at(alerts[0]) <= 650  # soon after the change at 600
    ref = alerts[0].reference
    assert ref["kind"] == "first_n" and ref["size"] == 100 and ref["id"].startswith("first_n:")
    assert ref["last_event_time"] == "2024-05-01T03:01:39.000Z"
    assert drift.gauges()["embedding_drift_score"] > 0.2


def test_no_alert_on_stationary_embeddings_and_features() -> None:
    drift = TenantDrift("acme", CONFIG)
    assert run_users(drift, embedding_events(8, 1500, 0)) == []
    assert drift.gauges()["embedding_drift_score"] < 0.1


def test_a_reference_file_is_used_from_the_first_message(tmp_path: Path) -> None:
    path = tmp_path / "ref.npy"
    np.save(path, unit_vectors(9, 300, CENTERS[0]))
    reference = load_reference_file(path, "test-v1")
    assert reference.id.startswith("file:ref:") and reference.size == 300
    drift = TenantDrift(
        "acme",
        DriftConfig(
            model_version="test-v1", reference_size=100, window_size=50, reference=reference
        ),
    )
    alerts = run_users(drift, embedding_events(10, 100, 300))
    assert [a.reference["id"] for a in alerts] == [reference.id]
    assert 100 <= detected_at(alerts[0]) <= 150  # soon after the change at 100


def test_a_reference_file_must_be_a_matrix(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, np.ones(8))
    with pytest.raises(ValueError, match="expected an"):
        load_reference_file(path, "v")


def test_a_new_model_version_rebuilds_the_reference() -> None:
    drift = TenantDrift("acme", CONFIG)
    run_users(drift, embedding_events(11, 150, 0))
    assert drift.reference is not None
    drift.reconfigure(
        DriftConfig(
            model_version="test-v2", reference_size=100, window_size=50, refusal_threshold=0.2
        )
    )
    assert drift.reference is None and drift.refusal.level == 0.2
    run_users(drift, embedding_events(12, 100, 0))
    assert drift.reference is not None and drift.reference.model_version == "test-v2"


def test_accuracy_alert_from_feedback() -> None:
    rng = random.Random(13)
    drift = TenantDrift("acme", CONFIG)
    scores = [1.0 if rng.random() < (0.8 if i < 1000 else 0.55) else 0.0 for i in range(1500)]
    alerts = [a for i, s in enumerate(scores) for a in drift.on_feedback(feedback(i, s))]
    assert [(a.signal, a.action, a.evidence.last_id) for a in alerts] == [
        ("accuracy", "retrain", "f-1067")
    ]
    assert alerts[0].window["window_mean"] < alerts[0].reference["mean"]


def test_pickled_state_continues_exactly_where_it_stopped() -> None:
    rng = random.Random(14)
    users = embedding_events(15, 600, 300)
    bots = bot_stream(16, [(600, 0.02), (300, 0.2)], start=10_000)
    scores = [1.0 if rng.random() < (0.8 if i < 600 else 0.5) else 0.0 for i in range(900)]

    def feed(drift: TenantDrift, lo: int, hi: int) -> list[bytes]:
        out = []
        for i in range(lo, hi):
            out += drift.on_user_message(*users[i])
            out += drift.on_bot_message(bots[i])
            out += drift.on_feedback(feedback(i, scores[i]))
        return [a.to_json() for a in out]

    straight = feed(TenantDrift("acme", CONFIG), 0, 900)
    part = TenantDrift("acme", CONFIG)
    head = feed(part, 0, 610)
    restored = pickle.loads(pickle.dumps(part))
    resumed = head + feed(restored, 610, 900)
    assert {orjson.loads(a)["signal"] for a in straight} == {"embedding", "refusal", "accuracy"}
    assert resumed == straight
