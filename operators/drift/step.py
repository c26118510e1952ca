"""The Bytewax side of drift detection: parsing inputs and the keyed-by-tenant step.

The state of a tenant is its `TenantDrift` (operators/drift/detectors.py); a snapshot is
that object pickled, so the River detectors, the reference centroid, the windows and the
cooldowns all survive a restart.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable
from typing import Union

import bytewax.operators as op
import orjson
from bytewax.dataflow import operator
from bytewax.operators import KeyedStream, StatefulLogic
from pydantic import ValidationError

from operators.common.embed_batch import Embedded
from operators.drift.detectors import DriftConfig, TenantDrift
from schemas.alert import DriftAlert
from schemas.message import ChatMessage, Feedback

log = logging.getLogger(__name__)

# A user message with its embedding, a bot reply, or a feedback record.
DriftEvent = Union[Embedded[ChatMessage], ChatMessage, Feedback]  # noqa: UP007
Observer = Callable[[str, dict[str, float], list[DriftAlert]], None]


def parse_record(data: bytes | str | None) -> ChatMessage | Feedback | None:
    """A `chat.messages` or `chat.feedback` JSON record, or None when it is neither."""
    if not data:
        return None
    try:
        obj = orjson.loads(data)
        if not isinstance(obj, dict):
            return None
        return Feedback.from_json(data) if "feedback_id" in obj else ChatMessage.from_json(data)
    except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError, ValueError):
        return None


class DriftLogic(StatefulLogic[DriftEvent, DriftAlert, bytes]):
    """One tenant's detectors; created at its first event or from a snapshot."""

    def __init__(
        self, config: DriftConfig, drift: TenantDrift | None, observe: Observer | None
    ) -> None:
        self.config = config
        self.drift = drift
        self.observe = observe

    def on_item(self, value: DriftEvent) -> tuple[Iterable[DriftAlert], bool]:
        if isinstance(value, Embedded):
            drift = self._drift_for(value.item.tenant)
            alerts = drift.on_user_message(value.item, value.vector)
        elif isinstance(value, Feedback):
            drift = self._drift_for(value.tenant)
            alerts = drift.on_feedback(value)
        else:
            drift = self._drift_for(value.tenant)
            alerts = drift.on_bot_message(value)
        if self.observe is not None:
            self.observe(drift.tenant, drift.gauges(), alerts)
        return alerts, StatefulLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.drift, protocol=pickle.HIGHEST_PROTOCOL)

    def _drift_for(self, tenant: str) -> TenantDrift:
        if self.drift is None:
            self.drift = TenantDrift(tenant, self.config)
        return self.drift


@operator
def detect_drift(
    step_id: str,
    up: KeyedStream[DriftEvent],
    *,
    config: DriftConfig,
    observe: Observer | None = None,
) -> KeyedStream[DriftAlert]:
    """Run each tenant's detectors over its events (key: tenant); emit the alerts.

    `observe(tenant, gauges, alerts)` is called after every event (metrics).
    """

    def build(resume: bytes | None) -> DriftLogic:
        drift = None
        if resume is not None:
            drift = pickle.loads(resume)
            if drift is not None:
                drift.reconfigure(config)
        return DriftLogic(config, drift, observe)

    return op.stateful("detect", up, build)
