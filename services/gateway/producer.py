"""A Kafka producer whose sends finish when Kafka has the record.

`acks=all` with the idempotent producer: a send's future completes when the broker
confirmed the record (the gateway answers 200 only then) and fails when librdkafka
gives up on it. One thread serves librdkafka's delivery reports and hands each to the
event loop that made the send.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from operators.common.kafka_health import KafkaHealth


class NotAcknowledged(Exception):
    """Kafka did not take the record (queue full, broker error, no confirmation)."""


def _settle(future: asyncio.Future[None], err: KafkaError | None) -> None:
    if future.done():  # the request stopped waiting (deadline), and answered 503
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(NotAcknowledged(err.str()))


class AckingProducer:
    """Sends whose futures complete on Kafka's confirmation (module doc)."""

    def __init__(self, brokers: str, *, name: str = "gateway", **config: Any) -> None:
        self.health = KafkaHealth(name)
        self._client = self.health.client()
        self._producer = Producer(
            {
                "bootstrap.servers": brokers,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 2,
                # How long librdkafka keeps retrying a record; a request stops waiting
                # much sooner (its deadline), and a record delivered after its 503 is a
                # duplicate the ingest flow drops.
                "message.timeout.ms": 60_000,
                **self._client.config(),
                **config,
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"{name}-kafka", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        """Queue one record; the future completes when Kafka confirmed it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        client = self._client

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                client.on_ok()
            loop.call_soon_threadsafe(_settle, future, err)

        try:
            self._producer.produce(topic, value, key, on_delivery=delivered)
        except BufferError:
            raise NotAcknowledged("the producer's queue is full") from None
        except KafkaException as exc:
            raise NotAcknowledged(str(exc)) from None
        return future

    def topics(self, timeout_s: float) -> set[str]:
        """The topics the cluster has (blocking: call it from a thread); raises
        KafkaException when no broker answers in time."""
        return set(self._producer.list_topics(timeout=timeout_s).topics)

    def close(self, timeout_s: float = 10.0) -> int:
        """Deliver what is queued (up to `timeout_s`); return how many records were not."""
        self._stop.set()
        self._poller.join()
        return self._producer.flush(timeout_s)
