"""Reading a CSV export as its bytes arrive: the rows are those of the whole file."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.csv_upload import CsvRow, CsvUpload
from services.gateway.envelope import csv_envelope

BOM = b"\xef\xbb\xbf"
BIG = 1_000_000


def read_all(chunks: list[bytes], max_record_chars: int = BIG) -> tuple[CsvUpload, list[CsvRow]]:
    upload = CsvUpload(max_record_chars=max_record_chars)
    rows: list[CsvRow] = []
    for chunk in chunks:
        rows += upload.feed(chunk)
    rows += upload.close()
    return upload, rows


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def expected_rows(text: str, delimiter: str) -> tuple[list[str], list[dict[str, str]]]:
    """The oracle: `csv.reader` over the whole text, zipped with its header; a row is
    blank (skipped) when no cell has anything but whitespace, as in the file source."""
    header, *records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return header, [
        dict(zip(header, cells, strict=False)) for cells in records if any(c.strip() for c in cells)
    ]


# Cells full of what makes CSV hard: delimiters, quotes, line ends, Vietnamese, emoji.
PIECES = st.sampled_from(
    [",", ";", '"', '""', "\r", "\n", "\r\n", " ", "a", "1", "Việt Nam", "đơn hàng", "ạ", "😀"]
)
CELLS = st.lists(PIECES | st.characters(exclude_categories=["Cs"]), max_size=6).map("".join)
ROWS = st.lists(st.just([]) | st.lists(CELLS, min_size=1, max_size=6), max_size=8)
HEADERS = st.lists(
    st.sampled_from(["message_id", "conversation_id", "user_id", "nội_dung", "thời_gian", "x"]),
    min_size=2,
    max_size=5,
    unique=True,
)


@settings(max_examples=300)
@given(
    header=HEADERS,
    rows=ROWS,
    delimiter=st.sampled_from([",", ";"]),
    lineterminator=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    bom=st.booleans(),
    data=st.data(),
)
def test_rows_fed_in_any_chunks_are_the_rows_of_the_whole_file(
    header: list[str],
    rows: list[list[str]],
    delimiter: str,
    lineterminator: str,
    quoting: int,
    bom: bool,
    data: st.DataObject,
) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=lineterminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    body = (BOM if bom else b"") + text.encode()
    # Split points anywhere: inside a multi-byte character, between CR and LF, in the BOM.
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=30)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]

    upload, got = read_all(chunks)

    want_header, want_rows = expected_rows(text, delimiter)
    assert upload.header == want_header
    assert [row.columns for row in got] == want_rows
    assert all(row.exact for row in got)


def test_every_split_point_of_crlf_and_multibyte_text() -> None:
    data = BOM + 'id;nội_dung\r\n1;"Xin chào\r\nshop; ơi"\r\n2;"trả ""hàng"""\r\n'.encode()
    upload, rows = read_all(byte_by_byte(data))
    assert upload.header == ["id", "nội_dung"]
    assert [r.columns for r in rows] == [
        {"id": "1", "nội_dung": "Xin chào\r\nshop; ơi"},
        {"id": "2", "nội_dung": 'trả "hàng"'},
    ]


def test_lines_ending_in_a_lone_cr() -> None:
    _, rows = read_all(byte_by_byte(b'id,content\r1,"a\rb"\r2,c'))
    assert [r.columns for r in rows] == [
        {"id": "1", "content": "a\rb"},
        {"id": "2", "content": "c"},
    ]


def test_the_delimiter_is_chosen_from_the_header() -> None:
    _, rows = read_all([b"id;content\n1;a,b\n"])
    assert [r.columns for r in rows] == [{"id": "1", "content": "a,b"}]


def test_the_bom_is_not_part_of_the_first_column() -> None:
    upload, _ = read_all(byte_by_byte(BOM + b"id,content\n"))
    assert upload.header == ["id", "content"]


def test_blank_and_whitespace_rows_are_skipped() -> None:
    _, rows = read_all([b"id,content\n\n , \n\r\n1,a\n,\n"])
    assert [r.columns for r in rows] == [{"id": "1", "content": "a"}]


def test_a_row_that_is_not_utf8_is_inexact_and_keeps_its_bytes() -> None:
    _, rows = read_all([b"id,content\n1,ok\n2,caf\xe9\n3," + "Việt".encode() + b"\n"])
    assert [r.exact for r in rows] == [True, False, True]
    assert rows[1].columns == {"id": "2", "content": b"caf\xe9".decode("utf-8", "surrogateescape")}
    assert rows[2].columns == {"id": "3", "content": "Việt"}


def test_an_inexact_row_envelope_carries_the_bad_bytes() -> None:
    _, rows = read_all([b"id,content\n2,caf\xe9\n"])
    out = csv_envelope("acme", 0, rows[0].columns, rows[0].exact)
    assert b'"caf\xe9"' in out


def test_rows_under_a_header_that_is_not_utf8_can_be_enveloped() -> None:
    _, rows = read_all([b"id,n\xf4i_dung\n1,a\n"])
    csv_envelope("acme", 0, rows[0].columns, rows[0].exact)


def test_a_line_longer_than_the_bound_is_cut_while_it_arrives() -> None:
    bound, chunk = 100, 10
    upload = CsvUpload(max_record_chars=bound)
    assert upload.feed(b"id,content\n") == []
    line = b"2," + b"x" * (20 * bound)
    during = [row for i in range(0, len(line), chunk) for row in upload.feed(line[i : i + chunk])]
    # Rows come out before the line has ended: the line is never held whole.
    assert during
    assert during[0].columns["id"] == "2"
    assert all(sum(map(len, r.columns.values())) <= bound + chunk for r in during)
    tail = upload.feed(b"\n3,ok\n") + upload.close()
    assert tail[-1].columns == {"id": "3", "content": "ok"}


def test_an_unclosed_quote_is_cut_at_the_bound() -> None:
    bound = 100
    upload = CsvUpload(max_record_chars=bound)
    rows = upload.feed(b'id,content\n1,"never closed\n')
    for _ in range(50):
        rows += upload.feed(b"more text\n")
    rows += upload.close()
    assert len(rows) > 1
    assert all(sum(map(len, r.columns.values())) <= 2 * bound for r in rows)


def test_no_bytes_no_header() -> None:
    upload, rows = read_all([])
    assert upload.header is None
    assert rows == []


@pytest.mark.parametrize("data", [b"id,content\n", b"id,content", b"id,content\r\n\r\n"])
def test_only_a_header_gives_no_rows(data: bytes) -> None:
    upload, rows = read_all([data])
    assert upload.header == ["id", "content"]
    assert rows == []


def test_a_last_row_without_a_line_end_is_read() -> None:
    _, rows = read_all(byte_by_byte(b"id,content\n1,a"))
    assert [r.columns for r in rows] == [{"id": "1", "content": "a"}]
