"""The Kafka sink of every flow's records: delivery tied to Bytewax's snapshots.

Bytewax calls a sink partition's `snapshot()` at the end of each epoch (`-s` seconds
with recovery, 10 s without) in which it wrote, after every write of that epoch and
before any write of the next; the snapshot is persisted after `snapshot()` returns, and
inputs start the next epoch only once it is. `KafkaRecordSink` has one partition per
topic partition (a record's key picks it with librdkafka's default hash, CRC-32, so a
conversation keeps its partition and its order) and one producer per partition. Two
modes:

- **At least once** (default). `write_batch` hands records to librdkafka and returns;
  `snapshot()` waits until all are acknowledged. A snapshot therefore never covers a
  record Kafka does not hold, and a kill re-sends what was delivered since the last
  persisted snapshot: the output of one epoch — which, after an outage or a restart,
  is whatever backlog the flow got through in that epoch, not what arrives in `-s`
  seconds at the usual rate.
- **Transactional** (`transactional_id` set). Each partition's producer has the
  transactional id `<transactional_id>.<step id>.<partition>`, the same across restarts
  and rescaling. `write_batch` writes into a transaction that `snapshot()` commits, so a
  transaction holds exactly one epoch of the partition's records. A kill aborts the open
  transaction (fenced when the partition is built again: `init_transactions`, or by the
  broker after `TRANSACTION_TIMEOUT_MS`), and the replay from the last snapshot writes
  those records again in a new one: a `read_committed` consumer sees each record once.
  The one gap: Bytewax persists an epoch's snapshots once every stateful step of the
  worker took its own, and `snapshot()` commits before that, so a kill after a partition
  committed and before the persist leaves that epoch committed while the flow resumes
  before it: the epoch's records are committed a second time (committing after the
  persist would lose them instead). `snapshot()` first waits until the records of every
  transaction open in the worker are delivered, so the commits come back to back and the
  window is a few milliseconds per epoch; the bound is one epoch of duplicates, for a
  kill inside it. Records become visible to `read_committed` consumers at each
  snapshot.

While the brokers are away, writes queue in librdkafka (a full queue, `QUEUE_MAX_RECORDS`
or `QUEUE_MAX_KBYTES` per partition, waits for room) and the snapshot waits for delivery
or the commit, so the epoch does not end, the inputs pause, and nothing later is read;
the log and `headwater_kafka_up` say so (`operators.common.kafka_health.KafkaHealth`). A
transaction the broker aborted meanwhile (open past `TRANSACTION_TIMEOUT_MS`) is written
again from the records the partition keeps until its commit. Past `timeout_s` of waiting
the step raises: the flow stops, and a restart with recovery replays from the last
snapshot, losing nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
import zlib
from collections.abc import Callable

from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from operators.common.kafka_health import KafkaClientHealth, KafkaHealth

log = logging.getLogger(__name__)

SinkMessage = KafkaSinkMessage[bytes, bytes]

TIMEOUT_S = 120.0
"""How long a partition waits for Kafka (room in its queue, a flush, a commit) before the
step raises and the flow stops."""

TRANSACTION_TIMEOUT_MS = 60_000
"""The broker aborts a transaction open this long (Kafka's default); it bounds how long a
transaction left open by a killed flow can hold back `read_committed` consumers when the
restarted flow does not build that partition again."""

QUEUE_MAX_RECORDS = 20_000
QUEUE_MAX_KBYTES = 32 * 1024
"""A partition's producer holds at most this many records / KiB not yet acknowledged."""

_STEP_S = 5.0
"""One wait inside the `timeout_s` loops: how often a blocked partition looks again."""


_FENCED = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
"""Another producer with this transactional id took over: the same flow runs twice."""


class _Abortable(Exception):
    """The open transaction cannot commit and must be aborted (then written again)."""


class _IdlePoller:
    """Serves the callbacks of producers the flow is not writing to, once a second.

    librdkafka hands a producer's errors, delivery reports and statistics to Python only
    in `poll()` / `flush()`, which the flow calls when it writes. Without this a sink
    partition with nothing to write would report an outage late (when it next writes),
    and one that went quiet during it would look down until its next record.
    """

    def __init__(self, every_s: float = 1.0) -> None:
        self._every_s = every_s
        self._writers: weakref.WeakSet[_Writer] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, writer: _Writer) -> None:
        with self._lock:
            self._writers.add(writer)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="headwater-kafka-poll", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._every_s)
            with self._lock:
                writers = list(self._writers)
            for writer in writers:
                try:
                    writer.poll_idle()
                except Exception:  # a callback's error must not end the thread
                    log.exception("%s: serving producer callbacks", writer.name)


_POLLER = _IdlePoller()

_THREAD = threading.local()


def _open_here() -> weakref.WeakSet[_Writer]:
    """Transactional partitions of this worker thread (any sink) with a transaction open."""
    if not hasattr(_THREAD, "open"):
        _THREAD.open = weakref.WeakSet()
    return _THREAD.open  # type: ignore[no-any-return]


class _Writer(StatefulSinkPartition[SinkMessage, int]):
    """One topic partition's producer; the resume state is how many snapshots it took."""

    def __init__(
        self,
        name: str,
        brokers: str,
        topic: str,
        partition: int,
        health: KafkaClientHealth,
        transactional_id: str | None,
        timeout_s: float,
        snapshots: int,
    ) -> None:
        self.name = name
        self._topic, self._partition = topic, partition
        self._health = health
        self._timeout_s = timeout_s
        self._snapshots = snapshots
        self._transactional = transactional_id is not None
        config: dict[str, object] = {
            "bootstrap.servers": brokers,
            "enable.idempotence": True,
            "linger.ms": 5,
            # librdkafka's defaults (100,000 records, 1 GiB) per partition would let a fast
            # input buffer gigabytes while Kafka is slow or away; the flow waits instead.
            "queue.buffering.max.messages": QUEUE_MAX_RECORDS,
            "queue.buffering.max.kbytes": QUEUE_MAX_KBYTES,
            "statistics.interval.ms": 1000,
            "stats_cb": health.on_stats,
            **health.config(),
        }
        if transactional_id is not None:
            config["transactional.id"] = transactional_id
            config["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
        else:
            config["message.timeout.ms"] = int(timeout_s * 1000)
        self._producer = Producer(config)
        self._failed: KafkaError | None = None
        self._open: list[SinkMessage] | None = None
        """Records of the open transaction (None: none open), kept to write them again."""
        if self._transactional:
            deadline = time.monotonic() + timeout_s
            self._retry("init_transactions", self._producer.init_transactions, deadline)
        self._last_poll = time.monotonic()
        _POLLER.add(self)

    def poll_idle(self) -> None:
        """Serve callbacks when the flow has not polled for a second (`_IdlePoller`)."""
        if time.monotonic() - self._last_poll >= 1.0:
            self._producer.poll(0)

    def write_batch(self, values: list[SinkMessage]) -> None:
        deadline = time.monotonic() + self._timeout_s
        if self._transactional:
            if self._open is None:
                self._producer.begin_transaction()
                log.debug("%s: began a transaction", self.name)
                self._open = []
                _open_here().add(self)
            self._open.extend(values)
        for msg in values:
            self._produce(msg, deadline)
        self._producer.poll(0)
        self._last_poll = time.monotonic()
        self._raise_failed()

    def snapshot(self) -> int:
        deadline = time.monotonic() + self._timeout_s
        if self._transactional:
            # Bytewax persists the epoch's snapshots once every stateful step of this
            # worker took its own; a kill after one partition committed and before that
            # commits the partition's epoch twice (module doc). Delivering every open
            # transaction's records first keeps the commits back to back: a few ms.
            for writer in list(_open_here()):
                writer._deliver(deadline)
            self._commit(deadline)
        else:
            self._flush(deadline)
        self._last_poll = time.monotonic()
        self._snapshots += 1
        return self._snapshots

    def close(self) -> None:
        # Called at the end of a finite input (after the last snapshot) and when a
        # failing flow drops the partition: then an open transaction holds records no
        # snapshot covers, which the replay writes again, so it is aborted, not committed.
        if self._open is not None:
            try:
                self._producer.abort_transaction(_STEP_S)
            except KafkaException as exc:
                log.warning("%s: aborting the open transaction at close: %s", self.name, exc)
            self._open = None
            _open_here().discard(self)
        elif not self._transactional:
            self._producer.flush(_STEP_S)

    def _produce(self, msg: SinkMessage, deadline: float) -> None:
        waited = False
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=msg.value,
                    key=msg.key,
                    partition=self._partition,
                    headers=list(msg.headers) or None,  # type: ignore[arg-type]
                    timestamp=msg.timestamp,
                    on_delivery=self._delivered,
                )
                return
            except BufferError:
                # librdkafka's queue is full (queue.buffering.max.*): wait for room.
                if not waited:
                    waited = True
                    log.warning("%s: producer queue full, waiting for Kafka", self.name)
                self._check_deadline("room in the producer queue", deadline)
                self._producer.poll(0.1)

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self._health.on_ok()
        elif not self._transactional and self._failed is None:
            # A transaction's failed record makes its commit fail, which `_commit` handles.
            self._failed = err

    def _raise_failed(self) -> None:
        if self._failed is not None:
            raise RuntimeError(
                f"{self.name}: a record was not delivered ({self._failed.str()}); the flow "
                "stops so that recovery replays it"
            )

    def _flush(self, deadline: float) -> None:
        self._deliver(deadline)
        self._raise_failed()

    def _deliver(self, deadline: float) -> None:
        """Wait until librdkafka has a delivery report for every record produced."""
        while self._producer.flush(_STEP_S) > 0:
            self._raise_failed()
            self._check_deadline("delivery of the epoch's records", deadline)

    def _commit(self, deadline: float) -> None:
        while self._open is not None:
            try:
                self._retry("commit_transaction", self._producer.commit_transaction, deadline)
            except _Abortable as exc:
                log.warning(
                    "%s: transaction aborted (%s); writing its %d records again",
                    self.name,
                    exc,
                    len(self._open),
                )
                try:
                    self._retry("abort_transaction", self._producer.abort_transaction, deadline)
                except _Abortable as again:
                    raise RuntimeError(f"{self.name}: abort_transaction: {again}") from again
                self._producer.begin_transaction()
                for msg in self._open:
                    self._produce(msg, deadline)
                continue
            log.debug("%s: committed %d records", self.name, len(self._open))
            self._open = None
            _open_here().discard(self)
            self._health.on_ok()

    def _retry(self, what: str, call: Callable[[float], None], deadline: float) -> None:
        """`call(timeout)` until it succeeds; a retriable error (e.g. a timeout while the
        broker is away) is tried again until `deadline`."""
        while True:
            try:
                call(min(_STEP_S, max(deadline - time.monotonic(), 0.1)))
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not isinstance(err, KafkaError) or err.fatal():
                    fenced = isinstance(err, KafkaError) and err.code() in _FENCED
                    hint = " (is another instance of this flow running?)" if fenced else ""
                    raise RuntimeError(f"{self.name}: {what} failed: {exc}{hint}") from exc
                if err.txn_requires_abort():
                    raise _Abortable(err.str()) from exc
                if not err.retriable() and err.code() != KafkaError._TIMED_OUT:
                    raise RuntimeError(f"{self.name}: {what} failed: {exc}") from exc
            self._check_deadline(what, deadline)

    def _check_deadline(self, what: str, deadline: float) -> None:
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"{self.name}: no {what} in {self._timeout_s:.0f} s (is Kafka reachable?); "
                "the flow stops, and a restart with recovery replays from the last snapshot"
            )


class KafkaRecordSink(FixedPartitionedSink[SinkMessage, int]):
    """`(key, KafkaSinkMessage)` items to `topic`, one sink partition per topic partition
    (module doc). `transactional_id` set: transactions committed at each snapshot."""

    def __init__(
        self,
        brokers: str,
        topic: str,
        *,
        health: KafkaHealth,
        transactional_id: str | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._brokers, self._topic = brokers, topic
        self._health = health
        self._transactional_id = transactional_id
        self._timeout_s = timeout_s

    def list_parts(self) -> list[str]:
        """The topic's partitions, zero-padded so that Bytewax's sorted order is theirs."""
        admin = AdminClient({"bootstrap.servers": self._brokers, **self._health.transient_config()})
        try:
            meta = admin.list_topics(self._topic, timeout=self._timeout_s).topics.get(self._topic)
        except KafkaException as exc:
            raise RuntimeError(f"listing the partitions of {self._topic!r}: {exc}") from exc
        if meta is None or meta.error is not None or not meta.partitions:
            raise RuntimeError(
                f"topic {self._topic!r} is not available on {self._brokers}: "
                "create it with `python -m flows.topics`"
            )
        return [f"{p:04d}" for p in sorted(meta.partitions)]

    def part_fn(self, item_key: str) -> int:
        """librdkafka's default partitioner (`consistent_random`) for a non-empty key."""
        return zlib.crc32(item_key.encode())

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Writer:
        partition = int(for_part)
        transactional_id = (
            None
            if self._transactional_id is None
            else f"{self._transactional_id}.{step_id}.{partition}"
        )
        return _Writer(
            f"{step_id}/{self._topic}/{partition}",
            self._brokers,
            self._topic,
            partition,
            self._health.client(),
            transactional_id,
            self._timeout_s,
            resume_state or 0,
        )
