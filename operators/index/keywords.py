"""The keyword (BM25) side of search: a copy of each segment's text with diacritics folded.

Vietnamese is often typed without tone marks ("huy don hang" for "hủy đơn hàng"), and
BM25 matches words exactly. Each segment is stored with `text_folded` beside `text`:
lower case, tones and other marks removed, `đ` as `d`. A question is folded the same
way and searched against both, so a word typed with its marks matches the exact text
too, and one typed without them still matches the folded copy.
"""

from __future__ import annotations

import unicodedata

from operators.common.text import fold_diacritics

FOLDED = "text_folded"
KEYWORD_PROPERTIES = ("text", FOLDED)


def folded(text: str) -> str:
    """`text` for the folded copy: NFC first, so decomposed input folds the same way.

    >>> folded("Tôi muốn HỦY đơn hàng")
    'toi muon huy don hang'
    """
    return fold_diacritics(unicodedata.normalize("NFC", text)).lower()


def keyword_query(question: str) -> str:
    """The BM25 query: the question, and its folded form when that differs.

    >>> keyword_query("hủy đơn")
    'hủy đơn huy don'
    >>> keyword_query("cancel my order")
    'cancel my order'
    """
    plain = folded(question)
    return question if plain == question.lower() else f"{question} {plain}"
