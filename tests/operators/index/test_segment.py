"""Conversation segments: the SegmentBuilder rules with a fake clock, then the operator."""

from __future__ import annotations

import pickle
import random
from collections import defaultdict
from collections.abc import Sequence

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulBatchLogic
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.index.segment import (
    SegmentBuilder,
    SegmentLogic,
    SegmentState,
    segment_conversations,
)
from schemas.message import ChatMessage
from schemas.segment import (
    NUMBER_EPOCH_MS,
    Segment,
    SegmentLine,
    latest_versions,
    minute_number,
    segment_uuid,
)

T0 = 1_714_532_400_000  # 2024-05-01T03:00:00Z, a minute boundary
GAP_MS = 60_000


def msg(
    mid: str,
    t_s: float,
    text: str = "xin chào",
    *,
    conv: str = "c1",
    tenant: str = "acme",
    role: str = "user",
) -> ChatMessage:
    event_ms = T0 + int(t_s * 1000)
    return ChatMessage(
        message_id=mid,
        idempotency_key=mid,
        tenant=tenant,
        source="webhook",
        platform="webhook",
        conversation_id=conv,
        sender_id="u",
        role=role,
        text=text,
        language="vi",
        event_ms=event_ms,
        received_at=event_ms,
    )


def words(texts: Sequence[str]) -> list[int]:
    """A token counter: words, plus the model's two special tokens."""
    return [len(t.split()) + 2 for t in texts]


class FakeClock:
    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def builder(
    clock: FakeClock | None = None,
    *,
    gap_ms: int = GAP_MS,
    max_tokens: int = 100,
    coalesce_ms: int = 0,
    state: SegmentState | None = None,
) -> SegmentBuilder:
    return SegmentBuilder(
        state or SegmentState(),
        gap_ms=gap_ms,
        max_tokens=max_tokens,
        coalesce_ms=coalesce_ms,
        count_tokens=words,
        clock=clock or FakeClock(),
    )


def ids(seg: Segment) -> list[str]:
    return [line.message_id for line in seg.lines]


def final(segments: list[Segment]) -> list[list[str]]:
    """Message ids of each segment's last version, by segment number."""
    return [ids(s) for s in sorted(latest_versions(segments), key=lambda s: s.number)]


def feed(b: SegmentBuilder, messages: list[ChatMessage]) -> list[Segment]:
    out = []
    for m in messages:
        out += b.add([m])
    return out + b.flush()


# --- schemas.segment -------------------------------------------------------------------


def test_minute_number_counts_minutes_since_2020() -> None:
    assert minute_number(NUMBER_EPOCH_MS) == 0
    assert minute_number(NUMBER_EPOCH_MS + 59_999) == 0
    assert minute_number(NUMBER_EPOCH_MS + 60_000) == 1
    assert minute_number(T0) == (T0 - NUMBER_EPOCH_MS) // 60_000
    assert minute_number(T0) < 2**31  # fits GraphQL's Int


def test_segment_uuid_is_stable_and_distinct_per_tenant_conversation_and_number() -> None:
    u = segment_uuid("acme", "c1", 5)
    assert u == segment_uuid("acme", "c1", 5)
    assert u.version == 5
    others = {
        segment_uuid("globex", "c1", 5),
        segment_uuid("acme", "c2", 5),
        segment_uuid("acme", "c1", 6),
        segment_uuid("acme", "c1\x1f5", 5),
    }
    assert u not in others and len(others) == 4


def test_segment_properties_describe_its_messages() -> None:
    lines = (SegmentLine.of(msg("m1", 30, "a b")), SegmentLine.of(msg("m2", 5, "c", role="agent")))
    seg = Segment("acme", "c1", 7, lines, new_from=1, tokens=6)
    props = seg.properties("v1", T0)
    assert props["text"] == "user: a b\nagent: c" == seg.text
    assert props["message_ids"] == ["m1", "m2"]
    assert props["message_count"] == 2
    assert round(props["first_event_time"].timestamp() * 1000) == T0 + 5_000
    assert round(props["last_event_time"].timestamp() * 1000) == T0 + 30_000
    assert props["segment"] == 7 and props["tenant"] == "acme" and props["model_version"] == "v1"
    assert seg.uuid == segment_uuid("acme", "c1", 7)
    assert seg.new_lines == lines[1:]


def test_chat_message_json_round_trip() -> None:
    m = msg("m1", 1.234, "Xin chào [PHONE]")
    assert ChatMessage.from_json(m.to_json()) == m


def test_latest_versions_keeps_the_last_version_and_merges_new_from() -> None:
    a, b, c = (SegmentLine.of(msg(i, n)) for n, i in enumerate(("a", "b", "c")))
    s1_v1 = Segment("acme", "c1", 1, (a,), new_from=0)
    s1_v2 = Segment("acme", "c1", 1, (a, b), new_from=1)
    s2_v1 = Segment("acme", "c1", 2, (c,), new_from=0)
    s1_v3 = Segment("acme", "c1", 1, (a, b, c), new_from=2)
    out = latest_versions([s1_v1, s2_v1, s1_v2, s1_v3])
    assert [(s.number, ids(s), s.new_from) for s in out] == [(1, ["a", "b", "c"], 0), (2, ["c"], 0)]
    # A batch without the first version: what its versions added, from the earliest.
    out = latest_versions([s1_v2, s1_v3])
    assert [(ids(s), s.new_from) for s in out] == [(["a", "b", "c"], 1)]


# --- SegmentBuilder ----------------------------------------------------------------------


def test_an_inactivity_gap_closes_a_segment() -> None:
    b = builder()
    first = b.add([msg("m1", 0)])
    second = b.add([msg("m2", 60)])  # exactly the gap: same segment
    third = b.add([msg("m3", 120.001)])  # just past it: a new one
    assert [(ids(s), s.new_from, s.final) for s in first + second + third] == [
        (["m1"], 0, False),
        (["m1", "m2"], 1, False),
        (["m1", "m2"], 2, True),  # closed: sent again, final, with nothing new
        (["m3"], 0, False),
    ]
    assert first[0].number == minute_number(T0)
    assert third[-1].number == minute_number(T0 + 120_001)
    # The end of the input closes the open segment too.
    assert [(ids(s), s.new_from, s.final) for s in b.flush()] == [(["m3"], 1, True)]


def test_the_token_budget_closes_a_segment() -> None:
    b = builder(max_tokens=12)  # "user: a b" is 3 words
    out = feed(b, [msg(f"m{i}", i, "a b") for i in range(7)])
    assert final(out) == [["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]
    for seg in latest_versions(out):
        assert seg.tokens == words([seg.text])[0] <= 12
    # A message longer than the budget is kept, alone.
    b = builder(max_tokens=12)
    out = feed(b, [msg("s", 0, "a"), msg("long", 1, " ".join("x" * 20)), msg("t", 2, "a")])
    assert final(out) == [["s"], ["long"], ["t"]]


def test_a_burst_is_coalesced_into_one_version() -> None:
    clock = FakeClock(1_000_000)
    b = builder(clock, coalesce_ms=200)
    assert b.add([msg("m1", 0)]) == []
    clock.now_ms += 100
    assert b.add([msg("m2", 1)]) == []
    assert b.wake_at_ms() == 1_000_200  # the first message's deadline, not moved by m2
    clock.now_ms = 1_000_199
    assert b.due() == ([], False)
    clock.now_ms = 1_000_200
    out, forget = b.due()
    assert not forget
    assert [(ids(s), s.new_from) for s in out] == [(["m1", "m2"], 0)]
    assert b.due() == ([], False)  # nothing new since

    clock.now_ms = 1_000_300
    assert b.add([msg("m3", 2), msg("m4", 3)]) == []
    assert b.wake_at_ms() == 1_000_500
    clock.now_ms = 1_000_500
    out, _ = b.due()
    assert [(ids(s), s.new_from) for s in out] == [(["m1", "m2", "m3", "m4"], 2)]
    assert [line.message_id for line in out[0].new_lines] == ["m3", "m4"]


def test_a_closed_segment_is_sent_at_once_even_while_coalescing() -> None:
    clock = FakeClock(1_000_000)
    b = builder(clock, coalesce_ms=200)
    assert b.add([msg("m1", 0)]) == []
    out = b.add([msg("m2", 500)])  # past the gap: m1's segment is closed, and final
    assert [(ids(s), s.new_from) for s in out] == [(["m1"], 0)]
    assert b.flush()[0].lines == (SegmentLine.of(msg("m2", 500)),)


def test_replayed_duplicates_are_skipped_in_the_open_and_the_previous_segment() -> None:
    b = builder()
    out = b.add([msg("m1", 0), msg("m2", 10), msg("m2", 10)])  # twice in one batch
    out += b.add([msg("m1", 0)])  # again, in the open segment
    out += b.add([msg("m3", 200)])  # gap: m1 and m2 are now the previous segment
    out += b.add([msg("m2", 10), msg("m3", 200)])
    assert final(out) == [["m1", "m2"], ["m3"]]


def test_a_duplicate_of_a_segment_closed_in_the_same_batch_is_skipped() -> None:
    b = builder()
    out = b.add([msg("m1", 0), msg("m2", 200), msg("m1", 0), msg("m3", 210)])
    out += b.flush()
    assert final(out) == [["m1"], ["m2", "m3"]]


def test_numbers_strictly_increase_when_segments_start_in_the_same_minute() -> None:
    b = builder(max_tokens=5)  # every "user: xin chào" (3 words) fills a segment
    out = feed(
        b,
        [msg(f"m{i}", i) for i in range(4)]  # all in one minute
        + [msg("n", 90)],
    )  # the next minute, already taken
    segs = sorted(latest_versions(out), key=lambda s: s.number)
    base = minute_number(T0)
    assert [s.number for s in segs] == [base, base + 1, base + 2, base + 3, base + 4]
    assert [ids(s) for s in segs] == [["m0"], ["m1"], ["m2"], ["m3"], ["n"]]
    assert len({s.uuid for s in segs}) == 5
    # A later minute than the last number is used as is.
    out = b.add([msg("p", 600)])
    assert out[-1].number == minute_number(T0 + 600_000)


def test_state_is_forgotten_only_when_flushed_quiet_and_past_the_numbers_minute() -> None:
    # Event times in the future of the clock: the segment's minute has not passed.
    clock = FakeClock(T0 - 10 * 60_000)
    b = builder(clock, coalesce_ms=200)
    b.add([msg("m1", 30)])
    clock.now_ms += GAP_MS - 1
    out, forget = b.due()  # flushed, but not quiet for a gap yet
    assert [ids(s) for s in out] == [["m1"]] and not forget
    clock.now_ms += 1
    assert b.due() == ([], False)  # quiet, but minute(T0) has not passed
    assert b.wake_at_ms() == NUMBER_EPOCH_MS + (minute_number(T0) + 1) * 60_000 == T0 + 60_000
    clock.now_ms = T0 + 59_999
    assert b.due() == ([], False)
    clock.now_ms = T0 + 60_000
    out, forget = b.due()  # forgotten, and its open segment closed: sent again, final
    assert [(ids(s), s.new_from, s.final) for s in out] == [(["m1"], 1, True)] and forget


def test_state_with_an_unsent_version_is_not_forgotten() -> None:
    clock = FakeClock(T0 + 3_600_000)
    b = builder(clock, gap_ms=1_000, coalesce_ms=5_000)
    b.add([msg("m1", 0)])
    assert b.wake_at_ms() == clock.now_ms + 1_000  # quiet long enough, at the earliest
    clock.now_ms += 2_000  # quiet past the gap, the minute long past, not sent yet
    assert b.due() == ([], False)
    clock.now_ms += 3_000
    out, forget = b.due()  # sent now, once, as final: then it may go
    assert [(ids(s), s.new_from, s.final) for s in out] == [(["m1"], 0, True)] and forget


def test_on_notify_discards_the_state_when_the_builder_forgets() -> None:
    clock = FakeClock(T0 + 3_600_000)
    logic = SegmentLogic(builder(clock))
    out, discard = logic.on_batch([msg("m1", 0)])
    assert [ids(s) for s in out] == [["m1"]] and discard is StatefulBatchLogic.RETAIN
    assert logic.on_notify() == ([], StatefulBatchLogic.RETAIN)
    clock.now_ms += GAP_MS
    assert round(logic.notify_at().timestamp() * 1000) == clock.now_ms
    out, discard = logic.on_notify()
    assert [(ids(s), s.final) for s in out] == [(["m1"], True)]
    assert discard is StatefulBatchLogic.DISCARD


def test_a_late_message_joins_the_open_segment() -> None:
    b = builder()
    out = feed(
        b,
        [
            msg("m1", 100),
            msg("m2", 130),
            msg("late", 10),  # older than both, and than the gap before m1
            msg("m3", 185),  # within the gap of m2, not of the late one
            msg("m4", 300),
        ],
    )
    assert final(out) == [["m1", "m2", "late", "m3"], ["m4"]]
    first = min(latest_versions(out), key=lambda s: s.number)
    assert first.number == minute_number(T0 + 100_000)
    assert round(first.properties("v", 0)["first_event_time"].timestamp() * 1000) == T0 + 10_000


def test_state_survives_a_pickle_round_trip() -> None:
    clock = FakeClock(1_000_000)
    logic = SegmentLogic(builder(clock, max_tokens=12, coalesce_ms=200))
    logic.on_batch(
        [msg("m0", 0, "a b"), msg("m1", 1, "a b"), msg("m2", 2, "a b"), msg("m3", 3, "a b")]
    )
    snap = logic.snapshot()
    restored = SegmentLogic(
        builder(clock, max_tokens=12, coalesce_ms=200, state=pickle.loads(pickle.dumps(snap)))
    )
    assert restored.builder.state == logic.builder.state
    assert restored.builder.state is not logic.builder.state

    rest = [msg("m3", 3, "a b"), msg("m4", 4, "a b"), msg("m5", 5, "a b"), msg("m6", 400)]
    clock.now_ms += 50
    a_out = list(logic.on_batch(rest)[0])
    b_out = list(restored.on_batch(rest)[0])
    assert a_out == b_out and a_out
    clock.now_ms += 500
    assert logic.on_notify() == restored.on_notify()
    assert logic.on_eof() == restored.on_eof()
    # The snapshot was a copy: what came after did not change it.
    assert [line.message_id for line in snap.lines] == ["m3"]


# --- segment_conversations through Bytewax -----------------------------------------------


def conversations(seed: int, n: int = 240) -> list[ChatMessage]:
    """Interleaved conversations with gaps, long texts and replayed duplicates."""
    rand = random.Random(seed)
    clocks: dict[tuple[str, str], float] = {}
    out: list[ChatMessage] = []
    for i in range(n):
        tenant, conv = rand.choice(("acme", "globex")), f"c{rand.randint(0, 7)}"
        t = clocks.get((tenant, conv), rand.uniform(0, 100))
        t += rand.choice((1, 5, 20, 45, 200))
        clocks[(tenant, conv)] = t
        text = " ".join(
            rand.choice(("giao", "hàng", "đơn", "ship", "ok")) for _ in range(rand.randint(1, 9))
        )
        out.append(
            msg(
                f"{tenant}-{i}",
                t,
                text,
                conv=conv,
                tenant=tenant,
                role=rand.choice(("user", "agent")),
            )
        )
        if rand.random() < 0.1:  # a replayed duplicate, right after
            out.append(out[-1])
    return out


def run_segments(entry_point, messages: list[ChatMessage], **kwargs) -> list[Segment]:
    out: list[Segment] = []
    flow = Dataflow("segments")
    s = op.input("in", flow, TestingSource(messages))
    op.output("out", segment_conversations("seg", s, **kwargs), TestingSink(out))
    entry_point(flow)
    return out


def by_conversation(segments: list[Segment]) -> dict[str, list[Segment]]:
    convs: dict[str, list[Segment]] = defaultdict(list)
    for seg in sorted(latest_versions(segments), key=lambda s: s.number):
        convs[seg.key].append(seg)
    return convs


def test_segment_conversations_sends_every_message_once_per_conversation(entry_point) -> None:
    messages = conversations(seed=3)
    out = run_segments(
        entry_point, messages, gap_ms=GAP_MS, max_tokens=20, coalesce_ms=0, count_tokens=words
    )
    expected: dict[str, list[str]] = defaultdict(list)
    for m in messages:
        if m.message_id not in expected[m.key]:
            expected[m.key].append(m.message_id)
    convs = by_conversation(out)
    assert {k: [i for s in segs for i in ids(s)] for k, segs in convs.items()} == expected
    assert sum(len(segs) for segs in convs.values()) > 2 * len(convs)  # several each
    for segs in convs.values():
        numbers = [s.number for s in segs]
        assert numbers == sorted(set(numbers))
        assert all(s.tokens <= 20 or len(s.lines) == 1 for s in segs)
    # Each conversation's versions come in order, each one a prefix of the next; the
    # last version of every segment, and only that one, is final (closed, or the end).
    seen: dict = {}
    finals: dict = defaultdict(list)
    for seg in out:
        before = seen.get(seg.uuid, ())
        assert seg.lines[: len(before)] == before
        assert len(seg.lines) > len(before) or (seg.final and before)
        assert seg.new_from == len(before)
        assert seg.uuid not in finals or not finals[seg.uuid][-1]
        seen[seg.uuid] = seg.lines
        finals[seg.uuid].append(seg.final)
    assert all(flags[-1] for flags in finals.values())


def test_segment_conversations_matches_the_builder(entry_point) -> None:
    messages = conversations(seed=8)
    out = run_segments(
        entry_point, messages, gap_ms=GAP_MS, max_tokens=20, coalesce_ms=0, count_tokens=words
    )
    expected = []
    keys = sorted({m.key for m in messages})
    for key in keys:
        expected += feed(builder(max_tokens=20), [m for m in messages if m.key == key])
    assert {s.uuid: ids(s) for s in latest_versions(out)} == {
        s.uuid: ids(s) for s in latest_versions(expected)
    }


def test_coalescing_in_the_dataflow_sends_one_version_per_segment() -> None:
    messages = conversations(seed=5, n=120)
    clock = FakeClock(T0 + 10 * 365 * 86_400_000)  # fixed: no coalescing deadline passes
    out = run_segments(
        run_main,
        messages,
        gap_ms=GAP_MS,
        max_tokens=20,
        coalesce_ms=600_000,
        count_tokens=words,
        clock=clock,
    )
    assert len(out) == len({s.uuid for s in out})
    assert all(s.new_from == 0 and s.final for s in out)
    assert sum(len(s.lines) for s in out) == len({(m.key, m.message_id) for m in messages})


@pytest.mark.parametrize("max_tokens", [16, 40])
def test_every_segment_fits_its_budget_unless_one_message_is_longer(max_tokens: int) -> None:
    messages = conversations(seed=1, n=200)
    out = []
    for key in {m.key for m in messages}:
        out += feed(builder(max_tokens=max_tokens), [m for m in messages if m.key == key])
    assert len(latest_versions(out)) > 20
    for seg in latest_versions(out):
        assert seg.tokens == words([seg.text])[0]
        assert seg.tokens <= max_tokens or len(seg.lines) == 1


def test_live_messages_coalesce_briefly_and_a_backfill_is_held_longer() -> None:
    clock = FakeClock(T0)
    b = SegmentBuilder(
        SegmentState(),
        gap_ms=GAP_MS,
        max_tokens=100,
        coalesce_ms=200,
        count_tokens=words,
        clock=clock,
        backfill_hold_ms=10_000,
    )
    assert b.add([msg("live", 0)]) == []  # received just now: live
    clock.now_ms = T0 + 200
    (version,), _ = b.due()
    assert ids(version) == ["live"]

    clock.now_ms = T0 + 120_000  # the next message was received two minutes ago
    assert b.add([msg("old", 1)]) == []
    clock.now_ms = T0 + 120_000 + 200
    assert b.due()[0] == []  # a live stream's coalescing time is not enough
    clock.now_ms = T0 + 130_000
    (version,), _ = b.due()
    assert ids(version) == ["live", "old"] and version.new_from == 1
