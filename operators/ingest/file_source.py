"""Reading JSONL envelope files and CSV exports as `RawLine`s, resumable per file.

Files are read as UTF-8 (a BOM at the start is dropped); a line or row that is not keeps
its exact bytes (`RawLine.undecodable`), so it becomes a dead letter and the archive
holds what was read. Lines end at LF, CRLF or a lone CR.
"""

from __future__ import annotations

import csv
import glob
import io
import os
from collections.abc import Iterator
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition, batch

from operators.common.clock import Clock, wall_clock_ms
from schemas.raw import RawLine, text_of_escaped

BATCH_SIZE = 1000


def expand_paths(pattern: str) -> list[Path]:
    """Files matching a path or glob, sorted; a clear error when there are none."""
    matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern), recursive=True))
    files = [p for p in matches if p.is_file()]
    if not files:
        raise FileNotFoundError(f"no input files match {pattern!r}")
    return files


def sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


def read_raw_lines(
    path: Path, start_line: int, clock: Clock
) -> Iterator[tuple[int, RawLine | None]]:
    """Yield `(line number, RawLine)` after `start_line`; None for a blank line.

    CSV rows carry their columns; a row's number is that of its last physical line.
    """
    is_csv = path.suffix.lower() == ".csv"
    with open(
        path, encoding="utf-8-sig", errors="surrogateescape", newline="" if is_csv else None
    ) as f:
        if is_csv:
            yield from _csv_rows(path, f, start_line, clock)
            return
        origin = f"file:{path}:"
        for number, line in enumerate(f, start=1):
            if number <= start_line:
                continue
            text = line.rstrip("\r\n")
            if text and not text.isspace():
                text, undecodable = text_of_escaped(text)
                yield number, RawLine(text, clock(), origin + str(number), undecodable=undecodable)
            else:
                yield number, None


def _csv_rows(
    path: Path, f: io.TextIOBase, start_line: int, clock: Clock
) -> Iterator[tuple[int, RawLine | None]]:
    header_line, _ = text_of_escaped(f.readline())
    delimiter = sniff_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter), [])
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in f:
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    number = 1
    for cells in reader:
        number += len(consumed)
        text, undecodable = text_of_escaped("".join(consumed).rstrip("\r\n"))
        consumed.clear()
        if number <= start_line or not any(c.strip() for c in cells):
            continue
        row = dict(zip(header, cells, strict=False))
        origin = f"file:{path}:{number}"
        yield number, RawLine(text, clock(), origin, row=row, undecodable=undecodable)


class _FilePartition(StatefulSourcePartition[RawLine, int]):
    def __init__(self, path: Path, resume_line: int | None, clock: Clock) -> None:
        self._resume_line = resume_line or 0
        self._rows = read_raw_lines(path, self._resume_line, clock)
        self._batcher = batch(self._rows, BATCH_SIZE)

    def next_batch(self) -> list[RawLine]:
        rows = next(self._batcher)
        self._resume_line = rows[-1][0]
        return [line for _, line in rows if line is not None]

    def snapshot(self) -> int:
        return self._resume_line


class RawFileSource(FixedPartitionedSource[RawLine, int]):
    """One partition per file; resumes after the last line it handed out."""

    def __init__(self, pattern: str, clock: Clock = wall_clock_ms) -> None:
        self._paths = expand_paths(pattern)
        self._clock = clock

    def list_parts(self) -> list[str]:
        return [str(p) for p in self._paths]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _FilePartition:
        return _FilePartition(Path(for_part), resume_state, self._clock)
