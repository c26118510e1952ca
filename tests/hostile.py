"""Hostile input: what a careless or malicious sender can put on a line or a Kafka record.

`hostile_lines(tenants)` gives byte strings, one per input record: envelopes drawn by
Hypothesis whose fields are replaced by nulls, numbers, floats, booleans, lists, objects,
empty and huge strings, control characters, lone surrogates, deep nesting and NaN, plus
hand-written ones (bytes that are not UTF-8, byte order marks, a 2 MB line, 1e400,
tenants that Weaviate cannot hold). Valid lines are mixed in, in the given tenants, so
the index has work to do while the rest is refused.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T0_S = 1_714_532_400
BAD_TENANTS = ("acme corp", "công-ty-việt", "../../etc/passwd", "t" * 300, "", "a/b", "x\ny")

_TEXT = st.text(max_size=30)
_CONTROL = st.text(st.characters(min_codepoint=0, max_codepoint=31), min_size=1, max_size=5)
_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUE = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just(""),
    st.just("x" * 70_000),
    _CONTROL,
    _TEXT.map(lambda t: t + "\u200b\u202e\ufeff"),
    _SURROGATE.map(lambda s: "id" + s),
    st.integers(2, 900).map(_nested),  # deeper than json.dumps goes: see handwritten_lines
    st.sampled_from(["😀" * 40, "1.5", "NaN", "null", "../../etc/passwd"]),
)

_ids = itertools.count()


def _valid_payload(source: str) -> dict[str, Any]:
    n = next(_ids)
    if source == "zalo":
        return {
            "app_id": "3608",
            "event_name": "user_send_text",
            "sender": {"id": f"u{n}"},
            "recipient": {"id": "oa1"},
            "message": {"msg_id": f"z{n}", "text": f"Xin chào shop, đơn {n} của em"},
            "timestamp": str((T0_S + n) * 1000),
        }
    if source == "csv":
        return {
            "message_id": f"r{n}",
            "conversation_id": f"c{n % 7}",
            "user_id": "u1",
            "content": f"Cho em hỏi giá sản phẩm {n}",
            "timestamp": str(T0_S + n),
        }
    return {
        "id": f"m{n}",
        "conversation_id": f"c{n % 7}",
        "user_id": "u1",
        "content": f"Where is my order {n}?",
        "timestamp": T0_S + n,
    }


@st.composite
def hostile_envelope(draw: st.DrawFn, tenants: tuple[str, ...]) -> bytes:
    source = draw(st.sampled_from(["zalo", "webhook", "csv"] * 3 + ["telegram"]))
    envelope: dict[str, Any] = {
        "source": source,
        "tenant": draw(st.sampled_from(tenants)),
        "payload": _valid_payload(source),
    }
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):  # 0: a valid line
        target = draw(st.sampled_from(["envelope", "payload", "nested"]))
        value = draw(HOSTILE_VALUE)
        if target == "envelope":
            envelope[draw(st.sampled_from(["source", "tenant", "received_at", "payload"]))] = value
        elif isinstance(envelope["payload"], dict):
            payload = envelope["payload"]
            if target == "nested" and source == "zalo":
                part = draw(st.sampled_from(["sender", "recipient", "message"]))
                payload[part] = {**payload[part], draw(st.sampled_from(["id", "msg_id"])): value}
            else:
                payload[draw(st.sampled_from(sorted(payload)))] = value
    text = json.dumps(envelope, ensure_ascii=draw(st.booleans()), allow_nan=True)
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate as bytes: not UTF-8


def drawn_envelopes(tenants: tuple[str, ...], count: int) -> list[bytes]:
    """`count` envelopes drawn by Hypothesis (a fixed seed: the same lines every run)."""
    lines: list[bytes] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_envelope(tenants))
    def collect(line: bytes) -> None:
        lines.append(line)

    collect()
    return lines


def _envelope(tenant: str, payload: dict[str, Any], source: str = "webhook") -> bytes:
    return json.dumps({"source": source, "tenant": tenant, "payload": payload}).encode()


def handwritten_lines(tenant: str) -> list[bytes]:
    """Lines no generator thinks of, each one record (CR-only endings are split later)."""
    valid = _envelope(tenant, _valid_payload("webhook"))
    return [
        valid.replace(b"Where", b"Wh\xe8re"),  # latin-1, not UTF-8
        b"\xff\xfe" + valid,
        valid[:20] + b"\xc3" + valid[20:],  # a cut UTF-8 sequence
        b"\xef\xbb\xbf" + _envelope(tenant, _valid_payload("webhook")),  # a BOM mid-file
        _envelope(tenant, {**_valid_payload("webhook"), "content": "a\ufeffb\u0000c"}),
        _envelope(tenant, {**_valid_payload("webhook"), "content": "x" * 2_000_000}),  # 2 MB
        b'{"source": "webhook", "tenant": "' + tenant.encode() + b'", "payload": 1e400}',
        b'{"source": "webhook", "received_at": NaN, "payload": {}}',
        b'{"source": "webhook", "payload": {"id": "\\ud800"}}',  # a lone surrogate escape
        b"[" * 100_000 + b"]" * 100_000,
        b"null",
        b'"just a string"',
        b"\x00\x00\x00",
        *(_envelope(bad, _valid_payload("webhook")) for bad in BAD_TENANTS),
        _envelope(tenant, {**_valid_payload("webhook"), "platform": "😀😀😀"}),
        _envelope(tenant, {**_valid_payload("webhook"), "id": 1.5}),
        _envelope(tenant, {**_valid_payload("webhook"), "conversation_id": "c" * 5000}),
    ]


def cr_only_block(tenant: str, count: int = 3) -> bytes:
    """`count` valid envelopes separated by lone CRs, as one chunk of a file."""
    return b"\r".join(_envelope(tenant, _valid_payload("webhook")) for _ in range(count))
