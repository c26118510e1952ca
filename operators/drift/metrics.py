"""Prometheus metrics of the drift flow, labelled by tenant (served by operators.common.metrics)."""

from __future__ import annotations

import math

from prometheus_client import Counter, Gauge

from schemas.alert import DriftAlert

EMBEDDING_DRIFT_SCORE = Gauge(
    "embedding_drift_score",
    "Cosine distance between the recent centroid of user-message embeddings and the "
    "tenant's reference centroid.",
    ["tenant"],
)
REFUSAL_RATE = Gauge("refusal_rate", "Share of refusals in the recent bot replies.", ["tenant"])
TOXICITY_RATE = Gauge("toxicity_rate", "Share of toxic recent bot replies.", ["tenant"])
RECENT_ACCURACY = Gauge("recent_accuracy", "Mean recent feedback score (0-1).", ["tenant"])
RETRAIN_EVENTS = Counter("retrain_events", "Drift alerts asking for a retrain.", ["tenant"])
REINDEX_EVENTS = Counter("reindex_events", "Drift alerts asking for a reindex.", ["tenant"])
UNPARSEABLE = Counter(
    "headwater_drift_unparseable_total", "Input records the drift flow could not parse."
)

GAUGES = {
    "embedding_drift_score": EMBEDDING_DRIFT_SCORE,
    "refusal_rate": REFUSAL_RATE,
    "toxicity_rate": TOXICITY_RATE,
    "recent_accuracy": RECENT_ACCURACY,
}
ACTION_COUNTERS = {"retrain": RETRAIN_EVENTS, "reindex": REINDEX_EVENTS}


def observe(tenant: str, gauges: dict[str, float], alerts: list[DriftAlert]) -> None:
    """Set a tenant's gauges (those with a value yet) and count its alerts by action."""
    for name, value in gauges.items():
        if not math.isnan(value):
            GAUGES[name].labels(tenant=tenant).set(value)
    for alert in alerts:
        ACTION_COUNTERS[alert.action].labels(tenant=tenant).inc()
