"""Test helpers of the index tests: a seeded fake embedder and a few segment lines."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from schemas.segment import SegmentLine

DIM = 8


class FakeEmbedder:
    """A unit vector per text, seeded by it; remembers what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        v = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.vector(t) for t in texts], dtype=np.float32).reshape(-1, DIM)


def words(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) + 2 for t in texts]


def line(i: int, text: str) -> SegmentLine:
    return SegmentLine(f"m{i}", "user", text, "vi", "webhook", 1_000 + i, 1_000 + i)


LINES = (
    line(0, "xin chào shop"),
    line(1, "đơn hàng của tôi đâu"),
    line(2, "cảm ơn"),
    line(3, "giao hàng mất mấy ngày vậy shop"),
)
