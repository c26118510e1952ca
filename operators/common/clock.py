"""The wall clock the steps use, injectable as a plain function for tests."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]  # epoch milliseconds


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
