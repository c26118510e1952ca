import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.pii import marker, redact

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

chat_alphabet = st.sampled_from(
    list("abcdeghiklmnopqrstuvxyABCDEGHIKLMNOPQRSTUVXY0123456789 .,:;-+()@#/")
    + list("ăâđêôơưáàảãạếềểễệốồổỗộớờởỡợứừửữựÁÀĐẾỐ")
    + ["\u0301", "\u0303", "\u200b", "😀", "👍", "\U0001f3fd", "\n"]
)
chat_text = st.text(alphabet=chat_alphabet, max_size=120) | st.text(max_size=80)


@SETTINGS
@given(chat_text)
def test_redaction_never_raises_and_keeps_text_outside_spans(text):
    result = redact(text)
    position, rebuilt = 0, []
    for span in result.spans:
        assert position <= span.start < span.end <= len(text)
        rebuilt += [text[position : span.start], marker(span.kind)]
        position = span.end
    rebuilt.append(text[position:])
    assert "".join(rebuilt) == result.text


@SETTINGS
@given(chat_text)
def test_redaction_is_idempotent(text):
    once = redact(text)
    assert redact(once.text).text == once.text


# --- generated PII values in random surroundings ----------------------------------


def word_list(text: str) -> list[str]:
    return text.split()


MOBILE = word_list(
    "032 033 034 035 036 037 038 039 052 055 056 058 059 070 076 077 078 079 081 082 083 084 "
    "085 086 087 088 089 090 091 092 093 094 096 097 098 099"
)


def luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        digits = [int(c) for c in prefix + check][::-1]
        total = sum(
            d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)
        )
        if total % 10 == 0:
            return prefix + check
    raise AssertionError


@st.composite
def pii_values(draw) -> str:
    rng = random.Random(draw(st.integers(0, 2**32)))
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    number = rng.choice(MOBILE) + digits(7)
    return rng.choice(
        [
            number,
            f"{number[:4]} {number[4:7]} {number[7:]}",
            f"{number[:4]}.{number[4:7]}.{number[7:]}",
            f"+84 {number[1:4]} {number[4:7]} {number[7:]}",
            f"(+84) {number[1:]}",
            f"{rng.choice(['001', '079', '048', '092'])}{rng.choice('01')}{digits(8)}",
            luhn_complete("4" + digits(14)),
            luhn_complete("9704" + digits(11)),
            f"{rng.choice(['an', 'lan.nguyen', 'tuan_95'])}{digits(2)}@"
            f"{rng.choice(['gmail.com', 'fpt.vn'])}",
            ".".join(str(rng.randint(1, 223)) for _ in range(4)),
        ]
    )


neutral_words = st.lists(
    st.sampled_from(
        [
            "em",
            "shop",
            "ơi",
            "nhé",
            "giao",
            "hàng",
            "hôm nay",
            "ok",
            "please",
            "thanks",
            "😀",
            "gửi",
            "lại",
            "được",
            "không",
            "ạ",
            "!",
            "?",
            ",",
            "...",
        ]
    ),
    max_size=8,
).map(" ".join)


@SETTINGS
@given(neutral_words, pii_values(), neutral_words)
def test_generated_value_in_random_text_is_caught(before, value, after):
    text = f"{before} {value} {after}"
    start = len(before) + 1
    result = redact(text)
    covered = [s for s in result.spans if s.start <= start and start + len(value) <= s.end]
    assert covered, (text, result)
    assert value not in result.text
