"""The ingest flow of this tree against another revision's, alternating, on the same input.

    .venv/bin/python benchmarks/compare_ingest.py --base 16047cf [--events 300000] [--rounds 3]

Checks the base revision out as a git worktree (`.cache/bench/worktree-<rev>`), then for
each round runs, in each tree, `bench_ingest.py --child flow` (one process) and two
`bytewax.run "benchmarks.bench_ingest:bench_flow(…)" -i 0/1` processes on the input split by
conversation, with this tree's interpreter. The input is `bench_ingest.py`'s cached
stream (generate it first with `bench_ingest.py --events N`). Prints each run's seconds
and late counts, then the medians and this tree's time over the base's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".cache" / "bench"
ADDRESSES = "127.0.0.1:2101;127.0.0.1:2102"


def worktree(rev: str) -> Path:
    path = BENCH / f"worktree-{rev}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True)
    return path


def late_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("late messages:")]


def one_process(tree: Path, source: Path) -> tuple[float, list[str]]:
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_ingest.py", "--child", "flow", str(source)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"], late_lines(out.stdout)


def two_processes(tree: Path, pattern: str) -> tuple[float, list[str]]:
    flow = f"benchmarks.bench_ingest:bench_flow({pattern!r})"
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", flow, "-i", str(i), "-a", ADDRESSES],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate()[0] for p in procs]
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError(f"a benchmark process failed in {tree}")
    return time.perf_counter() - start, late_lines("".join(outputs))


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    source = BENCH / f"stream-{args.events}.jsonl"
    split = BENCH / f"stream-{args.events}.byconv8"
    if not source.exists() or not split.exists():
        sys.exit(f"no {source} (or its split): run bench_ingest.py --events {args.events} first")
    trees = {"base": worktree(args.base), "this": ROOT}
    runs: dict[tuple[str, str], list[float]] = {(t, p): [] for t in trees for p in ("1p", "2p")}
    for round_no in range(1, args.rounds + 1):
        for name, tree in trees.items():
            for procs in ("1p", "2p"):
                if procs == "1p":
                    seconds, late = one_process(tree, source)
                else:
                    seconds, late = two_processes(tree, str(split / "part-*.jsonl"))
                runs[(name, procs)].append(seconds)
                print(f"round {round_no} {name} {procs}: {seconds:.2f} s {late}", flush=True)
    for procs in ("1p", "2p"):
        base, this = median(runs[("base", procs)]), median(runs[("this", procs)])
        print(
            f"{procs}: base {base:.2f} s ({args.events / base:,.0f} ev/s), "
            f"this {this:.2f} s ({args.events / this:,.0f} ev/s): {this / base:.2f}x the time"
        )


if __name__ == "__main__":
    main()
