"""What the gateway writes to Kafka: the raw envelope, its key and a Zalo event's parties."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.raw import Envelope
from services.gateway.envelope import (
    csv_envelope,
    envelope,
    message_key,
    zalo_conversation,
    zalo_parties,
)

# A body as a sender may write it: odd whitespace, escapes, a number orjson would rewrite.
ODD_BODY = b' {\n  "text" : "caf\\u00e9 \\"ok\\"",\t"n":1.50 ,"e":[ ] }\r\n'
PREFIX = b'{"source":"webhook","tenant":"acme","received_at":1714532400123,"payload":'


def test_envelope_parses_as_the_raw_envelope() -> None:
    out = envelope("webhook", "acme", 1714532400123, ODD_BODY)
    parsed = Envelope.model_validate(orjson.loads(out))
    assert (parsed.source, parsed.tenant, parsed.received_at) == ("webhook", "acme", 1714532400123)
    assert parsed.payload == {"text": 'café "ok"', "n": 1.5, "e": []}


def test_envelope_payload_is_the_body_byte_for_byte() -> None:
    out = envelope("webhook", "acme", 1714532400123, ODD_BODY)
    assert out.startswith(PREFIX)
    assert out.endswith(b"}")
    assert out[len(PREFIX) : -1] == ODD_BODY


def test_envelope_keeps_utf8_bytes_of_the_body() -> None:
    body = '{"content":"Xin chào, shop ơi"}'.encode()
    out = envelope("zalo", "acme", 0, body)
    assert body in out
    assert orjson.loads(out)["payload"] == {"content": "Xin chào, shop ơi"}


def test_csv_envelope_of_an_exact_row_is_json_with_the_row_as_payload() -> None:
    row = {"message_id": "m-1", "content": 'Giá "sốc", 1;2\r\nhết'}
    out = csv_envelope("acme", 7, row, exact=True)
    parsed = Envelope.model_validate(orjson.loads(out))
    assert (parsed.source, parsed.tenant, parsed.received_at) == ("csv", "acme", 7)
    assert parsed.payload == row


def test_csv_envelope_of_an_inexact_row_carries_the_original_bytes() -> None:
    # The row's text as the upload decodes b"caf\xe9" (Latin-1) with surrogateescape.
    row = {"message_id": "m-1", "content": b"caf\xe9".decode("utf-8", "surrogateescape")}
    out = csv_envelope("acme", 7, row, exact=False)
    with pytest.raises(UnicodeDecodeError):
        out.decode("utf-8")
    assert b"caf\xe9" in out
    back = json.loads(out.decode("utf-8", "surrogateescape"))
    assert back["source"] == "csv"
    assert back["payload"] == row


def test_message_key_is_tenant_slash_conversation() -> None:
    assert message_key("acme", "zalo:3886:2468") == b"acme/zalo:3886:2468"


@pytest.mark.parametrize("conversation", [None, ""])
def test_message_key_without_conversation_ends_at_the_slash(conversation: str | None) -> None:
    assert message_key("acme", conversation) == b"acme/"


def test_message_key_is_utf8_and_keeps_undecodable_bytes() -> None:
    assert message_key("acme", "hội-thoại") == "acme/hội-thoại".encode()
    assert message_key("acme", "c\udcff") == b"acme/c\xff"


def test_zalo_conversation() -> None:
    assert zalo_conversation("3886", "2468") == "zalo:3886:2468"
    assert zalo_conversation("3886", None) == "zalo:3886:"


def test_zalo_parties_of_a_user_message_the_user_is_the_sender() -> None:
    event = {
        "event_name": "user_send_text",
        "sender": {"id": "2468"},
        "recipient": {"id": "3886"},
        "message": {"text": "hi", "msg_id": "m1"},
    }
    assert zalo_parties(event) == ("3886", "2468")


def test_zalo_parties_of_an_oa_message_the_oa_is_the_sender() -> None:
    event = {"event_name": "oa_send_text", "sender": {"id": "3886"}, "recipient": {"id": "2468"}}
    assert zalo_parties(event) == ("3886", "2468")


def test_zalo_parties_of_a_follow_event_read_oa_id_and_follower() -> None:
    event = {"event_name": "follow", "oa_id": "3886", "follower": {"id": "2468"}}
    assert zalo_parties(event) == ("3886", "2468")


def test_zalo_parties_read_integer_ids_as_digits() -> None:
    event = {"event_name": "user_send_text", "sender": {"id": 2468}, "recipient": {"id": 3886}}
    assert zalo_parties(event) == ("3886", "2468")


def test_zalo_parties_of_an_empty_event_are_none() -> None:
    assert zalo_parties({}) == (None, None)


def test_zalo_parties_ignore_ids_of_the_wrong_type() -> None:
    event = {
        "event_name": "user_send_text",
        "sender": {"id": True},
        "recipient": {"id": 3.5},
        "oa_id": ["3886"],
    }
    assert zalo_parties(event) == (None, None)


def test_zalo_parties_ignore_parts_that_are_not_objects() -> None:
    event = {"event_name": 7, "sender": "2468", "recipient": ["3886"], "follower": None}
    assert zalo_parties(event) == (None, None)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
FIELDS = st.sampled_from(["event_name", "sender", "recipient", "oa_id", "follower", "id"])
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(FIELDS | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
EVENT_NAMES = st.sampled_from(["user_send_text", "oa_send_image", "follow", "user_", "oa_", ""])


@given(
    st.dictionaries(FIELDS | st.text(max_size=4), JSON_VALUES, max_size=6),
    st.none() | EVENT_NAMES,
)
def test_zalo_parties_never_raise_on_any_json_object(
    event: dict[str, Any], name: str | None
) -> None:
    if name is not None:
        event["event_name"] = name
    oa, user = zalo_parties(event)
    for part in (oa, user):
        assert part is None or (isinstance(part, str) and part != "")
