"""What a Bytewax recovery store says a restart would resume from."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path


def resume_epoch(recovery: Path) -> int | None:
    """The epoch a restart resumes from: the lowest commit over the recovery partitions,
    or None while one of them has committed nothing."""
    parts = list(recovery.glob("*.sqlite3"))
    commits = []
    for part in parts:
        with closing(sqlite3.connect(part)) as db:
            commits += [epoch for (epoch,) in db.execute("SELECT commit_epoch FROM commits")]
    return min(commits) if parts and len(commits) >= len(parts) else None


def wait_for_new_commits(recovery: Path, timeout_s: float, epochs: int = 2) -> None:
    """Wait until a restart would resume from `epochs` epochs past where it would now: the
    snapshots it resumes from are then of state after this call."""
    deadline = time.monotonic() + timeout_s
    start = resume_epoch(recovery) or 0
    while (resume_epoch(recovery) or 0) < start + epochs:
        assert time.monotonic() < deadline, f"no new commit in {recovery} in {timeout_s} s"
        time.sleep(0.1)
