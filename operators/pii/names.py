"""Recognizer for person names in Vietnamese and English chat text.

Two rules, no statistical model:

- After a cue ("tên tôi là", "em là", "người nhận:", "họ tên", "chủ TK", "anh",
  "chị", "my name is", "Mr.", "Hi" …) the following capitalised words are a name;
  after a strong cue (one that announces a name) a lower-case or upper-case name
  is accepted too when it starts with a known surname.
- Anywhere, a common Vietnamese surname followed by capitalised syllables is a
  name ("Nguyễn Văn An", "Tran Thi Bich Ngoc", "LÊ HOÀNG NAM"), unless it is a
  street, place or brand ("đường Lê Lợi", "123 Nguyễn Trãi", "Hà Nội",
  "Mai Linh"). Surnames that are also common words or places need a typical
  middle name after them ("Mai Thị Lan", "Le Van An").

Names are matched on NFC text; `operators.pii` maps offsets back when the input
is decomposed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from operators.common.text import fold_diacritics
from operators.pii.recognizers import RANK_PERSON, Candidate, word_list


def _vietnamese_letters() -> tuple[str, str]:
    tones = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
    vowels = {unicodedata.normalize("NFC", v + t) for v in "aăâeêioôơuưy" for t in tones}
    lower = "".join(sorted(vowels | set("bcdđfghjklmnpqrstvwxz")))
    return lower, lower.upper()


_LOWER, _UPPER = _vietnamese_letters()
_L, _U = re.escape(_LOWER), re.escape(_UPPER)

_SURNAMES = word_list(
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Lương Trịnh Đinh "
    "Đào Trương Tạ Kiều Quách Lưu Diệp Vương Triệu Doãn Đoàn Phùng Tăng Hứa Thân Đàm Nghiêm "
    "Tống Lại Mạc Lã Khổng Âu Tôn Lò Nông Khúc Lục Bế Giáp Phí Cù Thạch Quản Lạc"
)
_AMBIGUOUS_SURNAMES = word_list(
    "Hà Mai Cao Lâm Thái Giang Châu Chu La Hoa Kim Văn Sơn Quang Trang Phương Đồng Vi Tô Từ "
    "Hàn Lữ Trà Trình Ông Lê Vũ Võ Đỗ Hồ Lý Đào Tạ Tăng Hứa Thân Đàm Tống Lại Mạc Lã Lò"
)
_MIDDLE_AND_GIVEN = word_list(
    "Văn Thị Đức Minh Hoàng Ngọc Thanh Quốc Hữu Xuân Kim Anh Thu Hồng Công Quang Tuấn Bảo Gia "
    "Thành Trung Đình Mạnh Phương Thùy Thúy Khánh Hải Hoài Bích Diệu Mỹ Như Nhật Tiến Trọng "
    "Duy Việt Hà Lan Hương Thế Phúc Long Nam Huy Hùng Dũng Tâm Linh Trang Vân Yến Hạnh Nga "
    "Hiền Thảo Ly Mai Quỳnh Hoa Tú Tùng Sơn Phong Khoa Đạt Hiếu Vinh Lộc Thủy Tuyết Nhung "
    "Oanh Loan Hằng Huyền Trâm Uyên Vy Nhi Ngân Châu Cường Thắng Hưng Khải Lâm Tài Hòa Bình "
    "Quý Trí Nghĩa Kiên Tuệ An Thiện Chí Khắc Tấn Bá Kỳ Lệ Cẩm Tường Hiển Phước Lợi Toàn"
)

_ENGLISH_GIVEN_NAMES = frozenset(
    word_list(
        "James John Robert Michael William David Richard Joseph Thomas Charles Christopher "
        "Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian "
        "George Timothy Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan "
        "Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Frank Patrick "
        "Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Peter Zachary Kyle Mary "
        "Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty "
        "Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa "
        "Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna "
        "Brenda Pamela Emma Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn "
        "Janet Catherine Maria Heather Diane Ruth Julie Olivia Joyce Virginia Sophia Grace "
        "Chloe Hannah Lucy Alice Tom Mike Dave Chris Alex Sam Ben Kate Jane Anne"
    )
)
_VIETNAMESE_MIDDLE_MARKERS = frozenset(["Văn", "Thị", "VĂN", "THỊ", "Van", "Thi", "VAN", "THI"])
_STOPWORDS = frozenset(
    word_list(
        "Anh Chị Em Cô Chú Bác Ông Bà Bạn Mình Tôi Tớ Tui Cậu Con Cháu Shop Ad Admin Quý "
        "Khách Ơi Dạ Vâng Ạ Ừ Nhé Nha Cảm Cám Ơn Xin Chào Muốn Cần Hỏi Đặt Mua Gửi Nhận Có "
        "Không Đã Sẽ Đang Bị Được Là Ở Và Nhưng Thì Mà Vui Lòng Giúp Cho Kiểm Tra Check Ok "
        "Oke Okie Hi Hello Thanks Thank Sorry Xem Báo Hủy Đổi Trả Hàng Đơn Giao Ship Tiền Nay "
        "Hôm Lúc Khi Nếu Vì Nên Rồi Chưa Đi Về Làm Nói Biết Thấy Hết Còn Cũng Vẫn Rất Quá Lắm "
        "Thật Zalo Shopee Lazada Tiki Grab Momo Google Facebook Apple Samsung Iphone Team "
        "Support Service Customer Sir Madam All Everyone There Guys Bot Store Manager "
        "Vietnamese English Happy Here Not Interested Looking Sure Fine Good Just Also Going "
        "The I We You He She They It This That My Your Our Please Yes No Dear Hey Mr Mrs Ms "
        "Miss Dr Thưa Gì Sao Đây Đó Kia Này Ai Nào Đâu Nhiêu Mấy Người Ngày Tháng Năm Giờ "
        "Phút Tuần Sáng Chiều Tối Trưa Nhà Pháp Úc Tiếng Chúc Mừng Tết"
    )
)
_NOT_NAME_PHRASES = frozenset(
    fold_diacritics(p).lower()
    for p in (
        "Hà Nội",
        "Hà Giang",
        "Hà Nam",
        "Hà Tĩnh",
        "Hà Đông",
        "Hà Tiên",
        "Hồ Chí Minh",
        "Hồ Tây",
        "Hồ Gươm",
        "Cao Bằng",
        "Cao Lãnh",
        "Lâm Đồng",
        "Thái Bình",
        "Thái Nguyên",
        "Thái Lan",
        "Châu Đốc",
        "Châu Âu",
        "Châu Á",
        "Châu Phi",
        "Châu Mỹ",
        "Mai Châu",
        "Phan Thiết",
        "Phan Rang",
        "Lê Chân",
        "Hoàng Mai",
        "Hoàng Sa",
        "Hoàng Kiếm",
        "Đồng Nai",
        "Đồng Tháp",
        "Đồng Xoài",
        "Nguyễn Kim",
        "Trần Anh",
        "Mai Linh",
        "Phương Trang",
        "Hoàng Hà",
        "Kim Liên",
        "Kim Mã",
        "Giang Võ",
        "Long Biên",
        "Tô Lịch",
        "Quang Trung",
        "Kim Đồng",
        "Lý Sơn",
        "Phú Quốc",
        "Sơn La",
        "Sơn Trà",
        "Trà Vinh",
        "Hàn Quốc",
        "Trung Quốc",
        "Võ Thị Sáu",
        "Hồ Xuân Hương",
        "Trần Hưng Đạo",
        "Bà Rịa",
        "Hòa Bình",
        "Vĩnh Long",
        "Đức Trọng",
        "La Gi",
        "Gia Lai",
        "Hoàng Anh Gia Lai",
    )
)

_CAPITALISED = rf"[{_U}][{_L}]{{0,11}}"
_UPPERCASE = rf"[{_U}]{{1,7}}"
_LOWERCASE = rf"[{_L}]{{1,7}}"
_END_OF_WORD = r"(?![\w\u0300-\u036f])"
_NAME_WORD = re.compile(rf"(?:{_CAPITALISED}|{_UPPERCASE}){_END_OF_WORD}")
_LOWER_WORD = re.compile(rf"{_LOWERCASE}{_END_OF_WORD}")
_SEPARATOR = re.compile(r"[ \u00a0]{1,2}")

_SURNAME_FORMS = frozenset(
    form
    for surname in _SURNAMES + _AMBIGUOUS_SURNAMES
    for form in (
        surname,
        surname.upper(),
        fold_diacritics(surname),
        fold_diacritics(surname).upper(),
    )
)
_AMBIGUOUS_FORMS = frozenset(
    form
    for surname in _AMBIGUOUS_SURNAMES + ["Le", "Vu", "Vo", "Do", "Ho", "Ly", "Dao", "Ta", "To"]
    for form in (
        surname,
        surname.upper(),
        fold_diacritics(surname),
        fold_diacritics(surname).upper(),
    )
) - {"Lê", "LÊ", "Vũ", "VŨ", "Võ", "VÕ", "Đỗ", "ĐỖ", "Hồ", "HỒ", "Lý", "LÝ", "Đào", "ĐÀO"}
_MIDDLE_FORMS = frozenset(word.lower() for word in _MIDDLE_AND_GIVEN)
_MIDDLE_FORMS_UNACCENTED = frozenset(fold_diacritics(word).lower() for word in _MIDDLE_AND_GIVEN)
_GIVEN_NAME_FORMS = _MIDDLE_FORMS | {"my", "mỹ", "long", "nam", "quân", "khoa", "đạt"}
_STOP_FORMS = frozenset(word.lower() for word in _STOPWORDS) | frozenset(
    word_list("oi da vang khach quy cam chao xin ban toi shop ad admin nhe nha kh")
)

_SURNAME_START = re.compile(
    r"(?<![\w\u0300-\u036f])(?:"
    + "|".join(sorted((re.escape(f) for f in _SURNAME_FORMS), key=len, reverse=True))
    + r")(?=[ \u00a0])"
)

_STRONG_CUES = (
    r"(?:tên|ten)(?: (?:tôi|toi|em|mình|minh|tớ|to|tui|anh|chị|chi|thật|that|đầy đủ|day du|"
    r"khách hàng|khach hang|khách|khach|kh|người nhận|nguoi nhan|người gửi|nguoi gui|"
    r"chủ tài khoản|chu tai khoan|chủ tk|chu tk|tài khoản|tai khoan|tk|người nhận hàng|"
    r"của (?:tôi|em|mình|anh|chị)|cua (?:toi|em|minh|anh|chi)))?(?: (?:là|la)|\s?:)",
    r"(?:họ|ho) (?:và |va )?(?:tên|ten)(?: (?:đầy đủ|day du|khách hàng|người nhận))?"
    r"(?: (?:là|la)|\s?:)?",
    r"(?:người|nguoi) (?:nhận|nhan|gửi|gui|liên hệ|lien he|đặt hàng|dat hang|mua hàng|mua|"
    r"nhận hàng|nhan hang|thụ hưởng|thu huong)(?: (?:là|la)|\s?:)?",
    r"(?:chủ|chu) (?:tài khoản|tai khoan|tk|thẻ|the)(?: (?:là|la)|\s?:)?",
    r"ctk\s?:?",
    r"(?:tôi|toi|em|mình|minh|tớ|tui|anh|chị|chi) (?:là|la|tên là|ten la|tên|ten)",
    r"my name is|my name's|name is|(?:full |first |last )?name\s?:|i am|i'm|this is|"
    r"recipient\s?:|receiver\s?:|sender\s?:|contact person\s?:|contact\s?:|customer\s?:|"
    r"account (?:holder|name)\s?:|beneficiary\s?:|signed|regards,|cheers,|thanks,",
)
_HONORIFIC_CUES = (
    r"anh|chị|chi|em|cô|co|chú|chu|bác|bac|ông|ong|bà|ba|bạn|ban|cậu|cau|dì|mợ|thím|cháu|"
    r"a|c|e|mr\.?|mrs\.?|ms\.?|miss|dr\.?|hi|hello|hey|dear|gặp|gap|nhờ|nho|gửi|giao cho|"
    r"chào|chao|cảm ơn|cam on|thank you|thanks|contact|reach|ask for|call|text|message|cc|"
    r"tên|ten|kh|khách hàng|khach hang|khách|khach|customer"
)
_CUE = re.compile(
    r"(?<![\w\u0300-\u036f])(?:(?P<strong>"
    + "|".join(_STRONG_CUES)
    + r")|(?P<honorific>"
    + _HONORIFIC_CUES
    + r"))[ \u00a0:,]{1,3}(?=\S)",
    re.IGNORECASE,
)
_NOT_PERSON_BEFORE = re.compile(
    r"(?:(?<![\w\u0300-\u036f])(?:đường|duong|phố|đ\.|p\.|q\.|quận|phường|phuong|huyện|xã|"
    r"tỉnh|tp\.?|thành phố|thanh pho|cầu|chợ|trường|truong|thpt|thcs|đại học|dai hoc|"
    r"bệnh viện|benh vien|bv|công ty|cong ty|cty|cửa hàng|cua hang|siêu thị|sieu thi|"
    r"nhà sách|rạp|bến xe|ben xe|ngõ|hẻm|kiệt|ngách|khu|tòa|chung cư|taxi|hãng|"
    r"thương hiệu|tập đoàn|ngã tư|ngã ba|ngã sáu|vòng xoay|đại lộ|quốc lộ|"
    r"street|st\.|road|ward|district)|[0-9]+[a-zA-Z]?(?:/[0-9]+)*)[ ,]{1,2}$",
    re.IGNORECASE,
)
_VIETNAMESE_ONLY_LETTERS = frozenset(_LOWER + _UPPER) - frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_SINGLE_LETTER_CUES = frozenset("aceACE")
_MAX_NAME_WORDS = 5
_HAS_CAPITAL = re.compile(f"[{_U}]")
_PREVIOUS_WORD = re.compile(
    rf"(?<![\w\u0300-\u036f])((?:{_CAPITALISED}|{_UPPERCASE})){_END_OF_WORD}[ \u00a0]{{1,2}}$"
)


def person_candidates(text: str) -> Iterator[Candidate]:
    if not _HAS_CAPITAL.search(text) and not _CUE.search(text):
        return
    yield from _after_cues(text)
    yield from _surname_led(text)
    yield from _middle_name_led(text)
    yield from _english_given_name_led(text)


def _name_words(text: str, pos: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    words: list[tuple[int, int]] = []
    while len(words) < _MAX_NAME_WORDS:
        match = pattern.match(text, pos)
        if match is None:
            break
        word = match.group().lower()
        if word in _STOP_FORMS and not (words and word in _GIVEN_NAME_FORMS):
            break
        words.append(match.span())
        gap = _SEPARATOR.match(text, match.end())
        if gap is None:
            break
        pos = gap.end()
    return words


def _after_cues(text: str) -> Iterator[Candidate]:
    vietnamese: bool | None = None
    for cue in _CUE.finditer(text):
        if cue.group("honorific") in _SINGLE_LETTER_CUES:
            # "a Tuấn", "c Lan" are Vietnamese shorthand; in English "a" is an article.
            if vietnamese is None:
                vietnamese = any(c in _VIETNAMESE_ONLY_LETTERS for c in text)
            if not vietnamese:
                continue
        capitalised_honorific = cue.group("honorific") and cue.group()[0].isupper()
        if capitalised_honorific and _follows_capitalised_word(text, cue.start()):
            continue  # "Anh" in "Hoàng Anh Gia Lai" is part of a name, not "anh"
        words = _name_words(text, cue.end(), _NAME_WORD)
        if not words and cue.group("strong"):
            words = _lowercase_name(text, cue.end())
        if not words or _looks_like_acronym(text, words):
            continue
        head = fold_diacritics(text[words[0][0] : words[min(1, len(words) - 1)][1]]).lower()
        if head in _NOT_NAME_PHRASES:
            continue
        yield Candidate("person", words[0][0], words[-1][1], RANK_PERSON)


def _lowercase_name(text: str, pos: int) -> list[tuple[int, int]]:
    words = _name_words(text, pos, _LOWER_WORD)
    if len(words) < 2:
        return []
    first = text[words[0][0] : words[0][1]]
    if first.capitalize() not in _SURNAME_FORMS:
        return []
    return words


def _looks_like_acronym(text: str, words: list[tuple[int, int]]) -> bool:
    """A lone upper-case token after an honorific ("anh ADMIN", "chị CSKH") is not a name."""
    if len(words) != 1:
        return False
    word = text[words[0][0] : words[0][1]]
    return len(word) > 1 and word.isupper()


def _is_middle_name(word: str) -> bool:
    if word.isascii():
        return word.lower() in _MIDDLE_FORMS_UNACCENTED
    return word.lower() in _MIDDLE_FORMS


def _follows_capitalised_word(text: str, start: int) -> bool:
    """ "Văn Tần" in "Võ Văn Tần" is the tail of a longer name, judged as a whole."""
    previous = _PREVIOUS_WORD.search(text, max(0, start - 24), start)
    return previous is not None and previous.group(1).lower() not in _STOP_FORMS


def _surname_led(text: str) -> Iterator[Candidate]:
    for match in _SURNAME_START.finditer(text):
        gap = _SEPARATOR.match(text, match.end())
        if gap is None:
            continue
        rest = _name_words(text, gap.end(), _NAME_WORD)
        if not rest:
            continue
        surname = match.group()
        if surname in _AMBIGUOUS_FORMS and not _is_middle_name(text[rest[0][0] : rest[0][1]]):
            continue
        if _follows_capitalised_word(text, match.start()):
            continue
        if surname.isupper() != text[rest[0][0] : rest[0][1]].isupper():
            continue
        head = fold_diacritics(text[match.start() : rest[0][1]]).lower()
        if head in _NOT_NAME_PHRASES:
            continue
        if _NOT_PERSON_BEFORE.search(text, max(0, match.start() - 24), match.start()):
            continue
        yield Candidate("person", match.start(), rest[-1][1], RANK_PERSON)


_ANY_NAME_WORD = re.compile(rf"(?<![\w\u0300-\u036f])(?:{_CAPITALISED}|{_UPPERCASE}){_END_OF_WORD}")


def _middle_name_led(text: str) -> Iterator[Candidate]:
    """Any surname, then "Văn"/"Thị", then a given name: "Sầm Thị Mai", "Lò Văn Páo"."""
    for match in _ANY_NAME_WORD.finditer(text):
        if match.group().lower() in _STOP_FORMS or _follows_capitalised_word(text, match.start()):
            continue
        gap = _SEPARATOR.match(text, match.end())
        if gap is None:
            continue
        rest = _name_words(text, gap.end(), _NAME_WORD)
        if len(rest) < 2 or text[rest[0][0] : rest[0][1]] not in _VIETNAMESE_MIDDLE_MARKERS:
            continue
        if _NOT_PERSON_BEFORE.search(text, max(0, match.start() - 24), match.start()):
            continue
        yield Candidate("person", match.start(), rest[-1][1], RANK_PERSON)


def _english_given_name_led(text: str) -> Iterator[Candidate]:
    """A common English given name followed by a capitalised surname: "Maria Garcia"."""
    for match in _ANY_NAME_WORD.finditer(text):
        if match.group() not in _ENGLISH_GIVEN_NAMES:
            continue
        gap = _SEPARATOR.match(text, match.end())
        rest = _name_words(text, gap.end(), _NAME_WORD) if gap else []
        if rest and not _follows_capitalised_word(text, match.start()):
            yield Candidate("person", match.start(), rest[-1][1], RANK_PERSON)
