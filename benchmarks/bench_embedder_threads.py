"""The embedder's onnxruntime threads: spinning vs sleeping, and tokens/s by text length.

    .venv/bin/python benchmarks/bench_embedder_threads.py

Needs the model (`make model`), no services. Two sessions of the same model, one with
intra-op spinning on (onnxruntime's default), one with it off (what `models.Embedder`
uses), measured alternately in this process:

- trickle: 50 single texts of ~100 tokens, 50 ms apart (a live stream): CPU seconds of
  this process and the median latency;
- batches: batches of 32 texts of ~134 tokens back to back: texts/s.

Then tokens/s of the shipped embedder at several text lengths (calls of 32 texts), and
texts/s by rows per onnxruntime run (`batch_size`) for calls of 32 texts of mixed length
in arrival order (sorted by length inside each call, as `Embedder.embed` does): closed
chat segments, and single message lines.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_segment_vectors import conversations, rounds  # noqa: E402
from models import load_embedder  # noqa: E402

LINE = "user: Đơn DH240501123 của em sao chưa giao vậy shop? bot: Dạ đơn đang được giao ạ "


def text_of(words: int) -> str:
    return " ".join((LINE * 40).split()[:words])


def session(model_path: str, threads: int, spin: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


def trickle(embedder, text: str) -> tuple[float, float]:
    cpu, latencies = time.process_time(), []
    for _ in range(50):
        started = time.perf_counter()
        embedder.embed([text])
        latencies.append(time.perf_counter() - started)
        time.sleep(0.05)
    return time.process_time() - cpu, statistics.median(latencies)


def batches(embedder, texts: list[str], seconds: float = 1.5) -> float:
    embedder.embed(texts)
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        embedder.embed(texts)
        n += 1
    return n * len(texts) / (time.perf_counter() - started)


def main() -> None:
    embedder = load_embedder()
    model_path = embedder._session._model_path
    sessions = {spin: session(model_path, embedder.threads, spin) for spin in (True, False)}
    trickle_text = text_of(48)
    batch_texts = [text_of(64)] * 32
    results: dict[bool, dict[str, list[float]]] = {
        spin: {"cpu": [], "latency": [], "texts/s": []} for spin in sessions
    }
    for _ in range(3):
        for spin, sess in sessions.items():
            embedder._session = sess
            cpu, latency = trickle(embedder, trickle_text)
            results[spin]["cpu"].append(cpu)
            results[spin]["latency"].append(latency)
            results[spin]["texts/s"].append(batches(embedder, batch_texts))
    print(
        f"tokens: trickle text {embedder.token_counts([trickle_text])[0]}, "
        f"batch texts {embedder.token_counts(batch_texts[:1])[0]}; threads {embedder.threads}"
    )
    print("| spinning | trickle CPU s (50 texts) | trickle median latency ms | batch texts/s |")
    print("| --- | ---: | ---: | ---: |")
    for spin in (True, False):
        r = results[spin]
        print(
            f"| {'on' if spin else 'off'} | {statistics.median(r['cpu']):.2f} | "
            f"{statistics.median(r['latency']) * 1000:.1f} | "
            f"{statistics.median(r['texts/s']):.0f} |"
        )
    cpu_ratio = statistics.median(results[True]["cpu"]) / statistics.median(results[False]["cpu"])
    rate_ratio = statistics.median(results[False]["texts/s"]) / statistics.median(
        results[True]["texts/s"]
    )
    print(
        f"spinning off: trickle CPU {cpu_ratio:.1f}x less, batches at {rate_ratio:.2f}x the "
        "spinning rate"
    )

    embedder._session = sessions[False]
    print("\n| words | tokens/text | texts/s | tokens/s |")
    print("| ---: | ---: | ---: | ---: |")
    for words in (16, 32, 64, 128, 250):
        texts = [text_of(words)] * 32
        tokens = embedder.token_counts(texts[:1])[0]
        rate = batches(embedder, texts, seconds=2)
        print(f"| {words} | {tokens} | {rate:.0f} | {rate * tokens:.0f} |")

    convs, _, _ = conversations(400, seed=3)
    corpora = {
        "closed segments": [
            seg.text
            for versions in rounds(convs, embedder.token_counts)
            for seg in versions
            if seg.final
        ],
        "message lines": [f"{m.role}: {m.text}" for conv in convs for m in conv][:2000],
    }
    for name, texts in corpora.items():
        calls = [texts[i : i + 32] for i in range(0, len(texts), 32)]
        rates: dict[int, list[float]] = {size: [] for size in (32, 16, 8, 4)}
        for _ in range(2):
            for size, measured in rates.items():
                started = time.perf_counter()
                for call in calls:
                    embedder.embed(call, batch_size=size)
                measured.append(len(texts) / (time.perf_counter() - started))
        counts = embedder.token_counts(texts)
        print(
            f"\n{len(texts)} {name}, {statistics.mean(counts):.0f} tokens on average "
            f"(max {max(counts)}), in calls of 32"
        )
        print("| rows per run | texts/s | vs 32 |")
        print("| ---: | ---: | ---: |")
        for size, measured in rates.items():
            ratio = statistics.median(measured) / statistics.median(rates[32])
            print(f"| {size} | {statistics.median(measured):.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
