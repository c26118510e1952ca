"""PII redaction: replace phone numbers, e-mails, ID, card and account numbers, IP
addresses and person names with `[KIND]` markers.

`redact` is pure; `count_redactions` is the one side effect, for the flow to call.
The recognizers, and what counts as PII in ambiguous cases, are in
`operators.pii.recognizers` (numbers, e-mail, IP) and `operators.pii.names` (names).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import Counter

from operators.pii.names import person_candidates
from operators.pii.recognizers import (
    Candidate,
    email_candidates,
    ip_candidates,
    numeric_candidates,
)

KINDS = ("phone", "email", "national_id", "card", "bank_account", "ip", "person")

REDACTIONS = Counter(
    "headwater_pii_redactions_total", "PII values replaced by a [KIND] marker.", ["kind"]
)


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One redacted value: `text[start:end]` of the input was a `kind`."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    spans: tuple[PiiSpan, ...]

    def kind_counts(self) -> dict[str, int]:
        """How many values of each kind were redacted, for a message's `pii` field."""
        return dict(Tally(span.kind for span in self.spans))


def marker(kind: str) -> str:
    return f"[{kind.upper()}]"


def redact(text: str) -> Redaction:
    spans = find_pii(text)
    return Redaction(_replace(text, spans), spans)


def count_redactions(redaction: Redaction) -> None:
    for span in redaction.spans:
        REDACTIONS.labels(kind=span.kind).inc()


def find_pii(text: str) -> tuple[PiiSpan, ...]:
    """Non-overlapping PII spans of `text`, in order, with offsets into `text`."""
    view, to_original = _matching_view(text)
    spans = _resolve_overlaps(_candidates(view))
    if to_original is not None:
        starts, ends = to_original
        spans = [PiiSpan(s.kind, starts[s.start], ends[s.end - 1]) for s in spans]
    return tuple(spans)


_DIGIT = re.compile(r"[0-9]")


def _candidates(text: str) -> Iterator[Candidate]:
    if _DIGIT.search(text):
        yield from numeric_candidates(text)
        yield from ip_candidates(text)
    yield from email_candidates(text)
    yield from person_candidates(text)


def _resolve_overlaps(candidates: Iterable[Candidate]) -> list[PiiSpan]:
    """The longest candidate wins, then the most specific (higher rank).

    A candidate nested in a winner is dropped; one that only partly overlaps a
    winner widens it, so no part of either value is left in the text.
    """
    ordered = sorted(candidates, key=lambda c: (c.start - c.end, -c.rank, c.start))
    kept: list[PiiSpan] = []
    for candidate in ordered:
        overlapping = [s for s in kept if s.start < candidate.end and candidate.start < s.end]
        if not overlapping:
            kept.append(PiiSpan(candidate.kind, candidate.start, candidate.end))
            continue
        if any(s.start <= candidate.start and candidate.end <= s.end for s in overlapping):
            continue
        merged = PiiSpan(
            overlapping[0].kind,
            min(candidate.start, *(s.start for s in overlapping)),
            max(candidate.end, *(s.end for s in overlapping)),
        )
        kept = [s for s in kept if s not in overlapping] + [merged]
    return sorted(kept, key=lambda s: s.start)


def _replace(text: str, spans: Iterable[PiiSpan]) -> str:
    parts: list[str] = []
    position = 0
    for span in spans:
        parts.append(text[position : span.start])
        parts.append(marker(span.kind))
        position = span.end
    parts.append(text[position:])
    return "".join(parts)


_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")


def _matching_view(text: str) -> tuple[str, tuple[list[int], list[int]] | None]:
    """`text` in NFC without invisible characters, and where each of its characters came from.

    The recognizers see composed letters ("ễ", not "e" + two combining marks) and
    digits not split by zero-width characters; spans found in the view are mapped
    back to whole characters of the input (a base letter with its marks).
    """
    if unicodedata.is_normalized("NFC", text) and not _INVISIBLE.search(text):
        return text, None
    view: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end in _clusters(text):
        composed = _INVISIBLE.sub("", unicodedata.normalize("NFC", text[start:end]))
        view.append(composed)
        starts.extend([start] * len(composed))
        ends.extend([end] * len(composed))
    return "".join(view), (starts, ends)


def _clusters(text: str) -> Iterator[tuple[int, int]]:
    """Ranges of a starter character followed by its combining marks and invisibles."""
    start = 0
    for index in range(1, len(text)):
        char = text[index]
        if unicodedata.combining(char) == 0 and not _INVISIBLE.match(char):
            yield start, index
            start = index
    if text:
        yield start, len(text)
