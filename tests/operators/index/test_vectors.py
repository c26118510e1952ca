"""SegmentVectors: whole texts on first sight and when final, new lines in between."""

from __future__ import annotations

import numpy as np
import pytest

from operators.index.vectors import SegmentVectors
from schemas.segment import Segment
from tests.operators.index.fakes import DIM, LINES, FakeEmbedder, words


def version(n: int, new_from: int, *, final: bool = False, number: int = 7) -> Segment:
    return Segment("acme", "c1", number, LINES[:n], new_from=new_from, final=final)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


def embed_and_store(vectors: SegmentVectors, seg: Segment) -> np.ndarray:
    embedded = vectors.embed([seg])
    vectors.stored(embedded, embedded.segments)
    return embedded.vectors[0]


def test_a_new_segment_is_embedded_whole(fake: FakeEmbedder) -> None:
    vectors = SegmentVectors(fake, words)
    seg = version(2, 0)
    embedded = vectors.embed([seg])
    assert fake.calls == [[seg.text]]
    np.testing.assert_allclose(embedded.vectors[0], fake.vector(seg.text), rtol=1e-6)
    assert embedded.segments == [seg] and embedded.skipped == []
    assert embedded.tokens == words([seg.text])[0]


def test_an_open_segment_embeds_only_its_new_lines_and_weights_by_tokens(
    fake: FakeEmbedder,
) -> None:
    vectors = SegmentVectors(fake, words)
    first = embed_and_store(vectors, version(2, 0))
    second = vectors.embed([version(4, 2)])
    new = [LINES[2].rendered, LINES[3].rendered]
    assert fake.calls[-1] == new
    first_tokens = words([version(2, 0).text])[0] - 2
    expected = unit(
        first_tokens * first
        + sum((n - 2) * fake.vector(t) for t, n in zip(new, words(new), strict=True))
    )
    np.testing.assert_allclose(second.vectors[0], expected, rtol=1e-5)
    assert second.tokens == sum(words(new))


def test_a_final_version_is_embedded_whole_and_then_forgotten(fake: FakeEmbedder) -> None:
    vectors = SegmentVectors(fake, words)
    embed_and_store(vectors, version(2, 0))
    embed_and_store(vectors, version(3, 2))
    final = version(3, 3, final=True)  # nothing new: the close of the segment
    vector = embed_and_store(vectors, final)
    assert fake.calls[-1] == [final.text]
    np.testing.assert_allclose(vector, fake.vector(final.text), rtol=1e-6)
    assert len(vectors) == 0


def test_a_final_version_already_stored_whole_is_skipped(fake: FakeEmbedder) -> None:
    vectors = SegmentVectors(fake, words)
    embed_and_store(vectors, version(3, 0))
    calls = len(fake.calls)
    embedded = vectors.embed([version(3, 3, final=True)])
    assert embedded.segments == [] and embedded.vectors.shape == (0, DIM)
    assert [s.final for s in embedded.skipped] == [True] and embedded.tokens == 0
    assert all(call == [] for call in fake.calls[calls:])
    vectors.stored(embedded, [])
    assert len(vectors) == 0
    # ...but not when it has lines the stored vector lacks.
    embed_and_store(vectors, version(2, 0, number=8))
    embedded = vectors.embed([version(3, 2, final=True, number=8)])
    assert [s.number for s in embedded.segments] == [8]
    assert fake.calls[-1] == [version(3, 2, number=8).text]


def test_vectors_not_stored_are_not_remembered(fake: FakeEmbedder) -> None:
    vectors = SegmentVectors(fake, words)
    embedded = vectors.embed([version(2, 0)])
    vectors.stored(embedded, [])  # Weaviate refused it, or held a longer version
    vectors.embed([version(3, 2)])
    assert fake.calls[-1] == [version(3, 2).text]


def test_a_segment_the_process_does_not_know_is_embedded_whole(fake: FakeEmbedder) -> None:
    embed_and_store(SegmentVectors(fake, words), version(2, 0))
    restarted = SegmentVectors(fake, words)
    restarted.embed([version(3, 2)])
    assert fake.calls[-1] == [version(3, 2).text]


def test_the_least_recently_stored_segments_are_forgotten_past_the_capacity(
    fake: FakeEmbedder,
) -> None:
    vectors = SegmentVectors(fake, words, capacity=2)
    for number in (1, 2, 3):
        embed_and_store(vectors, version(1, 0, number=number))
    assert len(vectors) == 2
    vectors.embed([version(2, 1, number=1), version(2, 1, number=3)])
    assert fake.calls[-1] == [version(2, 1, number=1).text, LINES[1].rendered]


def test_one_call_embeds_the_texts_of_a_whole_batch(fake: FakeEmbedder) -> None:
    vectors = SegmentVectors(fake, words)
    embed_and_store(vectors, version(1, 0, number=1))
    embedded = vectors.embed([version(2, 1, number=1), version(4, 0, number=2)])
    assert len(fake.calls) == 2
    assert fake.calls[-1] == [LINES[1].rendered, version(4, 0).text]
    norms = np.linalg.norm(embedded.vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


def test_without_reembedding_closed_segments_a_final_version_keeps_the_running_vector(
    fake: FakeEmbedder,
) -> None:
    vectors = SegmentVectors(fake, words, reembed_closed=False)
    embed_and_store(vectors, version(2, 0))
    embed_and_store(vectors, version(3, 2))
    embedded = vectors.embed([version(3, 3, final=True)])  # the close, nothing new
    assert embedded.segments == [] and len(embedded.skipped) == 1
    vectors.stored(embedded, [])
    assert len(vectors) == 0
    # A final version with new lines embeds just those.
    embed_and_store(vectors, version(2, 0, number=8))
    embedded = vectors.embed([version(4, 2, final=True, number=8)])
    assert fake.calls[-1] == [LINES[2].rendered, LINES[3].rendered]
    assert not np.allclose(embedded.vectors[0], fake.vector(version(4, 0).text))


def test_only_a_closed_segment_whose_lines_are_all_stored_under_a_running_vector_refines(
    fake: FakeEmbedder,
) -> None:
    vectors = SegmentVectors(fake, words)
    assert not vectors.only_refines(version(3, 3, final=True))  # unknown: embedded whole
    embed_and_store(vectors, version(2, 0))
    assert not vectors.only_refines(version(2, 2, final=True))  # stored whole already
    embed_and_store(vectors, version(3, 2))
    assert not vectors.only_refines(version(3, 3))  # not final
    assert not vectors.only_refines(version(4, 3, final=True))  # a line not yet stored
    assert vectors.only_refines(version(3, 3, final=True))
    keeping = SegmentVectors(fake, words, reembed_closed=False)
    embed_and_store(keeping, version(2, 0))
    embed_and_store(keeping, version(3, 2))
    assert not keeping.only_refines(version(3, 3, final=True))
