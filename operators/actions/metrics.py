"""Prometheus metrics of the actions flow (served by operators.common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

ALERTS = Counter(
    "headwater_actions_alerts_total",
    "Drift alerts the actions flow decided on, by the action asked for and the decision "
    "(planned, starting, started, published, duplicate, failed).",
    ["action", "decision"],
)
