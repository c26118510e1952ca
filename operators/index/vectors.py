"""Segment vectors that cost each message one embedding while its segment is open.

A segment's vector is the embedding of its whole text. Re-embedding the whole open segment
for every message that joins it embeds each message again and again (about half the token
budget per message), so between its first and its final version an open segment's vector
is updated instead: the stored vector, weighted by the tokens it stands for, plus the
embeddings of the new messages' lines, weighted by theirs, normalized. A final version
(the segment closed, or the input ended) is embedded whole once more, unless its stored
vector already is that; with `reembed_closed=False` it keeps the running vector, so each
message is embedded about once (more live capacity, a vector a little less like the whole
text's: benchmarks/README.md, "Open-segment vectors").

What a process knows of stored vectors lives in a bounded cache of open segments; a
segment it does not know (after a restart, or evicted) is embedded whole.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from operators.index.segment import TokenCounter
from schemas.segment import Segment

Embed = Callable[[Sequence[str]], np.ndarray]

OPEN_SEGMENTS = 20_000
"""Open segments a process remembers the vectors of: ~1.6 KB each at 384 dimensions."""


@dataclass(frozen=True)
class KnownVector:
    """The vector of a segment's first `lines` lines and the tokens it stands for."""

    lines: int
    tokens: int
    vector: np.ndarray
    whole: bool  # the embedding of those lines' whole text


@dataclass
class Embedded:
    """Vectors for the versions to write, and what the cache learns once they are stored."""

    segments: list[Segment]
    vectors: np.ndarray
    tokens: int  # embedded for them, special tokens included
    skipped: list[Segment]  # final versions with nothing to store: their vector is stored
    known: dict[uuid.UUID, KnownVector] = field(default_factory=dict)


class SegmentVectors:
    """Embeds segment versions, each new message once while its segment is open."""

    def __init__(
        self,
        embed: Embed,
        count_tokens: TokenCounter,
        *,
        reembed_closed: bool = True,
        capacity: int = OPEN_SEGMENTS,
    ) -> None:
        self._embed = embed
        self._reembed_closed = reembed_closed
        self._count_tokens = count_tokens
        self._capacity = capacity
        self._known: OrderedDict[uuid.UUID, KnownVector] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def only_refines(self, seg: Segment) -> bool:
        """Whether embedding this version changes only how exact a stored vector is.

        True for a final version whose lines are all stored under a running vector: its
        text is searchable already, and the whole-text embedding can wait for idle time.
        """
        known = self._known.get(seg.uuid)
        return (
            seg.final
            and self._reembed_closed
            and known is not None
            and not known.whole
            and known.lines == len(seg.lines)
        )

    def embed(self, segments: Sequence[Segment]) -> Embedded:
        """Vectors for one version per segment; nothing is remembered until `stored`."""
        plans: list[tuple[Segment, KnownVector | None, list[str]]] = []
        skipped: list[Segment] = []
        for seg in segments:
            known = self._known.get(seg.uuid)
            if (
                seg.final
                and known is not None
                and known.lines == len(seg.lines)
                and (known.whole or not self._reembed_closed)
            ):
                skipped.append(seg)
            elif (
                known is not None
                and known.lines <= len(seg.lines)
                and not (seg.final and self._reembed_closed)
            ):
                plans.append((seg, known, [line.rendered for line in seg.lines[known.lines :]]))
            else:
                plans.append((seg, None, [seg.text]))
        texts = [text for _, _, texts in plans for text in texts]
        counts = self._count_tokens(texts)
        rows = self._embed(texts)
        vectors = np.empty((len(plans), rows.shape[1]), dtype=np.float32)
        known_after: dict[uuid.UUID, KnownVector] = {}
        at = 0
        for i, (seg, known, texts_of_seg) in enumerate(plans):
            part = slice(at, at + len(texts_of_seg))
            at = part.stop
            weights = np.array([max(1, c - 2) for c in counts[part]], dtype=np.float32)
            total = weights @ rows[part]
            tokens = int(weights.sum())
            if known is not None:
                total += known.tokens * known.vector
                tokens += known.tokens
            vectors[i] = total / np.linalg.norm(total)
            known_after[seg.uuid] = KnownVector(
                len(seg.lines), tokens, vectors[i], whole=known is None
            )
        return Embedded([seg for seg, _, _ in plans], vectors, sum(counts), skipped, known_after)

    def stored(self, embedded: Embedded, stored: Sequence[Segment]) -> None:
        """Remember the vectors Weaviate now holds; forget segments that are closed."""
        for seg in [*stored, *embedded.skipped]:
            if seg.final:
                self._known.pop(seg.uuid, None)
                continue
            self._known[seg.uuid] = embedded.known[seg.uuid]
            self._known.move_to_end(seg.uuid)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
