"""The index flow's input: ingest's messages from a `file:<dir>` location, dead letters apart."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from flows.index import read_messages
from flows.settings import Settings
from schemas.message import ChatMessage, Rejected


def test_an_ingest_output_dir_is_read_and_what_is_not_a_message_is_rejected(
    tmp_path: Path,
) -> None:
    good = ChatMessage(
        message_id="webhook:m-1",
        idempotency_key="webhook:m-1",
        tenant="acme",
        source="webhook",
        platform="webhook",
        conversation_id="c-1",
        sender_id="u-1",
        role="user",
        text="xin chào shop",
        language="vi",
        event_ms=1_714_532_400_000,
        received_at=1_714_532_400_000,
    )
    (tmp_path / "messages.jsonl").write_bytes(good.to_json() + b"\n" + b'{"message_id": 7}\n')
    flow = Dataflow("index_input")
    messages, rejected = read_messages(flow, Settings(index_source=f"file:{tmp_path}"))
    got_messages: list[ChatMessage] = []
    got_rejected: list[Rejected] = []
    op.output("messages", messages, TestingSink(got_messages))
    op.output("rejected", rejected, TestingSink(got_rejected))
    run_main(flow)
    assert got_messages == [good]
    assert [(r.reason, r.source, r.raw) for r in got_rejected] == [
        ("invalid_schema", f"file:{tmp_path / 'messages.jsonl'}", '{"message_id": 7}')
    ]
