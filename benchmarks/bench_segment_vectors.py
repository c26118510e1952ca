"""Open-segment vectors: tokens embedded per message and how close the vectors stay.

    .venv/bin/python benchmarks/bench_segment_vectors.py [--conversations 1500] [--seed 11]

Generates sample conversations (`flows.samples.conversations`, 13 topics, vi and en),
parses them, and plays them as a live stream: in each round every conversation that has
messages left sends its next one, the `SegmentBuilder` (budget 128, gap 30 min, no
coalescing: every message is a new version) makes the versions, and one call embeds the
round. Two ways, on the same versions and the same embedder:

- baseline: every version's whole text is embedded again;
- `SegmentVectors`: new lines only while a segment is open, whole text when it is final
  (and with `reembed_closed=False`: new lines only, final or not).

Reports tokens embedded per message and embedding CPU seconds for both; the cosine of
each open version's vector to its whole text's embedding; and, over the closed segments,
how many of each one's 10 nearest neighbours share its topic when every segment is
represented by its whole-text vector, by the vector it had as an open segment just
before it closed, or by the plain token-weighted mean of its lines' embeddings.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.samples.conversations import ConversationGenerator  # noqa: E402
from models import load_embedder  # noqa: E402
from operators.index.segment import SegmentBuilder, SegmentState  # noqa: E402
from operators.index.vectors import SegmentVectors  # noqa: E402
from operators.ingest.parse import Parser  # noqa: E402
from schemas.message import ChatMessage  # noqa: E402
from schemas.raw import RawLine  # noqa: E402
from schemas.segment import Segment  # noqa: E402

BUDGET = 128
GAP_MS = 1_800_000


def conversations(count: int, seed: int) -> tuple[list[list[ChatMessage]], dict, dict]:
    gen = ConversationGenerator(seed=seed)
    lines = gen.lines(count)
    parser = Parser(ZoneInfo("Asia/Ho_Chi_Minh"), max_clock_skew_ms=10**13)
    by_conv: dict[tuple[str, str], dict[str, ChatMessage]] = defaultdict(dict)
    for i, text in enumerate(lines):
        parsed = parser.parse(RawLine(text, 4_000_000_000_000, f"sample:{i}"))
        if isinstance(parsed, ChatMessage):
            by_conv[(parsed.tenant, parsed.conversation_id)][parsed.message_id] = parsed
    convs = [sorted(ms.values(), key=lambda m: m.event_ms) for ms in by_conv.values()]
    return convs, gen.expected.topics, gen.expected.languages


def rounds(convs: list[list[ChatMessage]], count_tokens) -> list[list[Segment]]:
    builders = [
        SegmentBuilder(
            SegmentState(),
            gap_ms=GAP_MS,
            max_tokens=BUDGET,
            coalesce_ms=0,
            count_tokens=count_tokens,
            clock=lambda: 0,
        )
        for _ in convs
    ]
    out: list[list[Segment]] = []
    for step in range(max(len(c) for c in convs) + 1):
        versions: list[Segment] = []
        for conv, builder in zip(convs, builders, strict=True):
            if step < len(conv):
                versions += builder.add([conv[step]])
            elif step == len(conv):
                versions += builder.flush()
        out.append(versions)
    return out


def knn_topic_agreement(vectors: np.ndarray, topics: np.ndarray, k: int = 10) -> float:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    return float((topics[nearest] == topics[:, None]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    embedder = load_embedder()
    convs, topics, languages = conversations(args.conversations, args.seed)
    messages = sum(len(c) for c in convs)
    plan = rounds(convs, embedder.token_counts)
    print(
        f"{len(convs)} conversations, {messages} messages, "
        f"{sum(map(len, plan))} versions in {len(plan)} rounds"
    )

    cpu = time.process_time()
    baseline_tokens = 0
    whole: dict = {}  # uuid -> whole-text vector of the latest version
    open_whole: list[np.ndarray] = []
    for versions in plan:
        texts = [seg.text for seg in versions]
        baseline_tokens += sum(embedder.token_counts(texts))
        for seg, vec in zip(versions, embedder.embed_passages(texts), strict=True):
            whole[seg.uuid] = vec
            if not seg.final:
                open_whole.append(vec)
    baseline_cpu = time.process_time() - cpu

    print("\n| way | tokens embedded / message | embedding CPU s | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| baseline: whole text of every version | {baseline_tokens / messages:.1f} | "
        f"{baseline_cpu:.1f} | 1.00x |"
    )
    for reembed_closed in (True, False):
        vectors = SegmentVectors(
            embedder.embed_passages, embedder.token_counts, reembed_closed=reembed_closed
        )
        cpu = time.process_time()
        tokens = 0
        open_vectors: list[np.ndarray] = []
        before_close: dict = {}  # uuid -> the vector it had as an open segment
        for versions in plan:
            embedded = vectors.embed(versions)
            vectors.stored(embedded, embedded.segments)
            tokens += embedded.tokens
            for seg, vec in zip(embedded.segments, embedded.vectors, strict=True):
                if not seg.final:
                    open_vectors.append(vec)
                    before_close[seg.uuid] = vec
        used = time.process_time() - cpu
        print(
            f"| SegmentVectors, reembed_closed={reembed_closed} | {tokens / messages:.1f} | "
            f"{used:.1f} | {used / baseline_cpu:.2f}x |"
        )

    cos = np.einsum("ij,ij->i", np.array(open_vectors), np.array(open_whole))
    print(
        f"\nopen versions: {len(cos)}, cosine to the whole text's vector: mean "
        f"{cos.mean():.4f}, p5 {np.percentile(cos, 5):.4f}, min {cos.min():.4f}"
    )

    final = [seg for versions in plan for seg in versions if seg.final]
    lines_mean = {}
    for seg in final:
        rendered = [line.rendered for line in seg.lines]
        weights = np.array([max(1, c - 2) for c in embedder.token_counts(rendered)])
        total = weights @ embedder.embed_passages(rendered)
        lines_mean[seg.uuid] = total / np.linalg.norm(total)
    keys = [(seg.tenant, seg.conversation_id) for seg in final]
    topic = np.array([topics.get(k, "") for k in keys])
    language = np.array([languages.get(k, "") for k in keys])
    print("\n| segments represented by | top-10 same topic, en | vi |")
    print("| --- | ---: | ---: |")
    for name, table in (
        ("whole text (stored once final)", whole),
        (
            "open-segment vector just before closing (stored with reembed_closed=False)",
            before_close,
        ),
        ("token-weighted mean of its lines", lines_mean),
    ):
        rows = np.array([table.get(seg.uuid, whole[seg.uuid]) for seg in final])
        cells = [
            knn_topic_agreement(rows[language == lang], topic[language == lang])
            for lang in ("en", "vi")
        ]
        print(f"| {name} | {cells[0]:.3f} | {cells[1]:.3f} |")


if __name__ == "__main__":
    main()
