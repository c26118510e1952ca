"""Smoke dataflows that prove the services work together end to end.

    python -m bytewax.run "flows.smoke:produce()"   # bundled sample -> Kafka `smoke.chat`
    python -m bytewax.run "flows.smoke:index()"     # `smoke.chat` -> Weaviate `SmokeChat_<model>`
    python -m flows.smoke                           # GraphQL query, answer printed

Each message is embedded with Headwater's int8 ONNX model (`make model`) and written
whole, with its vector, to a multi-tenant collection; the query embeds its question the
same way. It checks the plumbing (Kafka in and out, Weaviate writes with self-provided
vectors, GraphQL); the index flow proper (conversation segments) is not this flow.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import bytewax.operators as op
import httpx
import weaviate.classes.config as wc
from bytewax.connectors.files import FileSource
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant

from flows.settings import Settings
from models import load_embedder
from operators.common.weaviate import connect_weaviate
from operators.ingest.parse import Parser
from operators.pii import redact
from schemas.message import ChatMessage
from schemas.raw import RawLine

SMOKE_TOPIC = "smoke.chat"
_NAMESPACE = uuid.UUID("5b0f8a52-6a52-4c4e-9a7e-2f3b3c0d5e11")


def smoke_collection(model_version: str) -> str:
    """One collection per model version: vectors of different models never share an index."""
    return f"SmokeChat_{model_version}"


@dataclass(frozen=True)
class SmokeRecord:
    tenant: str
    message_id: str
    conversation_id: str
    text: str


_PARSER = Parser(ZoneInfo("Asia/Ho_Chi_Minh"), max_clock_skew_ms=300_000)


def to_record(raw: bytes | str) -> SmokeRecord | None:
    """The tenant, ids and text of a chat envelope; None for anything else."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    msg = _PARSER.parse(RawLine(text.rstrip("\n"), int(time.time() * 1000), "smoke"))
    if not isinstance(msg, ChatMessage):
        return None
    return SmokeRecord(msg.tenant, msg.message_id, msg.conversation_id, redact(msg.text).text)


class _SmokeWeaviatePartition(StatelessSinkPartition[SmokeRecord]):
    def __init__(self, settings: Settings) -> None:
        api_key = settings.weaviate_api_key
        self._client = connect_weaviate(
            settings.weaviate_url,
            settings.weaviate_grpc_port,
            api_key.get_secret_value() if api_key else None,
        )
        self._embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
        name = smoke_collection(self._embedder.version)
        if not self._client.collections.exists(name):
            self._client.collections.create(
                name,
                multi_tenancy_config=wc.Configure.multi_tenancy(enabled=True),
                vector_config=wc.Configure.Vectors.self_provided(),
                properties=[
                    wc.Property(name="text", data_type=wc.DataType.TEXT),
                    wc.Property(name="message_id", data_type=wc.DataType.TEXT),
                    wc.Property(name="conversation_id", data_type=wc.DataType.TEXT),
                ],
            )
        self._collection = self._client.collections.get(name)
        self._tenants: set[str] = set(self._collection.tenants.get())

    def write_batch(self, items: list[SmokeRecord]) -> None:
        by_tenant: dict[str, list[SmokeRecord]] = {}
        for rec in items:
            by_tenant.setdefault(rec.tenant, []).append(rec)
        new = [Tenant(name=t) for t in by_tenant if t not in self._tenants]
        if new:
            self._collection.tenants.create(new)
            self._tenants.update(t.name for t in new)
        for tenant, recs in by_tenant.items():
            vectors = self._embedder.embed([r.text for r in recs])
            objects = [
                DataObject(
                    uuid=uuid.uuid5(_NAMESPACE, f"{r.tenant}\x1f{r.message_id}"),
                    properties={
                        "text": r.text,
                        "message_id": r.message_id,
                        "conversation_id": r.conversation_id,
                    },
                    vector=vector.tolist(),
                )
                for r, vector in zip(recs, vectors, strict=True)
            ]
            result = self._collection.with_tenant(tenant).data.insert_many(objects)
            if result.has_errors:
                first = sorted({e.message for e in result.errors.values()})[:3]
                raise RuntimeError(
                    f"smoke_weaviate: Weaviate rejected {len(result.errors)} objects: {first}"
                )

    def close(self) -> None:
        self._client.close()


class SmokeWeaviateSink(DynamicSink[SmokeRecord]):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _SmokeWeaviatePartition:
        return _SmokeWeaviatePartition(self._settings)


def produce() -> Dataflow:
    """Bundled sample file -> Kafka, keyed by tenant."""
    settings = Settings()
    path = settings.source_path
    if path is None:
        raise ValueError("the smoke producer reads a file: set HEADWATER_SOURCE=file:<path>")
    flow = Dataflow("smoke_produce")
    lines = op.input("sample", flow, FileSource(path))

    def to_kafka(line: str) -> KafkaSinkMessage[bytes, bytes]:
        rec = to_record(line)
        return KafkaSinkMessage(key=(rec.tenant if rec else "").encode(), value=line.encode())

    op.output("kafka_out", op.map("to_kafka", lines, to_kafka),
              KafkaSink(settings.kafka_brokers.split(","), SMOKE_TOPIC))
    return flow


def index() -> Dataflow:
    """Kafka `smoke.chat` from the beginning to its end -> Weaviate, with vectors."""
    settings = Settings()
    flow = Dataflow("smoke_index")
    kafka = kop.input("kafka_in", flow, brokers=settings.kafka_brokers.split(","),
                      topics=[SMOKE_TOPIC], tail=False)
    op.inspect("kafka_errors", kafka.errs, lambda step, err: print(f"{step}: {err}"))
    records = op.filter_map("parse", kafka.oks, lambda msg: to_record(msg.value))
    op.output("weaviate_out", records, SmokeWeaviateSink(settings))
    return flow


def graphql_near_vector(settings: Settings, tenant: str, question: str, limit: int = 3) -> dict:
    """Run a raw GraphQL `Get` with nearVector for one tenant; return the JSON answer."""
    embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
    collection = smoke_collection(embedder.version)
    vector = ", ".join(f"{x:.6f}" for x in embedder.embed([question])[0])
    query = (
        f'{{ Get {{ {collection}(tenant: "{tenant}", limit: {limit}, '
        f"nearVector: {{vector: [{vector}]}}) "
        "{ text conversation_id _additional { distance } } } }"
    )
    headers = {}
    if settings.weaviate_api_key:
        headers["Authorization"] = f"Bearer {settings.weaviate_api_key.get_secret_value()}"
    resp = httpx.post(f"{settings.weaviate_url}/v1/graphql", json={"query": query},
                      headers=headers, timeout=30)
    resp.raise_for_status()
    answer = resp.json()
    if not answer.get("errors"):
        answer["hits"] = answer["data"]["Get"][collection]
    return answer


def main() -> int:
    settings = Settings()
    tenant, question = "globex", "how do I cancel an order?"
    answer = graphql_near_vector(settings, tenant, question)
    if answer.get("errors"):
        print(f"GraphQL errors: {answer['errors']}", file=sys.stderr)
        return 1
    hits = answer["hits"]
    print(f'GraphQL nearVector for tenant "{tenant}", question "{question}":')
    for hit in hits:
        print(f"  {hit['_additional']['distance']:.3f}  [{hit['conversation_id']}] {hit['text']}")
    return 0 if hits else 1


if __name__ == "__main__":
    sys.exit(main())
