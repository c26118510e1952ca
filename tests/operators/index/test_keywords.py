"""The folded copy of a segment's text and the keyword query."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from operators.index.keywords import folded, keyword_query

VIETNAMESE_LETTERS = "aàáảãạăằắẳẵặâầấẩẫậđeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵ"


def test_tones_marks_and_case_are_folded() -> None:
    assert folded("Đơn hàng của TÔI đâu rồi?") == "don hang cua toi dau roi?"


def test_words_typed_without_marks_meet_their_marked_form() -> None:
    assert folded("hủy đơn") == folded("huy don") == "huy don"


@given(st.text(alphabet=VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper() + " ", max_size=40))
def test_vietnamese_folds_to_ascii_whatever_its_normal_form(text: str) -> None:
    assert folded(text).isascii()
    assert folded(unicodedata.normalize("NFD", text)) == folded(text)
    assert len(folded(text)) == len(unicodedata.normalize("NFC", text))


@given(st.text(max_size=60))
def test_any_text_folds_word_by_word(text: str) -> None:
    """Folding never joins or splits words; a word of marks alone folds away."""
    words = [folded(word) for word in unicodedata.normalize("NFC", text).split()]
    assert folded(text).split() == [word for word in words if word]


def test_a_word_of_marks_alone_folds_to_nothing() -> None:
    assert folded("a \u0300 b") == "a  b"


def test_the_keyword_query_adds_the_folded_form_only_when_it_differs() -> None:
    assert keyword_query("Hủy đơn") == "Hủy đơn huy don"
    assert keyword_query("Cancel my order") == "Cancel my order"
    assert keyword_query("huy don") == "huy don"
