"""The bundled pipeline sample: reproducible, and every line ends where its ground truth says."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from flows.ingest import build
from flows.samples.conversations import (
    REFUSALS,
    SEGMENT_GAP_MS,
    TOPICS,
    ConversationGenerator,
    SampleExpected,
)
from operators.pii import redact
from tests.outputs import duplicates_counted, read_jsonl

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "flows" / "samples" / "pipeline_sample.jsonl"


def event_ms(message: dict) -> int:
    return int(datetime.fromisoformat(message["event_time"]).timestamp() * 1000)


@dataclass
class Ingested:
    expected: SampleExpected
    lines: int
    messages: list[dict]
    rejected: list[dict]
    feedback: list[dict]
    duplicates: float


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    from bytewax.testing import run_main

    gen = ConversationGenerator()
    lines = gen.lines()
    tmp = tmp_path_factory.mktemp("sample")
    before = duplicates_counted()
    flow = build(
        source=f"file:{SAMPLE}",
        sink=f"file:{tmp / 'out'}",
        archive_dir=str(tmp / "archive"),
        metrics_port=0,
    )
    run_main(flow)
    out = tmp / "out"
    return Ingested(
        gen.expected,
        len(lines),
        read_jsonl(out / "messages.jsonl"),
        read_jsonl(out / "rejected.jsonl"),
        read_jsonl(out / "feedback.jsonl"),
        duplicates_counted() - before,
    )


def test_the_committed_sample_is_what_the_command_writes(tmp_path: Path) -> None:
    out = tmp_path / "sample.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "flows.samples.conversations", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("wrote ")
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_lines_arrive_in_receive_time_order() -> None:
    received = []
    for line in SAMPLE.read_bytes().splitlines():
        try:
            received.append(orjson.loads(line)["received_at"])
        except orjson.JSONDecodeError:
            continue
    assert 3000 <= len(SAMPLE.read_bytes().splitlines()) <= 4000
    assert received == sorted(received)


def test_every_line_ends_where_expected(ingested: Ingested) -> None:
    expected = ingested.expected
    ids = [(m["tenant"], m["message_id"]) for m in ingested.messages]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected.messages
    assert Counter(r["reason"] for r in ingested.rejected) == expected.rejected
    assert set(expected.rejected) >= {
        "not_json",
        "invalid_schema",
        "empty_text",
        "unsupported_event",
        "unknown_source",
        "bad_timestamp",
        "future_event_time",
    }
    assert len(ingested.feedback) == expected.feedback > 0
    assert ingested.duplicates == expected.duplicates > 0
    ends = len(ids) + len(ingested.rejected) + len(ingested.feedback) + ingested.duplicates
    assert ends == ingested.lines == expected.total


def test_only_stragglers_are_late(ingested: Ingested) -> None:
    # Read from a file, a straggler reaches the reorder step within its hold of the others
    # (`operators.ingest.dedup_reorder.MIN_HOLD_MS`) and is put in order, not flagged.
    late = {(m["tenant"], m["message_id"]) for m in ingested.messages if m["late"]}
    assert late <= ingested.expected.stragglers


def test_conversations_span_tenants_languages_topics_and_segments(ingested: Ingested) -> None:
    expected = ingested.expected
    by_conv: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for m in ingested.messages:
        by_conv[(m["tenant"], m["conversation_id"])].append(m)
    assert set(by_conv) == set(expected.topics)
    assert set(expected.topics.values()) == set(TOPICS) and len(TOPICS) >= 12

    tenants = Counter(tenant for tenant, _ in by_conv)
    assert len(tenants) == 4 and len(set(tenants.values())) == 4

    languages = Counter(m["language"] for m in ingested.messages)
    assert languages["vi"] > 2 * languages["en"] > 0
    for key, messages in by_conv.items():
        spoken = Counter(m["language"] for m in messages).most_common(1)[0][0]
        assert spoken == expected.languages[key], key

    multi = 0
    for key, messages in by_conv.items():
        times = sorted(event_ms(m) for m in messages)
        gaps = sum(b - a > SEGMENT_GAP_MS for a, b in zip(times, times[1:], strict=False))
        assert gaps + 1 == expected.segments[key], key
        multi += gaps > 0
    assert multi >= len(by_conv) // 8
    assert max(len(messages) for messages in by_conv.values()) >= 15


def test_some_bot_replies_are_refusals(ingested: Ingested) -> None:
    refusal_texts = {text for texts in REFUSALS.values() for text in texts}
    bot = [m for m in ingested.messages if m["role"] == "bot"]
    refused = [m for m in bot if (m["tenant"], m["message_id"]) in ingested.expected.refusals]
    assert refused and all(m["text"] in refusal_texts for m in refused)
    assert 0.01 < len(refused) / len(bot) < 0.06
    assert {m["language"] for m in refused} == {"vi", "en"}
    assert any(m["role"] == "agent" for m in ingested.messages)


def test_pii_in_customer_messages_is_redacted(ingested: Ingested) -> None:
    expected = ingested.expected
    texts = [m["text"] for m in ingested.messages]
    for text in texts:
        assert redact(text).spans == (), text
    everything = "\n".join(texts)
    for value in expected.pii_values:
        assert value not in everything
    found = Counter()
    for m in ingested.messages:
        for item in m["pii"]:
            found[item["kind"]] += item["count"]
    assert set(found) >= {"phone", "email", "national_id", "person", "bank_account"}
    assert sum(found.values()) >= sum(expected.pii.values())
    user_messages = sum(m["role"] == "user" for m in ingested.messages)
    assert 0.08 < sum(expected.pii.values()) / user_messages < 0.2
