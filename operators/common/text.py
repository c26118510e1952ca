"""Text helpers shared by the steps that match Vietnamese typed with or without marks."""

from __future__ import annotations

import unicodedata

_D_STROKE = str.maketrans({"đ": "d", "Đ": "D"})


def fold_diacritics(text: str) -> str:
    """The text without tone marks and diacritics, `đ` as `d`; case and length of words kept.

    >>> fold_diacritics("Đơn hàng của tôi đâu?")
    'Don hang cua toi dau?'
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_D_STROKE))
    return "".join(c for c in decomposed if not unicodedata.combining(c))
