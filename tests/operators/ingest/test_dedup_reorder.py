import collections
import gc
import pickle
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.testing import TestingSink, TestingSource

from operators.ingest.dedup import DedupMemory
from operators.ingest.dedup_reorder import (
    SHARDS,
    DedupLogic,
    ShardLogic,
    arrivals,
    dedup_and_reorder,
    shard_of,
    state_sizes,
    tenant_message_id,
)
from operators.ingest.reorder import ReorderBuffer
from schemas.message import ChatMessage


def msg(
    mid: str, event_ms: int, *, tenant: str = "acme", conv: str = "c1", key: str | None = None
) -> ChatMessage:
    return ChatMessage(
        message_id=mid,
        idempotency_key=key or mid,
        tenant=tenant,
        source="webhook",
        platform="webhook",
        conversation_id=conv,
        sender_id="u",
        role="user",
        text="hi",
        language="en",
        event_ms=event_ms,
        received_at=event_ms,
    )


class FakeClock:
    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


# --- DedupMemory ------------------------------------------------------------------------


def test_dedup_by_message_id_or_idempotency_key() -> None:
    mem = DedupMemory(ttl_ms=10_000)
    assert mem.admit(1000, "key-1", "m-1")
    assert not mem.admit(1500, "key-1", "m-2")  # partner retry: same key, new id
    assert not mem.admit(1500, "key-9", "m-1")  # same id, new key
    assert mem.admit(2000, "key-2", "m-2")


def test_dedup_forgets_after_ttl_in_event_time() -> None:
    mem = DedupMemory(ttl_ms=10_000)
    assert mem.admit(0, "a")
    assert mem.admit(5_000, "b")
    assert len(mem) == 2
    assert mem.admit(12_000, "c")  # cutoff 2_000: "a" is forgotten
    assert len(mem) == 2
    assert mem.admit(12_500, "a")  # seen again after its TTL: accepted
    assert not mem.admit(12_600, "b")


def test_dedup_memory_is_bounded_by_ttl() -> None:
    mem = DedupMemory(ttl_ms=1_000)
    for i in range(10_000):
        mem.admit(i * 100, f"k{i}")
    assert len(mem) <= 11


def test_dedup_decides_by_event_time_even_for_a_key_not_yet_forgotten() -> None:
    mem = DedupMemory(ttl_ms=1_000)
    assert mem.admit(10_000, "front")
    assert mem.admit(9_500, "k")  # out of order: accepted after a younger key
    assert mem.admit(10_900, "z")  # cutoff 9_900: "front" is not expired, so "k" stays too
    assert len(mem) == 3
    assert mem.admit(10_600, "k")  # 1_100 ms after the "k" it remembers: not a duplicate
    assert not mem.admit(10_700, "k")
    assert mem.admit(11_100, "w")  # cutoff 10_100: "front" goes, and "k"'s old entry with it
    assert len(mem) == 3  # k (kept at its newer time), z and w


def test_dedup_rejects_non_positive_ttl() -> None:
    with pytest.raises(ValueError):
        DedupMemory(ttl_ms=0)


# --- ReorderBuffer -----------------------------------------------------------------------


def test_reorder_holds_until_watermark_then_releases_in_order() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(lateness_ms=2_000)
    now = 0
    assert buf.add(10_000, "b", now) and buf.release(now) == []
    assert buf.add(9_000, "a", now) and buf.release(now) == []
    assert buf.add(12_500, "c", now)
    assert buf.release(now) == ["a", "b"]  # watermark 10_500
    assert buf.flush() == ["c"]


def test_reorder_refuses_items_behind_the_last_release_as_late() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(lateness_ms=1_000)
    buf.add(5_000, "x", 0)
    buf.add(7_000, "y", 0)
    assert buf.release(0) == ["x"]
    assert not buf.add(4_000, "straggler", 0)
    assert len(buf) == 1
    # Behind the watermark but not behind the last release: in order, so not late.
    assert buf.add(5_500, "in-bound", 0)
    assert buf.release(0) == ["in-bound"]
    assert buf.flush() == ["y"]


def test_quiet_conversation_is_released_by_the_clock_within_lateness() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(lateness_ms=2_000)
    buf.add(50_000, "only", now_ms=100_000)
    assert buf.release(101_999) == []
    assert buf.next_release_ms() == 102_000
    assert buf.release(102_000) == ["only"]


def test_reorder_snapshot_is_independent_and_picklable() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(lateness_ms=1_000)
    buf.add(5_000, "x", 0)
    snap = pickle.loads(pickle.dumps(buf.snapshot()))
    buf.add(9_000, "y", 0)
    assert len(snap) == 1 and snap.flush() == ["x"]


# --- the Bytewax step -------------------------------------------------------------------


def new_shard(clock: FakeClock, state=None, min_hold_ms: int = 0) -> ShardLogic:
    return ShardLogic(state, ttl_ms=60_000, lateness_ms=2_000, clock=clock, min_hold_ms=min_hold_ms)


def test_shard_forgets_a_quiet_conversation_then_is_discarded() -> None:
    clock = FakeClock(0)
    logic = new_shard(clock)
    out, discard = logic.on_batch([arrivals([msg("m1", 10_000)])])
    assert out == [] and discard is False
    assert logic.notify_at() == datetime.fromtimestamp(2, UTC)  # release due in 2 s
    clock.now_ms = 2_000
    out, discard = logic.on_notify()
    assert [m.message_id for m in out] == ["m1"] and discard is False
    assert logic.notify_at() == datetime.fromtimestamp(60, UTC)
    clock.now_ms = 60_000
    assert logic.on_notify() == ([], True)
    assert logic.notify_at() is None


def test_shard_keeps_a_conversation_seen_within_the_ttl() -> None:
    clock = FakeClock(0)
    logic = new_shard(clock)
    logic.on_batch([arrivals([msg("m1", 10_000, conv="c1"), msg("x1", 10_000, conv="c2")])])
    clock.now_ms = 30_000
    out, _ = logic.on_batch([arrivals([msg("m2", 40_000, conv="c1")])])
    assert [m.message_id for m in out] == ["m1"]
    clock.now_ms = 60_000  # c2 quiet for the TTL, c1 only for 30 s
    out, discard = logic.on_notify()
    assert discard is False and set(logic.conversations) == {"acme/c1"}
    assert sorted(m.message_id for m in out) == ["m2", "x1"]
    out, _ = logic.on_batch(
        [arrivals([msg("m0", 10_000, conv="c1"), msg("x1", 10_000, conv="c2")])]
    )
    # c1 remembers what it released, so m0 is late; c2 was forgotten, so x1 is held again.
    assert [(m.message_id, m.late) for m in out] == [("m0", True)]
    clock.now_ms = 90_000
    out, discard = logic.on_notify()
    assert [m.message_id for m in out] == ["x1"] and discard is False  # both seen at 60 s
    clock.now_ms = 120_000
    assert logic.on_notify()[1] is True


def test_shard_releases_each_conversation_in_order_and_flags_stragglers() -> None:
    clock = FakeClock(0)
    logic = new_shard(clock)
    out, _ = logic.on_batch(
        [
            arrivals([msg("a2", 12_000, conv="a"), msg("b1", 50_000, conv="b")]),
            arrivals([msg("a1", 11_000, conv="a"), msg("a3", 20_000, conv="a")]),  # another one
        ]
    )
    assert [m.message_id for m in out] == ["a1", "a2"]  # a's watermark 18_000
    out, _ = logic.on_batch([arrivals([msg("a0", 5_000, conv="a"), msg("b0", 49_000, conv="b")])])
    assert [(m.message_id, m.late) for m in out] == [("a0", True)]
    out, _ = logic.on_eof()
    assert sorted((m.conversation_id, m.message_id) for m in out) == [
        ("a", "a3"),
        ("b", "b0"),
        ("b", "b1"),
    ]
    assert [m.message_id for m in out if m.conversation_id == "b"] == ["b0", "b1"]


def test_messages_that_crossed_other_shards_meet_again_in_order() -> None:
    # A replay: event time runs far ahead of the clock. m2 comes by a slower path, 100 ms
    # after m3 and m4 that followed it: held 250 ms, they wait for it.
    clock = FakeClock(0)
    logic = new_shard(clock, min_hold_ms=250)
    batch = [msg("m1", 10_000), msg("m3", 30_000), msg("m4", 40_000)]
    out, _ = logic.on_batch([arrivals(batch)])
    assert out == [] and logic.notify_at() == datetime.fromtimestamp(0.25, UTC)
    clock.now_ms = 100
    out, _ = logic.on_batch([arrivals([msg("m2", 20_000)])])
    assert out == []
    clock.now_ms = 250
    out, _ = logic.on_notify()
    assert [m.message_id for m in out] == ["m1"]  # m2 is younger than the hold, m3 behind it
    clock.now_ms = 350
    out, _ = logic.on_notify()
    assert [(m.message_id, m.late) for m in out] == [("m2", False), ("m3", False)]


def test_without_the_hold_a_message_from_a_slower_path_is_late() -> None:
    clock = FakeClock(0)
    logic = new_shard(clock, min_hold_ms=0)
    out, _ = logic.on_batch([arrivals([msg("m1", 10_000), msg("m3", 30_000), msg("m4", 40_000)])])
    assert [m.message_id for m in out] == ["m1", "m3"]
    clock.now_ms = 100
    out, _ = logic.on_batch([arrivals([msg("m2", 20_000)])])
    assert [(m.message_id, m.late) for m in out] == [("m2", True)]


def test_shard_state_survives_a_snapshot_round_trip() -> None:
    clock = FakeClock(0)
    logic = new_shard(clock)
    logic.on_batch([arrivals([msg("m1", 10_000)])])
    restored = new_shard(clock, pickle.loads(pickle.dumps(logic.snapshot())))
    assert restored.notify_at() == datetime.fromtimestamp(2, UTC)
    out, _ = restored.on_batch([arrivals([msg("m2", 20_000)])])
    assert [m.message_id for m in out] == ["m1"]


def test_dedup_shard_state_survives_a_snapshot_round_trip() -> None:
    logic = DedupLogic(None, ttl_ms=60_000, key_of=tenant_message_id)
    [(unique, duplicates)] = logic.on_batch([arrivals([msg("m1", 10_000)])])[0]
    assert ([m.message_id for _, _, m in unique], duplicates) == (["m1"], [])
    restored = DedupLogic(
        pickle.loads(pickle.dumps(logic.snapshot())), ttl_ms=60_000, key_of=tenant_message_id
    )
    [(unique, duplicates)], discard = restored.on_batch(
        [arrivals([msg("m1", 10_000), msg("m2", 20_000)])]
    )
    assert [m.message_id for _, _, m in unique] == ["m2"]
    assert [m.message_id for m in duplicates] == ["m1"]
    assert discard is False


def test_shards_are_stable_and_spread() -> None:
    keys = [f"acme/c{i}" for i in range(2_000)]
    assert shard_of("acme/c1") == shard_of("acme/c1") == str(zlib.crc32(b"acme/c1") % SHARDS)
    counts = collections.Counter(shard_of(k) for k in keys)
    assert len(counts) == SHARDS and max(counts.values()) < 3 * len(keys) / SHARDS


def run_conversations(entry_point, items):
    out, dups = [], []
    flow = Dataflow("t")
    s = op.input("in", flow, TestingSource(items))
    res = dedup_and_reorder("conv", s, ttl_ms=3_600_000, lateness_ms=2_000)
    op.output("out", res.messages, TestingSink(out))
    op.output("dups", res.duplicates, TestingSink(dups))
    entry_point(flow)
    return out, dups


def test_duplicates_are_dropped_per_tenant(entry_point) -> None:
    items = [
        msg("a", 1000),
        msg("a", 1000),
        msg("b", 2000, key="k"),
        msg("b2", 2500, key="k"),
        msg("a", 1000, tenant="globex"),
    ]
    out, dups = run_conversations(entry_point, items)
    assert sorted((m.tenant, m.message_id) for m in out) == [
        ("acme", "a"),
        ("acme", "b"),
        ("globex", "a"),
    ]
    assert sorted(m.message_id for m in dups) == ["a", "b2"]


def test_a_message_is_one_message_whatever_its_conversation_id(entry_point) -> None:
    # The same Zalo message by webhook and in a CSV export, which names the conversation its way.
    items = [
        msg("zalo:96d3", 1000, conv="zalo:oa1:u1"),
        msg("zalo:96d3", 1000, conv="oa1-u1"),
        msg("k1", 2000, conv="c1", key="retry-1"),
        msg("k2", 2100, conv="c2", key="retry-1"),  # the sender's key, another conversation
        msg("zalo:96d3", 1000, conv="zalo:oa1:u1", tenant="globex"),
    ]
    out, dups = run_conversations(entry_point, items)
    zalo = sorted((m.tenant, m.conversation_id) for m in out if m.message_id == "zalo:96d3")
    assert zalo == [("acme", "zalo:oa1:u1"), ("globex", "zalo:oa1:u1")]  # first arrival wins
    assert [m.conversation_id for m in dups if m.message_id == "zalo:96d3"] == ["oa1-u1"]
    # The sender's retry: the first one received wins, even with several workers.
    assert [m.message_id for m in out if m.idempotency_key == "retry-1"] == ["k1"]
    assert [m.message_id for m in dups if m.idempotency_key == "retry-1"] == ["k2"]
    assert len(out) + len(dups) == len(items)


def test_each_conversation_comes_out_in_event_time_order(entry_point) -> None:
    base = 1_714_532_400_000
    offsets = [0, 1500, 500, 3000, 2500, 9000, 8000, 20000]
    items = [msg(f"{c}-{o}", base + o, conv=c) for o in offsets for c in ("c1", "c2", "c3")]
    out, dups = run_conversations(entry_point, items)
    assert dups == []
    assert len(out) == len(items)
    for conv in ("c1", "c2", "c3"):
        times = [m.event_ms for m in out if m.conversation_id == conv and not m.late]
        assert times == sorted(times)


def test_straggler_that_arrives_with_the_rest_is_put_in_order(entry_point) -> None:
    base = 1_714_532_400_000
    items = [
        msg("m1", base),
        msg("m2", base + 10_000),
        msg("m3", base + 20_000),
        msg("old", base + 1_000),
    ]
    out, _ = run_conversations(entry_point, items)
    assert [(m.message_id, m.late) for m in out] == [
        ("m1", False),
        ("old", False),
        ("m2", False),
        ("m3", False),
    ]


class _OpenUntilSeen(DynamicSource):
    """Emits one item, then stays open (empty batches) until `seen` is set or 20 s pass."""

    def __init__(self, item: ChatMessage, seen: threading.Event, ended: threading.Event) -> None:
        self._item, self._seen, self._ended = item, seen, ended

    def build(self, step_id, worker_index, worker_count):
        item, seen, ended = self._item, self._seen, self._ended

        class Part(StatelessSourcePartition):
            sent = False
            deadline = time.monotonic() + 20

            def next_batch(self):
                if worker_index != 0 or seen.is_set() or time.monotonic() > self.deadline:
                    ended.set()
                    raise StopIteration
                if not self.sent:
                    self.sent = True
                    return [item]
                time.sleep(0.01)
                return []

        return Part()


def test_quiet_conversation_is_emitted_while_the_input_is_still_open() -> None:
    # A live stream: one message, then silence. It must come out by the clock, before EOF.
    from bytewax.testing import run_main

    seen, ended = threading.Event(), threading.Event()
    emitted_before_eof: list[bool] = []
    flow = Dataflow("t")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    s = op.input("in", flow, _OpenUntilSeen(msg("only", now_ms), seen, ended))
    res = dedup_and_reorder("conv", s, ttl_ms=3_600_000, lateness_ms=300)

    def record(_step: str, _m: ChatMessage) -> None:
        emitted_before_eof.append(not ended.is_set())
        seen.set()

    op.inspect("record", res.messages, record)
    run_main(flow, epoch_interval=timedelta(milliseconds=50))
    assert emitted_before_eof == [True]


def test_state_size_metric_follows_the_logic() -> None:
    gc.collect()  # shards earlier tests left in reference cycles must not go mid-test
    before = state_sizes()
    dedup = DedupLogic(None, ttl_ms=60_000, key_of=tenant_message_id)
    dedup.on_batch([arrivals([msg("m1", 10_000), msg("m2", 10_500), msg("m1", 10_000)])])
    assert state_sizes()["dedup_keys"] - before["dedup_keys"] == 2
    del dedup
    assert state_sizes() == before
    clock = FakeClock(0)
    logic = new_shard(clock)
    logic.on_batch([arrivals([msg("m1", 10_000), msg("m2", 10_500)])])
    assert state_sizes()["held_messages"] - before["held_messages"] == 2
    logic.on_eof()
    assert state_sizes()["held_messages"] == before["held_messages"]
    clock.now_ms = 60_000
    assert logic.on_notify() == ([], True)
    assert state_sizes() == before
    del logic
    assert state_sizes() == before
