"""Text, timestamp and language normalization. Pure functions; they never raise on text."""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from datetime import datetime, tzinfo

# 2000-01-01 .. 2100-01-01: anything outside is a unit or format mistake, not an event.
MIN_EVENT_MS = 946_684_800_000
MAX_EVENT_MS = 4_102_444_800_000
_SECONDS_BELOW = 10**11

_VI_LETTERS = "ăâđêôơưàáạảãằắặẳẵầấậẩẫèéẹẻẽềếệểễìíịỉĩòóọỏõồốộổỗờớợởỡùúụủũừứựửữỳýỵỷỹ"
_VI_MARKED = re.compile(f"[{_VI_LETTERS}{_VI_LETTERS.upper()}]")  # faster than IGNORECASE
_WORD = re.compile(r"[a-z]+")
_VI_UNMARKED_WORDS = frozenset(
    "khong duoc cam on ban minh toi shop em anh chi oi nhe nha roi gi sao hang don giao "
    "mua tien bao nhieu dat huy doi tra cua va voi cho la co".split()
)
_EN_WORDS = frozenset(
    "the a an is are was were i you my your we our it to of and or in on for with not no "
    "yes please thanks thank hi hello can could would will do does did have has order "
    "what when where how why this that".split()
)


class BadTimestamp(ValueError):
    """A timestamp in none of the accepted forms, or outside 2000..2100."""


def _invisible_characters() -> re.Pattern[str]:
    """Format characters (zero-width space and joiners, BOM, bidi marks, soft hyphen) and
    control characters other than whitespace, as one character class."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category == "Cf" or (category == "Cc" and not chr(code).isspace()):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return re.compile(
        "[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges) + "]"
    )


_INVISIBLE = _invisible_characters()


def normalize_text(text: str) -> str:
    """NFC, no control or zero-width characters, whitespace collapsed, trimmed."""
    if not text.isprintable():  # the only way to hold a format or control character
        text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())  # str.split() splits on exactly what `\s` matches


def parse_event_time(value: object, default_tz: tzinfo) -> int:
    """Epoch milliseconds (UTC) from ISO 8601 or epoch seconds / milliseconds.

    A number below 10^11 is seconds. Naive ISO times are read in `default_tz`.
    """
    if isinstance(value, bool):
        raise BadTimestamp(f"not a timestamp: {value!r}")
    if isinstance(value, str):
        stripped = value.strip()
        try:
            value = float(stripped)
        except ValueError:
            value = _parse_iso(stripped, default_tz)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise BadTimestamp(f"not a timestamp: {value!r}")
    millis = int(round(value * 1000)) if abs(value) < _SECONDS_BELOW else int(round(value))
    if not MIN_EVENT_MS <= millis < MAX_EVENT_MS:
        raise BadTimestamp(f"timestamp out of range 2000..2100: {value!r}")
    return millis


def _parse_iso(text: str, default_tz: tzinfo) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadTimestamp(f"not ISO 8601 or epoch: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed.timestamp()


def detect_language(text: str) -> str:
    """`vi`, `en` or `und`, from Vietnamese letters and common words."""
    if not text.isascii() and _VI_MARKED.search(text):
        return "vi"
    words = _WORD.findall(text.lower())
    if not words:
        return "und"
    vi = sum(map(_VI_UNMARKED_WORDS.__contains__, words))
    en = sum(map(_EN_WORDS.__contains__, words))
    if vi > en and vi >= 1:
        return "vi"
    if en > vi and en >= 1:
        return "en"
    return "und"
