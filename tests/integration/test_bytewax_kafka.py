"""A Bytewax dataflow that reads one Kafka topic and writes another."""

from __future__ import annotations

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main
from confluent_kafka import Producer

from flows.topics import ensure_topics
from tests.integration.test_kafka import consume_all


def test_flow_reads_a_topic_and_writes_another(kafka_brokers: str, unique) -> None:
    source, target = unique("test.bw_in"), unique("test.bw_out")
    ensure_topics(kafka_brokers, [source, target], 3)
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for i in range(60):
        producer.produce(source, key=f"k{i % 6}".encode(), value=f"hello {i}".encode())
    assert producer.flush(30) == 0

    flow = Dataflow("kafka_to_kafka")
    kin = kop.input("in", flow, brokers=[kafka_brokers], topics=[source], tail=False)
    errors: list = []
    op.inspect("errs", kin.errs, lambda _step, err: errors.append(err))
    upper = op.map("upper", kin.oks, lambda m: KafkaSinkMessage(key=m.key, value=m.value.upper()))
    kop.output("out", upper, brokers=[kafka_brokers], topic=target)
    run_main(flow)

    got = consume_all(kafka_brokers, target, expected=60)
    assert errors == []
    assert sorted(m.value().decode() for m in got) == sorted(f"HELLO {i}" for i in range(60))
    assert all(m.key().decode() == f"k{int(m.value().split()[1]) % 6}" for m in got)
