import unicodedata
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.ingest.normalize import (
    BadTimestamp,
    detect_language,
    normalize_text,
    parse_event_time,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
MAY_1_10H_HCM_MS = 1_714_532_400_000  # 2024-05-01T10:00:00+07:00


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Xin cha\u0300o", "Xin chào"),  # decomposed Vietnamese -> NFC
        ("Tie\u0302\u0301ng Vie\u0323\u0302t", "Tiếng Việt"),
        ("a\u200bb\u200c\u200dc\ufeff", "abc"),
        ("  hello \n\t  world  ", "hello world"),
        ("bell\x07 and\x00 nul", "bell and nul"),
        ("e\u200b\u0301", "é"),  # removing a zero-width char lets the accent compose
        ("\u2028line\u2029sep\u00a0nbsp", "line sep nbsp"),
    ],
)
def test_normalize_text(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean


@given(st.text())
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert unicodedata.is_normalized("NFC", once)
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in once)


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T10:00:00+07:00",
        "2024-05-01T03:00:00Z",
        "2024-05-01T03:00:00.000+00:00",
        "2024-05-01T10:00:00",  # naive: default zone
        "2024-05-01 10:00:00",
        1_714_532_400,  # seconds
        1_714_532_400.0,
        "1714532400",
        1_714_532_400_000,  # milliseconds
        "1714532400000",  # Zalo sends a string
    ],
)
def test_every_timestamp_form_gives_utc_millis(value: object) -> None:
    assert parse_event_time(value, HCM) == MAY_1_10H_HCM_MS


def test_naive_time_uses_the_default_zone() -> None:
    utc = ZoneInfo("UTC")
    assert parse_event_time("2024-05-01T03:00:00", utc) == MAY_1_10H_HCM_MS
    assert parse_event_time("2024-05-01T10:00:00", HCM) == MAY_1_10H_HCM_MS


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        True,
        None,
        [],
        {},
        float("nan"),
        float("inf"),
        "-inf",
        -5,
        10**17,
        "1999-12-31T00:00:00Z",
    ],
)
def test_bad_timestamps_raise_bad_timestamp(value: object) -> None:
    with pytest.raises(BadTimestamp):
        parse_event_time(value, HCM)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_parse_event_time_raises_only_bad_timestamp(value: object) -> None:
    try:
        millis = parse_event_time(value, HCM)
    except BadTimestamp:
        return
    assert isinstance(millis, int)


@pytest.mark.parametrize(
    "text, lang",
    [
        ("Xin chào shop", "vi"),
        ("cam on shop nhe", "vi"),
        ("Đơn hàng của tôi", "vi"),
        ("I want to cancel my order", "en"),
        ("12345 !!!", "und"),
        ("😀", "und"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang
