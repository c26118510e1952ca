"""Dedup + reorder per tenant/conversation, as one Bytewax stateful step.

Both need the same key and the same lifetime (a conversation is remembered until it has
been quiet for the dedup TTL), so they share one state object and one exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from operators import metrics
from operators.clock import Clock, wall_clock_ms
from operators.dedup import DedupMemory
from operators.reorder import ReorderBuffer
from schemas.message import ChatMessage


@dataclass(frozen=True)
class ConversationOut:
    messages: Stream[ChatMessage]
    """Unique messages: in event-time order, or flagged `late`."""
    duplicates: Stream[ChatMessage]


@dataclass
class ConversationState:
    dedup: DedupMemory
    reorder: ReorderBuffer[ChatMessage]
    last_seen_at_ms: int


Tagged = tuple[bool, ChatMessage]  # (is_duplicate, message)


class ConversationLogic(StatefulBatchLogic[ChatMessage, Tagged, ConversationState]):
    """Emits `(is_duplicate, message)`; forgets the conversation after a TTL of quiet."""

    def __init__(
        self, state: ConversationState | None, *, ttl_ms: int, lateness_ms: int, clock: Clock
    ) -> None:
        self._ttl_ms = ttl_ms
        self._clock = clock
        self.state = state or ConversationState(
            DedupMemory(ttl_ms), ReorderBuffer(lateness_ms), clock()
        )
        self._account((0, 0), False)  # a state restored from a snapshot is held again

    def _sizes(self) -> tuple[int, int]:
        return len(self.state.dedup), len(self.state.reorder)

    def _account(self, before: tuple[int, int], discard: bool) -> None:
        after = (0, 0) if discard else self._sizes()
        sizes = metrics.state_sizes
        sizes["dedup_keys"] += after[0] - before[0]
        sizes["held_messages"] += after[1] - before[1]

    def on_batch(self, values: list[ChatMessage]) -> tuple[Iterable[Tagged], bool]:
        before = self._sizes()
        now = self._clock()
        state = self.state
        state.last_seen_at_ms = now
        out: list[Tagged] = []
        for msg in values:
            if not state.dedup.admit(msg.event_ms, msg.idempotency_key, msg.message_id):
                out.append((True, msg))
                continue
            released, late = state.reorder.push(msg.event_ms, msg, now)
            out.extend((False, m) for m in released)
            out.extend((False, m.model_copy(update={"late": True})) for m in late)
        self._account(before, False)
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[Tagged], bool]:
        before = self._sizes()
        now = self._clock()
        out = [(False, m) for m in self.state.reorder.release(now)]
        quiet = not len(self.state.reorder) and now >= self.state.last_seen_at_ms + self._ttl_ms
        self._account(before, quiet)
        return out, quiet

    def on_eof(self) -> tuple[Iterable[Tagged], bool]:
        before = self._sizes()
        out = [(False, m) for m in self.state.reorder.flush()]
        self._account(before, False)
        return out, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        due = self.state.reorder.next_release_ms()
        forget = self.state.last_seen_at_ms + self._ttl_ms
        at_ms = forget if due is None else min(due, forget)
        return datetime.fromtimestamp(at_ms / 1000, UTC)

    def snapshot(self) -> ConversationState:
        state = self.state
        return ConversationState(
            state.dedup.snapshot(), state.reorder.snapshot(), state.last_seen_at_ms
        )


@operator
def dedup_and_reorder(
    step_id: str,
    up: Stream[ChatMessage],
    *,
    ttl_ms: int,
    lateness_ms: int,
    clock: Clock = wall_clock_ms,
) -> ConversationOut:
    """Drop duplicates (per tenant, within the TTL) and order each conversation by event time."""
    keyed = op.key_on("key", up, lambda m: m.key)
    tagged = op.stateful_batch(
        "logic",
        keyed,
        lambda state: ConversationLogic(state, ttl_ms=ttl_ms, lateness_ms=lateness_ms, clock=clock),
    )
    values = op.map("unkey", tagged, lambda kv: kv[1])
    split = op.branch("split", values, lambda tagged_msg: tagged_msg[0])
    return ConversationOut(
        messages=op.map("messages", split.falses, lambda t: t[1]),
        duplicates=op.map("duplicates", split.trues, lambda t: t[1]),
    )
