"""The hybrid query's pieces that need no Weaviate: fusion, alpha, collection names."""

from __future__ import annotations

import pytest

from models import load_embedder
from models.paths import MINILM, MODELS_DIR, MULTILINGUAL
from operators.index.search import (
    KEYWORD_ALPHA,
    MODEL_ALPHA,
    MONOLINGUAL_ALPHA,
    Candidate,
    ModelMismatchError,
    Serving,
    default_alpha,
    fuse,
    model_version_of,
    query_embedder,
    question_alpha,
)


def candidate(conversation: str, score: float, segment: int = 0) -> Candidate:
    properties = {
        "conversation_id": conversation,
        "segment": segment,
        "text": f"user: {conversation}",
        "message_ids": [f"{conversation}-1"],
    }
    return Candidate(properties, score)


def test_fusion_scales_each_side_to_its_own_range() -> None:
    by_vector = [candidate("a", 0.9), candidate("b", 0.8), candidate("c", 0.5)]
    by_keywords = [candidate("c", 12.0), candidate("b", 4.0)]
    hits = fuse(by_vector, by_keywords, alpha=0.5, limit=3)
    # a: 0.5*1 + 0 ; b: 0.5*0.75 + 0 ; c: 0 + 0.5*1
    assert [(h.conversation_id, round(h.score, 3)) for h in hits] == [
        ("a", 0.5),
        ("c", 0.5),
        ("b", 0.375),
    ]


def test_alpha_one_is_the_vector_order_and_zero_the_keyword_order() -> None:
    by_vector = [candidate("a", 0.9), candidate("b", 0.7)]
    by_keywords = [candidate("b", 3.0), candidate("a", 1.0)]
    assert [h.conversation_id for h in fuse(by_vector, by_keywords, alpha=1, limit=2)] == ["a", "b"]
    assert [h.conversation_id for h in fuse(by_vector, by_keywords, alpha=0, limit=2)] == ["b", "a"]


def test_a_side_with_one_candidate_gives_it_full_weight() -> None:
    hits = fuse([candidate("a", 0.2)], [], alpha=0.8, limit=5)
    assert [(h.conversation_id, h.score) for h in hits] == [("a", 0.8)]


def test_segments_of_one_conversation_are_apart() -> None:
    by_vector = [candidate("a", 0.9, segment=1), candidate("a", 0.8, segment=2)]
    hits = fuse(by_vector, [], alpha=1, limit=5)
    assert [(h.conversation_id, h.segment) for h in hits] == [("a", 1), ("a", 2)]


def test_no_candidates_no_hits() -> None:
    assert fuse([], [], alpha=0.5, limit=3) == []


@pytest.mark.parametrize(
    ("question", "alpha"),
    [
        ("Tôi muốn hủy đơn hàng", MODEL_ALPHA),
        ("How do I cancel my order?", MODEL_ALPHA),
        ("toi muon huy don hang", KEYWORD_ALPHA),
        ("DH240501123", KEYWORD_ALPHA),
        ("đơn DH240501123 của em đâu rồi?", KEYWORD_ALPHA),
        ("ship COD duoc ko shop", KEYWORD_ALPHA),
    ],
)
def test_keywords_weigh_more_for_questions_the_model_reads_poorly(
    question: str, alpha: float
) -> None:
    assert question_alpha(question) == alpha


def test_a_monolingual_model_keeps_half_the_weight_on_keywords() -> None:
    minilm = load_embedder(MODELS_DIR / MINILM.name)
    multilingual = load_embedder(MODELS_DIR / MULTILINGUAL.name)
    assert default_alpha("Tôi muốn hủy đơn hàng", minilm) == MONOLINGUAL_ALPHA
    assert default_alpha("Tôi muốn hủy đơn hàng", multilingual) == MODEL_ALPHA


@pytest.mark.parametrize(
    ("name", "version"),
    [("ChatSegment_3a315cdfff34", "3a315cdfff34"), ("ChatSegment_3a315cdfff34_g2", "3a315cdfff34")],
)
def test_the_model_version_is_read_from_the_collection_name(name: str, version: str) -> None:
    assert model_version_of(name) == version


@pytest.mark.parametrize("model", [MINILM, MULTILINGUAL], ids=lambda m: m.name)
def test_a_query_is_embedded_by_the_model_of_the_collection_it_reads(model) -> None:
    version = load_embedder(MODELS_DIR / model.name).version
    serving = Serving("ChatSegment", f"ChatSegment_{version}", version)
    assert query_embedder(serving).version == version


def test_a_collection_of_a_model_not_built_here_is_refused_with_its_name() -> None:
    serving = Serving("ChatSegment", "ChatSegment_0ff1ce0ff1ce", "0ff1ce0ff1ce")
    with pytest.raises(ModelMismatchError, match="ChatSegment_0ff1ce0ff1ce.*not built here"):
        query_embedder(serving)
