"""Drift detectors on labelled streams: detection delay and false alarms, vs a batch test.

    .venv/bin/python -m benchmarks.bench_drift [--seeds 5] [--stationary 100000]

For each signal it generates, per seed, a stream with a known change point (a topic shift
in user messages, refusal rate 2% -> 10%, toxic rate 0.5% -> 4%, feedback mean
0.8 -> 0.6, message length shift) and one stationary stream of `--stationary` events.
Every candidate is the production `MeanShift` / `FeatureDrift` wrapper
(operators/drift/detectors.py) around a River detector; it reports the mean and worst
delay in events after the change, misses, alarms before the change, and false alarms
on the stationary stream. The batch approach of Evidently-style monitoring runs on the
same streams: every `N` events, a KS test (numeric signals) or PSI (rates) of the last
`N` events against the reference window, once with the usual thresholds
(p < 0.05, PSI > 0.1) and once with thresholds tightened to <= 1 false alarm per 100,000.

Texts for the topic signal come from two template pools (shop orders / shipping before,
banking-app account and payment problems after, Vietnamese and English), embedded once
with the shared embedder and cached in .cache/bench/; after the change 30% of the
messages come from the new topic.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from river.drift import ADWIN, PageHinkley
from river.drift.binary import DDM, HDDMA
from scipy import stats

from operators.drift.detectors import (
    ACCURACY_MIN_SHIFT_SD,
    EMBEDDING_MIN_SHIFT_SD,
    FeatureDrift,
    MeanShift,
    StridedKSWIN,
    default_feature_detector,
    default_mean_detector,
)
from operators.drift.signals import is_refusal, is_toxic, message_features

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
REFERENCE = 500  # events in the reference (embedding: the centroid) before detection starts
WINDOW = 200

TOPIC_A = (
    "Xin chào shop, em muốn hỏi về đơn hàng {n} ạ",
    "Đơn {n} của em sao chưa giao vậy shop?",
    "Cho mình hỏi phí ship ra {city} bao nhiêu?",
    "Em muốn đổi size {item} từ M sang L được không ạ",
    "Tôi muốn hủy đơn hàng {n} vì giao quá chậm",
    "Shop ơi còn {item} màu {color} không?",
    "{item} bị lỗi đường may thì có được hoàn tiền không",
    "Giá {item} đã gồm VAT chưa shop?",
    "Hi, I want to cancel my order {n}",
    "Can I change the delivery address to {city}?",
    "Do you still have the {color} {item} in stock?",
    "How long does shipping to {city} take?",
    "My order {n} arrived damaged, can I return it?",
    "Is there a discount on the {item}?",
    "Khi nào {item} màu {color} về hàng vậy shop?",
    "Ship về {city} mất mấy ngày ạ?",
    "I ordered a {item} but received the wrong color",
    "Shop có giao hàng COD ở {city} không?",
)
TOPIC_B = (
    "Tôi không đăng nhập được vào ứng dụng ngân hàng",
    "Mã OTP gửi về điện thoại bị chậm {n} phút",
    "Tài khoản của tôi bị khóa sau khi nhập sai mật khẩu",
    "Chuyển khoản {n} đồng bị treo",
    "Thẻ tín dụng bị trừ tiền hai lần cho giao dịch {n}",
    "Làm sao để đổi mã PIN thẻ ATM?",
    "I can't log in to my banking app since the update",
    "My transfer of {n} dollars failed",
    "The OTP code never arrives on my phone",
    "Why was my credit card charged twice?",
    "How do I reset my online banking password?",
    "My account was locked after {n} attempts",
    "Ứng dụng báo lỗi khi xác thực khuôn mặt",
    "Lãi suất tiết kiệm kỳ hạn {n} tháng là bao nhiêu?",
    "Please unblock my debit card ending {n}",
    "The app crashes when I open the statement",
)
SLOTS = {
    "n": [str(x) for x in range(1000, 1060)],
    "city": ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ", "Hải Phòng", "District 3", "Nha Trang"],
    "item": ["áo", "quần jean", "giày", "túi xách", "váy", "jacket", "sneakers", "hat"],
    "color": ["đen", "trắng", "đỏ", "xanh", "black", "white", "navy"],
}
BOT_NORMAL = (
    "Dạ chào anh/chị, shop có thể giúp gì ạ?",
    "Dạ đơn {n} đang được giao, dự kiến tới hôm nay ạ",
    "Dạ phí ship ra {city} là 30.000đ ạ",
    "Sure, your order {n} has been cancelled.",
    "Sản phẩm được đổi trả trong vòng 7 ngày kể từ khi nhận hàng",
    "Thanks for reaching out! A confirmation email is on its way.",
    "Dạ {item} màu {color} hiện còn hàng ạ",
    "Your refund for order {n} is being processed.",
)
BOT_REFUSAL = (
    "Xin lỗi, em không thể hỗ trợ yêu cầu này ạ",
    "I'm sorry, but I can't help with that.",
    "Rất tiếc, yêu cầu của anh nằm ngoài phạm vi hỗ trợ của em",
    "I cannot provide that information.",
    "xin loi, minh khong the tra loi cau hoi nay",
    "As an AI assistant, I am unable to share personal data.",
)
BOT_TOXIC = (
    "Hỏi gì mà ngu như bò vậy",
    "Stop asking stupid questions",
    "Đồ ngu, đọc kỹ đi",
    "That is a dumb idea, idiot",
    "cút đi, hỏi lắm thế",
    "vcl hỏi hoài",
)


def fill(template: str, rng: random.Random) -> str:
    return template.format(**{k: rng.choice(v) for k, v in SLOTS.items()})


# ---- streams -------------------------------------------------------------------------


@dataclass
class Stream:
    values: list  # what the candidate's update() takes
    change: int | None  # index of the first changed event, None when stationary


def topic_pool() -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of distinct texts of topic A and topic B (cached)."""
    from models import load_embedder

    embedder = load_embedder()
    path = CACHE / f"drift_topics_{embedder.version}.npz"
    if path.exists():
        cached = np.load(path)
        return cached["a"], cached["b"]
    rng = random.Random(0)
    texts_a = sorted({fill(rng.choice(TOPIC_A), rng) for _ in range(6000)})
    texts_b = sorted({fill(rng.choice(TOPIC_B), rng) for _ in range(6000)})
    a, b = embedder.embed_passages(texts_a), embedder.embed_passages(texts_b)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, a=a, b=b)
    return a, b


def topic_stream(
    pool: tuple[np.ndarray, np.ndarray], seed: int, n: int, change: int | None, share_b: float = 0.3
) -> Stream:
    """Cosine distances to the centroid of the first REFERENCE embeddings (dropped)."""
    rng = np.random.default_rng(seed)
    a, b = pool
    rows = a[rng.integers(0, len(a), n)]
    if change is not None:
        new = np.flatnonzero(rng.random(n - change) < share_b) + change
        rows[new] = b[rng.integers(0, len(b), len(new))]
    centroid = rows[:REFERENCE].mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    distances = 1.0 - rows[REFERENCE:] @ centroid
    return Stream(distances.tolist(), None if change is None else change - REFERENCE)


def rate_stream(
    kind: str, seed: int, n: int, change: int | None, before: float, after: float
) -> Stream:
    """0/1 per bot reply, from generated replies run through is_refusal / is_toxic."""
    rng = random.Random(seed)
    special, test = (BOT_REFUSAL, is_refusal) if kind == "refusal" else (BOT_TOXIC, is_toxic)
    out = []
    for i in range(n):
        p = after if change is not None and i >= change else before
        text = rng.choice(special) if rng.random() < p else fill(rng.choice(BOT_NORMAL), rng)
        out.append(1.0 if test(text) else 0.0)
    return Stream(out, change)


def feedback_stream(
    seed: int, n: int, change: int | None, before: float = 0.8, after: float = 0.6
) -> Stream:
    """Scores: 70% thumbs (0/1), 30% five-point ratings (0, .25, ... 1), mean as given."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        mean = after if change is not None and i >= change else before
        if rng.random() < 0.7:
            out.append(1.0 if rng.random() < mean else 0.0)
        else:
            out.append(min(4, max(0, round(rng.gauss(mean * 4, 1.0)))) / 4)
    return Stream(out, change)


def length_stream(seed: int, n: int, change: int | None) -> Stream:
    """Feature rows of user messages; after the change, half get a pasted order detail."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = fill(rng.choice(TOPIC_A), rng)
        if change is not None and i >= change and rng.random() < 0.5:
            text += (
                f". Mã đơn {rng.randint(10**7, 10**8)}, giao tới {fill('{city}', rng)}, "
                f"người nhận {rng.choice(['Lan', 'Minh', 'Hùng', 'Thảo'])}, "
                "nhờ shop kiểm tra giúp em với ạ"
            )
        f = message_features(text)
        rows.append({"log_length": f.log_length, "marked_ratio": f.marked_ratio})
    return Stream(rows, change)


# ---- candidates ----------------------------------------------------------------------

Monitor = MeanShift | FeatureDrift


@dataclass(frozen=True)
class Candidate:
    name: str
    build: Callable[[], Monitor]


def embedding_candidates() -> list[Candidate]:
    def ms(detector, **kw) -> Callable[[], MeanShift]:
        return lambda: MeanShift(
            detector(),
            direction="up",
            window_size=WINDOW,
            reference_size=200,
            min_shift_sd=EMBEDDING_MIN_SHIFT_SD,
            **kw,
        )

    return [
        Candidate("ADWIN(delta=0.002)", ms(lambda: ADWIN(delta=0.002))),
        Candidate("ADWIN(delta=1e-4)", ms(lambda: ADWIN(delta=1e-4))),
        Candidate("ADWIN(delta=0.01, clock=8)", ms(lambda: ADWIN(delta=0.01, clock=8))),
        Candidate("ADWIN(delta=0.002, clock=8)", ms(lambda: ADWIN(delta=0.002, clock=8))),
        Candidate(
            "ADWIN(delta=0.01, clock=8) on z",
            ms(lambda: ADWIN(delta=0.01, clock=8), standardize=True),
        ),
        Candidate(
            "PageHinkley(delta=0.5, threshold=15) on z",
            ms(lambda: PageHinkley(delta=0.5, threshold=15, mode="up"), standardize=True),
        ),
        Candidate(
            "PageHinkley(delta=0.25, threshold=25) on z",
            ms(lambda: PageHinkley(delta=0.25, threshold=25, mode="up"), standardize=True),
        ),
    ]


def rate_candidates(threshold: float) -> list[Candidate]:
    def ms(detector, **kw) -> Callable[[], MeanShift]:
        return lambda: MeanShift(
            detector(),
            direction="up",
            window_size=WINDOW,
            reference_size=REFERENCE,
            level=threshold,
            **kw,
        )

    return [
        Candidate("ADWIN(delta=0.002)", ms(lambda: ADWIN(delta=0.002))),
        Candidate("ADWIN(delta=1e-3)", ms(lambda: ADWIN(delta=1e-3))),
        Candidate("ADWIN(delta=0.01, clock=8)", ms(lambda: ADWIN(delta=0.01, clock=8))),
        Candidate("ADWIN(delta=0.002, clock=8)", ms(lambda: ADWIN(delta=0.002, clock=8))),
        Candidate(
            "ADWIN(delta=0.01, clock=8) on z",
            ms(lambda: ADWIN(delta=0.01, clock=8), standardize=True),
        ),
        Candidate(
            "ADWIN(delta=0.002), no rate gate",
            lambda: MeanShift(
                ADWIN(delta=0.002), direction="up", window_size=WINDOW, reference_size=REFERENCE
            ),
        ),
        Candidate("DDM()", ms(lambda: DDM())),
        Candidate("HDDM_A()", ms(lambda: HDDMA())),
        Candidate(
            "PageHinkley(delta=0.01, threshold=3)",
            ms(lambda: PageHinkley(delta=0.01, threshold=3.0, mode="up")),
        ),
        Candidate(
            "PageHinkley(delta=0.025, threshold=8)",
            ms(lambda: PageHinkley(delta=0.025, threshold=8.0, mode="up")),
        ),
        Candidate(
            "PageHinkley(delta=0.025, threshold=12)",
            ms(lambda: PageHinkley(delta=0.025, threshold=12.0, mode="up")),
        ),
    ]


def accuracy_candidates() -> list[Candidate]:
    def ms(detector, **kw) -> Callable[[], MeanShift]:
        return lambda: MeanShift(
            detector(),
            direction="down",
            window_size=WINDOW,
            reference_size=200,
            min_shift_sd=ACCURACY_MIN_SHIFT_SD,
            **kw,
        )

    return [
        Candidate("ADWIN(delta=0.002)", ms(lambda: ADWIN(delta=0.002))),
        Candidate("ADWIN(delta=1e-4)", ms(lambda: ADWIN(delta=1e-4))),
        Candidate("ADWIN(delta=0.01, clock=8)", ms(lambda: ADWIN(delta=0.01, clock=8))),
        Candidate("ADWIN(delta=0.002, clock=8)", ms(lambda: ADWIN(delta=0.002, clock=8))),
        Candidate(
            "ADWIN(delta=0.01, clock=8) on z",
            ms(lambda: ADWIN(delta=0.01, clock=8), standardize=True),
        ),
        Candidate(
            "ADWIN(delta=0.002), no gate",
            lambda: MeanShift(
                ADWIN(delta=0.002), direction="down", window_size=WINDOW, reference_size=200
            ),
        ),
        Candidate(
            "PageHinkley(delta=0.25, threshold=20) on z",
            ms(lambda: PageHinkley(delta=0.25, threshold=20, mode="down"), standardize=True),
        ),
        Candidate(
            "DDM() on errors (score < 0.5)",
            lambda: _Binarized(
                MeanShift(
                    DDM(),
                    direction="up",
                    window_size=WINDOW,
                    reference_size=200,
                    min_shift_sd=ACCURACY_MIN_SHIFT_SD,
                )
            ),
        ),
    ]


def feature_candidates() -> list[Candidate]:
    feats = ["log_length", "marked_ratio"]

    def kswin(**kw) -> Callable[[], FeatureDrift]:
        return lambda: FeatureDrift(feats, factory=lambda: StridedKSWIN(seed=42, **kw))

    return [
        Candidate("KSWIN(alpha=0.005, 100/30), test every 10 (River's defaults)", kswin(stride=10)),
        Candidate(
            "KSWIN(alpha=1e-4, 300/100), test every 10",
            kswin(alpha=1e-4, window_size=300, stat_size=100, stride=10),
        ),
        Candidate(
            "KSWIN(alpha=1e-6, 500/100), test every 10",
            kswin(alpha=1e-6, window_size=500, stat_size=100, stride=10),
        ),
    ]


class _Binarized:
    """Feeds `score < 0.5` (an error) to a rate monitor."""

    def __init__(self, inner: MeanShift) -> None:
        self.inner = inner

    def update(self, x: float) -> _Binarized:
        self.inner.update(1.0 if x < 0.5 else 0.0)
        return self

    @property
    def drift_detected(self) -> bool:
        return self.inner.drift_detected


# ---- the batch baseline --------------------------------------------------------------


def psi(reference: np.ndarray, window: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index of a 0/1 variable."""
    p = np.clip(np.array([1 - reference.mean(), reference.mean()]), eps, None)
    q = np.clip(np.array([1 - window.mean(), window.mean()]), eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


class BatchTest:
    """Every `every` events, test the last `every` events against the reference window."""

    def __init__(
        self,
        kind: str,
        threshold: float,
        every: int = 500,
        reference_size: int = REFERENCE,
        column: str | None = None,
    ) -> None:
        self.kind, self.threshold, self.every = kind, threshold, every
        self.reference_size, self.column = reference_size, column
        self._values: list[float] = []
        self._reference: np.ndarray | None = None
        self.drift_detected = False

    def update(self, x) -> BatchTest:
        self.drift_detected = False
        self._values.append(x[self.column] if self.column else x)
        if self._reference is None:
            if len(self._values) == self.reference_size:
                self._reference = np.array(self._values)
                self._values = []
            return self
        if len(self._values) < self.every:
            return self
        window = np.array(self._values)
        self._values = []
        if self.kind == "psi":
            self.drift_detected = psi(self._reference, window) > self.threshold
        else:
            p_value = stats.ks_2samp(self._reference, window).pvalue
            self.drift_detected = p_value < self.threshold
        return self


class _AnyOf:
    def __init__(self, parts: list[BatchTest]) -> None:
        self.parts = parts
        self.drift_detected = False

    def update(self, x) -> _AnyOf:
        self.drift_detected = any([p.update(x).drift_detected for p in self.parts])
        return self


def batch_candidates(signal: str) -> list[Candidate]:
    def ks(alpha: float) -> Callable[[], BatchTest | _AnyOf]:
        if signal == "data":
            return lambda: _AnyOf(
                [BatchTest("ks", alpha, column=c) for c in ("log_length", "marked_ratio")]
            )
        return lambda: BatchTest("ks", alpha)

    if signal in ("refusal", "toxicity"):
        return [
            Candidate("batch PSI > 0.1, every 500", lambda: BatchTest("psi", 0.1)),
            Candidate("batch PSI > 0.05, every 500", lambda: BatchTest("psi", 0.05)),
        ]
    return [
        Candidate("batch KS p < 0.05, every 500", ks(0.05)),
        Candidate("batch KS p < 1e-4, every 500", ks(1e-4)),
    ]


# ---- running -------------------------------------------------------------------------


def detections(monitor, values: list) -> Iterator[int]:
    for i, x in enumerate(values):
        if monitor.update(x).drift_detected:
            yield i


@dataclass
class Result:
    delays: list[int]
    missed: int
    false_alarms: int  # on the stationary stream and before the change points
    stationary_events: int

    @property
    def fa_per_100k(self) -> float:
        return self.false_alarms * 100_000 / self.stationary_events


def evaluate(candidate: Candidate, changes: list[Stream], stationary: Stream) -> Result:
    delays, missed, false_alarms = [], 0, 0
    events = len(stationary.values)
    for stream in changes:
        assert stream.change is not None
        hits = list(detections(candidate.build(), stream.values))
        false_alarms += sum(1 for i in hits if i < stream.change)
        events += stream.change
        after = [i - stream.change for i in hits if i >= stream.change]
        if after:
            delays.append(after[0])
        else:
            missed += 1
    false_alarms += sum(1 for _ in detections(candidate.build(), stationary.values))
    return Result(delays, missed, false_alarms, events)


def row(signal: str, name: str, result: Result, seconds: float) -> str:
    if result.delays:
        mean, worst = sum(result.delays) / len(result.delays), max(result.delays)
        delay = f"{mean:,.0f} / {worst:,}"
    else:
        delay = "–"
    return (
        f"| {signal} | {name} | {delay} | {result.missed} | {result.false_alarms} / "
        f"{result.stationary_events:,} | {result.fa_per_100k:.1f} | {seconds:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--stationary", type=int, default=100_000)
    parser.add_argument(
        "--change-at",
        type=int,
        default=20_000,
        help="events before the change (the reference included)",
    )
    parser.add_argument("--data-change-at", type=int, default=3_000)
    parser.add_argument("--after", type=int, default=5_000, help="events after the change")
    parser.add_argument("--only", default="", help="comma-separated signals to run")
    args = parser.parse_args(argv)
    seeds = range(1, args.seeds + 1)
    only = set(filter(None, args.only.split(",")))

    def at(seed: int, before: int) -> tuple[int, int]:
        # the change point moves with the seed so that it falls anywhere in a batch window
        change = before + (seed * 137) % 500
        return change + args.after, change

    plans: dict[str, tuple[Callable[[], tuple[list[Stream], Stream]], list[Candidate]]] = {}
    pool: tuple[np.ndarray, np.ndarray] | None = None
    c = args.change_at

    def topic() -> tuple[list[Stream], Stream]:
        nonlocal pool
        pool = pool or topic_pool()
        return (
            [topic_stream(pool, s, *at(s, c)) for s in seeds],
            topic_stream(pool, 1000, args.stationary + REFERENCE, None),
        )

    plans["embedding"] = (topic, embedding_candidates())
    plans["refusal"] = (
        lambda: (
            [rate_stream("refusal", s, *at(s, c), 0.02, 0.10) for s in seeds],
            rate_stream("refusal", 1000, args.stationary, None, 0.02, 0.02),
        ),
        rate_candidates(0.05),
    )
    plans["toxicity"] = (
        lambda: (
            [rate_stream("toxicity", s, *at(s, c), 0.005, 0.04) for s in seeds],
            rate_stream("toxicity", 1000, args.stationary, None, 0.005, 0.005),
        ),
        rate_candidates(0.02),
    )
    plans["accuracy"] = (
        lambda: (
            [feedback_stream(s, *at(s, c)) for s in seeds],
            feedback_stream(1000, args.stationary, None),
        ),
        accuracy_candidates(),
    )
    # KSWIN keeps no memory past its window, so a short lead-in shows its delay as well.
    plans["data"] = (
        lambda: (
            [length_stream(s, *at(s, args.data_change_at)) for s in seeds],
            length_stream(1000, args.stationary, None),
        ),
        feature_candidates(),
    )

    shipped = {
        name: make()
        for name, make in (
            ("embedding, rates, accuracy", default_mean_detector),
            ("data", default_feature_detector),
        )
    }
    print(
        "shipped (operators/drift/detectors.py): "
        + "; ".join(
            f"{name} {type(d).__name__}"
            f"{ {k: v for k, v in d._get_params().items() if not hasattr(v, '__len__')} }"
            for name, d in shipped.items()
        )
    )
    print(
        f"change after {c:,} (+0..499) events (data: {args.data_change_at:,}), "
        f"{args.after:,} after it, {args.seeds} seeds; "
        f"stationary streams of {args.stationary:,} events\n"
    )
    print(
        "| signal | detector | delay mean / worst | missed | false alarms / stationary "
        "events | FA per 100k | s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for signal, (make, candidates) in plans.items():
        if only and signal not in only:
            continue
        changes, stationary = make()
        for candidate in candidates + batch_candidates(signal):
            start = time.perf_counter()
            result = evaluate(candidate, changes, stationary)
            print(row(signal, candidate.name, result, time.perf_counter() - start), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
