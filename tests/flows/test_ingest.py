"""The ingest dataflow end to end in file mode: every input line ends in exactly one place."""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from flows.ingest import build
from flows.samples.generate import StreamGenerator
from operators.pii import redact
from tests.outputs import duplicates_counted, read_jsonl


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StreamGenerator, int]:
    gen = StreamGenerator(seed=11)
    path = tmp_path_factory.mktemp("in") / "stream.jsonl"
    lines = list(gen.lines(6_000, conversations=150))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, gen, len(lines)


def run_ingest(entry_point, source: str, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    flow = build(
        source=source, sink=f"file:{out}", archive_dir=str(tmp_path / "archive"), metrics_port=0
    )
    entry_point(flow)
    return out


def test_every_line_ends_in_exactly_one_place(entry_point, stream, tmp_path: Path) -> None:
    path, gen, n_lines = stream
    expected = gen.expected
    before = duplicates_counted()
    out = run_ingest(entry_point, f"file:{path}", tmp_path)

    messages = read_jsonl(out / "messages.jsonl")
    rejected = read_jsonl(out / "rejected.jsonl")
    feedback = read_jsonl(out / "feedback.jsonl")
    duplicates = duplicates_counted() - before

    ids = [(m["tenant"], m["message_id"]) for m in messages]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected.messages
    assert Counter(r["reason"] for r in rejected) == expected.rejected
    assert len(feedback) == expected.feedback
    assert duplicates == expected.duplicates
    assert len(messages) + len(rejected) + len(feedback) + duplicates == n_lines == expected.total


def test_each_conversation_is_in_event_time_order(entry_point, stream, tmp_path: Path) -> None:
    path, _, _ = stream
    out = run_ingest(entry_point, f"file:{path}", tmp_path)
    by_conv: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m in read_jsonl(out / "messages.jsonl"):
        if not m["late"]:
            by_conv[(m["tenant"], m["conversation_id"])].append(m["event_time"])
    assert len(by_conv) > 100
    for times in by_conv.values():
        assert times == sorted(times)


def test_outputs_hold_no_pii_and_the_archive_holds_every_line(stream, tmp_path: Path) -> None:
    from bytewax.testing import run_main

    path, _, n_lines = stream
    out = run_ingest(run_main, f"file:{path}", tmp_path)
    messages = read_jsonl(out / "messages.jsonl")
    assert any(m["pii"] for m in messages)
    for m in messages:
        assert redact(m["text"]).spans == (), m["text"]

    archived = [
        orjson.loads(line)
        for seg in (tmp_path / "archive").rglob("*.jsonl")
        for line in seg.read_bytes().splitlines()
    ]
    assert len(archived) == n_lines
    originals = path.read_text(encoding="utf-8").splitlines()
    assert sorted(a["raw"] for a in archived) == sorted(originals)
    assert {p.parent.parent.name for p in (tmp_path / "archive").rglob("*.jsonl")} >= {
        "zalo",
        "webhook",
        "csv",
        "unknown",
    }

    audits = read_jsonl(out / "pii_audit.jsonl")
    assert sum(c["count"] for m in messages for c in m["pii"]) <= len(audits)
    assert all("value" not in a and len(a["value_hmac"]) == 64 for a in audits)


def test_csv_exports_with_bom_semicolons_and_quoted_newlines(tmp_path: Path) -> None:
    from bytewax.testing import run_main

    csv_path = tmp_path / "export.csv"
    csv_path.write_bytes(
        "\ufeffmessage_id;conversation_id;user_id;content;timestamp;platform\r\n"
        'r1;c-1;u-1;"Xin chào;\nshop";2024-05-01 10:00:00;\r\n'
        "r2;c-1;u-1;Cho em hỏi giá;2024-05-01 10:01:00;\r\n"
        "r3;c-1;u-1;;2024-05-01 10:02:00;\r\n"
        "r4;c-1;u-1;too few columns\r\n".encode()
    )
    out = run_ingest(run_main, f"file:{csv_path}", tmp_path)
    messages = read_jsonl(out / "messages.jsonl")
    assert [(m["message_id"], m["text"], m["source"]) for m in messages] == [
        ("csv:r1", "Xin chào; shop", "csv"),
        ("csv:r2", "Cho em hỏi giá", "csv"),
    ]
    rejected = read_jsonl(out / "rejected.jsonl")
    assert sorted(r["reason"] for r in rejected) == ["empty_text", "invalid_schema"]
    assert any(r["raw"] == "r4;c-1;u-1;too few columns" for r in rejected)


def test_a_glob_reads_every_matching_file(tmp_path: Path) -> None:
    from bytewax.testing import run_main

    sample = Path(__file__).resolve().parents[2] / "flows" / "samples" / "chat_sample.jsonl"
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
    out = run_ingest(run_main, f"file:{tmp_path}/*.jsonl", tmp_path)
    single = run_ingest(run_main, f"file:{sample}", tmp_path / "single")
    # The second file is all duplicates of the first.
    assert len(read_jsonl(out / "messages.jsonl")) == len(read_jsonl(single / "messages.jsonl"))
    assert len(read_jsonl(out / "rejected.jsonl")) == 2 * len(read_jsonl(single / "rejected.jsonl"))


def test_no_matching_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no input files match"):
        build(source=f"file:{tmp_path}/nothing-*.jsonl", sink=f"file:{tmp_path}", metrics_port=0)


def test_bytes_that_are_not_utf8_cost_one_line_and_are_archived_exactly(tmp_path: Path) -> None:
    from bytewax.testing import run_main

    good = (
        '{"source": "webhook", "tenant": "acme", "payload": {"id": "m-%d", "conversation_id": '
        '"c-1", "user_id": "u-1", "content": "Xin chào", "timestamp": 1714532400}}'
    )
    bad = (good % 2).encode("latin-1")  # "à" as one byte, 0xe0: not UTF-8
    path = tmp_path / "in.jsonl"
    path.write_bytes((good % 1).encode() + b"\n" + bad + b"\n" + (good % 3).encode())
    out = run_ingest(run_main, f"file:{path}", tmp_path)

    assert [m["message_id"] for m in read_jsonl(out / "messages.jsonl")] == [
        "webhook:m-1",
        "webhook:m-3",
    ]
    (rejected,) = read_jsonl(out / "rejected.jsonl")
    assert rejected["reason"] == "not_utf8" and "0xe0" in rejected["errors"][0]
    assert rejected["raw"] == bad.decode("utf-8", "replace")
    archived = [
        orjson.loads(line)
        for seg in (tmp_path / "archive").rglob("*.jsonl")
        for line in seg.read_bytes().splitlines()
    ]
    assert sorted(a["origin"].rsplit(":", 1)[1] for a in archived) == ["1", "2", "3"]
    (exact,) = [a for a in archived if "raw_base64" in a]
    assert "raw" not in exact and base64.b64decode(exact["raw_base64"]) == bad
