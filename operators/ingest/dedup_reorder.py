"""Dedup per tenant, then reorder per tenant/conversation: three Bytewax stateful steps.

Dedup follows DESIGN.md: a message is a duplicate when its tenant has already received,
within the TTL (event time), the same idempotency key given by its sender, or the same
message id, whatever the conversation id: the same Zalo message arriving by webhook
(`zalo:<oa>:<user>`) and in a CSV export (`oa-user`) is one message. So dedup state is
keyed by tenant and key, not by conversation, in two steps: the first remembers senders'
own idempotency keys (a message without one passes, held by its id), the second message
ids. A message dropped by the first step never reaches the second, whose memory holds
only the ids of messages that passed the first.

The first arrival wins. Messages carry the order they were read in (`Arrival`) through
the steps, since a batch coming from upstream shards is in shard order. Across workers,
two copies read by different workers at nearly the same time may reach a step in either
order; the usual twins (a redelivery, a sender's retry with a new id, a Zalo message and
its export row) meet in one shard of the first step, so their order holds.

Reorder holds each conversation's messages until they can come out in event-time order.

Bytewax calls a keyed logic once per key and batch, and asks each key for its next
wake-up after every call: with one key per message or conversation that is about one
call per message, a large share of a step's cost. So each step keys a fixed number of
shards instead (a stable hash of its key), and each shard's logic holds its keys in a
dict (reorder: with one wake-up heap). A key still lives in exactly one shard, so dedup
and per-conversation order are unchanged, and shards spread over workers like any other
key.

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
from collections.abc import Callable, Iterable
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


MIN_HOLD_MS = 1000
"""How long reorder holds each message at least (or the lateness bound, when shorter): a
conversation's messages cross the dedup steps' shards, on several workers, and must meet
again in order (`ReorderBuffer.min_hold_ms`)."""


def shard_of(key: str, shards: int = SHARDS) -> str:
    """The shard that holds a key; the same in every process (unlike `hash`)."""
    return str(zlib.crc32(key.encode()) % shards)


@dataclass(frozen=True)
class ConversationOut:
    messages: Stream[ChatMessage]
    """Unique messages: in event-time order, or flagged `late`."""
    duplicates: Stream[ChatMessage]


@dataclass
class Conversation:
    reorder: ReorderBuffer[ChatMessage]
    last_seen_at_ms: int
    forget_at_ms: int
    """When the shard next checks whether the conversation has been quiet for the TTL."""
    release_at_ms: int | None = None
    """When its oldest held message is due, as last scheduled."""

    def snapshot(self) -> Conversation:
        return Conversation(
            self.reorder.snapshot(),
            self.last_seen_at_ms,
            self.forget_at_ms,
            self.release_at_ms,
        )


Arrival = tuple[int, int, ChatMessage]
"""(received_at, sequence, message): the order messages arrived in, carried through the
steps, since a batch from upstream shards comes in shard order, not in arrival order.
The sequence is this process's count; two processes' messages are ordered by receive time."""

Sorted = tuple[list[Arrival], list[ChatMessage]]  # (unique, duplicates) of one batch

_sequence = itertools.count()


def _arrival_order(arrival: Arrival) -> tuple[int, int]:
    return arrival[0], arrival[1]


def arrivals(batch: list[ChatMessage]) -> list[Arrival]:
    """Messages numbered in the order they arrive here."""
    return [(msg.received_at, next(_sequence), msg) for msg in batch]


class DedupLogic(StatefulBatchLogic[list[Arrival], Sorted, DedupMemory]):
    """The dedup memory of one shard; emits, per batch, its unique messages in arrival
    order and its duplicates.

    Keys are `<tenant>/<id>`; the memory forgets them by event time (`DedupMemory`), so a
    shard never needs a wake-up and is never discarded.
    """

    def __init__(
        self,
        state: DedupMemory | None,
        *,
        ttl_ms: int,
        key_of: Callable[[ChatMessage], str | None],
    ) -> None:
        _track(self)
        self.memory = state or DedupMemory(ttl_ms)
        self._key_of = key_of

    def on_batch(self, values: list[list[Arrival]]) -> tuple[Iterable[Sorted], bool]:
        admit, key_of = self.memory.admit, self._key_of
        unique: list[Arrival] = []
        duplicates: list[ChatMessage] = []
        for arrival in sorted(itertools.chain.from_iterable(values), key=_arrival_order):
            msg = arrival[2]
            key = key_of(msg)
            if key is None or admit(msg.event_ms, key):
                unique.append(arrival)
            else:
                duplicates.append(msg)
        return [(unique, duplicates)], StatefulBatchLogic.RETAIN

    def snapshot(self) -> DedupMemory:
        return self.memory.snapshot()


def tenant_message_id(msg: ChatMessage) -> str:
    return f"{msg.tenant}/{msg.message_id}"


def tenant_idempotency_key(msg: ChatMessage) -> str | None:
    """The sender's own key; None when it gave none (the key is then the message id)."""
    if msg.idempotency_key == msg.message_id:
        return None
    return f"{msg.tenant}/{msg.idempotency_key}"


ShardState = dict[str, Conversation]


class ShardLogic(StatefulBatchLogic[list[Arrival], ChatMessage, ShardState]):
    """The conversations of one shard; emits their messages in order, or flagged `late`.

    A conversation is forgotten once it has been quiet for the TTL (wall clock) with
    nothing held; the shard is discarded when it holds no conversation.
    """

    def __init__(
        self,
        state: ShardState | None,
        *,
        ttl_ms: int,
        lateness_ms: int,
        clock: Clock,
        min_hold_ms: int = MIN_HOLD_MS,
    ) -> None:
        _track(self)
        self._ttl_ms = ttl_ms
        self._lateness_ms = lateness_ms
        self._hold_ms = min(lateness_ms, min_hold_ms)
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
        reorder: ReorderBuffer[ChatMessage] = ReorderBuffer(self._lateness_ms, self._hold_ms)
        conv = Conversation(reorder, now, now + self._ttl_ms)
        self.conversations[key] = conv
        heapq.heappush(self._wakeups, (conv.forget_at_ms, key))
        return conv

    def _schedule_release(self, key: str, conv: Conversation) -> None:
        due = conv.reorder.next_release_ms()
        if due is not None and due != conv.release_at_ms:
            heapq.heappush(self._wakeups, (due, key))
        conv.release_at_ms = due

    def on_batch(self, values: list[list[Arrival]]) -> tuple[Iterable[ChatMessage], bool]:
        now = self._clock()
        conversations = self.conversations
        touched: dict[str, Conversation] = {}
        out: list[ChatMessage] = []
        for _, _, msg in sorted(itertools.chain.from_iterable(values), key=_arrival_order):
            key = msg.key
            conv = touched[key] = conversations.get(key) or self._new_conversation(key, now)
            if conv.reorder.add(msg.event_ms, msg, now):
                out.extend(conv.reorder.release(now))
            else:
                out.append(msg.model_copy(update={"late": True}))
        for key, conv in touched.items():
            conv.last_seen_at_ms = now
            self._schedule_release(key, conv)
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[ChatMessage], bool]:
        now = self._clock()
        out: list[ChatMessage] = []
        wakeups = self._wakeups
        while wakeups and wakeups[0][0] <= now:
            due, key = heapq.heappop(wakeups)
            conv = self.conversations.get(key)
            if conv is None or due not in (conv.release_at_ms, conv.forget_at_ms):
                continue  # rescheduled since, or forgotten
            conv.release_at_ms = None  # this wake-up is spent
            out.extend(conv.reorder.release(now))
            self._schedule_release(key, conv)
            if conv.forget_at_ms <= now:
                quiet_until = conv.last_seen_at_ms + self._ttl_ms
                if not len(conv.reorder) and quiet_until <= now:
                    del self.conversations[key]
                    continue
                conv.forget_at_ms = max(quiet_until, now + self._lateness_ms)
                heapq.heappush(wakeups, (conv.forget_at_ms, key))
        return out, not self.conversations

    def on_eof(self) -> tuple[Iterable[ChatMessage], bool]:
        out: list[ChatMessage] = []
        for conv in self.conversations.values():
            out.extend(conv.reorder.flush())
            conv.release_at_ms = None
        return out, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if not self._wakeups:
            return None
        return datetime.fromtimestamp(self._wakeups[0][0] / 1000, UTC)

    def snapshot(self) -> ShardState:
        return {key: conv.snapshot() for key, conv in self.conversations.items()}


_live_shards: dict[int, weakref.ref[ShardLogic | DedupLogic]] = {}


def _track(logic: ShardLogic | DedupLogic) -> None:
    key = id(logic)

    def untrack(_ref: weakref.ref[ShardLogic | DedupLogic]) -> None:
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
        if isinstance(logic, DedupLogic):
            sizes["dedup_keys"] += len(logic.memory)
        elif isinstance(logic, ShardLogic):
            for conv in list(logic.conversations.values()):
                sizes["held_messages"] += len(conv.reorder)
    return sizes


def _state_size(kind: str) -> int:
    return state_sizes()[kind]


for _kind in ("dedup_keys", "held_messages"):
    metrics.STATE_ITEMS.labels(kind=_kind).set_function(functools.partial(_state_size, _kind))


def _by_shard(
    key_of: Callable[[ChatMessage], str], shards: int
) -> Callable[[list[list[Arrival]]], Iterable[tuple[str, list[Arrival]]]]:
    def by_shard(batch: list[list[Arrival]]) -> Iterable[tuple[str, list[Arrival]]]:
        groups: dict[str, list[Arrival]] = {}
        for arrival in itertools.chain.from_iterable(batch):
            groups.setdefault(shard_of(key_of(arrival[2]), shards), []).append(arrival)
        return groups.items()

    return by_shard


def _numbered(batch: list[ChatMessage]) -> list[list[Arrival]]:
    return [arrivals(batch)]


def _unique_lists(batch: list[tuple[str, Sorted]]) -> list[list[Arrival]]:
    return [unique for _, (unique, _) in batch if unique]


def _duplicates(batch: list[tuple[str, Sorted]]) -> list[ChatMessage]:
    return [msg for _, (_, duplicates) in batch for msg in duplicates]


@dataclass(frozen=True)
class DedupOut:
    unique: Stream[list[Arrival]]
    """Lists of unique messages, each in arrival order: steps pass lists, not items, since
    Bytewax's cost is per item."""
    duplicates: Stream[ChatMessage]


def _dedup_by(
    step_id: str,
    up: Stream[list[Arrival]],
    key_of: Callable[[ChatMessage], str | None],
    *,
    ttl_ms: int,
    shards: int,
) -> DedupOut:
    def shard_key(msg: ChatMessage) -> str:
        return key_of(msg) or tenant_message_id(msg)

    sorted_ = op.stateful_batch(
        f"{step_id}_logic",
        op.flat_map_batch(f"{step_id}_by_shard", up, _by_shard(shard_key, shards)),
        lambda state: DedupLogic(state, ttl_ms=ttl_ms, key_of=key_of),
    )
    return DedupOut(
        unique=op.flat_map_batch(f"{step_id}_unique", sorted_, _unique_lists),
        duplicates=op.flat_map_batch(f"{step_id}_duplicates", sorted_, _duplicates),
    )


@operator
def dedup_messages(
    step_id: str, up: Stream[ChatMessage], *, ttl_ms: int, shards: int = SHARDS
) -> DedupOut:
    """Drop messages whose tenant already received their message id or their sender's
    idempotency key within the TTL (event time), whatever their conversation."""
    arrived = op.flat_map_batch("arrivals", up, _numbered)
    # Every message takes both steps, so that a conversation reaches the reorder step along
    # one path. The first step holds a message by its own key, or else by its id, so the
    # usual twins (a redelivery, a sender's retry, a webhook and its export row) meet in one
    # shard, in the order they were read, even with several workers.
    by_key = _dedup_by(
        "by_idempotency_key", arrived, tenant_idempotency_key, ttl_ms=ttl_ms, shards=shards
    )
    by_id = _dedup_by(
        "by_message_id", by_key.unique, tenant_message_id, ttl_ms=ttl_ms, shards=shards
    )
    return DedupOut(
        unique=by_id.unique,
        duplicates=op.merge("duplicates", by_key.duplicates, by_id.duplicates),
    )


@operator
def reorder_conversations(
    step_id: str,
    up: Stream[list[Arrival]],
    *,
    ttl_ms: int,
    lateness_ms: int,
    clock: Clock = wall_clock_ms,
    shards: int = SHARDS,
) -> Stream[ChatMessage]:
    """Each conversation in event-time order; a message behind what was released is flagged
    `late`. A conversation is remembered until it has been quiet for `ttl_ms`."""
    ordered = op.stateful_batch(
        "logic",
        op.flat_map_batch("by_shard", up, _by_shard(lambda m: m.key, shards)),
        lambda state: ShardLogic(state, ttl_ms=ttl_ms, lateness_ms=lateness_ms, clock=clock),
    )
    return op.map("unkey", ordered, lambda kv: kv[1])


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
    dedup = dedup_messages("dedup", up, ttl_ms=ttl_ms, shards=shards)
    ordered = reorder_conversations(
        "reorder", dedup.unique, ttl_ms=ttl_ms, lateness_ms=lateness_ms, clock=clock, shards=shards
    )
    return ConversationOut(messages=ordered, duplicates=dedup.duplicates)
