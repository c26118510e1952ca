"""Telling when the Kafka brokers are away, for every client a step has.

`KafkaHealth`: one per step; each librdkafka client of the step takes a `client()`
handle and passes its `config()` (an `error_cb`, a `logger`). librdkafka reports a
connection failure on every reconnect attempt (tens a second per client while a broker
is down); they are counted in `headwater_kafka_errors_total{client,error}`, the gauge
`headwater_kafka_up{client}` drops to 0 when a client reports all brokers down, and the
log says so once, then at most every `LOG_EVERY_S` while it lasts, then "reachable
again" when every such client got through (a delivery, a commit or a batch of
messages, or a broker `UP` in its statistics, each second). librdkafka's own
per-attempt `FAIL` lines are dropped from its log, which goes to the
`headwater.librdkafka` logger. Short-lived clients (listing partitions, finding an end
offset) use `transient_config()`: counted and logged, but they raise on failure rather
than stand for the step's state.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

from operators.common.metrics import KAFKA_ERRORS, KAFKA_UP

log = logging.getLogger(__name__)

LOG_EVERY_S = 30.0
"""While Kafka stays unreachable, one log line per step at most this often."""

RECONNECT_BACKOFF_MAX_MS = 1000
"""librdkafka backs off reconnects up to 10 s by default, so a client could take that long
to notice a broker is back; 1 s keeps the catch-up after an outage prompt."""

_TRANSIENT = 0
"""The client number of short-lived clients (`KafkaHealth.transient_config`)."""

_DOWN = frozenset({"_ALL_BROKERS_DOWN"})
"""Errors that mean a client reaches no broker at all (one broker's `_TRANSPORT` does not,
in a cluster of several)."""


class _DropConnectionFailures(logging.Filter):
    """librdkafka's `FAIL` log lines, one per reconnect attempt; `KafkaHealth` reports
    the same failures, counted and rate-limited, through `error_cb`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and args[0] == "FAIL")


LIBRDKAFKA_LOG = logging.getLogger("headwater.librdkafka")
LIBRDKAFKA_LOG.addFilter(_DropConnectionFailures())


class KafkaHealth:
    """Reachability of Kafka as seen by one step's clients: metric and log (module doc)."""

    def __init__(
        self,
        name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        log_every_s: float = LOG_EVERY_S,
    ) -> None:
        self.name = name
        self._clock = clock
        self._log_every_s = log_every_s
        self._lock = threading.Lock()
        self._down: set[int] = set()
        self._down_since = 0.0
        self._errors_while_down = 0
        self._last_log: dict[str, float] = {}
        self._clients = 0
        KAFKA_UP.labels(client=name).set(1)

    @property
    def up(self) -> bool:
        """False while one of this step's clients reports all brokers down."""
        return not self._down

    def client(self) -> KafkaClientHealth:
        """A handle for one long-lived librdkafka client (producer, consumer) of this step."""
        with self._lock:
            self._clients += 1
            return KafkaClientHealth(self, self._clients)

    def transient_config(self) -> dict[str, Any]:
        """`config()` for a short-lived client: its errors count, its state does not."""
        return KafkaClientHealth(self, _TRANSIENT).config()

    def _error(self, client: int, err: KafkaError) -> None:
        name = err.name()
        KAFKA_ERRORS.labels(client=self.name, error=name).inc()
        now = self._clock()
        if err.fatal():
            log.error("kafka fatal error in %s: %s", self.name, err.str())
            return
        with self._lock:
            if name in _DOWN and client != _TRANSIENT and client not in self._down:
                first = not self._down
                self._down.add(client)
                if first:
                    self._down_since = now
                    self._errors_while_down = 0
                    self._last_log["down"] = now
                    KAFKA_UP.labels(client=self.name).set(0)
                    log.warning(
                        "kafka unreachable from %s: %s (reported again every %.0f s while "
                        "it lasts)",
                        self.name,
                        err.str(),
                        self._log_every_s,
                    )
                return
            if self._down:
                self._errors_while_down += 1
                if now - self._last_log["down"] >= self._log_every_s:
                    self._last_log["down"] = now
                    log.warning(
                        "kafka still unreachable from %s after %.0f s (%d errors): %s",
                        self.name,
                        now - self._down_since,
                        self._errors_while_down,
                        err.str(),
                    )
                return
            last = self._last_log.get(name)
            if last is None or now - last >= self._log_every_s:
                self._last_log[name] = now
                log.warning("kafka error in %s: %s", self.name, err.str())

    def _ok(self, client: int) -> None:
        if client not in self._down:
            return
        with self._lock:
            self._down.discard(client)
            if self._down:
                return
            KAFKA_UP.labels(client=self.name).set(1)
            log.warning(
                "kafka reachable again from %s after %.1f s (%d errors meanwhile)",
                self.name,
                self._clock() - self._down_since,
                self._errors_while_down,
            )


class KafkaClientHealth:
    """One client's view: its `config()` keys and the calls that say it got through."""

    def __init__(self, health: KafkaHealth, client: int) -> None:
        self._health = health
        self._client = client

    def config(self) -> dict[str, Any]:
        """librdkafka configuration that reports this client's errors and logs here."""
        return {
            "error_cb": self.on_error,
            "logger": LIBRDKAFKA_LOG,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
        }

    def on_error(self, err: KafkaError) -> None:
        """librdkafka's `error_cb`."""
        self._health._error(self._client, err)

    def on_ok(self) -> None:
        """The client reached a broker: a delivery, a commit, a fetched message."""
        if self._client in self._health._down:
            self._health._ok(self._client)

    def on_stats(self, stats_json: str) -> None:
        """librdkafka statistics: a broker in state `UP` means the client got through."""
        if self._client not in self._health._down:
            return
        try:
            brokers = json.loads(stats_json).get("brokers", {}).values()
        except (ValueError, AttributeError):
            return
        if any(b.get("nodeid", -1) >= 0 and b.get("state") == "UP" for b in brokers):
            self._health._ok(self._client)
