"""Embedder throughput and agreement: sentence-transformers on torch vs onnxruntime fp32 vs
Headwater's int8 embedder, on the same 2,000 mixed Vietnamese/English chat lines.

Needs torch, so it runs in the benchmark-only venv (see benchmarks/README.md):

    .cache/bench-venv/bin/python -m benchmarks.bench_embedder [--lines 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from models.build.source import SourceSpec, resolve_source
from models.embedder import Embedder, load_embedder
from models.manifest import TOKENIZER_FILE, Manifest
from models.paths import CACHE_DIR, default_model_dir

THREADS = 2
BATCH_SIZES = (1, 8, 32, 128)

GREETINGS = ["hi", "ok", "thanks!", "cảm ơn shop", "dạ vâng", "alo", "👍", "ok ạ", "hello?", "yes"]
EN_PARTS = [
    "I want to cancel my order",
    "when will my package arrive",
    "the payment failed twice",
    "can I change the delivery address",
    "please refund me",
    "the item arrived damaged",
    "my discount code does not work",
    "how do I reset my password",
    "the app crashes when I open the cart",
    "I was charged twice for order {n}",
    "can you send me the invoice",
    "is this available in size L",
    "your courier never showed up",
    "I need to talk to a real person",
]
VI_PARTS = [
    "tôi muốn hủy đơn hàng",
    "khi nào đơn {n} được giao",
    "thanh toán bị lỗi hai lần",
    "cho em đổi địa chỉ giao hàng",
    "shop hoàn tiền cho em với",
    "sản phẩm bị hỏng khi nhận",
    "mã giảm giá không dùng được",
    "em quên mật khẩu rồi",
    "ứng dụng bị văng khi mở giỏ hàng",
    "tài khoản bị trừ tiền hai lần",
    "gửi giúp em hóa đơn",
    "áo này còn size L không ạ",
    "shipper không đến lấy hàng",
    "cho tôi nói chuyện với nhân viên",
]
TAILS = ["", " please", " ạ", " asap", " nhé", "!!", "?", " thanks", " shop ơi"]


def chat_lines(count: int, seed: int = 7) -> list[str]:
    """Seeded lines in arrival order: greetings, one-liners and multi-sentence complaints."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.2:
            lines.append(rng.choice(GREETINGS))
            continue
        parts = EN_PARTS if rng.random() < 0.5 else VI_PARTS
        sentences = 1 if kind < 0.7 else rng.randint(2, 6)
        text = ". ".join(rng.choice(parts) for _ in range(sentences)) + rng.choice(TAILS)
        lines.append(text.replace("{n}", f"DH{rng.randint(10**8, 10**9)}"))
    return lines


def arrival_batches(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def time_interleaved(
    runners: dict[str, Callable[[], np.ndarray]], runs: int
) -> dict[str, tuple[float, np.ndarray]]:
    """Median seconds per runner; runs alternate between runners so that load from
    other processes on a shared machine falls on all of them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(runs):
        for name, run in runners.items():
            start = time.perf_counter()
            outputs[name] = run()
            seconds[name].append(time.perf_counter() - start)
    return {name: (statistics.median(seconds[name]), outputs[name]) for name in runners}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def top10_overlap(a: np.ndarray, b: np.ndarray) -> float:
    def neighbours(x: np.ndarray) -> np.ndarray:
        sims = x @ x.T
        np.fill_diagonal(sims, -np.inf)
        return np.argsort(-sims, axis=1)[:, :10]

    na, nb = neighbours(a), neighbours(b)
    return float(np.mean([len(set(r) & set(s)) / 10 for r, s in zip(na, nb, strict=True)]))


def padding_fill(token_counts: Sequence[int], batches: list[list[int]]) -> float:
    real = sum(token_counts)
    padded = sum(len(b) * max(token_counts[i] for i in b) for b in batches)
    return real / padded


def build_fp32_model(manifest: Manifest, out: Path) -> Path:
    import json

    import onnx
    from safetensors.numpy import load_file

    from models.build.bert_graph import BertConfig, build_bert_graph

    source = resolve_source(SourceSpec(manifest.build_inputs["source"]), CACHE_DIR)
    config = BertConfig.from_hf(json.loads((source.directory / "config.json").read_text()))
    weights = load_file(str(source.directory / "model.safetensors"))
    onnx.save(build_bert_graph(weights, config, int8=False), out)
    return source.directory


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print(
            "torch and sentence-transformers are needed: run this with "
            ".cache/bench-venv/bin/python (setup in benchmarks/README.md)",
            file=sys.stderr,
        )
        return 2
    torch.set_num_threads(THREADS)

    lines = chat_lines(args.lines)
    model_dir = default_model_dir()
    manifest = Manifest.read(model_dir)
    int8 = load_embedder(model_dir, threads=THREADS)
    tmp = Path(tempfile.mkdtemp())
    source_dir = build_fp32_model(manifest, tmp / "fp32.onnx")
    fp32 = Embedder(
        tmp / "fp32.onnx",
        model_dir / TOKENIZER_FILE,
        max_seq_length=manifest.max_seq_length,
        dim=manifest.dim,
        version="fp32",
        threads=THREADS,
    )
    st_model = SentenceTransformer(str(source_dir), device="cpu")
    st_model.max_seq_length = manifest.max_seq_length

    def torch_embed(texts: list[str], batch_size: int) -> np.ndarray:
        # encode() sorts by length inside each call: one call per arrival batch keeps
        # arrival order; one call over everything is its length-bucketed mode.
        return st_model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def ours(embedder: Embedder) -> Callable[[list[str], int], np.ndarray]:
        return lambda texts, batch_size: embedder.embed(texts, batch_size=batch_size)

    impls = {
        "(a) torch fp32": torch_embed,
        "(b) onnxruntime fp32": ours(fp32),
        "(c) headwater int8": ours(int8),
    }
    counts = int8.token_counts(lines)
    print(
        f"{len(lines)} lines, mean {np.mean(counts):.1f} tokens (max {max(counts)}), "
        f"{THREADS} threads, median of {args.runs} runs, model {manifest.version}"
    )

    rates: dict[tuple[str, int, str], float] = {}
    outputs: dict[tuple[str, int, str], np.ndarray] = {}
    for size in BATCH_SIZES:
        orders = ("bucketed",) if size == 1 else ("arrival", "bucketed")
        for order in orders:
            batches = arrival_batches(len(lines), size)
            runners: dict[str, Callable[[], np.ndarray]] = {}
            for name, embed in impls.items():
                if order == "arrival":

                    def run(embed=embed, batches=batches, size=size) -> np.ndarray:
                        return np.concatenate([embed([lines[i] for i in b], size) for b in batches])
                else:

                    def run(embed=embed, size=size) -> np.ndarray:
                        return embed(lines, size)

                runners[name] = run
            for name, (seconds, out) in time_interleaved(runners, args.runs).items():
                rates[name, size, order] = len(lines) / seconds
                outputs[name, size, order] = out
                print(
                    f"  {name:22s} batch {size:3d} {order:8s} {len(lines) / seconds:8.1f}/s",
                    flush=True,
                )

    print(
        "\n| batch | order | (a) torch fp32 /s | (b) ort fp32 /s | (c) int8 /s "
        "| (c)/(a) | (b)/(a) | padded batch fill |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, size, order), rate in rates.items():
        if not name.startswith("(a)"):
            continue
        b, c = rates["(b) onnxruntime fp32", size, order], rates["(c) headwater int8", size, order]
        batches = (
            arrival_batches(len(lines), size)
            if order == "arrival"
            else [
                list(x)
                for x in np.array_split(
                    np.argsort(counts, kind="stable"), max(1, -(-len(lines) // size))
                )
            ]
        )
        print(
            f"| {size} | {order} | {rate:.0f} | {b:.0f} | {c:.0f} | {c / rate:.2f}x "
            f"| {b / rate:.2f}x | {padding_fill(counts, batches):.0%} |"
        )

    reference = outputs["(a) torch fp32", 32, "bucketed"]
    ours_out = outputs["(c) headwater int8", 32, "bucketed"]
    fp32_out = outputs["(b) onnxruntime fp32", 32, "bucketed"]
    agreement = cosines(ours_out, reference)
    alone = outputs["(c) headwater int8", 1, "bucketed"]
    independence = min(
        float(cosines(alone, outputs["(c) headwater int8", size, order]).min())
        for size in BATCH_SIZES[1:]
        for order in ("arrival", "bucketed")
    )
    # Repeated lines ("ok", "cảm ơn shop") tie exactly, which makes top-10 sets arbitrary:
    # neighbours are compared over the distinct lines.
    distinct = sorted({text: i for i, text in enumerate(lines)}.values())
    print(
        f"\n(c) vs (a): mean cosine {agreement.mean():.5f}, min {agreement.min():.5f}, "
        f"top-10 neighbour overlap {top10_overlap(ours_out[distinct], reference[distinct]):.4f}"
        f" over {len(distinct)} distinct lines"
    )
    print(
        f"(b) vs (a): min cosine {cosines(fp32_out, reference).min():.6f}, top-10 overlap "
        f"{top10_overlap(fp32_out[distinct], reference[distinct]):.4f}"
    )
    print(f"(c) batch independence (alone vs in any batch above): min cosine {independence:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
