"""The Bytewax side of acting on alerts: every alert to one worker, decided there.

The audit log has one writer at a time (its file lock), and the policy keeps what it read
of it, so all alerts go to one key, hence one worker: the others never read or lock the
file. Nothing is kept in Bytewax state: the audit log is the memory, so a restart with or
without recovery knows what was done.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream

from operators.actions.policy import ActionPolicy
from schemas.action import ActionAudit
from schemas.alert import DriftAlert

KEY = "actions"


def act_on_alerts(
    step_id: str, alerts: Stream[DriftAlert], policy: ActionPolicy
) -> Stream[ActionAudit]:
    """Decide on each alert (`ActionPolicy.decide`); the audit records come out."""
    keyed = op.key_on(f"{step_id}_one_key", alerts, lambda _alert: KEY)
    decided = op.stateful_flat_map(
        step_id, keyed, lambda _state, alert: (None, policy.decide(alert))
    )
    return op.key_rm(f"{step_id}_records", decided)
