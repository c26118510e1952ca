"""The actions flow's audit log: an append-only JSONL file of `ActionAudit`, one line a
decision, and the memory of which alerts were already acted on.

Every decision is taken holding an exclusive `flock` on the file: `locked()` takes it,
reads what was appended since this process last looked (by itself, an earlier run, or
another process on the same file), and hands back the log to check and append to; each
`append` is flushed and fsynced before it returns. So two processes deciding on the same
alert (two workers' processes, two deployments by mistake, a restart that overlaps the
old run) take turns, and the second sees the first one's decision.

A line that is not a valid record (the torn end of a write a crash cut short) is logged
and skipped; the next append starts on a new line. Nothing is forgotten: drift alerts
are few (one per tenant, signal and action per cooldown), and an alert id that were
forgotten could be acted on twice when the topic is replayed.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from schemas.action import ActionAudit

log = logging.getLogger(__name__)


class AuditLog:
    """The audit log at `path` (created with its folder at the first decision)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        """How far this process has read the file."""
        self._last: dict[str, ActionAudit] = {}
        """alert_id -> its last decision that was not `duplicate`."""
        self._file: BinaryIO | None = None
        self._loaded = False

    @contextmanager
    def locked(self) -> Iterator[AuditLog]:
        """The log, up to date and held exclusively until the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with open(self.path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if created:
                _fsync_dir(self.path.parent)
            self._catch_up(f)
            self._file = f
            try:
                yield self
            finally:
                self._file = None

    def last(self, alert_id: str) -> ActionAudit | None:
        """The alert's last decision other than `duplicate` (None: never decided on).

        Read it inside `locked()`: outside, another process may have decided since."""
        return self._last.get(alert_id)

    def append(self, record: ActionAudit) -> None:
        """Write one record, flushed and fsynced; only inside `locked()`."""
        if self._file is None:
            raise RuntimeError(f"{self.path}: append outside locked()")
        self._file.write(record.to_json() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._offset = self._file.tell()
        self._remember(record)

    def records(self) -> list[ActionAudit]:
        """Every valid record in the file, in order (for reading; takes no lock)."""
        if not self.path.exists():
            return []
        return list(_parse_lines(self.path.read_bytes().split(b"\n"), self.path))

    def _catch_up(self, f: BinaryIO) -> None:
        f.seek(self._offset)
        data = f.read()
        lines = data.split(b"\n")
        # The last piece has no newline after it: empty, or a write cut short by a crash
        # (the lock is held, so no one is writing it now). It stays unread, and the next
        # append starts a line of its own after it.
        tail = lines.pop()
        for record in _parse_lines(lines, self.path):
            self._remember(record)
        self._offset += len(data)
        if tail:
            log.warning("%s: skipping a cut-short last line: %.200r", self.path, tail)
            f.write(b"\n")
            f.flush()
            self._offset += 1
        if not self._loaded:
            self._loaded = True
            log.info(
                "audit log %s: %d alerts already acted on",
                self.path,
                sum(r.acted for r in self._last.values()),
            )

    def _remember(self, record: ActionAudit) -> None:
        if record.decision != "duplicate":
            self._last[record.alert_id] = record


def _parse_lines(lines: list[bytes], path: Path) -> Iterator[ActionAudit]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield ActionAudit.from_json(line)
        except ValidationError as exc:
            log.warning("%s: skipping a line that is not an audit record: %s", path, exc)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
