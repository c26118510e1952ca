"""Reading files: whatever bytes a file holds, every line comes out, exactly once."""

from __future__ import annotations

from pathlib import Path

from operators.ingest.file_source import read_raw_lines

ENVELOPE = b'{"source": "webhook", "payload": {"content": "Xin ch\xc3\xa0o"}}'


def lines_of(path: Path, start_line: int = 0) -> list[tuple[int, str, bytes | None]]:
    return [
        (number, line.text, line.undecodable)
        for number, line in read_raw_lines(path, start_line, lambda: 0)
        if line is not None
    ]


def test_a_line_that_is_not_utf8_keeps_its_bytes_and_the_others_are_read(tmp_path: Path) -> None:
    bad = b'{"source": "webhook", "payload": "\xff\xfe caf\xe9"}'
    path = tmp_path / "in.jsonl"
    path.write_bytes(ENVELOPE + b"\n" + bad + b"\n" + ENVELOPE + b"\n")
    got = lines_of(path)
    assert [(n, u) for n, _, u in got] == [(1, None), (2, bad), (3, None)]
    assert got[1][1] == bad.decode("utf-8", "replace")
    assert got[0][1] == got[2][1] == ENVELOPE.decode()


def test_line_ends_may_be_lf_crlf_or_a_lone_cr(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(ENVELOPE + b"\r" + ENVELOPE + b"\r\n" + ENVELOPE + b"\n" + ENVELOPE)
    assert [n for n, _, _ in lines_of(path)] == [1, 2, 3, 4]
    assert {text for _, text, _ in lines_of(path)} == {ENVELOPE.decode()}
    assert [n for n, _, _ in lines_of(path, start_line=2)] == [3, 4]


def test_a_bom_is_dropped_at_the_start_of_a_file_and_kept_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + ENVELOPE + b"\n\xef\xbb\xbf" + ENVELOPE + b"\n")
    assert [text for _, text, _ in lines_of(path)] == [
        ENVELOPE.decode(),
        "\ufeff" + ENVELOPE.decode(),
    ]


def test_a_csv_row_that_is_not_utf8_keeps_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        b"message_id,conversation_id,user_id,content,timestamp\r\n"
        b"m-1,c-1,u-1,caf\xe9,1714532400\r\n"
        b'm-2,c-1,u-1,"two\r\nlines",1714532401\r\n'
    )
    got = lines_of(path)
    assert [(n, u) for n, _, u in got] == [(2, b"m-1,c-1,u-1,caf\xe9,1714532400"), (4, None)]
