import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from operators.ingest.normalize import normalize_text
from operators.ingest.parse import TOO_LARGE_PREVIEW_CHARS, Parser
from schemas.message import ChatMessage, Feedback, Rejected, RejectReason
from schemas.raw import RawLine, text_of

RECEIVED = 1_714_532_400_500
PARSER = Parser(ZoneInfo("Asia/Ho_Chi_Minh"), max_clock_skew_ms=300_000, max_line_bytes=4096)


def line(obj: object) -> RawLine:
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return RawLine(text, RECEIVED, "test:1")


def zalo(event_name: str = "user_send_text", **message: object) -> dict:
    return {
        "source": "zalo",
        "tenant": "acme",
        "received_at": RECEIVED,
        "payload": {
            "app_id": "3608512345678901234",
            "event_name": event_name,
            "sender": {"id": "2468000000000000011"},
            "recipient": {"id": "3886000000000000001"},
            "user_id_by_app": "552100000011",
            "message": {"msg_id": "96d3cdf3a1b2", "text": "Xin cha\u0300o  shop", **message},
            "timestamp": "1714532400000",
        },
    }


def webhook(**payload: object) -> dict:
    body = {
        "id": "m-1",
        "platform": "shopee",
        "conversation_id": "c-9",
        "user_id": "u-1",
        "role": "bot",
        "content": "Your order is on its way",
        "timestamp": "2024-05-01T10:00:00+07:00",
        **payload,
    }
    return {"source": "webhook", "tenant": "globex", "payload": body}


def test_zalo_user_message() -> None:
    msg = PARSER.parse(line(zalo()))
    assert isinstance(msg, ChatMessage)
    assert msg.message_id == msg.idempotency_key == "zalo:96d3cdf3a1b2"
    assert msg.conversation_id == "zalo:3886000000000000001:2468000000000000011"
    assert (msg.sender_id, msg.role, msg.platform, msg.tenant) == (
        "2468000000000000011",
        "user",
        "zalo",
        "acme",
    )
    assert msg.text == "Xin chào shop"
    assert msg.language == "vi"
    assert msg.event_ms == 1_714_532_400_000
    assert orjson.loads(msg.to_json())["event_time"] == "2024-05-01T03:00:00.000Z"


def test_zalo_oa_message_keeps_the_same_conversation() -> None:
    env = zalo("oa_send_text")
    env["payload"]["sender"], env["payload"]["recipient"] = (
        env["payload"]["recipient"],
        env["payload"]["sender"],
    )
    msg = PARSER.parse(line(env))
    assert isinstance(msg, ChatMessage)
    assert msg.conversation_id == "zalo:3886000000000000001:2468000000000000011"
    assert (msg.sender_id, msg.role) == ("3886000000000000001", "agent")


def test_zalo_non_chat_event_is_unsupported() -> None:
    rej = PARSER.parse(line({"source": "zalo", "payload": {"event_name": "follow"}}))
    assert isinstance(rej, Rejected) and rej.reason == "unsupported_event"
    assert rej.tenant == "default"


def test_webhook_message_with_defaults_and_key() -> None:
    msg = PARSER.parse(line(webhook(idempotency_key="k-1")))
    assert isinstance(msg, ChatMessage)
    assert (msg.message_id, msg.idempotency_key, msg.role) == ("shopee:m-1", "k-1", "bot")
    partial = {
        "source": "webhook",
        "payload": {
            "id": 7,
            "conversation_id": "c",
            "user_id": "u",
            "content": "hi there",
            "timestamp": 1714532400,
        },
    }
    msg = PARSER.parse(line(partial))
    assert isinstance(msg, ChatMessage)
    assert (msg.message_id, msg.platform, msg.role, msg.tenant) == (
        "webhook:7",
        "webhook",
        "user",
        "default",
    )
    assert msg.received_at == RECEIVED  # no received_at in the envelope: when it was read


def test_csv_row_twin_of_a_zalo_message_has_the_same_id() -> None:
    row = {
        "\ufeffmessage_id": "96d3cdf3a1b2",
        "conversation_id": "zalo:1:2",
        "user_id": "2",
        "content": "Xin chào",
        "timestamp": "2024-05-01 10:00:00",
        "platform": "zalo",
        "role": "",
        "idempotency_key": "",
    }
    msg = PARSER.parse(RawLine("96d3cdf3a1b2,zalo:1:2,...", RECEIVED, "f:2", row=row))
    assert isinstance(msg, ChatMessage)
    assert msg.message_id == msg.idempotency_key == "zalo:96d3cdf3a1b2"
    assert (msg.source, msg.role, msg.event_ms) == ("csv", "user", 1_714_532_400_000)


def test_feedback_is_routed_as_feedback() -> None:
    fb = PARSER.parse(line(webhook(type="feedback", message_id="m-1", thumbs="down")))
    assert isinstance(fb, Feedback)
    assert (fb.message_id, fb.score, fb.feedback_id) == ("shopee:m-1", 0.0, "shopee:m-1")
    bad = PARSER.parse(line(webhook(type="feedback", message_id="m-1", score=1.5)))
    assert isinstance(bad, Rejected) and bad.reason == "invalid_schema"
    both = PARSER.parse(line(webhook(type="feedback", message_id="m", score=1, thumbs="up")))
    assert isinstance(both, Rejected) and both.reason == "invalid_schema"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("not json at all", "not_json"),
        ("[1, 2, 3]", "not_json"),
        ({"source": "webhook", "payload": "<html>502</html>"}, "not_json"),
        ({"source": "telegram", "payload": {}}, "unknown_source"),
        ({"tenant": "acme", "payload": {}}, "invalid_schema"),
        (webhook(content=None), "invalid_schema"),
        (webhook(role="admin"), "invalid_schema"),
        (webhook(content=" \u200b\n "), "empty_text"),
        (webhook(timestamp="last tuesday"), "bad_timestamp"),
        (webhook(timestamp=1714532400 + 3600), "future_event_time"),
        (webhook(type="typing"), "unsupported_event"),
        ("", "not_json"),  # a Kafka record without a value
        ({**webhook(), "tenant": "acme corp"}, "invalid_tenant"),
        ({**webhook(), "tenant": "công-ty-việt"}, "invalid_tenant"),
        ({**webhook(), "tenant": "../../etc/passwd"}, "invalid_tenant"),
        ({**webhook(), "tenant": "t" * 65}, "invalid_tenant"),
        ({**webhook(), "tenant": ""}, "invalid_tenant"),
        ({**webhook(), "tenant": None}, "invalid_tenant"),
        (webhook(id=1.5), "invalid_schema"),
        (webhook(id=True), "invalid_schema"),
        (webhook(id="m\u0000-1"), "invalid_schema"),
        (webhook(conversation_id="c" * 257), "invalid_schema"),
        (webhook(user_id=["u"]), "invalid_schema"),
        (webhook(platform="😀😀"), "invalid_schema"),
        (webhook(platform="p" * 33), "invalid_schema"),
        (webhook(idempotency_key="k\n1"), "invalid_schema"),
        (zalo(msg_id={"a": 1}), "invalid_schema"),
    ],
)
def test_rejections_carry_reason_errors_and_raw(raw: object, reason: str) -> None:
    raw_line = line(raw)
    rej = PARSER.parse(raw_line)
    assert isinstance(rej, Rejected)
    assert rej.reason == reason
    assert rej.errors
    kept = raw_line.text[:TOO_LARGE_PREVIEW_CHARS] if reason == "too_large" else raw_line.text
    assert rej.raw == kept
    assert orjson.loads(rej.to_json())["raw"] == kept


def test_a_rejected_field_is_named() -> None:
    rej = PARSER.parse(line(webhook(platform="😀😀")))
    assert isinstance(rej, Rejected)
    assert rej.errors == (
        "payload.platform: Value error, a platform is 1-32 characters of A-Z a-z 0-9 _ . -, "
        "got '😀😀'",
    )
    rej = PARSER.parse(line({**webhook(), "tenant": "acme corp"}))
    assert isinstance(rej, Rejected) and rej.tenant is None
    assert rej.errors == (
        "tenant: Value error, a tenant is 1-64 characters of A-Z a-z 0-9 _ -, got 'acme corp'",
    )


def test_integer_ids_are_ids() -> None:
    msg = PARSER.parse(line(webhook(id=1011, conversation_id=9, user_id=7)))
    assert isinstance(msg, ChatMessage)
    assert (msg.message_id, msg.conversation_id, msg.sender_id) == ("shopee:1011", "9", "7")


def test_a_large_input_is_a_dead_letter_that_fits_a_kafka_record() -> None:
    raw_line = line(webhook(content="x" * 20_000))
    rej = PARSER.parse(raw_line)
    assert isinstance(rej, Rejected) and rej.reason == "too_large"
    assert rej.raw == raw_line.text[:TOO_LARGE_PREVIEW_CHARS] != raw_line.text
    assert "the raw archive keeps it whole" in rej.errors[-1]


def test_bytes_that_are_not_utf8_are_a_dead_letter_naming_the_byte() -> None:
    data = json.dumps(webhook()).encode()[:40] + b"\xff" + b"}"
    text, undecodable = text_of(data)
    assert undecodable == data and "\ufffd" in text
    rej = PARSER.parse(RawLine(text, RECEIVED, "test:1", undecodable=undecodable))
    assert isinstance(rej, Rejected) and rej.reason == "not_utf8"
    assert rej.errors == (
        "input is not UTF-8: byte 40: invalid start byte (0xff); the raw archive keeps its bytes",
    )
    assert rej.raw == text


def test_a_byte_order_mark_before_a_record_is_not_an_error() -> None:
    assert isinstance(PARSER.parse(line("\ufeff" + json.dumps(webhook()))), ChatMessage)


def test_event_within_the_clock_skew_is_accepted() -> None:
    msg = PARSER.parse(line(webhook(timestamp=(RECEIVED + 299_000) / 1000)))
    assert isinstance(msg, ChatMessage)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
field_values = st.none() | st.integers() | st.text() | st.floats(allow_nan=False) | json_values


@settings(max_examples=300)
@given(
    source=st.sampled_from(["zalo", "webhook", "csv", "other"]) | st.text(),
    payload=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "conversation_id",
                "user_id",
                "content",
                "timestamp",
                "role",
                "type",
                "event_name",
                "sender",
                "recipient",
                "message",
                "score",
                "thumbs",
                "message_id",
                "platform",
            ]
        ),
        field_values,
    )
    | json_values,
)
def test_parser_never_raises_on_arbitrary_json(source: str, payload: object) -> None:
    result = PARSER.parse(line({"source": source, "payload": payload}))
    assert isinstance(result, ChatMessage | Feedback | Rejected)


@given(st.text(max_size=300))
def test_parser_never_raises_on_arbitrary_text(text: str) -> None:
    result = PARSER.parse(RawLine(text, RECEIVED, "t"))
    assert isinstance(result, ChatMessage | Feedback | Rejected)
    if isinstance(result, Rejected):
        assert result.raw == text
        result.to_json()


@given(st.text(min_size=1, max_size=200))
def test_accepted_text_is_already_normalized(text: str) -> None:
    from operators.ingest.normalize import normalize_text

    msg = PARSER.parse(line(webhook(content=text)))
    if isinstance(msg, ChatMessage):
        assert normalize_text(msg.text) == msg.text


def test_message_and_feedback_round_trip_through_their_json():
    msg = PARSER.parse(line(webhook(timestamp="2024-05-01T10:00:00.123+07:00")))
    assert isinstance(msg, ChatMessage)
    assert ChatMessage.from_json(msg.to_json()) == msg
    fb = Feedback(
        feedback_id="webhook:f-1",
        tenant="acme",
        source="webhook",
        platform="webhook",
        message_id="webhook:m-1",
        conversation_id="c-1",
        score=0.5,
        event_ms=1_714_532_400_123,
        received_at=RECEIVED,
    )
    assert Feedback.from_json(fb.to_json()) == fb


# ---- Structurally plausible envelopes
#
# Random text and random JSON almost always stop at `not_json` or `invalid_schema`. These
# envelopes have the shape the senders use, and each field is valid most of the time and
# otherwise one of the values senders get wrong, so every branch of the parser is reached.
# One builder serves two drivers: Hypothesis (`DrawnRandom`, so failures shrink and
# replay) and a seeded `random.Random` for the deterministic coverage test below.

REASONS = frozenset(get_args(RejectReason))
SKEW_MS = PARSER.max_clock_skew_ms
WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    7,
    2**63,
    1.5,
    -0.0,
    1e300,
    [],
    ["a", 1],
    {},
    {"id": "x"},
    "",
    " ",
    "\t\n",
    "\x00\x07\x1b",
    "\u200b\u200d\ufeff",
    "\u202eevil",
    "null",
    "x" * 5000,
]
BAD_TIMESTAMPS: list[Any] = [
    "last tuesday",
    "",
    "   ",
    "2024-13-01T00:00:00",
    "2024-05-01T25:00:00",
    "nan",
    "inf",
    "-inf",
    "1e400",
    -1,
    0,
    946_684_799,
    4_102_444_800_000,
    10**20,
    1e300,
    True,
    "1,5",
    "1714532400000000000",
    "2100-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
]
TEXTS = [
    "Xin chào shop",
    "Shop ơi còn hàng màu đen không?",
    "Your order is on its way",
    "ok",
    "Dạ em cảm ơn anh ạ",
    "  spaced \n out\t text  ",
    "e\u0301 composed",
    "zero\u200bwidth",
    "emoji 😀 and \x07 bell",
    "日本語のテキスト",
    "0",
]


def _text(r: random.Random, alphabet: str = "") -> str:
    if r.random() < 0.6:
        return r.choice(TEXTS)
    pool = alphabet or "abcxyz ĐđơưạảẫẤ0123456789 \t\n\u200b\x01\u0301😀-_:/"
    return "".join(r.choice(pool) for _ in range(r.randint(0, 40)))


def _id(r: random.Random) -> str | int:
    return r.randint(0, 10**18) if r.random() < 0.3 else _text(r, "abcdef0123456789-_:")


def _maybe(
    r: random.Random, valid: Any, *, wrong: list[Any] = WRONG_VALUES, p: float = 0.93
) -> Any:
    """`valid` (called if callable) with probability p, otherwise a wrong value."""
    if r.random() < p:
        return valid() if callable(valid) else valid
    return r.choice(wrong)


def _timestamp(r: random.Random, received_at: int) -> Any:
    roll = r.random()
    if roll < 0.08:
        return r.choice(BAD_TIMESTAMPS + WRONG_VALUES)
    if roll < 0.16:  # ahead of the receive time, sometimes within the allowed skew
        event_ms = received_at + r.choice([SKEW_MS // 2, SKEW_MS + 1_000, 86_400_000])
    else:
        event_ms = received_at - r.randint(0, 10 * 86_400_000)
    form = r.randrange(6)
    if form == 0:
        return event_ms
    if form == 1:
        return event_ms / 1000
    if form == 2:
        return str(event_ms)
    moment = datetime.fromtimestamp(event_ms / 1000, UTC)
    if form == 3:
        return moment.isoformat()
    if form == 4:
        return moment.astimezone(timezone(timedelta(hours=7))).isoformat(timespec="seconds")
    return moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).replace(tzinfo=None).isoformat(" ")


def _drop(r: random.Random, body: dict[str, Any], p: float = 0.02) -> dict[str, Any]:
    """Leave out each key with probability p: required ones too."""
    return {k: v for k, v in body.items() if r.random() >= p}


def _zalo_payload(r: random.Random, received_at: int) -> dict[str, Any]:
    event_name = _maybe(
        r,
        lambda: r.choice(["user_send_text", "oa_send_text", "user_send_image", "oa_send_sticker"]),
        wrong=["follow", "user_seen_message", "", None, 5, ["user_send_text"]],
    )
    message: dict[str, Any] = {"msg_id": _maybe(r, lambda: _id(r))}
    if r.random() < 0.9:
        message["text"] = _maybe(r, lambda: _text(r), wrong=[None, "", " ", 5, ["x"]])
    return _drop(
        r,
        {
            "app_id": _maybe(r, "3608512345678901234"),
            "event_name": event_name,
            "sender": _maybe(r, lambda: {"id": _id(r)}, wrong=WRONG_VALUES + [{"id": ""}]),
            "recipient": _maybe(r, lambda: {"id": _id(r)}, wrong=WRONG_VALUES + [{"id": None}]),
            "user_id_by_app": _maybe(r, lambda: str(_id(r))),
            "message": _maybe(r, message, wrong=WRONG_VALUES + [{"text": "no id"}]),
            "timestamp": _timestamp(r, received_at),
        },
    )


def _webhook_payload(r: random.Random, received_at: int) -> dict[str, Any]:
    common = {
        "id": _maybe(r, lambda: _id(r)),
        "platform": _maybe(r, lambda: r.choice(["shopee", "lazada", "webhook", "zalo"])),
        "conversation_id": _maybe(r, lambda: _id(r)),
        "timestamp": _timestamp(r, received_at),
    }
    kind = r.random()
    if kind < 0.25:  # feedback: exactly one of score in [0, 1] and thumbs up/down is valid
        rating = r.choice(["score", "thumbs", "score", "thumbs", "both", "neither"])
        body = {**common, "type": "feedback", "message_id": _maybe(r, lambda: _id(r))}
        if rating in ("score", "both"):
            body["score"] = _maybe(
                r,
                lambda: r.choice([0, 1, 0.5, r.random()]),
                wrong=[-0.1, 1.5, 2, "high", None, [], True],
            )
        if rating in ("thumbs", "both"):
            body["thumbs"] = _maybe(
                r, lambda: r.choice(["up", "down"]), wrong=["UP", "sideways", "", None, 1]
            )
        return _drop(r, body)
    body = {
        **common,
        "user_id": _maybe(r, lambda: _id(r)),
        "role": _maybe(
            r, lambda: r.choice(["user", "agent", "bot"]), wrong=["admin", "USER", "", None, 1]
        ),
        "content": _maybe(r, lambda: _text(r)),
        "idempotency_key": _maybe(r, lambda: str(_id(r)), wrong=[None, 1, [], {}]),
        "metadata": _maybe(r, lambda: {"lang": "vi", "n": r.randint(0, 9)}, wrong=[None, [], "x"]),
    }
    if kind < 0.33:  # something that is not a message
        body["type"] = r.choice(["typing", "read", "message", None, 1, "", ["feedback"]])
    for optional in ("platform", "role", "idempotency_key", "metadata"):
        if r.random() < 0.3:
            body.pop(optional)
    return _drop(r, body)


def _csv_payload(r: random.Random, received_at: int) -> dict[str, Any]:
    body = {
        "message_id": _maybe(r, lambda: _id(r)),
        "conversation_id": _maybe(r, lambda: _id(r)),
        "user_id": _maybe(r, lambda: _id(r)),
        "content": _maybe(r, lambda: _text(r)),
        "timestamp": _timestamp(r, received_at),
        "platform": _maybe(r, lambda: r.choice(["zalo", "csv", "", " "])),
        "role": _maybe(
            r, lambda: r.choice(["user", "Agent", "BOT", "", " bot "]), wrong=["admin", None, 1]
        ),
        "idempotency_key": _maybe(r, lambda: r.choice(["", "k-1", str(_id(r))])),
    }
    return _drop(r, body)


def plausible_line(r: random.Random) -> RawLine:
    """One input line: a JSON envelope from one of the three senders, or a CSV row."""
    received_at = RECEIVED + r.randint(-86_400_000, 86_400_000)
    roll = r.random()
    source = (
        r.choice(["zalo", "webhook", "csv"])
        if roll < 0.97
        else r.choice(["telegram", "ZALO", "", None, 3, ["zalo"]])
    )
    payload: Any = {"zalo": _zalo_payload, "csv": _csv_payload}.get(
        source if isinstance(source, str) else "", _webhook_payload
    )(r, received_at)
    if source == "csv" and r.random() < 0.3:  # a row read from a CSV export: all strings
        row = {
            ("\ufeff" if r.random() < 0.2 else "") + k: "" if v is None else str(v)
            for k, v in payload.items()
            if not isinstance(v, list | dict)
        }
        if r.random() < 0.5:
            row["tenant"] = r.choice(["acme", "", "globex"])
        return RawLine(",".join(row.values()), received_at, "f:1", row=row)
    if r.random() < 0.04:  # a body that the sender did not manage to encode
        payload = r.choice(["<html>502 Bad Gateway</html>", "", '{"id": 1', 5, None, [1]])
    envelope: dict[str, Any] = {"source": source, "payload": payload}
    if r.random() < 0.7:
        envelope["tenant"] = _maybe(
            r,
            lambda: r.choice(["acme", "globex", "t-1"]),
            wrong=[
                "",
                None,
                42,
                ["acme"],
                "acme corp",
                "công-ty-việt",
                "../../etc/passwd",
                "t" * 65,
            ],
        )
    if r.random() < 0.5:
        envelope["received_at"] = _maybe(r, received_at, wrong=[-1, None, "soon", 1.5, True])
    if r.random() < 0.1:
        envelope["extra"] = {"ignored": True}
    keys = list(envelope)
    r.shuffle(keys)
    text = json.dumps({k: envelope[k] for k in keys}, ensure_ascii=r.random() < 0.5)
    if r.random() < 0.02:  # bytes a reader could not decode
        data = text.encode()[: r.randint(0, len(text))] + b"\xff\xfe" + text.encode()[-3:]
        return RawLine(data.decode("utf-8", "replace"), RECEIVED, "test:1", undecodable=data)
    return RawLine(text, RECEIVED, "test:1")


def outcome(line: RawLine) -> str:
    """Parse one line, check everything that holds whatever the line, name the outcome."""
    result = PARSER.parse(line)
    assert type(result) in (ChatMessage, Feedback, Rejected)
    if isinstance(result, Rejected):
        assert result.reason in REASONS
        assert result.errors and all(isinstance(e, str) and e for e in result.errors)
        kept = line.text[:TOO_LARGE_PREVIEW_CHARS] if result.reason == "too_large" else line.text
        assert result.raw == kept
        assert isinstance(result.received_at, int)
        assert orjson.loads(result.to_json())["reason"] == result.reason
        return result.reason
    if line.row is None:
        envelope = orjson.loads(line.text)
        assert result.source == envelope["source"]
        assert result.tenant == str(envelope.get("tenant", "default"))  # numbers coerced
        assert result.received_at == (envelope.get("received_at") or line.received_at)
    else:
        assert result.source == "csv"
        assert result.tenant == (line.row.get("tenant") or "default")
    assert result.event_ms <= result.received_at + SKEW_MS
    if isinstance(result, Feedback):
        assert 0.0 <= result.score <= 1.0
        assert Feedback.from_json(result.to_json()) == result
        return "feedback"
    assert result.text and normalize_text(result.text) == result.text
    assert result.message_id.startswith(f"{result.platform}:")
    assert ChatMessage.from_json(result.to_json()) == result
    return f"message:{result.source}"


PERCENT = st.integers(0, 99)


class DrawnRandom(random.Random):
    """The few `random.Random` methods the builder uses, drawn from Hypothesis data.

    `st.randoms()` draws `random()` from a float strategy that favours 0 and other edge
    values, which sends most examples down one branch; small integer draws keep close to
    the builder's mix, and they shrink towards 0, i.e. towards valid fields.
    """

    def __init__(self, data: st.DataObject) -> None:
        super().__init__(0)
        self.data = data

    def random(self) -> float:
        # Two small draws: Hypothesis draws a wide integer range mostly near its start.
        high, low = self.data.draw(PERCENT), self.data.draw(PERCENT)
        return high / 100 + low / 10_000

    def randint(self, a: int, b: int) -> int:
        return self.data.draw(st.integers(a, b))

    def randrange(self, n: int) -> int:  # type: ignore[override]
        return self.data.draw(st.integers(0, n - 1))

    def choice(self, seq: Any) -> Any:
        return seq[self.data.draw(st.integers(0, len(seq) - 1))]

    def shuffle(self, x: list[Any]) -> None:  # type: ignore[override]
        x[:] = self.data.draw(st.permutations(x))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_parser_handles_plausible_envelopes(data: st.DataObject) -> None:
    raw = plausible_line(DrawnRandom(data))
    note(f"input: {raw!r}")
    event(outcome(raw))


def test_plausible_envelopes_reach_every_outcome() -> None:
    rng = random.Random(20240501)
    seen = Counter(outcome(plausible_line(rng)) for _ in range(2000))
    accepted = {"message:zalo", "message:webhook", "message:csv", "feedback"}
    assert accepted <= set(seen), seen
    reasons = REASONS - {"index_rejected"}  # the index, not the parser, rejects with that one
    assert reasons <= set(seen), f"never reached: {sorted(reasons - set(seen))}"
    assert sum(seen[a] for a in accepted) >= 400, seen  # not a rejection generator
    assert max(seen.values()) <= 1000, seen  # no single outcome swamps the others
