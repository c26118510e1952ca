"""What the drift detectors watch: refusals and toxicity in bot replies, message features.

Vietnamese is written with and without tone marks ("không thể" / "khong the"), so
refusal phrases are matched on the folded text (marks removed, đ -> d). Toxic words are
not: folding turns several of them into everyday words (lồn/lớn -> lon, cặc/các -> cac,
đĩ/đi -> di, buồi/buổi -> buoi), so the Vietnamese toxic lexicon is matched with its
marks, plus the unaccented slang abbreviations that mean nothing else.

>>> is_refusal("Xin lỗi, em không thể hỗ trợ yêu cầu này ạ")
True
>>> is_refusal("xin loi, minh khong the tra loi cau hoi nay")
True
>>> is_refusal("Dạ đơn hàng của anh đang được giao ạ")
False
>>> is_toxic("Đồ ngu, hỏi gì mà lắm thế")
True
>>> is_toxic("Các sản phẩm lớn đều được giao miễn phí")
False
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from operators.common.text import fold_diacritics

_PRONOUN = r"(?:toi|em|minh|chung toi|ben (?:em|minh|toi)|shop|bot|tro ly)"
_CANNOT = r"(?:khong the|ko the|k the|chua the|khong duoc phep|khong co quyen)"
_HELP = (
    r"(?:giup|ho tro|tra loi|cung cap|thuc hien|xu ly|dap ung|chia se|tu van|"
    r"ban luan|hoan thanh)"
)

REFUSAL_PATTERNS: tuple[str, ...] = (
    # Vietnamese, matched on folded text
    rf"\b{_PRONOUN} (?:rat tiec |xin loi )?(?:la )?{_CANNOT} {_HELP}",
    rf"\b{_CANNOT} {_HELP} (?:yeu cau|cau hoi|van de|noi dung|thong tin) (?:nay|do|nhu vay)",
    r"\b(?:xin loi|rat tiec)\b.{0,40}\b" + _CANNOT + r"\b",
    r"\bnam ngoai (?:pham vi|kha nang)\b",
    r"\bngoai pham vi (?:ho tro|tra loi|cua (?:toi|em|minh))\b",
    r"\btu choi (?:yeu cau|tra loi|cung cap|ho tro)\b",
    r"\bvoi tu cach (?:la )?(?:mot )?(?:tro ly )?(?:ai|tri tue nhan tao)\b",
    r"\b(?:la|chi la) mot (?:tro ly ao|mo hinh ngon ngu|tri tue nhan tao)\b",
    r"\bkhong duoc phep (?:cung cap|chia se|tiet lo|ban ve)\b",
    r"\bvi pham (?:chinh sach|nguyen tac|quy dinh)\b",
    # English
    r"\bi(?:'m| am) (?:sorry|afraid),? (?:but )?i "
    r"(?:can't|cannot|can ?not|won't|am unable|'m unable)",
    r"\bi (?:can't|cannot|can ?not|won't|will not) (?:help|assist|provide|answer|do that|"
    r"comply|share|discuss|support|fulfil|fulfill)",
    r"\bi(?:'m| am) (?:unable|not able|not allowed|not permitted) to\b",
    r"\b(?:unable|not able) to (?:help|assist|provide|answer) (?:with )?(?:that|this|your)",
    r"\bas an ai(?: language model| assistant)?\b",
    r"\b(?:against|violates?) (?:my|our) (?:guidelines|policy|policies|rules)\b",
    r"\b(?:outside|beyond) (?:my|the) scope\b",
    r"\bi (?:must|have to) (?:decline|refuse)\b",
)

TOXIC_WORDS_VI: tuple[str, ...] = (
    # matched with tone marks on the lowercased NFC text
    "địt",
    "đụ",
    "đéo",
    "đếch",
    "cặc",
    "lồn",
    "buồi",
    "đĩ",
    "điếm",
    "chó chết",
    "chó má",
    "đồ chó",
    "con chó",
    "thằng chó",
    "đồ ngu",
    "ngu như bò",
    "ngu như chó",
    "óc chó",
    "óc lợn",
    "não lợn",
    "đần độn",
    "mất dạy",
    "khốn nạn",
    "đồ khốn",
    "thằng điên",
    "con điên",
    "súc vật",
    "súc sinh",
    "cút đi",
    "câm mồm",
    "im mồm",
    "rác rưởi",
    "đồ rác",
    "vô học",
    "mặt dày",
    "đê tiện",
    "bố láo",
    "láo toét",
    "chết tiệt",
    "đồ điên",
    "thằng ngu",
    "con ngu",
    "đồ đần",
)
TOXIC_SLANG_VI: tuple[str, ...] = (
    # unaccented abbreviations, matched on the folded text as whole words
    "dm",
    "dmm",
    "dcm",
    "dkm",
    "vcl",
    "vkl",
    "vcc",
    "vl",
    "clgt",
    "cmm",
    "cmn",
    "occho",
    "ditme",
    "dit me",
    "du ma",
    "deo hieu",
    "ngu vl",
    "oc cho",
)
TOXIC_WORDS_EN: tuple[str, ...] = (
    r"fuck\w*",
    r"shit\w*",
    r"bullshit",
    r"bitch\w*",
    r"asshole\w*",
    r"bastard\w*",
    r"dumbass",
    r"idiot\w*",
    r"moron\w*",
    r"imbecile\w*",
    r"retard\w*",
    r"stupid",
    r"dickhead\w*",
    r"jerk",
    r"loser\w*",
    r"crap",
    r"piss off",
    r"shut up",
    r"go to hell",
    r"damn you",
    r"kill yourself",
    r"screw you",
    r"scum\w*",
    r"trash",
    r"worthless",
    r"pathetic",
    r"cunt\w*",
    r"whore\w*",
    r"slut\w*",
    r"wtf",
    r"stfu",
)

_REFUSAL_RE = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS))
_TOXIC_MARKED_RE = re.compile(
    r"(?<!\w)(?:" + "|".join(re.escape(w) for w in TOXIC_WORDS_VI) + r")(?!\w)"
)
_TOXIC_FOLDED_RE = re.compile(
    r"\b(?:"
    + "|".join(re.escape(w) for w in TOXIC_SLANG_VI)
    + "|"
    + "|".join(TOXIC_WORDS_EN)
    + r")\b"
)
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def fold(text: str) -> str:
    """Lowercase, tone marks and diacritics removed, đ -> d, apostrophes and spaces plain."""
    return _SPACES.sub(" ", fold_diacritics(text.lower().translate(_APOSTROPHES)))


def is_refusal(text: str) -> bool:
    """True when a bot reply declines to help (Vietnamese or English phrasing)."""
    return _REFUSAL_RE.search(fold(text)) is not None


def is_toxic(text: str) -> bool:
    """True when a text contains a word of the toxicity lexicon (Vietnamese or English)."""
    marked = unicodedata.normalize("NFC", text.lower())
    return (
        _TOXIC_MARKED_RE.search(marked) is not None
        or _TOXIC_FOLDED_RE.search(fold(text)) is not None
    )


@dataclass(frozen=True)
class MessageFeatures:
    """Simple per-message features for data drift."""

    log_length: float  # log(1 + characters)
    marked_ratio: float  # share of letters that carry a diacritic: ~0 English, ~0.3+ Vietnamese


def message_features(text: str) -> MessageFeatures:
    """Length and language-mix features of a message text.

    >>> f = message_features("Shop ơi còn hàng không")
    >>> round(f.log_length, 2), round(f.marked_ratio, 2)
    (3.14, 0.22)
    """
    letters = [c for c in text if c.isalpha()]
    marked = sum(1 for c in letters if not c.isascii())
    return MessageFeatures(
        log_length=math.log1p(len(text)),
        marked_ratio=marked / len(letters) if letters else 0.0,
    )
