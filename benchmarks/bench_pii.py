"""Throughput of `operators.pii.redact` against a single combined regex.

    python benchmarks/bench_pii.py [--seconds 2]

Messages are the lines of the PII evaluation set (typical chat lines, a third of
them with no PII); the baseline is one regex for phone-, e-mail- and IPv4-shaped
text with `re.sub`, with no validators, context or names. Prints messages/s and
characters/s for both and the ratio, measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from operators.pii import redact

EVAL_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "pii_eval.jsonl"

BASELINE = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?:\+?84|0)[ .\-]?\d{2,3}(?:[ .\-]?\d{3,4}){2}"
    r"|\d{1,3}(?:\.\d{1,3}){3}"
    r"|\d{9,19}"
)


def baseline_redact(text: str) -> str:
    return BASELINE.sub("[PII]", text)


def throughput(
    redactor: Callable[[str], object], messages: list[str], seconds: float
) -> tuple[float, float]:
    characters = sum(len(m) for m in messages)
    rounds, started = 0, time.perf_counter()
    while True:
        for message in messages:
            redactor(message)
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return rounds * len(messages) / elapsed, rounds * characters / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    messages = [
        json.loads(line)["text"] for line in EVAL_SET.read_text(encoding="utf-8").splitlines()
    ]
    long_text = " ".join(messages[:200])
    mean_length = sum(len(m) for m in messages) / len(messages)
    print(
        f"{len(messages)} chat lines, mean {mean_length:.0f} characters; "
        f"long text {len(long_text)} characters"
    )
    print(f"{'':<26}{'messages/s':>12}{'chars/s':>12}{'long text chars/s':>20}")
    results = {}
    for name, redactor in (
        ("combined regex (baseline)", baseline_redact),
        ("operators.pii.redact", redact),
    ):
        per_message, per_char = throughput(redactor, messages, args.seconds)
        _, long_chars = throughput(redactor, [long_text], args.seconds)
        results[name] = (per_message, per_char, long_chars)
        print(f"{name:<26}{per_message:>12,.0f}{per_char:>12,.0f}{long_chars:>20,.0f}")
    base, ours = results["combined regex (baseline)"], results["operators.pii.redact"]
    print(
        f"redact / baseline: messages {ours[0] / base[0]:.3f}x, long text {ours[2] / base[2]:.3f}x"
    )


if __name__ == "__main__":
    main()
