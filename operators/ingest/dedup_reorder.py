"""Dedup + reorder per tenant/conversation, as one Bytewax stateful step.

Both need the same key and the same lifetime (a conversation is remembered until it has
been quiet for the dedup TTL), so they share one state object and one exchange.

Bytewax calls a keyed logic once per key and batch, and asks each key for its next
wake-up after every call: with one key per conversation that is about one call per
message, a large share of the step's cost. So the step keys a fixed number of shards
instead (a stable hash of the conversation key), and each shard's logic holds its
conversations in a dict with one wake-up heap. A conversation still lives in exactly one
shard, so per-conversation order and dedup are unchanged, and shards spread over workers
like any other key.

Messages travel to their shard in lists, one per shard and upstream batch: between
processes Bytewax pickles and sends every item on its own, which cost a second process
more than it added.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import weakref
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from operators.common.clock import Clock, wall_clock_ms
from operators.ingest import metrics
from operators.ingest.dedup import DedupMemory
from operators.ingest.reorder import ReorderBuffer
from schemas.message import ChatMessage

SHARDS = 64
"""Keyed-state shards of the step: enough to spread over a few dozen workers."""


def shard_of(conversation_key: str, shards: int = SHARDS) -> str:
    """The shard that holds a conversation; the same in every process (unlike `hash`)."""
    return str(zlib.crc32(conversation_key.encode()) % shards)


@dataclass(frozen=True)
class ConversationOut:
    messages: Stream[ChatMessage]
    """Unique messages: in event-time order, or flagged `late`."""
    duplicates: Stream[ChatMessage]


@dataclass
class Conversation:
    dedup: DedupMemory
    reorder: ReorderBuffer[ChatMessage]
    last_seen_at_ms: int
    forget_at_ms: int
    """When the shard next checks whether the conversation has been quiet for the TTL."""
    release_at_ms: int | None = None
    """When its oldest held message is due, as last scheduled."""

    def snapshot(self) -> Conversation:
        return Conversation(
            self.dedup.snapshot(),
            self.reorder.snapshot(),
            self.last_seen_at_ms,
            self.forget_at_ms,
            self.release_at_ms,
        )


ShardState = dict[str, Conversation]
Tagged = tuple[bool, ChatMessage]  # (is_duplicate, message)


class ShardLogic(StatefulBatchLogic[list[ChatMessage], Tagged, ShardState]):
    """The conversations of one shard; emits `(is_duplicate, message)`.

    A conversation is forgotten once it has been quiet for the TTL (wall clock) with
    nothing held; the shard is discarded when it holds no conversation.
    """

    def __init__(
        self, state: ShardState | None, *, ttl_ms: int, lateness_ms: int, clock: Clock
    ) -> None:
        _track(self)
        self._ttl_ms = ttl_ms
        self._lateness_ms = lateness_ms
        self._clock = clock
        self.conversations: ShardState = state or {}
        # (clock ms, conversation key): release and forget checks. An entry may be stale
        # (its conversation rescheduled or gone); a stale entry only wakes the shard early.
        self._wakeups: list[tuple[int, str]] = []
        for key, conv in self.conversations.items():
            self._wakeups.append((conv.forget_at_ms, key))
            if conv.release_at_ms is not None:
                self._wakeups.append((conv.release_at_ms, key))
        heapq.heapify(self._wakeups)

    def _new_conversation(self, key: str, now: int) -> Conversation:
        conv = Conversation(
            DedupMemory(self._ttl_ms), ReorderBuffer(self._lateness_ms), now, now + self._ttl_ms
        )
        self.conversations[key] = conv
        heapq.heappush(self._wakeups, (conv.forget_at_ms, key))
        return conv

    def _schedule_release(self, key: str, conv: Conversation) -> None:
        due = conv.reorder.next_release_ms()
        if due is not None and due != conv.release_at_ms:
            heapq.heappush(self._wakeups, (due, key))
        conv.release_at_ms = due

    def on_batch(self, values: list[list[ChatMessage]]) -> tuple[Iterable[Tagged], bool]:
        now = self._clock()
        conversations = self.conversations
        touched: dict[str, Conversation] = {}
        out: list[Tagged] = []
        for msg in itertools.chain.from_iterable(values):
            key = msg.key
            conv = touched[key] = conversations.get(key) or self._new_conversation(key, now)
            if not conv.dedup.admit(msg.event_ms, msg.idempotency_key, msg.message_id):
                out.append((True, msg))
            elif conv.reorder.add(msg.event_ms, msg, now):
                for released in conv.reorder.release(now):
                    out.append((False, released))
            else:
                out.append((False, msg.model_copy(update={"late": True})))
        for key, conv in touched.items():
            conv.last_seen_at_ms = now
            self._schedule_release(key, conv)
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[Tagged], bool]:
        now = self._clock()
        out: list[Tagged] = []
        wakeups = self._wakeups
        while wakeups and wakeups[0][0] <= now:
            due, key = heapq.heappop(wakeups)
            conv = self.conversations.get(key)
            if conv is None or due not in (conv.release_at_ms, conv.forget_at_ms):
                continue  # rescheduled since, or forgotten
            conv.release_at_ms = None  # this wake-up is spent
            out.extend((False, m) for m in conv.reorder.release(now))
            self._schedule_release(key, conv)
            if conv.forget_at_ms <= now:
                quiet_until = conv.last_seen_at_ms + self._ttl_ms
                if not len(conv.reorder) and quiet_until <= now:
                    del self.conversations[key]
                    continue
                conv.forget_at_ms = max(quiet_until, now + self._lateness_ms)
                heapq.heappush(wakeups, (conv.forget_at_ms, key))
        return out, not self.conversations

    def on_eof(self) -> tuple[Iterable[Tagged], bool]:
        out: list[Tagged] = []
        for conv in self.conversations.values():
            out.extend((False, m) for m in conv.reorder.flush())
            conv.release_at_ms = None
        return out, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if not self._wakeups:
            return None
        return datetime.fromtimestamp(self._wakeups[0][0] / 1000, UTC)

    def snapshot(self) -> ShardState:
        return {key: conv.snapshot() for key, conv in self.conversations.items()}


_live_shards: dict[int, weakref.ref[ShardLogic]] = {}


def _track(logic: ShardLogic) -> None:
    key = id(logic)

    def untrack(_ref: weakref.ref[ShardLogic]) -> None:
        _live_shards.pop(key, None)

    _live_shards[key] = weakref.ref(logic, untrack)


def state_sizes() -> dict[str, int]:
    """Dedup keys and held messages in this process's shards.

    Called from the metrics server's thread: `list()` of a dict's values is one step
    under the GIL, so the worker may go on changing the dicts meanwhile.
    """
    sizes = {"dedup_keys": 0, "held_messages": 0}
    for ref in list(_live_shards.values()):
        logic = ref()
        if logic is None:
            continue
        for conv in list(logic.conversations.values()):
            sizes["dedup_keys"] += len(conv.dedup)
            sizes["held_messages"] += len(conv.reorder)
    return sizes


def _state_size(kind: str) -> int:
    return state_sizes()[kind]


for _kind in ("dedup_keys", "held_messages"):
    metrics.STATE_ITEMS.labels(kind=_kind).set_function(functools.partial(_state_size, _kind))


@operator
def dedup_and_reorder(
    step_id: str,
    up: Stream[ChatMessage],
    *,
    ttl_ms: int,
    lateness_ms: int,
    clock: Clock = wall_clock_ms,
    shards: int = SHARDS,
) -> ConversationOut:
    """Drop duplicates (per tenant, within the TTL) and order each conversation by event time."""

    def by_shard(batch: list[ChatMessage]) -> Iterable[tuple[str, list[ChatMessage]]]:
        groups: dict[str, list[ChatMessage]] = {}
        for msg in batch:
            groups.setdefault(shard_of(msg.key, shards), []).append(msg)
        return groups.items()

    tagged = op.stateful_batch(
        "logic",
        op.flat_map_batch("by_shard", up, by_shard),
        lambda state: ShardLogic(state, ttl_ms=ttl_ms, lateness_ms=lateness_ms, clock=clock),
    )
    values = op.map("unkey", tagged, lambda kv: kv[1])
    split = op.branch("split", values, lambda tagged_msg: tagged_msg[0])
    return ConversationOut(
        messages=op.map("messages", split.falses, lambda t: t[1]),
        duplicates=op.map("duplicates", split.trues, lambda t: t[1]),
    )
