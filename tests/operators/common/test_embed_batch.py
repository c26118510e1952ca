"""The batching step before the embedder: size and wait bounds, nothing lost, order kept."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulLogic
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.common.embed_batch import BatchLogic, BatchState, Embedded, batch, embed_batched

T0 = datetime(2024, 5, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_full_batch_is_emitted_at_once() -> None:
    logic: BatchLogic[int] = BatchLogic(3, timedelta(milliseconds=5), FakeClock())
    assert logic.on_item(1) == ([], StatefulLogic.RETAIN)
    assert logic.on_item(2) == ([], StatefulLogic.RETAIN)
    assert logic.on_item(3) == ([[1, 2, 3]], StatefulLogic.DISCARD)


def test_the_deadline_is_set_by_the_first_item_only() -> None:
    clock = FakeClock()
    logic: BatchLogic[str] = BatchLogic(100, timedelta(milliseconds=5), clock)
    logic.on_item("a")
    clock.now = T0 + timedelta(milliseconds=4)
    logic.on_item("b")
    assert logic.notify_at() == T0 + timedelta(milliseconds=5)
    assert logic.on_notify() == ([["a", "b"]], StatefulLogic.DISCARD)


def test_eof_flushes_what_is_left() -> None:
    logic: BatchLogic[str] = BatchLogic(10, timedelta(seconds=1), FakeClock())
    logic.on_item("a")
    assert logic.on_eof() == ([["a"]], StatefulLogic.DISCARD)


def test_snapshot_is_an_immutable_copy() -> None:
    logic: BatchLogic[str] = BatchLogic(10, timedelta(seconds=1), FakeClock())
    logic.on_item("a")
    snapshot = logic.snapshot()
    logic.on_item("b")
    assert snapshot == BatchState(("a",), T0 + timedelta(seconds=1))
    assert pickle.loads(pickle.dumps(snapshot)) == snapshot  # recovery stores it pickled


def batching_flow(
    source: TestingSource, out: list[tuple[str, list[int]]], max_size: int, max_wait: timedelta
) -> Dataflow:
    flow = Dataflow("batching")
    keyed = op.key_on("key", op.input("in", flow, source), lambda kv: kv[0])
    values = op.map_value("value", keyed, lambda kv: kv[1])
    op.output("out", batch("batch", values, max_size=max_size, max_wait=max_wait), TestingSink(out))
    return flow


def run_batching(
    items: list[tuple[str, int]],
    max_size: int,
    max_wait: timedelta,
    entry_point: Callable[[Dataflow], None] = run_main,
) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    entry_point(batching_flow(TestingSource(items), out, max_size, max_wait))
    return out


def by_key(out: list[tuple[str, list[int]]]) -> dict[str, list[list[int]]]:
    batches: dict[str, list[list[int]]] = {}
    for key, values in out:
        batches.setdefault(key, []).append(values)
    return batches


def abort_and_resume(
    db_dir: Path,
    before: range,
    after: range,
    max_size: int,
    max_wait: timedelta,
    between: Callable[[], None] = lambda: None,
) -> tuple[list[tuple[str, list[int]]], list[tuple[str, list[int]]]]:
    """Run a recoverable flow that aborts after `before`, then resume it to the end.

    The source is shared by both runs, as a restarted process would re-read the same
    input: its ABORT fires once, and the second run resumes from the last snapshot (an
    epoch per input item), source position and batch states alike.
    """
    init_db_dir(db_dir, 1)
    recovery = RecoveryConfig(str(db_dir))
    # After the abort, input resumes only after a pause, so a resumed deadline that is
    # already due is seen before new items arrive.
    source = TestingSource(
        [(k, i) for i in before for k in "ab"]
        + [TestingSource.ABORT(), TestingSource.PAUSE(timedelta(milliseconds=100))]
        + [(k, i) for i in after for k in "ab"]
    )
    first: list[tuple[str, list[int]]] = []
    run_main(
        batching_flow(source, first, max_size, max_wait),
        epoch_interval=timedelta(0),
        recovery_config=recovery,
    )
    between()
    second: list[tuple[str, list[int]]] = []
    run_main(
        batching_flow(source, second, max_size, max_wait),
        epoch_interval=timedelta(0),
        recovery_config=recovery,
    )
    return first, second


def test_a_half_full_batch_survives_an_abort_and_resumes(tmp_path: Path) -> None:
    first, second = abort_and_resume(
        tmp_path, range(7), range(7, 12), max_size=5, max_wait=timedelta(hours=1)
    )
    # The first run stopped with 5 and 6 buffered in each key's state: only the snapshot
    # carries them into the second run, which goes on counting towards max_size.
    assert by_key(first) == {"a": [[0, 1, 2, 3, 4]], "b": [[0, 1, 2, 3, 4]]}
    assert by_key(second) == {"a": [[5, 6, 7, 8, 9], [10, 11]], "b": [[5, 6, 7, 8, 9], [10, 11]]}
    for key, batches in by_key(first + second).items():  # nothing lost, nothing twice
        assert [v for b in batches for v in b] == list(range(12)), key


def test_a_resumed_batch_keeps_its_first_items_deadline(tmp_path: Path) -> None:
    max_wait = timedelta(seconds=1)

    def wait_past_the_deadline() -> None:
        # Every buffered item arrived before the first run ended: its deadline is now past.
        time.sleep(max_wait.total_seconds() + 0.1)

    first, second = abort_and_resume(
        tmp_path,
        range(7),
        range(7, 12),
        max_size=100,
        max_wait=max_wait,
        between=wait_past_the_deadline,
    )
    # A restored batch whose deadline passed while the flow was down goes out at once, on
    # its own, instead of waiting for more items (or EOF) under no deadline at all. (Had
    # the first run taken over a second, it would have flushed them itself: same batches.)
    assert by_key(first + second) == {
        "a": [list(range(7)), list(range(7, 12))],
        "b": [list(range(7)), list(range(7, 12))],
    }


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(st.tuples(st.sampled_from("abc"), st.integers()), max_size=60),
    max_size=st.integers(min_value=1, max_value=20),
    wait_ms=st.integers(min_value=0, max_value=50),
)
def test_batching_emits_everything_in_order_within_size(
    items: list[tuple[str, int]], max_size: int, wait_ms: int
) -> None:
    out = run_batching(items, max_size, timedelta(milliseconds=wait_ms))
    for key in "abc":
        batches = [b for k, b in out if k == key]
        assert all(1 <= len(b) <= max_size for b in batches)
        assert [v for b in batches for v in b] == [v for k, v in items if k == key]


def test_batching_on_one_and_two_workers(entry_point: Callable[[Dataflow], None]) -> None:
    items = [(key, i) for i in range(25) for key in "ab"]
    out = run_batching(items, 4, timedelta(milliseconds=5), entry_point)
    assert sorted(v for _, b in out for v in b) == sorted(v for _, v in items)


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def test_every_item_gets_its_own_vector(entry_point: Callable[[Dataflow], None]) -> None:
    texts = [f"message {'x' * i}" for i in range(30)]
    out: list[tuple[str, Embedded[str]]] = []
    flow = Dataflow("embed")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(texts)), lambda _: "tenant")
    embedded = embed_batched(
        "embed",
        keyed,
        embed=fake_embed,
        text_of=lambda t: t,
        max_size=8,
        max_wait=timedelta(milliseconds=2),
    )
    op.output("out", embedded, TestingSink(out))
    entry_point(flow)
    assert [e.item for _, e in out] == texts
    assert all(e.vector[0] == len(e.item) for _, e in out)


@pytest.mark.parametrize("max_size", [0, -1])
def test_max_size_must_be_positive(max_size: int) -> None:
    flow = Dataflow("bad")
    keyed = op.key_on("key", op.input("in", flow, TestingSource([1])), lambda _: "k")
    with pytest.raises(ValueError, match="max_size"):
        batch("batch", keyed, max_size=max_size)
