"""Split each conversation into segments and send each segment's latest version downstream.

A segment is a run of consecutive messages of one conversation. It closes when the next
message comes more than `gap_ms` (event time) after the last one, or when that message
would push its text past `max_tokens`. The open segment is re-sent as messages arrive,
but at most once per `coalesce_ms` (wall clock), so a burst costs one re-embedding;
messages received more than a minute ago (a backfill, or a backlog after an outage) are
held `backfill_hold_ms` instead, so a conversation's run is embedded about once.
A segment that closes, by the gap or the budget, is sent once more as `final`, and so is
the open one at the end of the input: the index re-embeds a final version's whole text,
where it embedded only the new messages of the versions before.
A conversation's state is forgotten once it has been quiet (wall clock) for `gap_ms`
and everything was sent: the next message starts a new segment anyway, and segment
numbers come from event time (see `Segment`), so it cannot reuse one. Its open segment
is closed then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from operators.common.clock import Clock, wall_clock_ms
from schemas.message import ChatMessage
from schemas.segment import NUMBER_EPOCH_MS, Segment, SegmentLine, minute_number

LIVE_WINDOW_MS = 60_000
"""A message received longer ago than this is a backfill (a file, a topic's backlog)."""

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Token counts of texts, each including the model's two special tokens."""


@dataclass
class SegmentState:
    tenant: str = ""
    conversation_id: str = ""
    number: int = -(2**31)
    lines: list[SegmentLine] = field(default_factory=list)
    tokens: int = 0
    sent: int = 0  # lines already sent downstream
    last_event_ms: int = 0
    previous_ids: frozenset[str] = frozenset()  # of the last closed segment
    last_seen_at_ms: int = 0  # wall clock
    flush_due_ms: int | None = None  # wall clock


class SegmentBuilder:
    """The segmentation rules of one conversation, without Bytewax."""

    def __init__(
        self,
        state: SegmentState,
        *,
        gap_ms: int,
        max_tokens: int,
        coalesce_ms: int,
        count_tokens: TokenCounter,
        clock: Clock,
        backfill_hold_ms: int | None = None,
    ) -> None:
        self.state = state
        self._gap_ms = gap_ms
        self._max_tokens = max_tokens
        self._coalesce_ms = coalesce_ms
        self._backfill_hold_ms = coalesce_ms if backfill_hold_ms is None else backfill_hold_ms
        self._count_tokens = count_tokens
        self._clock = clock

    def add(self, messages: Sequence[ChatMessage]) -> list[Segment]:
        """Versions to send now: the segments these messages closed, maybe the open one."""
        state = self.state
        now = self._clock()
        state.last_seen_at_ms = now
        if messages and not state.conversation_id:
            state.tenant, state.conversation_id = messages[0].tenant, messages[0].conversation_id
        lines = [SegmentLine.of(m) for m in messages if not self._seen(m.message_id)]
        out: list[Segment] = []
        for line, tokens in zip(
            lines, self._count_tokens([x.rendered for x in lines]), strict=True
        ):
            if self._seen(line.message_id) or any(
                line.message_id == kept.message_id for kept in state.lines
            ):
                continue  # a replayed duplicate: of a segment this batch closed, or the open one
            if state.lines and (
                line.event_ms - state.last_event_ms > self._gap_ms
                or state.tokens + tokens - 2 > self._max_tokens
            ):
                out.extend(self._pending(final=True))
                self._close()
            if not state.lines:
                state.number = max(minute_number(line.event_ms), state.number + 1)
                state.tokens = 2
            state.lines.append(line)
            state.tokens += tokens - 2
            state.last_event_ms = max(state.last_event_ms, line.event_ms)
        if state.sent < len(state.lines):
            delay = self._delay(lines, now)
            if delay == 0:
                out.extend(self._pending())
            elif state.flush_due_ms is None or now + delay < state.flush_due_ms:
                state.flush_due_ms = now + delay
        return out

    def _delay(self, lines: Sequence[SegmentLine], now: int) -> int:
        """Coalesce live traffic briefly; hold a backfill's segments longer (nobody waits)."""
        if any(now - line.received_at <= LIVE_WINDOW_MS for line in lines):
            return self._coalesce_ms
        return self._backfill_hold_ms

    def due(self) -> tuple[list[Segment], bool]:
        """On a wake-up: the open segment if its coalescing time is up; whether to forget.

        A conversation is forgotten once quiet for the gap, and its open segment is sent
        as final then.
        """
        state = self.state
        now = self._clock()
        flush_due = state.flush_due_ms is not None and now >= state.flush_due_ms
        forget = (
            (state.flush_due_ms is None or flush_due)
            and now >= state.last_seen_at_ms + self._gap_ms
            and minute_number(now) > state.number  # a new segment cannot reuse the number
        )
        if forget:
            return self._pending(final=True), True
        return (self._pending() if flush_due else []), False

    def flush(self) -> list[Segment]:
        """At the end of the input: the open segment, final."""
        return self._pending(final=True)

    def wake_at_ms(self) -> int:
        state = self.state
        forget = max(
            state.last_seen_at_ms + self._gap_ms, NUMBER_EPOCH_MS + (state.number + 1) * 60_000
        )
        return forget if state.flush_due_ms is None else min(state.flush_due_ms, forget)

    def _seen(self, message_id: str) -> bool:
        return message_id in self.state.previous_ids

    def _pending(self, *, final: bool = False) -> list[Segment]:
        """The open segment if it has lines not sent yet; when `final`, if it has any."""
        state = self.state
        state.flush_due_ms = None
        if not state.lines or (state.sent == len(state.lines) and not final):
            return []
        segment = Segment(
            state.tenant,
            state.conversation_id,
            state.number,
            tuple(state.lines),
            new_from=state.sent,
            tokens=state.tokens,
            final=final,
        )
        state.sent = len(state.lines)
        return [segment]

    def _close(self) -> None:
        state = self.state
        state.previous_ids = frozenset(line.message_id for line in state.lines)
        state.lines = []
        state.tokens = 0
        state.sent = 0


class SegmentLogic(StatefulBatchLogic[ChatMessage, Segment, SegmentState]):
    def __init__(self, builder: SegmentBuilder) -> None:
        self.builder = builder

    def on_batch(self, values: list[ChatMessage]) -> tuple[Iterable[Segment], bool]:
        return self.builder.add(values), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[Segment], bool]:
        return self.builder.due()

    def on_eof(self) -> tuple[Iterable[Segment], bool]:
        return self.builder.flush(), StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.builder.wake_at_ms() / 1000, UTC)

    def snapshot(self) -> SegmentState:
        s = self.builder.state
        return SegmentState(
            s.tenant,
            s.conversation_id,
            s.number,
            list(s.lines),
            s.tokens,
            s.sent,
            s.last_event_ms,
            s.previous_ids,
            s.last_seen_at_ms,
            s.flush_due_ms,
        )


@operator
def segment_conversations(
    step_id: str,
    up: Stream[ChatMessage],
    *,
    gap_ms: int,
    max_tokens: int,
    coalesce_ms: int,
    count_tokens: TokenCounter,
    backfill_hold_ms: int | None = None,
    clock: Clock = wall_clock_ms,
) -> Stream[Segment]:
    """Versions of conversation segments, each a whole segment, as messages arrive."""

    def build(state: SegmentState | None) -> SegmentLogic:
        return SegmentLogic(
            SegmentBuilder(
                state or SegmentState(),
                gap_ms=gap_ms,
                max_tokens=max_tokens,
                coalesce_ms=coalesce_ms,
                count_tokens=count_tokens,
                clock=clock,
                backfill_hold_ms=backfill_hold_ms,
            )
        )

    keyed = op.key_on("key", up, lambda m: m.key)
    segments = op.stateful_batch("segments", keyed, build)
    return op.map("unkey", segments, lambda kv: kv[1])
