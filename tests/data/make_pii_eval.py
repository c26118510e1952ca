"""Build tests/data/pii_eval.jsonl: hand-written lines plus seeded generated ones.

    python tests/data/make_pii_eval.py

Hand-written lines live in pii_handwritten.txt, where [[kind:value]] marks a PII
value. Generated values follow each format's own rules (numbering plan, CCCD
structure, Luhn, issuer prefixes) and are written the many ways people write them;
this script deliberately does not use the recognizers it evaluates.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
SEED = 20240501
GENERATED_POSITIVES = 460
GENERATED_NEGATIVES = 160


def word_list(text: str) -> list[str]:
    """The words of a space-separated literal; keeps long vocabularies compact."""
    return text.split()


_MARK = re.compile(r"\[\[(\w+):(.+?)\]\]")

# --- values --------------------------------------------------------------------

CARRIER_PREFIXES = {
    "viettel": "086 096 097 098 032 033 034 035 036 037 038 039",
    "vinaphone": "088 091 094 081 082 083 084 085",
    "mobifone": "089 090 093 070 079 077 076 078",
    "vietnamobile": "092 056 058",
    "gmobile": "099 059",
    "itel": "087",
}
MOBILE_PREFIXES = [p for group in CARRIER_PREFIXES.values() for p in group.split()]
LANDLINES = ["024", "028", "0236", "0225", "0292", "0258", "0203", "0274", "0251", "0234"]
PROVINCES = word_list(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 "
    "035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 "
    "070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096"
)
CARD_PREFIXES = [
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("53", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("3528", 16),
    ("3589", 16),
    ("9704", 16),
    ("9704", 19),
    ("62", 16),
    ("6011", 16),
    ("65", 16),
]
BANKS = {
    "Vietcombank": ("00", 13),
    "VCB": ("10", 13),
    "Techcombank": ("19", 14),
    "BIDV": ("21", 14),
    "VietinBank": ("10", 12),
    "Agribank": ("15", 13),
    "MB Bank": ("09", 13),
    "ACB": ("2", 9),
    "VPBank": ("1", 9),
    "TPBank": ("0", 11),
    "Sacombank": ("06", 12),
    "HDBank": ("0", 14),
    "Timo": ("9", 10),
    "Shinhan": ("7", 12),
}
SURNAMES = word_list(
    "Nguyễn Nguyễn Nguyễn Trần Trần Lê Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô "
    "Dương Lý Lương Trịnh Đinh Đào Trương Tạ Kiều Quách Lưu Mai Cao Hà Tô Châu Lâm"
)
MIDDLES = word_list(
    "Văn Thị Đức Minh Ngọc Thanh Quốc Hữu Xuân Kim Thu Hồng Công Quang Bảo Gia Thành Đình "
    "Phương Thùy Khánh Hải Hoài Bích Mỹ Nhật Tiến Trọng Duy Việt"
)
GIVENS = word_list(
    "An Anh Bình Châu Cường Dũng Duy Giang Hà Hải Hằng Hạnh Hiếu Hoa Hùng Huy Hương Khang "
    "Khoa Lan Linh Long Mai Minh My Nam Nga Ngân Ngọc Nhung Phong Phúc Phương Quân Quang "
    "Quỳnh Sơn Tâm Thảo Thắng Thu Trang Trinh Trung Tú Tuấn Tùng Uyên Vân Vinh Vy Yến Khôi "
    "Đạt Lộc Nhi Hân Bảo Thư"
)
ENGLISH_FIRST = word_list(
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Susan "
    "Richard Jessica Thomas Sarah Daniel Karen Emily Peter"
)
ENGLISH_LAST = word_list(
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Moore Clark Lewis "
    "Walker Young Allen King Wright Scott Green"
)
STREETS = [
    "Nguyễn Trãi",
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Võ Văn Tần",
    "Phạm Ngũ Lão",
    "Nguyễn Thị Minh Khai",
]
EMAIL_DOMAINS = word_list(
    "gmail.com yahoo.com yahoo.com.vn hotmail.com outlook.com icloud.com fpt.com.vn "
    "viettel.com.vn vnu.edu.vn hust.edu.vn company.vn shop.com.vn"
)


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def unaccent(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def group(number: str, sizes: list[int], sep: str) -> str:
    parts, position = [], 0
    for size in sizes:
        parts.append(number[position : position + size])
        position += size
    if position < len(number):
        parts.append(number[position:])
    return sep.join(p for p in parts if p)


def phone(rng: random.Random) -> str:
    if rng.random() < 0.12:
        area = rng.choice(LANDLINES)
        number = area + digits(rng, 11 - len(area))
        return rng.choice(
            [
                number,
                f"({area}) {group(number[len(area) :], [4, 4] if len(area) == 3 else [3, 4], ' ')}",
                f"{area}.{group(number[len(area) :], [4, 4] if len(area) == 3 else [3, 4], '.')}",
                f"+84 {area[1:]} {number[len(area) :]}",
            ]
        )
    if rng.random() < 0.08:
        return rng.choice(
            [
                f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {digits(rng, 4)}",
                f"+44 20 {digits(rng, 4)} {digits(rng, 4)}",
                f"+65 {rng.choice('689')}{digits(rng, 7)}",
                f"+86 13{digits(rng, 1)} {digits(rng, 4)} {digits(rng, 4)}",
                f"+61 4{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)}",
                f"+82 10-{digits(rng, 4)}-{digits(rng, 4)}",
                f"+33 6 {group(digits(rng, 8), [2, 2, 2, 2], ' ')}",
            ]
        )
    number = rng.choice(MOBILE_PREFIXES) + digits(rng, 7)
    national = number[1:]
    return rng.choice(
        [
            number,
            number,
            group(number, [4, 3, 3], " "),
            group(number, [4, 3, 3], "."),
            group(number, [3, 3, 4], "-"),
            group(number, [4, 6], " "),
            group(number, [3, 4, 3], " "),
            group(number, [4, 2, 2, 2], "."),
            f"+84 {group(national, [3, 3, 3], ' ')}",
            f"+84{national}",
            f"(+84) {national}",
            f"84{national}",
            f"+84 {group(national, [2, 3, 4], ' ')}",
            f"0084 {group(national, [3, 3, 3], ' ')}",
            f"+84 (0) {group(national, [3, 3, 3], ' ')}",
        ]
    )


def email(rng: random.Random) -> str:
    given = unaccent(rng.choice(GIVENS)).lower()
    surname = unaccent(rng.choice(SURNAMES)).lower()
    local = rng.choice(
        [
            f"{given}.{surname}",
            f"{surname}{given}{rng.randint(80, 2005)}",
            f"{given}_{surname}",
            f"{given}{surname[0]}{rng.randint(1, 99)}",
            f"{given}+shop",
            f"{surname}.{given}.{rng.randint(1, 9)}",
        ]
    )
    domain = rng.choice(EMAIL_DOMAINS)
    value = f"{local}@{domain}"
    if rng.random() < 0.08:
        value = value.upper()
    if rng.random() < 0.05:
        value = f"{local} (at) {domain}"
    return value


def cccd(rng: random.Random) -> str:
    century = rng.choice("0123")
    year = rng.randint(40, 99) if century in "01" else rng.randint(0, 12)
    number = rng.choice(PROVINCES) + century + f"{year:02d}" + digits(rng, 6)
    return rng.choice(
        [
            number,
            number,
            number,
            group(number, [3, 3, 3, 3], " "),
            group(number, [4, 4, 4], " "),
            group(number, [3, 3, 3, 3], "."),
        ]
    )


def cmnd(rng: random.Random) -> str:
    number = rng.choice(["0", "1", "2", "3"]) + digits(rng, 8)
    return rng.choice([number, number, group(number, [3, 3, 3], " ")])


def luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        total = 0
        for position, char in enumerate(reversed(prefix + check)):
            value = int(char)
            if position % 2:
                value = value * 2 - 9 if value > 4 else value * 2
            total += value
        if total % 10 == 0:
            return prefix + check
    raise AssertionError("unreachable")


def card(rng: random.Random) -> str:
    prefix, length = rng.choice(CARD_PREFIXES)
    number = luhn_complete(prefix + digits(rng, length - len(prefix) - 1))
    if length == 15:
        return rng.choice([number, group(number, [4, 6, 5], " ")])
    return rng.choice(
        [
            number,
            group(number, [4, 4, 4, 4], " "),
            group(number, [4, 4, 4, 4], "-"),
            group(number, [4, 4, 4, 4], " "),
        ]
    )


def bank_account(rng: random.Random) -> tuple[str, str]:
    bank = rng.choice(list(BANKS))
    prefix, length = BANKS[bank]
    number = prefix + digits(rng, length - len(prefix))
    if rng.random() < 0.2:
        number = group(number, [4, 4, 4, 4], " ")
    return bank, number


def ipv4(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.choice([14, 27, 42, 113, 115, 116, 117, 118, 123, 171, 183, 203])}."
            f"{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"192.168.{rng.randint(0, 10)}.{rng.randint(1, 254)}",
            f"10.{rng.randint(0, 255)}.0.{rng.randint(1, 254)}",
        ]
    )


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    return rng.choice(
        [
            ":".join(groups),
            "2001:ee0:" + ":".join(groups[2:4]) + "::" + groups[7],
            "fe80::" + ":".join(groups[4:]),
            "2405:4800:" + ":".join(groups[2:5]) + "::1",
        ]
    )


def vietnamese_name(rng: random.Random) -> str:
    parts = [rng.choice(SURNAMES)]
    if rng.random() < 0.85:
        parts.append(rng.choice(MIDDLES))
    parts.append(rng.choice(GIVENS))
    if rng.random() < 0.15:
        parts.insert(-1, rng.choice(GIVENS))
    name = " ".join(parts)
    style = rng.random()
    if style < 0.15:
        return unaccent(name)
    if style < 0.25:
        return name.upper()
    return name


def english_name(rng: random.Random) -> str:
    return f"{rng.choice(ENGLISH_FIRST)} {rng.choice(ENGLISH_LAST)}"


# --- positive templates ---------------------------------------------------------

PHONE_TEMPLATES = [
    "sđt em {v} nhé shop",
    "SĐT: {v}",
    "Số điện thoại người nhận {v}",
    "gọi em số {v} trước khi giao",
    "zalo {v} ạ",
    "{v} - gọi trước 30p",
    "Liên hệ {v} để nhận hàng",
    "em đổi số rồi, số mới {v}",
    "so dien thoai {v} nha",
    "Hotline của chị {v}",
    "Please call me at {v}",
    "My phone: {v}",
    "đt {v} (giờ hành chính)",
    "Phone {v}, ask for the manager",
    "nhắn tin {v} giúp em",
    "số của mẹ em {v}, giao không gặp thì gọi",
    "Shipper gọi {v} không được ạ?",
    "tel: {v}",
    "giao hàng xong gọi {v} báo em",
    "{v} là số whatsapp của mình",
]
EMAIL_TEMPLATES = [
    "email em {v}",
    "Email: {v}",
    "gửi hóa đơn về {v} giúp em",
    "mail {v} nha shop",
    "Please send it to {v}",
    "contact {v} for details",
    "tài khoản đăng ký là {v}",
    "{v} không nhận được mã xác nhận",
    "đổi email sang {v}",
    "cc thêm {v} nhé",
]
NATIONAL_ID_TEMPLATES = [
    "CCCD {v}",
    "số CCCD của em là {v}",
    "căn cước công dân: {v}",
    "Citizen ID {v}",
    "em gửi số căn cước {v} để xác minh",
    "{v} là số CCCD của mẹ em",
    "CCCD: {v}, cấp năm 2021",
    "số định danh {v}",
    "ID card number {v}",
    "Số CCCD người nhận {v}",
]
CMND_TEMPLATES = [
    "CMND {v}",
    "số CMND: {v}",
    "chứng minh nhân dân {v}",
    "CMT của em {v}",
    "em chỉ có CMND cũ {v} thôi",
]
CARD_TEMPLATES = [
    "thẻ {v} bị trừ tiền",
    "số thẻ {v}",
    "Card number {v}",
    "em thanh toán bằng thẻ {v}",
    "thẻ visa {v} hết hạn",
    "My card {v} was charged twice",
    "{v} exp 11/27",
    "hoàn tiền về thẻ {v} giúp em",
    "thẻ tín dụng {v} của em bị khóa",
    "credit card {v}",
]
BANK_TEMPLATES = [
    "STK {v} {b}",
    "stk: {v} - {b}",
    "số tài khoản {v} ngân hàng {b}",
    "Chuyển khoản vào {b} {v}",
    "tk {b} {v}",
    "Account number {v} ({b})",
    "CK giúp em vào stk {v} {b} nhé",
    "số tk của shop {v} {b}",
    "{b} - {v} - chủ TK shop",
    "hoàn tiền về tài khoản {v} {b} giúp em",
    "em gửi lại STK: {v} ({b})",
    "Bank account: {v}, {b}",
]
IP_TEMPLATES = [
    "đăng nhập lạ từ IP {v}",
    "IP: {v}",
    "login from {v} blocked",
    "truy cập từ {v} lúc 2h sáng",
    "client {v} timed out",
    "địa chỉ IP của em là {v}",
    "request from {v} returned 403",
]
PERSON_VI_TEMPLATES = [
    "tên em là {v}",
    "Tên tôi là {v}",
    "Người nhận: {v}",
    "họ tên: {v}",
    "Họ và tên {v}",
    "em là {v}, em muốn hỏi đơn hàng",
    "Chủ tài khoản: {v}",
    "người gửi {v}",
    "{v} đặt 2 sản phẩm",
    "Khách hàng {v} phản hồi chậm",
    "gửi cho {v} giúp em",
    "tên người nhận là {v}",
    "Xin chào, tôi là {v}",
    "{v} đã nhận hàng",
    "giao cho anh {v}",
    "nhờ chị {v} ký nhận",
]
PERSON_GIVEN_TEMPLATES = [
    "anh {v} ơi",
    "chị {v} ơi cho em hỏi",
    "em cảm ơn chị {v} ạ",
    "cô {v} nhận giúp",
    "gặp anh {v} phòng kỹ thuật",
    "Em là {v} nè shop",
    "chú {v} bảo vệ nhận hộ",
]
PERSON_EN_TEMPLATES = [
    "My name is {v}",
    "This is {v} from the sales team",
    "Recipient: {v}",
    "I'm {v}, the account holder",
    "Dear Mr. {v},",
    "Hi {v}, your order shipped",
    "Contact person: {v}",
    "Thanks, {v}",
]


def fill(template: str, values: dict[str, tuple[str, str]]) -> tuple[str, list[dict]]:
    text, spans, position = "", [], 0
    for match in re.finditer(r"\{(\w)\}", template):
        text += template[position : match.start()]
        kind, value = values[match.group(1)]
        if kind:
            spans.append({"kind": kind, "start": len(text), "end": len(text) + len(value)})
        text += value
        position = match.end()
    return text + template[position:], spans


def positive(rng: random.Random) -> tuple[str, list[dict]]:
    choice = rng.random()
    if choice < 0.22:
        return fill(rng.choice(PHONE_TEMPLATES), {"v": ("phone", phone(rng))})
    if choice < 0.34:
        return fill(rng.choice(EMAIL_TEMPLATES), {"v": ("email", email(rng))})
    if choice < 0.44:
        return fill(rng.choice(NATIONAL_ID_TEMPLATES), {"v": ("national_id", cccd(rng))})
    if choice < 0.48:
        return fill(rng.choice(CMND_TEMPLATES), {"v": ("national_id", cmnd(rng))})
    if choice < 0.58:
        return fill(rng.choice(CARD_TEMPLATES), {"v": ("card", card(rng))})
    if choice < 0.69:
        bank, number = bank_account(rng)
        return fill(rng.choice(BANK_TEMPLATES), {"v": ("bank_account", number), "b": ("", bank)})
    if choice < 0.76:
        address = ipv6(rng) if rng.random() < 0.3 else ipv4(rng)
        return fill(rng.choice(IP_TEMPLATES), {"v": ("ip", address)})
    if choice < 0.88:
        return fill(rng.choice(PERSON_VI_TEMPLATES), {"v": ("person", vietnamese_name(rng))})
    if choice < 0.94:
        return fill(rng.choice(PERSON_GIVEN_TEMPLATES), {"v": ("person", rng.choice(GIVENS))})
    return fill(rng.choice(PERSON_EN_TEMPLATES), {"v": ("person", english_name(rng))})


def mixed(rng: random.Random) -> tuple[str, list[dict]]:
    """A realistic order line carrying several kinds and look-alikes at once."""
    template = rng.choice(
        [
            "Đơn {o}: người nhận {n}, sđt {p}, thu hộ {m}",
            "{n} - {p} - đơn {o} giao ngày {d}",
            "Khách {n} ({p}) đặt đơn {o} lúc {t}, email {e}",
            "Giao {o} cho {n}, SĐT {p}, tổng {m}, hẹn {d}",
        ]
    )
    return fill(
        template,
        {
            "o": ("", order_code(rng)),
            "n": ("person", vietnamese_name(rng)),
            "p": ("phone", phone(rng)),
            "m": ("", price(rng)),
            "d": ("", date(rng)),
            "t": ("", time_of_day(rng)),
            "e": ("email", email(rng)),
        },
    )


# --- negatives ------------------------------------------------------------------


def order_code(rng: random.Random) -> str:
    return rng.choice(
        [
            f"DH{rng.randint(24, 25)}{rng.randint(1, 12):02d}{digits(rng, 5)}",
            f"#{digits(rng, 6)}",
            f"{rng.randint(24, 25)}0{rng.randint(1, 9)}{rng.randint(10, 28)}"
            f"{rng.choice(['KX', 'AB', 'QP'])}{digits(rng, 4)}",
            f"#{digits(rng, 15)}",
            f"ORD-{digits(rng, 8)}",
        ]
    )


def tracking_code(rng: random.Random) -> str:
    return rng.choice(
        [
            f"GHN: G{rng.choice('ABQX')}{rng.choice('QK')}{digits(rng, 1)}KX{digits(rng, 2)}L",
            f"J&T: 8{digits(rng, 11)}",
            f"VNPost EB{digits(rng, 9)}VN",
            f"SPXVN0{digits(rng, 11)}",
            f"GHTK S{digits(rng, 8)}.SG01.A1.{digits(rng, 9)}",
            f"Viettel Post {digits(rng, 13)}",
        ]
    )


def price(rng: random.Random) -> str:
    amount = rng.randint(1, 900) * rng.choice([1000, 10000, 100000])
    grouped = f"{amount:,}".replace(",", ".")
    return rng.choice(
        [
            f"{grouped}đ",
            f"{grouped} VND",
            f"{amount // 1000}k",
            f"{grouped} đồng",
            f"{f'{amount:,}'} đ",
            f"{grouped}₫",
        ]
    )


def date(rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2019, 2025)
    return rng.choice(
        [
            f"{day:02d}/{month:02d}/{year}",
            f"{year}-{month:02d}-{day:02d}",
            f"{day}-{month}-{year}",
            f"{day:02d}.{month:02d}.{year}",
            f"{day}/{month}",
        ]
    )


def time_of_day(rng: random.Random) -> str:
    hour, minute = rng.randint(0, 23), rng.randint(0, 59)
    return rng.choice(
        [
            f"{hour:02d}:{minute:02d}",
            f"{hour}h{minute:02d}",
            f"{hour:02d}:{minute:02d}:{rng.randint(0, 59):02d}",
        ]
    )


NEGATIVE_TEMPLATES: list[tuple[str, Callable[[random.Random], str]]] = [
    ("Đơn hàng {x} đã được xác nhận", order_code),
    ("mã đơn {x} giao chưa shop", order_code),
    ("Order {x} was cancelled", order_code),
    ("kiểm tra giúp em đơn {x}", order_code),
    ("Mã vận đơn {x}", tracking_code),
    ("tracking {x} đang ở kho", tracking_code),
    ("giá {x} còn không shop", price),
    ("em chuyển khoản {x} rồi nhé", price),
    ("Tổng thanh toán {x}", price),
    ("phí ship {x} hơi cao", price),
    ("hoàn {x} về tài khoản giúp em", price),
    ("giao ngày {x} được không", date),
    ("Hạn bảo hành đến {x}", date),
    ("đặt lịch {x} nhé", date),
    ("hẹn {x} chiều mai", time_of_day),
    ("ship lúc {x}", time_of_day),
    (
        "app phiên bản {x} bị lỗi",
        lambda r: f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    ),
    ("phòng {x} tầng 12", lambda r: str(r.randint(101, 2512))),
    ("số lượng {x} cái", lambda r: str(r.randint(1, 500))),
    ("mã giảm giá {x}", lambda r: r.choice(["SALE50", "FREESHIP", "GIAM20K", "TET2025"])),
    ("mã OTP {x}, không chia sẻ cho ai", lambda r: digits(r, 6)),
    ("Mã giao dịch {x} thành công", lambda r: f"FT{digits(r, 14)}"),
    ("IMEI {x} bị báo mất", lambda r: digits(r, 15)),
    ("mã vạch {x}", lambda r: "893" + digits(r, 10)),
    ("tổng đài {x} hỗ trợ 24/7", lambda r: r.choice(["1900 ", "1800 ", "1900."]) + digits(r, 4)),
    (
        "giao tới {x}, Quận 3",
        lambda r: f"{r.randint(1, 300)} {r.choice(STREETS)}",
    ),
    (
        "kích thước {x} cm",
        lambda r: f"{r.randint(10, 200)}x{r.randint(10, 200)}x{r.randint(10, 200)}",
    ),
    (
        "Giao tới {x} trong ngày",
        lambda r: r.choice(
            ["Hà Nội", "TP Hồ Chí Minh", "Cao Bằng", "Lâm Đồng", "quận Hoàng Mai", "Thái Nguyên"]
        ),
    ),
]


def negative(rng: random.Random) -> tuple[str, list[dict]]:
    template, make = rng.choice(NEGATIVE_TEMPLATES)
    return template.replace("{x}", make(rng)), []


# --- assembly -------------------------------------------------------------------


def handwritten() -> list[tuple[str, list[dict]]]:
    lines = []
    for raw in (HERE / "pii_handwritten.txt").read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        text, spans, position = "", [], 0
        for match in _MARK.finditer(raw):
            text += raw[position : match.start()]
            spans.append(
                {"kind": match.group(1), "start": len(text), "end": len(text) + len(match.group(2))}
            )
            text += match.group(2)
            position = match.end()
        lines.append((text + raw[position:], spans))
    return lines


def build(seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    lines = handwritten()
    for _ in range(GENERATED_POSITIVES):
        lines.append(mixed(rng) if rng.random() < 0.1 else positive(rng))
    for _ in range(GENERATED_NEGATIVES):
        lines.append(negative(rng))
    return [{"text": text, "spans": spans} for text, spans in lines]


def main() -> None:
    rows = build()
    with (HERE / "pii_eval.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    negatives = sum(1 for row in rows if not row["spans"])
    print(f"wrote {len(rows)} lines ({negatives} negative) to {HERE / 'pii_eval.jsonl'}")


if __name__ == "__main__":
    main()
