"""Score `operators.pii.redact` against a labeled JSONL set.

    python -m benchmarks.eval_pii [tests/data/pii_eval.jsonl]

Each line is `{"text": ..., "spans": [{"kind", "start", "end"}]}`. A labeled value
is *caught* when redacted spans (of any kind) cover all of it, so recall counts
leaks; *typed* recall also wants the right kind. A redacted span is *correct* when
it overlaps a labeled value; precision is over the kind the redactor gave it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from operators.pii import KINDS, PiiSpan, find_pii

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "tests" / "data" / "pii_eval.jsonl"


@dataclass(frozen=True, slots=True)
class Finding:
    """A leak (labeled value left in the text) or a false positive."""

    line: int
    kind: str
    value: str
    text: str


@dataclass
class KindScore:
    support: int = 0
    caught: int = 0
    typed: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.caught / self.support if self.support else 1.0

    @property
    def typed_recall(self) -> float:
        return self.typed / self.support if self.support else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


@dataclass
class Report:
    lines: int = 0
    negative_lines: int = 0
    scores: dict[str, KindScore] = field(default_factory=lambda: {k: KindScore() for k in KINDS})
    leaks: list[Finding] = field(default_factory=list)
    false_positives: list[Finding] = field(default_factory=list)

    @property
    def overall_precision(self) -> float:
        predicted = sum(s.predicted for s in self.scores.values())
        correct = sum(s.correct for s in self.scores.values())
        return correct / predicted if predicted else 1.0


def evaluate(path: Path = DEFAULT_PATH) -> Report:
    report = Report()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(raw)
        text = row["text"]
        gold = [PiiSpan(s["kind"], s["start"], s["end"]) for s in row["spans"]]
        _score_line(report, number, text, gold, list(find_pii(text)))
    return report


def _covered(span: PiiSpan, by: list[PiiSpan]) -> bool:
    position = span.start
    for other in sorted(by, key=lambda s: s.start):
        if other.start <= position < other.end:
            position = other.end
    return position >= span.end


def _overlaps(a: PiiSpan, b: PiiSpan) -> bool:
    return a.start < b.end and b.start < a.end


def _score_line(
    report: Report, number: int, text: str, gold: list[PiiSpan], found: list[PiiSpan]
) -> None:
    report.lines += 1
    report.negative_lines += not gold
    for span in gold:
        score = report.scores[span.kind]
        score.support += 1
        if _covered(span, found):
            score.caught += 1
            score.typed += _covered(span, [s for s in found if s.kind == span.kind])
        else:
            report.leaks.append(Finding(number, span.kind, text[span.start : span.end], text))
    for span in found:
        score = report.scores[span.kind]
        score.predicted += 1
        if any(_overlaps(span, g) for g in gold):
            score.correct += 1
        else:
            report.false_positives.append(
                Finding(number, span.kind, text[span.start : span.end], text)
            )


def format_report(report: Report) -> str:
    rows = [
        f"{report.lines} lines ({report.negative_lines} without PII)",
        f"{'kind':<13}{'support':>8}{'recall':>9}{'typed':>9}{'found':>7}{'precision':>11}",
    ]
    for kind, s in report.scores.items():
        rows.append(
            f"{kind:<13}{s.support:>8}{s.recall:>9.2%}{s.typed_recall:>9.2%}"
            f"{s.predicted:>7}{s.precision:>11.2%}"
        )
    rows.append(f"{'all':<13}{'':>8}{'':>9}{'':>9}{'':>7}{report.overall_precision:>11.2%}")
    rows.append(f"\nleaks ({len(report.leaks)}):")
    rows += [f"  line {f.line} {f.kind}: {f.value!r} in {f.text!r}" for f in report.leaks]
    rows.append(f"\nfalse positives ({len(report.false_positives)}):")
    rows += [f"  line {f.line} {f.kind}: {f.value!r} in {f.text!r}" for f in report.false_positives]
    return "\n".join(rows)


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    print(format_report(evaluate(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
