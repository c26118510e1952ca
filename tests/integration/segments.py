"""Segments for the tests that write to Weaviate directly."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.segment import Segment, SegmentLine


def segment(tenant: str, conversation: str, texts: Sequence[str] = ("hello",)) -> Segment:
    """A segment of user lines, one a second from 2024-05-01 03:00 UTC."""
    lines = tuple(
        SegmentLine(
            f"webhook:{conversation}-{i}",
            "user",
            text,
            "en",
            "webhook",
            1_714_532_400_000 + i * 1000,
            1_714_532_400_000 + i * 1000,
        )
        for i, text in enumerate(texts)
    )
    return Segment(tenant, conversation, 2_278_000, lines)
