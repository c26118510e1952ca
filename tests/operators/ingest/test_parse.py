import json
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.ingest.parse import Parser
from schemas.message import ChatMessage, Feedback, Rejected
from schemas.raw import RawLine

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
    body = {"id": "m-1", "platform": "shopee", "conversation_id": "c-9", "user_id": "u-1",
            "role": "bot", "content": "Your order is on its way",
            "timestamp": "2024-05-01T10:00:00+07:00", **payload}
    return {"source": "webhook", "tenant": "globex", "payload": body}


def test_zalo_user_message() -> None:
    msg = PARSER.parse(line(zalo()))
    assert isinstance(msg, ChatMessage)
    assert msg.message_id == msg.idempotency_key == "zalo:96d3cdf3a1b2"
    assert msg.conversation_id == "zalo:3886000000000000001:2468000000000000011"
    assert (msg.sender_id, msg.role, msg.platform, msg.tenant) == (
        "2468000000000000011", "user", "zalo", "acme")
    assert msg.text == "Xin chào shop"
    assert msg.language == "vi"
    assert msg.event_ms == 1_714_532_400_000
    assert orjson.loads(msg.to_json())["event_time"] == "2024-05-01T03:00:00.000Z"


def test_zalo_oa_message_keeps_the_same_conversation() -> None:
    env = zalo("oa_send_text")
    env["payload"]["sender"], env["payload"]["recipient"] = (
        env["payload"]["recipient"], env["payload"]["sender"])
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
    partial = {"source": "webhook", "payload": {"id": 7, "conversation_id": "c", "user_id": "u",
                                                "content": "hi there", "timestamp": 1714532400}}
    msg = PARSER.parse(line(partial))
    assert isinstance(msg, ChatMessage)
    assert (msg.message_id, msg.platform, msg.role, msg.tenant) == (
        "webhook:7", "webhook", "user", "default")
    assert msg.received_at == RECEIVED  # no received_at in the envelope: when it was read


def test_csv_row_twin_of_a_zalo_message_has_the_same_id() -> None:
    row = {"\ufeffmessage_id": "96d3cdf3a1b2", "conversation_id": "zalo:1:2", "user_id": "2",
           "content": "Xin chào", "timestamp": "2024-05-01 10:00:00", "platform": "zalo",
           "role": "", "idempotency_key": ""}
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
        (webhook(content="x" * 5000), "too_large"),
    ],
)
def test_rejections_carry_reason_errors_and_raw(raw: object, reason: str) -> None:
    raw_line = line(raw)
    rej = PARSER.parse(raw_line)
    assert isinstance(rej, Rejected)
    assert rej.reason == reason
    assert rej.errors
    assert rej.raw == raw_line.text
    assert orjson.loads(rej.to_json())["raw"] == raw_line.text


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
        st.sampled_from(["id", "conversation_id", "user_id", "content", "timestamp", "role",
                         "type", "event_name", "sender", "recipient", "message", "score",
                         "thumbs", "message_id", "platform"]),
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
    fb = Feedback(feedback_id="webhook:f-1", tenant="acme", source="webhook",
                  platform="webhook", message_id="webhook:m-1", conversation_id="c-1",
                  score=0.5, event_ms=1_714_532_400_123, received_at=RECEIVED)
    assert Feedback.from_json(fb.to_json()) == fb
