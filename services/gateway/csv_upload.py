"""The rows of a CSV export, read as its bytes arrive (never the whole file at once).

UTF-8 with or without a BOM, comma or semicolon (chosen from the header line, as the
file source does), lines ending in LF, CRLF or CR, quoted fields across lines. A record
ends at a line end outside quotes (an even count of `"` so far, which is how RFC 4180
escapes them), so each record is parsed on its own by the `csv` module. Bytes that are
not UTF-8 stay in the row as surrogate escapes (`CsvRow.exact` False).
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass

from operators.ingest.file_source import sniff_delimiter

_LINE_END = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True)
class CsvRow:
    columns: dict[str, str]
    exact: bool
    """False when the row's bytes were not UTF-8 (its text keeps them as surrogates)."""


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class CsvUpload:
    """`feed(chunk)` and finally `close()` return the rows completed so far."""

    def __init__(self, max_record_chars: int) -> None:
        self._max_record_chars = max_record_chars
        # The csv module refuses a field over 128 KiB by default; a record may be larger.
        csv.field_size_limit(max(csv.field_size_limit(), max_record_chars + 1))
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self._partial = ""
        self._record: list[str] = []
        self._record_chars = 0
        self._quotes = 0
        self._header: list[str] | None = None
        self._delimiter = ","

    @property
    def header(self) -> list[str] | None:
        return self._header

    def feed(self, data: bytes) -> list[CsvRow]:
        return self._take(self._decoder.decode(data), final=False)

    def close(self) -> list[CsvRow]:
        rows = self._take(self._decoder.decode(b"", final=True), final=True)
        if self._record:
            rows.extend(self._finish_record())
        return rows

    def _take(self, text: str, *, final: bool) -> list[CsvRow]:
        text = self._partial + text
        rows: list[CsvRow] = []
        start = 0
        # The held text has no line end but perhaps a last CR: scan only from there, so a
        # long line arriving in many parts is not scanned again at every part.
        for match in _LINE_END.finditer(text, max(len(self._partial) - 1, 0)):
            if not final and match.end() == len(text) and match.group() == "\r":
                break  # a CR at the end of a chunk may be the first half of CRLF
            rows.extend(self._add_line(text[start : match.end()]))
            start = match.end()
        rest = text[start:]
        if final and rest:
            rows.extend(self._add_line(rest))
            rest = ""
        self._partial = rest
        if len(self._partial) > self._max_record_chars:  # one endless line: cut it
            rows.extend(self._add_line(self._partial))
            rows.extend(self._finish_record())
            self._partial = ""
        return rows

    def _add_line(self, line: str) -> list[CsvRow]:
        self._record.append(line)
        self._record_chars += len(line)
        self._quotes += line.count('"')
        if self._quotes % 2 == 0 or self._record_chars > self._max_record_chars:
            return self._finish_record()
        return []

    def _finish_record(self) -> list[CsvRow]:
        text = "".join(self._record).rstrip("\r\n")
        self._record.clear()
        self._record_chars = 0
        self._quotes = 0
        if self._header is None:
            # Column names are text: bytes that are not UTF-8 become U+FFFD, as in files.
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            self._delimiter = sniff_delimiter(text)
            self._header = next(csv.reader([text], delimiter=self._delimiter), [])
            return []
        try:
            cells = next(csv.reader([text], delimiter=self._delimiter), [])
        except csv.Error:  # e.g. a cell over the csv module's field limit
            cells = text.split(self._delimiter)
        if not any(c.strip() for c in cells):
            return []
        return [CsvRow(dict(zip(self._header, cells, strict=False)), _is_utf8(text))]
