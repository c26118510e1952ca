"""What the drift alert sink skips on resume: alerts already sent, and their cooldowns."""

from __future__ import annotations

import orjson

from operators.drift.alert_sink import SentAlerts
from schemas.alert import DriftAlert, Evidence

HOUR_MS = 3_600_000


def alert(
    alert_id: str, detected_ms: int, *, signal: str = "refusal", tenant: str = "acme"
) -> DriftAlert:
    return DriftAlert(
        alert_id=alert_id,
        detector="ADWIN",
        signal=signal,
        action="retrain",
        severity="warning",
        tenant=tenant,
        model_version="m1",
        detected_ms=detected_ms,
        cooldown_until_ms=detected_ms + HOUR_MS,
        parameters={},
        window={},
        reference={},
        evidence=Evidence(
            first_event_ms=detected_ms - 1000,
            last_event_ms=detected_ms,
            events=10,
            first_id="a",
            last_id="b",
        ),
    )


def test_an_alert_on_the_topic_covers_its_id_and_its_cooldown() -> None:
    sent = SentAlerts()
    sent.add(orjson.loads(alert("a-1", 1_714_532_400_000).to_json()))

    assert sent.covers(alert("a-1", 1_714_532_400_000))
    # the same drift replayed with other evidence (another id), inside the cooldown
    assert sent.covers(alert("a-2", 1_714_532_400_000 + HOUR_MS - 1))
    assert not sent.covers(alert("a-3", 1_714_532_400_000 + HOUR_MS))
    assert not sent.covers(alert("a-4", 1_714_532_400_000 + 1, signal="toxicity"))
    assert not sent.covers(alert("a-5", 1_714_532_400_000 + 1, tenant="globex"))
    assert len(sent) == 1
