"""The models `make model` builds, side by side: speed, memory and agreement.

    .venv/bin/python -m benchmarks.bench_models [--lines 2000] [--rounds 3]

Speed: the same seeded Vietnamese/English chat lines as `bench_embedder`, embedded as
passages (what the index and drift flows do) in calls of 1, 8 and 32 lines in arrival
order, the sizes the flows' batching step hands the embedder (`Embedder.embed` sorts
each call by length and runs it 8 rows at a time). The models alternate, `--rounds`
times, and the median of each cell is kept; the ratio to MiniLM is what matters on a
shared machine. Memory: a fresh process per model loads it and embeds one line; its
resident set (VmRSS) and peak (VmHWM) are read from /proc, beside the same process's
before loading. Agreement: from each model's manifest (the int8 model against the numpy
fp32 forward pass of its weights, and a text alone against inside a batch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_embedder import chat_lines  # noqa: E402
from models import Embedder, load_embedder  # noqa: E402
from models.manifest import Manifest  # noqa: E402
from models.paths import KNOWN_MODELS, MINILM, MODELS_DIR  # noqa: E402

CALL_SIZES = (1, 8, 32)
THREADS = 2

MEMORY_PROBE = """
import sys
def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}
import numpy, onnxruntime, tokenizers
import models.embedder as m
before = status()
e = m.load_embedder(sys.argv[1], threads=2)
e.embed_passages(["Shop ơi đơn của em giao chưa ạ?"])
print(__import__("json").dumps({"before": before, "after": status()}))
"""


def memory(model_dir: Path) -> dict[str, dict[str, int]]:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(model_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def lines_per_s(embedder: Embedder, lines: list[str], call_size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(lines), call_size):
        embedder.embed_passages(lines[i : i + call_size])
    return len(lines) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    console = Console(width=140)

    lines = chat_lines(args.lines)
    names = [m.name for m in KNOWN_MODELS]
    embedders = {name: load_embedder(MODELS_DIR / name, threads=THREADS) for name in names}
    for embedder in embedders.values():
        embedder.embed_passages(lines[:64])  # warm up
    rates: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for size in CALL_SIZES:
            for name in names if round_ % 2 == 0 else names[::-1]:
                rate = lines_per_s(embedders[name], lines, size)
                rates.setdefault((name, size), []).append(rate)
        console.print(f"[dim]round {round_ + 1}/{args.rounds} done[/]")

    speed = Table(title=f"{len(lines)} chat lines as passages, {THREADS} threads, median")
    speed.add_column("model")
    speed.add_column("tokens/line", justify="right")
    for size in CALL_SIZES:
        speed.add_column(f"calls of {size}: lines/s", justify="right")
        speed.add_column(f"vs {MINILM.name.split('-int8')[0]}", justify="right")
    for name in names:
        embedder = embedders[name]
        tokens = statistics.mean(
            embedder.token_counts([embedder.passage_prefix + line for line in lines])
        )
        row = [name, f"{tokens:.1f}"]
        for size in CALL_SIZES:
            rate = statistics.median(rates[(name, size)])
            baseline = statistics.median(rates[(MINILM.name, size)])
            row += [f"{rate:.0f}", f"{rate / baseline:.2f}x"]
        speed.add_row(*row)
    console.print(speed)

    other = Table(title="memory of a loaded embedder, and agreement")
    for column in (
        "model",
        "RSS before load MB",
        "RSS loaded MB",
        "peak MB",
        "model.onnx MB",
        "int8 vs fp32 mean cos",
        "min cos",
        "alone vs batch min cos",
    ):
        other.add_column(column, justify="left" if column == "model" else "right")
    for name in names:
        model_dir = MODELS_DIR / name
        used = memory(model_dir)
        agreement = Manifest.read(model_dir).agreement
        size_mb = (model_dir / "model.onnx").stat().st_size / 2**20
        other.add_row(
            name,
            str(used["before"]["VmRSS"]),
            str(used["after"]["VmRSS"]),
            str(used["after"]["VmHWM"]),
            f"{size_mb:.0f}",
            f"{agreement['int8_mean_cosine']:.4f}",
            f"{agreement['int8_min_cosine']:.4f}",
            f"{agreement['int8_batch_independence_min_cosine']:.4f}",
        )
    console.print(other)
    return 0


if __name__ == "__main__":
    sys.exit(main())
