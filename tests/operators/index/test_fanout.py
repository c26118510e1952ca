"""FanOutWriter and WriteTargets with small fake writers: which collection is primary,
what is mirrored where and with which vectors, and what a failing mirror costs."""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import REGISTRY
from weaviate.exceptions import WeaviateConnectionError

from models import ModelNotBuiltError
from operators.index.fanout import FanOutWriter, WriteTargets
from operators.index.writer import Creates, Written
from operators.reindex.registry import Entry
from schemas.message import Rejected
from schemas.segment import Segment
from tests.operators.index.fakes import DIM, LINES, FakeEmbedder

MODEL = "aaa111"
OTHER = "bbb222"
MIRRORED = "headwater_index_mirrored_segments_total"


@pytest.fixture
def alias() -> str:
    # Metrics are labelled by collection: a fresh alias keeps each test's counts its own.
    return f"Fo{uuid.uuid4().hex[:10]}"


def seg(conversation: str, lines: int = 2) -> Segment:
    return Segment("acme", conversation, 1, LINES[:lines])


def vectors_of(segments: Sequence[Segment]) -> np.ndarray:
    return FakeEmbedder()([s.text for s in segments])


def mirrored(collection: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(MIRRORED, {"collection": collection, "outcome": outcome}) or 0


def refused(segment: Segment) -> Rejected:
    return Rejected(
        reason="index_rejected",
        errors=("vector dimensions do not match the index dimensions",),
        source="index",
        tenant=segment.tenant,
        received_at=1_000,
        raw=segment.to_json().decode(),
    )


class FakeWriter:
    """Records each write; stores everything but the conversations named stale/rejected."""

    def __init__(self, collection: str, model_version: str, creates: Creates) -> None:
        self.collection, self.model_version, self.creates = collection, model_version, creates
        self.calls: list[tuple[list[Segment], np.ndarray]] = []
        self.stale: set[str] = set()
        self.rejected: set[str] = set()
        self.fails: Exception | None = None
        self.closed = False

    def write(self, segments: Sequence[Segment], vectors: np.ndarray) -> Written[Segment]:
        self.calls.append((list(segments), np.array(vectors)))
        if self.fails is not None:
            raise self.fails
        return Written(
            [(s, 1_000) for s in segments if s.conversation_id not in self.stale | self.rejected],
            [s for s in segments if s.conversation_id in self.stale],
            [refused(s) for s in segments if s.conversation_id in self.rejected],
        )

    def close(self) -> None:
        self.closed = True


class Writers:
    """The `make_writer` of the tests: one FakeWriter per call, kept by collection."""

    def __init__(self) -> None:
        self.made: list[FakeWriter] = []
        self.setup: dict[str, FakeWriter] = {}

    def __call__(self, collection: str, model_version: str, creates: Creates) -> FakeWriter:
        writer = FakeWriter(collection, model_version, creates)
        if collection in self.setup:
            writer = self.setup.pop(collection)
        self.made.append(writer)
        return writer

    def of(self, collection: str) -> FakeWriter:
        return [w for w in self.made if w.collection == collection][-1]


class OtherModel:
    """The embedder of another model: its own vectors, and language means taken out."""

    def __init__(self) -> None:
        self.passages: list[list[str]] = []
        self.languages: list[list[str]] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages.append(list(texts))
        rows = [
            np.random.default_rng(zlib.crc32(b"other" + t.encode())).normal(size=DIM) for t in texts
        ]
        return np.array(rows, dtype=np.float32)

    def neutralize_languages(self, vectors: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        self.languages.append(list(languages))
        return vectors * 2


class Embedders:
    def __init__(self, built: dict[str, OtherModel]) -> None:
        self.built = built
        self.asked: list[str] = []

    def __call__(self, version: str) -> OtherModel:
        self.asked.append(version)
        if version not in self.built:
            raise ModelNotBuiltError(f"no built embedding model has version {version}")
        return self.built[version]


def fan_out(
    targets: list[Entry], writers: Writers, alias: str, embedders: Embedders | None = None
) -> FanOutWriter:
    return FanOutWriter(
        MODEL,
        writers,
        lambda: targets,
        alias=alias,
        embedder_of=embedders or Embedders({}),
    )


def entry(alias: str, model: str, state: str, generation: int = 1) -> Entry:
    suffix = "" if generation == 1 else f"_g{generation}"
    return Entry(f"{alias}_{model}{suffix}", model, generation, state)


# --- the primary --------------------------------------------------------------------------


def test_without_a_rotation_the_primary_is_created_with_the_alias(alias: str) -> None:
    writers = Writers()
    segments = [seg("c1"), seg("c2")]
    written = fan_out([], writers, alias).write(segments, vectors_of(segments))
    [primary] = writers.made
    assert (primary.collection, primary.model_version, primary.creates) == (
        f"{alias}_{MODEL}",
        MODEL,
        "collection_and_alias",
    )
    assert [s for s, _ in written.stored] == segments


def test_the_serving_collection_of_the_model_is_primary(alias: str) -> None:
    writers = Writers()
    targets = [entry(alias, MODEL, "standby", 2), entry(alias, MODEL, "serving")]
    fan_out(targets, writers, alias).write([seg("c1")], vectors_of([seg("c1")]))
    assert writers.made[0].collection == f"{alias}_{MODEL}"
    assert writers.made[1].collection == f"{alias}_{MODEL}_g2"


def test_without_a_serving_one_the_newest_of_the_model_is_primary(alias: str) -> None:
    writers = Writers()
    targets = [
        entry(alias, OTHER, "serving"),
        entry(alias, MODEL, "standby"),
        entry(alias, MODEL, "building", 3),
    ]
    embedders = Embedders({OTHER: OtherModel()})
    fan_out(targets, writers, alias, embedders).write([seg("c1")], vectors_of([seg("c1")]))
    assert writers.made[0].collection == f"{alias}_{MODEL}_g3"
    assert {w.collection for w in writers.made[1:]} == {f"{alias}_{OTHER}", f"{alias}_{MODEL}"}


# --- mirrors ------------------------------------------------------------------------------


def test_a_collection_of_another_model_is_written_with_its_own_vectors(alias: str) -> None:
    writers, other = Writers(), OtherModel()
    embedders = Embedders({OTHER: other})
    targets = [entry(alias, MODEL, "serving"), entry(alias, OTHER, "building")]
    segments = [seg("c1"), seg("c2", 4)]
    vectors = vectors_of(segments)
    fan_out(targets, writers, alias, embedders).write(segments, vectors)

    primary, mirror = writers.of(f"{alias}_{MODEL}"), writers.of(f"{alias}_{OTHER}")
    assert (mirror.model_version, mirror.creates) == (OTHER, "nothing")
    [(primary_segments, primary_vectors)] = primary.calls
    [(mirror_segments, mirror_vectors)] = mirror.calls
    assert mirror_segments == primary_segments == segments
    assert np.array_equal(primary_vectors, vectors)
    assert np.array_equal(mirror_vectors, other.embed_passages([s.text for s in segments]) * 2)
    assert not np.allclose(mirror_vectors, primary_vectors)
    assert other.languages == [[s.language for s in segments]]
    assert embedders.asked == [OTHER]
    assert mirrored(f"{alias}_{OTHER}", "stored") == 2


def test_a_generation_of_the_same_model_gets_the_primarys_vectors(alias: str) -> None:
    writers = Writers()
    embedders = Embedders({})
    targets = [entry(alias, MODEL, "serving"), entry(alias, MODEL, "building", 2)]
    segments = [seg("c1"), seg("c2")]
    vectors = vectors_of(segments)
    fan_out(targets, writers, alias, embedders).write(segments, vectors)

    [(_, mirror_vectors)] = writers.of(f"{alias}_{MODEL}_g2").calls
    assert np.array_equal(mirror_vectors, vectors)
    assert embedders.asked == []


def test_only_what_the_primary_stored_is_mirrored(alias: str) -> None:
    writers = Writers()
    primary = FakeWriter(f"{alias}_{MODEL}", MODEL, "collection_and_alias")
    primary.stale, primary.rejected = {"c1"}, {"c3"}
    writers.setup[primary.collection] = primary
    targets = [entry(alias, MODEL, "serving"), entry(alias, MODEL, "standby", 2)]
    segments = [seg("c1"), seg("c2"), seg("c3"), seg("c4")]
    vectors = vectors_of(segments)
    written = fan_out(targets, writers, alias).write(segments, vectors)

    assert ([s.conversation_id for s in written.stale], len(written.rejected)) == (["c1"], 1)
    [(mirror_segments, mirror_vectors)] = writers.of(f"{alias}_{MODEL}_g2").calls
    assert [s.conversation_id for s in mirror_segments] == ["c2", "c4"]
    assert np.array_equal(mirror_vectors, vectors[[1, 3]])


def test_nothing_is_mirrored_when_the_primary_stored_nothing(alias: str) -> None:
    writers = Writers()
    primary = FakeWriter(f"{alias}_{MODEL}", MODEL, "collection_and_alias")
    primary.stale = {"c1"}
    writers.setup[primary.collection] = primary
    targets = [entry(alias, MODEL, "serving"), entry(alias, OTHER, "building")]
    embedders = Embedders({OTHER: OtherModel()})
    fan_out(targets, writers, alias, embedders).write([seg("c1")], vectors_of([seg("c1")]))
    assert [w.collection for w in writers.made] == [primary.collection]
    assert embedders.asked == []


def test_the_mirrors_outcomes_are_counted(alias: str) -> None:
    writers = Writers()
    mirror = FakeWriter(f"{alias}_{MODEL}_g2", MODEL, "nothing")
    mirror.stale, mirror.rejected = {"c1"}, {"c2"}
    writers.setup[mirror.collection] = mirror
    targets = [entry(alias, MODEL, "serving"), entry(alias, MODEL, "building", 2)]
    segments = [seg("c1"), seg("c2"), seg("c3")]
    fan_out(targets, writers, alias).write(segments, vectors_of(segments))
    outcomes = ("stored", "stale", "rejected", "failed")
    assert {o: mirrored(mirror.collection, o) for o in outcomes} == {
        "stored": 1,
        "stale": 1,
        "rejected": 1,
        "failed": 0,
    }


def test_a_failing_mirror_is_counted_and_the_primarys_result_returned(alias: str, caplog) -> None:
    writers = Writers()
    mirror = FakeWriter(f"{alias}_{MODEL}_g2", MODEL, "nothing")
    mirror.fails = RuntimeError("collection gone")
    writers.setup[mirror.collection] = mirror
    targets = [
        entry(alias, MODEL, "serving"),
        entry(alias, MODEL, "building", 2),
        entry(alias, MODEL, "standby", 3),
    ]
    fanout = fan_out(targets, writers, alias)
    segments = [seg("c1"), seg("c2")]
    with caplog.at_level(logging.WARNING, logger="operators.index.fanout"):
        written = fanout.write(segments, vectors_of(segments))

    assert [s for s, _ in written.stored] == segments
    assert mirrored(mirror.collection, "failed") == 2
    assert mirrored(f"{alias}_{MODEL}_g3", "stored") == 2
    assert mirror.closed
    assert f"mirroring 2 segments to {mirror.collection} failed" in caplog.text

    fanout.write(segments[:1], vectors_of(segments[:1]))  # a new writer for the next write
    assert [w.collection for w in writers.made].count(mirror.collection) == 2
    assert mirrored(mirror.collection, "stored") == 1


def test_a_model_not_built_is_logged_once_and_counted(alias: str, caplog) -> None:
    writers = Writers()
    embedders = Embedders({})
    targets = [entry(alias, MODEL, "serving"), entry(alias, OTHER, "building")]
    fanout = fan_out(targets, writers, alias, embedders)
    segments = [seg("c1"), seg("c2")]
    with caplog.at_level(logging.ERROR, logger="operators.index.fanout"):
        written = fanout.write(segments, vectors_of(segments))
        fanout.write(segments[:1], vectors_of(segments[:1]))

    assert len(written.stored) == 2
    assert embedders.asked == [OTHER]
    assert [r.message for r in caplog.records if r.levelno == logging.ERROR] == [
        f"cannot mirror to the collections of model {OTHER}: "
        f"no built embedding model has version {OTHER}"
    ]
    assert mirrored(f"{alias}_{OTHER}", "failed") == 3
    assert [w.collection for w in writers.made] == [f"{alias}_{MODEL}"]


def test_close_closes_every_writer(alias: str) -> None:
    writers = Writers()
    targets = [entry(alias, MODEL, "serving"), entry(alias, MODEL, "building", 2)]
    fanout = fan_out(targets, writers, alias)
    fanout.write([seg("c1")], vectors_of([seg("c1")]))
    fanout.close()
    assert [w.closed for w in writers.made] == [True, True]


# --- the rotation, re-read ------------------------------------------------------------------


class Rotation:
    """What `Registry.entries` reads of a Weaviate without a registry: the alias and the
    versioned collections (each one `unregistered` but the serving one)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.serving = f"{alias}_{MODEL}"
        self.collections = [self.serving, f"{alias}_{OTHER}"]
        self.down = False
        self.connects = 0
        self.closed = 0

    def connect(self) -> SimpleNamespace:
        if self.down:
            raise WeaviateConnectionError("Error: [Errno 111] Connection refused")
        self.connects += 1
        return SimpleNamespace(
            alias=SimpleNamespace(get=self._alias),
            collections=SimpleNamespace(
                list_all=self._list_all, exists=lambda name: name in self.collections
            ),
            close=self._close,
        )

    def _alias(self, alias_name: str) -> SimpleNamespace:
        if self.down:
            raise WeaviateConnectionError("Error: [Errno 111] Connection refused")
        return SimpleNamespace(collection=self.serving)

    def _list_all(self, simple: bool) -> list[str]:
        return list(self.collections)

    def _close(self) -> None:
        self.closed += 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def names(entries: list[Entry]) -> list[str]:
    return [e.collection for e in entries]


def test_the_rotation_is_read_again_only_after_refresh_s(alias: str) -> None:
    rotation, clock = Rotation(alias), Clock()
    targets = WriteTargets(rotation.connect, alias, refresh_s=1.0, monotonic=clock)
    assert targets.get() == [Entry(f"{alias}_{MODEL}", MODEL, 1, "serving")]

    rotation.serving = f"{alias}_{OTHER}"
    clock.now = 0.9
    assert names(targets.get()) == [f"{alias}_{MODEL}"]
    clock.now = 1.0
    assert names(targets.get()) == [f"{alias}_{OTHER}"]
    assert rotation.connects == 1
    targets.close()
    assert rotation.closed == 1


def test_the_last_rotation_read_is_kept_while_weaviate_does_not_answer(alias: str, caplog) -> None:
    rotation, clock = Rotation(alias), Clock()
    targets = WriteTargets(rotation.connect, alias, refresh_s=1.0, monotonic=clock)
    first = targets.get()

    rotation.down = True
    clock.now = 1.0
    with caplog.at_level(logging.WARNING, logger="operators.index.fanout"):
        assert targets.get() == first  # the client's call fails: it is closed
    assert rotation.closed == 1
    assert f"could not read the collections of alias {alias}" in caplog.text
    clock.now = 2.0
    assert targets.get() == first  # connecting fails
    clock.now = 2.5
    assert targets.get() == first  # not tried again before refresh_s

    rotation.down = False
    rotation.serving = f"{alias}_{OTHER}"
    clock.now = 3.0
    assert names(targets.get()) == [f"{alias}_{OTHER}"]
    assert rotation.connects == 2


def test_a_rotation_never_read_is_empty(alias: str) -> None:
    def refused():
        raise WeaviateConnectionError("Error: [Errno 111] Connection refused")

    targets = WriteTargets(refused, alias)
    assert targets.get() == []
