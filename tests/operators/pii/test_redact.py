import unicodedata

import pytest
from prometheus_client import REGISTRY

from benchmarks.eval_pii import evaluate
from operators.pii.audit import audit_records, canonical_value, key_id, matches
from operators.pii.redact import PiiSpan, count_redactions, redact

KEY = b"k" * 32


def found(text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in redact(text).spans]


@pytest.mark.parametrize(
    "value",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "091-234-5678",
        "+84 912 345 678",
        "(+84) 912345678",
        "84912345678",
        "+84912345678",
        "0084 912 345 678",
        "+84 (0) 912 345 678",
        "(028) 3823 4567",
        "024.3936.1234",
        "0236 3812 345",
        "0357123456",
        "0868 123 456",
        "0559 123 456",
        "0767 123 456",
        "09 12 34 56 78",
        "+1 (415) 555-2671",
        "+44 20 7946 0958",
        "+65 9123 4567",
        "+81 90-1234-5678",
    ],
)
def test_phone_writings(value):
    assert found(f"sđt em là {value} nhé") == [("phone", value)]


@pytest.mark.parametrize(
    "text",
    ["sđt0912345678", "SĐT:0912345678", "zalo 0912345678 ạ", "gọi 0912345678nhé"],
)
def test_phone_glued_to_a_cue_or_a_particle(text):
    assert found(text) and found(text)[0][0] == "phone"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("CCCD 079203001234", "079203001234"),
        ("079203001234 là số căn cước", "079203001234"),
        ("căn cước: 079 203 001 234", "079 203 001 234"),
        ("CMND 024567890", "024567890"),
        ("citizen ID 036185004321", "036185004321"),
    ],
)
def test_national_id(text, value):
    assert found(text) == [("national_id", value)]


def test_cccd_structure_is_checked_without_context():
    assert found("mã 079203001234") == []  # a code cue: not an ID
    assert found("xem 979203001234") == []  # 979 is no province code
    assert found("xem 079903001234") == []  # century digit 9 is not in use
    assert found("số 024567890") == []  # a bare 9-digit number needs a CMND cue


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "3782 822463 10005",
        "9704 1500 1234 5677",
        "3530111333300000",
        "6011111111111117",
    ],
)
def test_card_needs_luhn(value):
    assert found(f"thẻ của em {value}") == [("card", value)]
    broken = value[:-1] + str((int(value[-1]) + 1) % 10)
    assert [k for k, _ in found(f"mua {broken} cái")] != ["card"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("STK 0011004123456 Vietcombank", "0011004123456"),
        ("số tài khoản: 1903 6789 0123 45", "1903 6789 0123 45"),
        ("Account number 123456789012 at HSBC", "123456789012"),
        ("0451000123456 (VCB)", "0451000123456"),
        ("stk0071000987654", "0071000987654"),
    ],
)
def test_bank_account_needs_context(text, value):
    assert found(text) == [("bank_account", value)]


def test_bank_account_cue_beats_phone():
    assert found("STK 0912345678 MB Bank") == [("bank_account", "0912345678")]


@pytest.mark.parametrize(
    "value",
    [
        "an.nguyen@gmail.com",
        "John.Smith+billing@acme-corp.com",
        "ketoan@congty.com.vn",
        "ngoc.anh (at) gmail.com",
    ],
)
def test_email(value):
    assert found(f"mail: {value}.") == [("email", value)]


@pytest.mark.parametrize(
    "value",
    [
        "113.161.72.45",
        "192.168.1.1",
        "2001:ee0:4141:1c9::2",
        "fe80::1c2b:3aff:fe4d:5e6f",
        "::ffff:10.0.0.1",
    ],
)
def test_ip(value):
    assert found(f"login from {value} failed") == [("ip", value)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Tên tôi là Nguyễn Văn An", "Nguyễn Văn An"),
        ("ten em la Tran Thi Bich Ngoc a", "Tran Thi Bich Ngoc"),
        ("tên em là nguyễn thị lan ạ", "nguyễn thị lan"),
        ("Chủ TK: NGUYEN VAN AN", "NGUYEN VAN AN"),
        ("anh Tuấn ơi", "Tuấn"),
        ("Người nhận: Lê Thị Hồng Nhung", "Lê Thị Hồng Nhung"),
        ("My name is Sarah Johnson", "Sarah Johnson"),
        ("Dear Mr. David Brown,", "David Brown"),
        ("Võ Thị Kim Ngân đã nhận hàng", "Võ Thị Kim Ngân"),
        ("Sầm Thị Mai ký nhận", "Sầm Thị Mai"),
    ],
)
def test_person(text, name):
    assert found(text) == [("person", name)]


@pytest.mark.parametrize(
    "text",
    [
        "Đơn hàng #DH240501123 đã được xác nhận",
        "mã vận đơn J&T: 841234567890",
        "Order ID 240501ABCD1234, tracking SPXVN041234567890",
        "Giá 1.500.000đ, giảm còn 1.299.000đ",
        "em chuyển khoản 15.000.000 VND rồi",
        "em chuyển khoản 12000000 rồi nhé",
        "Hẹn giao ngày 01/05/2024 lúc 10:30",
        "Từ 01-05-2024 đến 15-05-2024",
        "App phiên bản 1.2.3.4 bị lỗi",
        "Windows build 10.0.19045.2006",
        "Phòng 1203 tòa B2",
        "Hotline 1900 6035",
        "IMEI: 356938035643809",
        "MST: 0312345678",
        "logo@2x.png",
        "Giao tới 123 Nguyễn Trãi, Hà Nội",
        "Đường Trần Hưng Đạo",
        "Anh Chị vui lòng kiểm tra",
        "taxi Mai Linh",
        "Em ở Lâm Đồng",
        "mã OTP 482913",
    ],
)
def test_look_alikes_are_not_pii(text):
    assert found(text) == []


def test_longest_candidate_wins_overlap():
    # a card number contains phone-shaped and CCCD-shaped runs; the card wins whole
    assert found("thẻ 4111 1111 1111 1111") == [("card", "4111 1111 1111 1111")]
    # the e-mail contains a phone number
    assert found("an0912345678@gmail.com") == [("email", "an0912345678@gmail.com")]


def test_partial_overlaps_are_merged_so_nothing_leaks():
    from operators.pii.recognizers import Candidate
    from operators.pii.redact import _resolve_overlaps

    spans = _resolve_overlaps([Candidate("card", 0, 16, 60), Candidate("phone", 10, 30, 50)])
    assert spans == [PiiSpan("phone", 0, 30)]


def test_replacement_and_offsets():
    text = "sđt 0912 345 678, mail an@x.vn"
    result = redact(text)
    assert result.text == "sđt [PHONE], mail [EMAIL]"
    assert [(s.kind, s.start, s.end) for s in result.spans] == [("phone", 4, 16), ("email", 23, 30)]
    assert result.kind_counts() == {"phone": 1, "email": 1}


def test_offsets_with_combining_characters_and_emoji():
    decomposed = unicodedata.normalize("NFD", "Tên tôi là Nguyễn Văn An 😀👍🏽 sđt 0912345678")
    result = redact(decomposed)
    kinds = [(s.kind, decomposed[s.start : s.end]) for s in result.spans]
    assert kinds == [
        ("person", unicodedata.normalize("NFD", "Nguyễn Văn An")),
        ("phone", "0912345678"),
    ]
    assert (
        result.text == unicodedata.normalize("NFD", "Tên tôi là ") + "[PERSON] 😀👍🏽 sđt [PHONE]"
    )


def test_zero_width_characters_do_not_hide_a_number():
    text = "sđt 0912\u200b345\u200b678"
    assert redact(text).text == "sđt [PHONE]"


def test_idempotent():
    text = "Chị Lan, STK 0011004123456 VCB, sđt 0912345678, CCCD 079203001234"
    once = redact(text)
    assert redact(once.text).spans == ()


def test_audit_records_hold_hmac_not_value():
    text = "sđt 0912.345.678, email An@Gmail.com"
    records = audit_records("zalo:1", text, redact(text), KEY)
    assert [(r.kind, r.start, r.end) for r in records] == [("phone", 4, 16), ("email", 24, 36)]
    dumped = "".join(r.model_dump_json() for r in records)
    assert "345" not in dumped and "Gmail" not in dumped.replace("value_hmac", "")
    assert all(r.key_id == key_id(KEY) and len(r.value_hmac) == 64 for r in records)


def test_compliance_check_matches_any_writing_of_the_value():
    text = "sđt 0912.345.678"
    [record] = audit_records("m", text, redact(text), KEY)
    assert matches(record, "+84 912 345 678", KEY)
    assert matches(record, "0912345678", KEY)
    assert not matches(record, "0912345679", KEY)
    assert not matches(record, "0912345678", b"another key")


def test_canonical_values():
    assert canonical_value("phone", "(+84) 912-345-678") == "+84912345678"
    assert canonical_value("card", "4111 1111 1111 1111") == "4111111111111111"
    assert canonical_value("email", "An (at) Gmail.com") == "an@gmail.com"
    assert canonical_value("ip", "2001:0db8:0000::0001") == "2001:db8::1"


def test_count_redactions_increments_the_metric_by_kind():
    def value(kind: str) -> float:
        return REGISTRY.get_sample_value("headwater_pii_redactions_total", {"kind": kind}) or 0.0

    before_phone, before_email = value("phone"), value("email")
    count_redactions(redact("0912345678 và 0987654321, an@x.vn"))
    assert value("phone") == before_phone + 2
    assert value("email") == before_email + 1


def test_redact_has_no_side_effect_on_the_metric():
    before = REGISTRY.get_sample_value("headwater_pii_redactions_total", {"kind": "phone"}) or 0.0
    redact("0912345678")
    after = REGISTRY.get_sample_value("headwater_pii_redactions_total", {"kind": "phone"}) or 0.0
    assert after == before


@pytest.fixture(scope="module")
def report():
    return evaluate()


def test_evaluation_set_is_large_and_has_negatives(report):
    assert report.lines >= 700
    assert report.negative_lines >= 200


@pytest.mark.parametrize("kind", ["phone", "email", "national_id", "card", "bank_account", "ip"])
def test_evaluation_recall_of_structured_kinds(report, kind):
    assert report.scores[kind].recall >= 0.995, [f for f in report.leaks if f.kind == kind]


def test_evaluation_person_recall(report):
    assert report.scores["person"].recall >= 0.90


@pytest.mark.parametrize(
    "kind", ["phone", "email", "national_id", "card", "bank_account", "ip", "person"]
)
def test_evaluation_precision(report, kind):
    assert report.scores[kind].precision >= 0.98, [
        f for f in report.false_positives if f.kind == kind
    ]
