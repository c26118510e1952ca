"""The index step: live versions first, closed segments' refinements when those are done."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulBatchLogic
from bytewax.testing import TestingSink, TestingSource, run_main

from operators.index.step import MAX_REFINES_PENDING, REFINES_PER_RUN, IndexLogic, index_segments
from operators.index.writer import Written
from schemas.message import Rejected
from schemas.segment import Segment
from tests.operators.index.fakes import LINES, FakeEmbedder, words

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def seg(
    number: int, lines: int = 2, *, new_from: int = 0, final: bool = False, conversation: str = "c1"
) -> Segment:
    return Segment("acme", conversation, number, LINES[:lines], new_from=new_from, final=final)


class Recorder:
    """A `write` that records its calls and refuses segments numbered above 900."""

    def __init__(self) -> None:
        self.calls: list[list[Segment]] = []

    def __call__(self, segments: list[Segment]) -> list[Rejected]:
        self.calls.append(list(segments))
        return [
            Rejected(
                reason="index_rejected",
                errors=("refused",),
                source="index",
                received_at=0,
                raw=s.key,
            )
            for s in segments
            if s.number > 900
        ]


def logic(write: Recorder, pending: Sequence[Segment] = ()) -> IndexLogic:
    return IndexLogic(write, lambda s: s.final, pending, now=lambda: NOW)


def test_live_versions_are_written_at_once_and_refinements_wait_for_a_wake_up() -> None:
    write = Recorder()
    step = logic(write)
    out, discard = step.on_batch([[seg(1), seg(2, final=True), seg(3)], [seg(4)]])
    assert write.calls == [[seg(1), seg(3)], [seg(4)]]
    assert out == [] and discard is StatefulBatchLogic.RETAIN
    assert step.pending == [seg(2, final=True)] and step.notify_at() == NOW
    out, discard = step.on_notify()
    assert write.calls[-1] == [seg(2, final=True)]
    assert discard is StatefulBatchLogic.DISCARD and step.notify_at() is None


def test_a_wake_up_writes_one_run_of_refinements_oldest_first() -> None:
    write = Recorder()
    finals = [seg(n, final=True) for n in range(REFINES_PER_RUN + 3)]
    step = logic(write)
    step.on_batch([finals])
    assert write.calls == [[]]
    _, discard = step.on_notify()
    assert write.calls[-1] == finals[:REFINES_PER_RUN] and discard is StatefulBatchLogic.RETAIN
    step.on_notify()
    assert write.calls[-1] == finals[REFINES_PER_RUN:] and step.pending == []


def test_past_the_bound_the_oldest_refinements_are_written_at_once() -> None:
    write = Recorder()
    step = logic(write, [seg(n, final=True) for n in range(MAX_REFINES_PENDING)])
    step.on_batch([[seg(5000, final=True), seg(5001, final=True), seg(5002)]])
    assert write.calls == [[seg(5002)], [seg(0, final=True), seg(1, final=True)]]
    assert len(step.pending) == MAX_REFINES_PENDING
    assert step.pending[-1] == seg(5001, final=True)


def test_the_end_of_the_input_writes_every_refinement_and_refusals_come_out() -> None:
    write = Recorder()
    pending = [seg(n, final=True) for n in range(895, 895 + REFINES_PER_RUN + 1)]
    step = logic(write, pending)
    out, discard = step.on_eof()
    assert [s for call in write.calls for s in call] == pending
    assert len(write.calls) == 2 and discard is StatefulBatchLogic.DISCARD
    assert [r.raw for r in out] == ["acme/c1"] * (len(pending) - 6)


def test_a_resumed_bucket_holds_its_snapshot() -> None:
    step = logic(Recorder(), [seg(1, final=True)])
    step.on_batch([[seg(2, final=True)]])
    resumed = logic(Recorder(), step.snapshot())
    assert resumed.pending == [seg(1, final=True), seg(2, final=True)]
    assert resumed.notify_at() == NOW


def test_a_batch_keeps_only_the_last_version_of_each_segment() -> None:
    write = Recorder()
    logic(write).on_batch([[seg(1, 1), seg(1, 2, new_from=1)]])
    assert write.calls == [[seg(1, 2, new_from=0)]]


class FakeWriter:
    """Stores every version; keeps what a segment's stored object would be."""

    def __init__(self) -> None:
        self.writes: list[Segment] = []
        self.objects: dict[object, tuple[Segment, np.ndarray]] = {}

    def write(self, segments: Sequence[Segment], vectors: np.ndarray) -> Written:
        for s, v in zip(segments, vectors, strict=True):
            self.writes.append(s)
            self.objects[s.uuid] = (s, v)
        return Written([(s, 0) for s in segments], [], [])


def test_the_step_leaves_every_segment_stored_once_with_closed_ones_embedded_whole() -> None:
    # Batches of one: each close comes after its versions were stored, so it waits.
    fake, writer = FakeEmbedder(), FakeWriter()
    versions = []
    for conversation in ("c1", "c2", "c3"):
        versions += [
            seg(1, 1, conversation=conversation),
            seg(1, 3, new_from=1, conversation=conversation),
            seg(1, 3, new_from=3, final=True, conversation=conversation),
            seg(2, 2, conversation=conversation),
        ]
    flow = Dataflow("index_step")
    out: list[Rejected] = []
    refused = index_segments(
        "index",
        op.input("in", flow, TestingSource(versions)),
        embed=fake,
        count_tokens=words,
        writer=writer,
        max_size=1,
    )
    op.output("out", refused, TestingSink(out))
    run_main(flow)
    assert out == []
    assert len(writer.objects) == 6
    for stored, vector in writer.objects.values():
        if stored.number == 1:
            assert stored.final and len(stored.lines) == 3
            np.testing.assert_allclose(vector, fake.vector(stored.text), rtol=1e-6)
        else:
            assert not stored.final and len(stored.lines) == 2
    # Each conversation's close came after its last open version.
    for conversation in ("c1", "c2", "c3"):
        mine = [s for s in writer.writes if s.conversation_id == conversation and s.number == 1]
        assert mine[-1].final and not any(s.final for s in mine[:-1])


def test_each_write_names_the_tenants_it_stored() -> None:
    class Refusing(FakeWriter):
        def write(self, segments: Sequence[Segment], vectors: np.ndarray) -> Written:
            kept = [s for s in segments if s.tenant != "globex"]
            return Written([(s, 0) for s in kept], [], [])

    versions = [
        Segment("acme", "c1", 1, LINES[:2]),
        Segment("globex", "c2", 1, LINES[:2]),  # refused: no notice for it
        Segment("initech", "c3", 1, LINES[:2]),
    ]
    notices: list[set[str]] = []
    flow = Dataflow("index_notices")
    refused = index_segments(
        "index",
        op.input("in", flow, TestingSource(versions)),
        embed=FakeEmbedder(),
        count_tokens=words,
        writer=Refusing(),
        on_written=notices.append,
        max_size=10,
    )
    op.output("out", refused, TestingSink([]))
    run_main(flow)
    assert set().union(*notices) == {"acme", "initech"}
    assert all(notices)  # never an empty notice
