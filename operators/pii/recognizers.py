"""Recognizers for structured PII: phone, e-mail, national ID, card, bank account, IP.

Each recognizer is a pattern, a validator built from the format's own rules and,
where the digits alone cannot decide, context words near the value, the way
Presidio's pattern recognizers work. They return `Candidate`s; `operators.pii`
resolves overlaps.

Numbers are found as *chains*: runs of digit groups joined by one separator
(space, dot, dash, parentheses), so "0912 345 678", "(028) 3823 4567" and
"4111-1111-1111-1111" are each one chain. Every sub-chain that starts and ends
on a group boundary is offered to each numeric validator.

What is and is not PII (ambiguous cases):

- A number glued to letters is part of a code ("DH240501123", "SPXVN0412345678",
  "v1.2.3.4") and is not PII, unless the letters are a cue for that kind
  ("sđt0912345678", "stk0011004123456").
- A number right after an order/tracking/transaction cue ("mã đơn", "mã vận đơn",
  "order #", "mã GD", "#") is that code, not PII. A GHN/J&T/VNPost tracking code,
  an order number, a price ("1.500.000đ", "15.000.000 VND"), a date, a time, a
  version, a room number or a quantity is not PII.
- A number that is both a valid phone and sits after an account cue ("STK
  0912345678") is a bank account: the nearer cue decides the kind.
- A 12-digit number whose first six digits are a valid CCCD prefix (province
  code, century/gender digit, plausible birth year) is a national ID even with
  no context; a 9-digit CMND needs a cue.
- Service numbers (1900 xxxx, 1800 xxxx) belong to businesses and are not PII.
  Phones in national formats of other countries ("(415) 555-2671") are not
  recognised; with a "+" or "00" country code they are.
- IP addresses are all PII, private and loopback ranges included; a dotted
  quad after "version", "phiên bản", "ver" or "v" is a version.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible PII value; `rank` breaks ties between equally long candidates."""

    kind: str
    start: int
    end: int
    rank: int


def word_list(text: str) -> list[str]:
    """The words of a space-separated literal; keeps long vocabularies compact."""
    return text.split()


RANK_EMAIL = 90
RANK_IP = 80
RANK_CONTEXT = 70  # a numeric kind confirmed by its own cue word
RANK_CARD = 60
RANK_PHONE = 50
RANK_NATIONAL_ID_STRUCTURE = 40
RANK_PERSON = 30

_MAX_DIGITS = 20
_LEFT_WINDOW = 80
_NEGATIVE_WINDOW = 32
_MAX_WORDS_AFTER_CUE = 6
_RIGHT_WINDOW = 28

# --- phone numbering plan (Vietnam, since the 2017-2018 renumbering) -------------

_MOBILE_PREFIXES = frozenset(
    [f"3{d}" for d in "23456789"]
    + ["52", "55", "56", "58", "59", "70", "76", "77", "78", "79"]
    + [f"8{d}" for d in "123456789"]
    + [f"9{d}" for d in "0123456789"]
)
_LANDLINE_AREA_CODES = frozenset(
    word_list(
        "203 204 205 206 207 208 209 210 211 212 213 214 215 216 218 219 220 221 222 225 226 "
        "227 228 229 232 233 234 235 236 237 238 239 251 252 254 255 256 257 258 259 260 261 "
        "262 263 269 270 271 272 273 274 275 276 277 290 291 292 293 294 296 297 299"
    )
)
_ONE_DIGIT_COUNTRY_CODES = frozenset("17")
_TWO_DIGIT_COUNTRY_CODES = frozenset(
    word_list(
        "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 "
        "62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98"
    )
)
_THREE_DIGIT_COUNTRY_ZONES = frozenset(
    word_list("21 22 23 24 25 26 29 35 37 38 42 50 59 67 68 69 85 87 88 96 97 99")
)

# --- CCCD: province of registration, then century/gender digit, birth year -------

_CCCD_PROVINCE_CODES = frozenset(
    word_list(
        "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 "
        "034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 "
        "067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096"
    )
)
_CURRENT_TWO_DIGIT_YEAR = date.today().year % 100

# --- context ----------------------------------------------------------------------

_NOT_LETTER_BEFORE = r"(?<![^\W\d_])"
_NOT_LETTER_AFTER = r"(?![^\W\d_])"


def _words(*alternatives: str) -> str:
    return _NOT_LETTER_BEFORE + "(?:" + "|".join(alternatives) + ")" + _NOT_LETTER_AFTER


_BANK_NAMES = (
    r"vietcombank|vcb|techcombank|tcb|bidv|vietinbank|agribank|mb ?bank|mb|acb|vp ?bank|"
    r"tp ?bank|sacombank|vib|shb|hd ?bank|ocb|msb|sea ?bank|eximbank|lp ?bank|"
    r"lienvietpostbank|nam ?a ?bank|bac ?a ?bank|abbank|kienlongbank|viet ?a ?bank|"
    r"baovietbank|pvcombank|scb|shinhan|hsbc|citibank|uob|woori|timo|cake|vpb|ncb|bvbank"
)
_CUES = {
    "bank_account": _words(
        r"stk|s\.?tk|số tk|so tk|tk|tài khoản|tai khoan|số tài khoản|so tai khoan|"
        r"account(?: number| no\.?)?|acc(?:t)?(?: no\.?)?|a/c|bank account|"
        r"chuyển khoản|chuyen khoan|ck|chuyển tiền|chuyen tien|ngân hàng|ngan hang|bank|"
        + _BANK_NAMES
    ),
    "national_id": _words(
        r"cccd|cmnd|cmt|căn cước(?: công dân)?|can cuoc(?: cong dan)?|"
        r"chứng minh(?: nhân dân| thư)?|chung minh(?: nhan dan| thu)?|số định danh(?: cá nhân)?|"
        r"so dinh danh|định danh|citizen id(?: number| no\.?)?|national id(?: number| no\.?)?|"
        r"id card(?: number| no\.?)?|identity card(?: number)?|id number|id no\.?|"
        r"giấy tờ tùy thân|gttt"
    ),
    "card": _words(
        r"số thẻ|so the|thẻ tín dụng|the tin dung|thẻ ghi nợ|thẻ atm|thẻ visa|thẻ|"
        r"card(?: number| no\.?)?|credit card|debit card|visa|mastercard|master card|jcb|amex|napas"
    ),
    "phone": _words(
        r"sđt|sdt|số điện thoại|so dien thoai|điện thoại|dien thoai|đt|dt|đtdđ|dđ|dd|"
        r"hotline|tel|phone(?: number)?|mobile|cell|zalo|viber|whatsapp|gọi|goi|call|"
        r"liên hệ|lien he|nhắn|nhan tin"
    ),
}
_NEGATIVE_CUE = re.compile(
    r"(?:"
    + _words(
        r"mã đơn(?: hàng)?|ma don(?: hang)?|đơn hàng|don hang|đơn|don|mã vận đơn|ma van don|"
        r"vận đơn|van don|mã bưu gửi|bưu gửi|mã gd|ma gd|mgd|mã giao dịch|ma giao dich|"
        r"giao dịch|mã tham chiếu|tham chiếu|số tham chiếu|ref|reference|"
        r"order(?: id| no\.?| number)?|"
        r"tracking(?: number| no\.?| code)?|invoice(?: no\.?)?|hóa đơn|hoa don|mã sp|sku|"
        r"mã|mã vạch|barcode|imei|serial|s/n|phòng|room|mã otp|otp|mã khuyến mãi|"
        r"mã số thuế|ma so thue|mst|tax code|tax id|số tiền|so tien|amount|tổng tiền|"
        r"tong tien|tổng|số dư|so du|balance"
    )
    + r"|#)"
    r"[\s:#.\-]*(?:(?:số|so|là|la|no\.?|number)[\s:#.\-]*)?$",
    re.IGNORECASE,
)
_CUE_SCAN = re.compile(
    "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _CUES.items()), re.IGNORECASE
)
_BANK_NAME_AFTER = re.compile(
    r"^[\s\-–:,(]*(?:tại |tai |ngân hàng |ngan hang |bank )?" + _words(_BANK_NAMES),
    re.IGNORECASE,
)
_CURRENCY_AFTER = re.compile(
    r"^\s?(?:đ|₫|d|vnd|vnđ|k|tr|triệu|trieu|nghìn|ngàn|ngan|nghin|usd|đồng|dong|%|\$)"
    r"(?![^\W\d_])",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|usd|vnd)\s?$", re.IGNORECASE)
_LETTERS_AT_END = re.compile(r"[^\W\d_]+$")
_LETTER_WORD = re.compile(r"[^\W\d_]+")
_MARKER = re.compile(r"\[[A-Z_]+\]")
_VERSION_BEFORE = re.compile(
    _words(r"version|ver|phiên bản|phien ban|bản|ban|v|firmware|build") + r"[\s.:]*$",
    re.IGNORECASE,
)

# --- numeric chains ---------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_GAP = re.compile(r"\)?[ \u00a0]?[.\-–]?[ \u00a0]?\(?")
_THOUSANDS = re.compile(r"[1-9][0-9]{0,2}(?:([.,])[0-9]{3})(?:\1[0-9]{3})*")
_DATE_LIKE = re.compile(
    r"(?:0?[1-9]|[12][0-9]|3[01])([.\-])(?:0?[1-9]|1[0-2])\1(?:19|20)[0-9]{2}"
    r"|(?:19|20)[0-9]{2}([.\-])(?:0?[1-9]|1[0-2])\2(?:0?[1-9]|[12][0-9]|3[01])"
)


@dataclass(frozen=True, slots=True)
class _Group:
    start: int
    end: int
    digits: str


def _chains(text: str) -> Iterator[list[_Group]]:
    chain: list[_Group] = []
    for match in _DIGITS.finditer(text):
        group = _Group(match.start(), match.end(), match.group())
        if chain:
            gap = text[chain[-1].end : group.start]
            if not (len(gap) <= 5 and _GAP.fullmatch(gap)):
                yield chain
                chain = []
        chain.append(group)
    if chain:
        yield chain


def _vietnamese_national_number(digits: str, international: bool) -> str | None:
    """The national significant number (no trunk 0) of a Vietnamese phone, or None."""
    if digits.startswith("0084"):
        digits, international = digits[4:], True
    elif digits.startswith("84") and (international or len(digits) in (11, 12, 13)):
        digits, international = digits[2:], True
    elif international:
        return None
    if digits.startswith("0"):
        digits = digits[1:]
    elif not international:
        return None
    if len(digits) == 9 and digits[:2] in _MOBILE_PREFIXES:
        return digits
    if len(digits) == 10 and (digits[:2] in ("24", "28") or digits[:3] in _LANDLINE_AREA_CODES):
        return digits
    return None


def _foreign_e164(digits: str) -> bool:
    if digits.startswith("84"):
        return False
    if digits[0] in _ONE_DIGIT_COUNTRY_CODES:
        national = digits[1:]
        if digits[0] == "1":
            return len(national) == 10 and national[0] in "23456789"
    elif digits[:2] in _TWO_DIGIT_COUNTRY_CODES:
        national = digits[2:]
    elif digits[:2] in _THREE_DIGIT_COUNTRY_ZONES:
        national = digits[3:]
    else:
        return False
    return 8 <= len(digits) <= 15 and len(national) >= 6 and national[0] != "0"


def is_phone(digits: str, international: bool) -> bool:
    if _vietnamese_national_number(digits, international) is not None:
        return True
    return international and _foreign_e164(digits)


def vietnamese_e164(digits: str) -> str | None:
    """'+84…' for a Vietnamese phone number written any way, else None."""
    national = _vietnamese_national_number(digits, digits.startswith("84"))
    if national is None:
        national = _vietnamese_national_number(digits, False)
    return None if national is None else "+84" + national


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_issuer_allows(digits: str) -> bool:
    length = len(digits)
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16
    if two in (34, 37):
        return length == 15
    if four == 9704:
        return length in (16, 19)
    if 3528 <= four <= 3589 or two == 62:
        return 16 <= length <= 19
    if two in (36, 38, 39) or 300 <= three <= 305 or four == 3095:
        return 14 <= length <= 19
    if four == 6011 or two == 65 or 644 <= three <= 649:
        return 16 <= length <= 19
    if two == 50 or 56 <= two <= 69:
        return 12 <= length <= 19
    return False


def is_card(digits: str, with_context: bool) -> bool:
    if not (13 <= len(digits) <= 19 and luhn_valid(digits)):
        return False
    return with_context or _card_issuer_allows(digits)


def is_cccd(digits: str) -> bool:
    """A 12-digit citizen ID: province code, century/gender digit, plausible birth year."""
    if len(digits) != 12 or digits[:3] not in _CCCD_PROVINCE_CODES:
        return False
    century_gender, birth_year = digits[3], int(digits[4:6])
    if century_gender in "01":
        return True
    return century_gender in "23" and birth_year <= _CURRENT_TWO_DIGIT_YEAR


def _nearest_cue(text: str, start: int) -> str | None:
    """The kind whose cue word is closest before `start`, at most a few words away.

    Distance counts words of letters only: digits and earlier `[KIND]` markers do
    not count, so redacting a text does not move a cue nearer to a number.
    """
    window = _MARKER.sub(lambda m: " " * len(m.group()), text[max(0, start - _LEFT_WINDOW) : start])
    last = None
    for last in _CUE_SCAN.finditer(window):  # noqa: B007 - the nearest cue is the last one
        pass
    if last is None:
        return None
    if len(_LETTER_WORD.findall(window, last.end())) > _MAX_WORDS_AFTER_CUE:
        return None
    return last.lastgroup


def _glued_prefix_is_cue(text: str, start: int) -> bool:
    letters = _LETTERS_AT_END.search(text, max(0, start - 32), start)
    if letters is None:
        return False
    return any(re.fullmatch(p, letters.group(), re.IGNORECASE) for p in _CUES.values())


def _span_with_prefix(text: str, groups: list[_Group], first: int) -> tuple[int, bool]:
    """Start of the span (taking in a leading '+', '(+' or '(') and whether '+' was there."""
    start = groups[first].start
    if start >= 1 and text[start - 1] == "+":
        start -= 1
        if start >= 1 and text[start - 1] == "(":
            start -= 1
        return start, True
    if start >= 1 and text[start - 1] == "(" and text.startswith(")", groups[first].end):
        return start - 1, False
    return start, False


@dataclass(frozen=True, slots=True)
class _LeftContext:
    """What precedes a number starting at `start`, shared by all its sub-chains."""

    start: int
    international: bool
    excluded: bool
    cue: str | None


def _left_context(text: str, chain: list[_Group], first: int) -> _LeftContext:
    start, plus = _span_with_prefix(text, chain, first)
    before = text[max(0, start - _NEGATIVE_WINDOW) : start]
    glued_before = start > 0 and text[start - 1].isalpha()
    excluded = (
        _NEGATIVE_CUE.search(before) is not None
        or _CURRENCY_BEFORE.search(before) is not None
        or (glued_before and not _glued_prefix_is_cue(text, start))
    )
    international = plus or (
        chain[first].digits.startswith("00") and len(chain[first].digits) in (4, 5)
    )
    cue = None if excluded else _nearest_cue(text, start)
    return _LeftContext(start, international, excluded, cue)


def numeric_candidates(text: str) -> Iterator[Candidate]:
    for chain in _chains(text):
        for first in range(len(chain)):
            left: _LeftContext | None = None
            digits = ""
            for last in range(first, len(chain)):
                digits += chain[last].digits
                if len(digits) > _MAX_DIGITS:
                    break
                if len(digits) < 8:
                    continue
                left = left or _left_context(text, chain, first)
                if left.excluded:
                    break
                yield from _classify(text, left, chain[first].start, chain[last].end, digits)


def _classify(
    text: str, left: _LeftContext, digits_start: int, end: int, digits: str
) -> Iterator[Candidate]:
    start, cue = left.start, left.cue
    value_text = text[digits_start:end]
    if _DATE_LIKE.fullmatch(value_text) or _CURRENCY_AFTER.match(text, end):
        return
    glued_after = end < len(text) and text[end].isalpha()
    money_shaped = _THOUSANDS.fullmatch(value_text) is not None

    if not money_shaped and is_phone(digits, left.international):
        yield Candidate("phone", start, end, RANK_PHONE)
    if glued_after:
        return
    if cue == "national_id" and len(digits) in (9, 12):
        yield Candidate("national_id", start, end, RANK_CONTEXT)
    elif not money_shaped and is_cccd(digits):
        yield Candidate("national_id", start, end, RANK_NATIONAL_ID_STRUCTURE)
    if not money_shaped and is_card(digits, with_context=cue == "card"):
        rank = RANK_CONTEXT if cue == "card" else RANK_CARD
        yield Candidate("card", start, end, rank)
    round_amount = len(digits) <= 9 and digits.endswith("000")
    if not (money_shaped or round_amount) and len(digits) <= 19 and _bank_context(text, cue, end):
        yield Candidate("bank_account", start, end, RANK_CONTEXT)


def _bank_context(text: str, cue: str | None, end: int) -> bool:
    if cue == "bank_account":
        return True
    if cue is not None:
        return False
    return _BANK_NAME_AFTER.match(text[end : end + _RIGHT_WINDOW]) is not None


# --- e-mail -----------------------------------------------------------------------

_AT = r"(?:@|\s?[\[(]\s?(?:at|a còng)\s?[\])]\s?)"
_DOT = r"(?:\.|\s?[\[(]\s?(?:dot|chấm)\s?[\])]\s?)"
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
    + _AT
    + r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    + _DOT
    + r")+(?P<tld>[A-Za-z]{2,24})(?![A-Za-z0-9\-])",
    re.IGNORECASE,
)
_FILE_EXTENSIONS = frozenset(
    word_list(
        "png jpg jpeg gif svg webp bmp ico pdf js css html htm json xml txt csv mp3 mp4 mov zip"
    )
)


def email_candidates(text: str) -> Iterator[Candidate]:
    lowered = text.lower()
    if "@" not in text and "at)" not in lowered and "at]" not in lowered and "còng" not in lowered:
        return
    for match in _EMAIL.finditer(text):
        if match.group("tld").lower() in _FILE_EXTENSIONS:
            continue
        yield Candidate("email", match.start(), match.end(), RANK_EMAIL)


# --- IP addresses -----------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.[0-9])")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]*::?[0-9A-Fa-f:.]*(?![\w:])")


def ip_candidates(text: str) -> Iterator[Candidate]:
    if text.count(".") >= 3:
        for match in _IPV4.finditer(text):
            if not _VERSION_BEFORE.search(text, max(0, match.start() - 16), match.start()):
                yield Candidate("ip", match.start(), match.end(), RANK_IP)
    if "::" in text or text.count(":") >= 7:
        for match in _IPV6.finditer(text):
            value = match.group().rstrip(".")
            if value.count(":") < 2 or len(value) < 6 or value.strip(":") == "":
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            yield Candidate("ip", match.start(), match.start() + len(value), RANK_IP)
