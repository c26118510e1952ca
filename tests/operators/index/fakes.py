"""Test helpers of the index tests: a seeded fake embedder, a few segment lines, and a fake
Weaviate (with a fake clock) for the writer."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from types import SimpleNamespace

import grpc
import httpx
import numpy as np
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateConnectionError,
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
)

from operators.common.weaviate import WeaviateUnavailableError
from operators.index.writer import segment_properties
from schemas.segment import SegmentLine

DIM = 8


class FakeEmbedder:
    """A unit vector per text, seeded by it; remembers what it was asked to embed."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> np.ndarray:
        v = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.vector(t) for t in texts], dtype=np.float32).reshape(-1, DIM)


def words(texts: Sequence[str]) -> list[int]:
    return [len(t.split()) + 2 for t in texts]


def line(i: int, text: str) -> SegmentLine:
    return SegmentLine(f"m{i}", "user", text, "vi", "webhook", 1_000 + i, 1_000 + i)


LINES = (
    line(0, "xin chào shop"),
    line(1, "đơn hàng của tôi đâu"),
    line(2, "cảm ơn"),
    line(3, "giao hàng mất mấy ngày vậy shop"),
)


# --- a fake Weaviate for the writer's tests ------------------------------------------------


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeRpcError(grpc.RpcError, grpc.Call):
    """A finished gRPC call with a status code, as grpc raises it."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> None:
        return None

    def trailing_metadata(self) -> None:
        return None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


def query_error(code: grpc.StatusCode, details: str) -> WeaviateQueryError:
    """What weaviate-client raises for a failed gRPC search: the RpcError as its context."""
    try:
        raise FakeRpcError(code, details)
    except grpc.RpcError:
        try:
            raise WeaviateQueryError(details, "GRPC search")  # as the client does: no "from"
        except WeaviateQueryError as exc:
            return exc
    raise AssertionError("unreachable")


def status_error(status: int, message: str) -> UnexpectedStatusCodeError:
    """What weaviate-client raises for a REST call answered with `status`."""
    response = httpx.Response(
        status,
        json={"error": [{"message": message}]},
        request=httpx.Request("POST", "http://127.0.0.1:8080/v1/schema"),
    )
    return UnexpectedStatusCodeError("Collection tenants may not have been added", response)


def unavailable() -> WeaviateUnavailableError:
    return WeaviateUnavailableError("gRPC Search: UNAVAILABLE: failed to connect to all addresses")


Failure = BaseException | Callable[[], BaseException]


class FakeWeaviate:
    """The few client calls `SegmentWriter` makes, in memory, with scripted failures.

    `fail(op, exc, times)`: the next `times` calls of `op` raise (ops: connect,
    collections.create, tenants.get, tenants.create, fetch_objects, insert_many).
    `down_until`: every call raises as an outage would until `time.now` reaches it.
    `object_error(props, attempt)`: an object's error message in an insert (None: stored);
    `attempt` counts the insert calls that object was in.
    """

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.collections_created: list[str] = []
        self.alias: str | None = None
        self.tenants: set[str] = set()
        self.objects: dict[str, dict[object, dict]] = {}
        self.down_until = -1.0
        self.failures: dict[str, list[Failure]] = {}
        self.object_error: Callable[[dict, int], str | None] = lambda props, attempt: None
        self.inserts: dict[object, int] = {}
        self.calls: list[str] = []
        self.connects = 0
        self.closed = 0

    def fail(self, op: str, exc: Failure, times: int = 1) -> None:
        self.failures.setdefault(op, []).extend([exc] * times)

    def connect(self) -> FakeClient:
        self._call("connect", WeaviateConnectionError("Error: [Errno 111] Connection refused"))
        self.connects += 1
        return FakeClient(self)

    def _call(self, op: str, outage: BaseException | None = None) -> None:
        self.calls.append(op)
        if self.time.now < self.down_until:
            raise outage or unavailable()
        queue = self.failures.get(op)
        if queue:
            failure = queue.pop(0)
            raise failure() if callable(failure) else failure


class FakeClient:
    def __init__(self, store: FakeWeaviate) -> None:
        self.store = store
        self.collections = _Collections(store)
        self.alias = _Alias(store)

    def close(self) -> None:
        self.store.closed += 1


class _Alias:
    def __init__(self, store: FakeWeaviate) -> None:
        self.store = store

    def get(self, alias_name: str) -> SimpleNamespace | None:
        self.store._call("alias.get")
        return SimpleNamespace(collection=self.store.alias) if self.store.alias else None

    def create(self, alias_name: str, target_collection: str) -> None:
        self.store._call("alias.create")
        self.store.alias = target_collection


class _Collections:
    def __init__(self, store: FakeWeaviate) -> None:
        self.store = store

    def exists(self, name: str) -> bool:
        self.store._call("collections.exists")
        return name in self.store.collections_created

    def create(self, name: str, **config: object) -> None:
        self.store._call("collections.create")
        self.store.collections_created.append(name)

    def get(self, name: str) -> _Collection:
        return _Collection(self.store, None)


class _Collection:
    def __init__(self, store: FakeWeaviate, tenant: str | None) -> None:
        self.store, self.tenant = store, tenant
        self.tenants = _Tenants(store)
        self.query = SimpleNamespace(fetch_objects=self._fetch_objects)
        self.data = SimpleNamespace(insert_many=self._insert_many)
        self.config = SimpleNamespace(get=self._config)

    def _config(self) -> SimpleNamespace:
        self.store._call("config.get")
        return SimpleNamespace(
            properties=[SimpleNamespace(name=p.name) for p in segment_properties()]
        )

    def with_tenant(self, tenant: str) -> _Collection:
        return _Collection(self.store, tenant)

    def _fetch_objects(self, filters, limit: int, return_properties: list[str]):
        self.store._call("fetch_objects")
        ids = set(filters.value)
        found = [
            SimpleNamespace(uuid=u, properties={"message_count": p["message_count"]})
            for u, p in self.store.objects.get(self.tenant or "", {}).items()
            if str(u) in ids
        ]
        return SimpleNamespace(objects=found)

    def _insert_many(self, objects: list) -> SimpleNamespace:
        self.store._call("insert_many")
        errors = {}
        for i, obj in enumerate(objects):
            attempt = self.store.inserts[obj.uuid] = self.store.inserts.get(obj.uuid, 0) + 1
            message = self.store.object_error(obj.properties, attempt)
            if message is None:
                self.store.objects.setdefault(self.tenant or "", {})[obj.uuid] = obj.properties
            else:
                errors[i] = SimpleNamespace(message=message)
        if errors and len(errors) == len(objects):
            raise WeaviateInsertManyAllFailedError(
                "Here is the set of all errors: {}".format(
                    "\n".join(sorted({e.message for e in errors.values()}))
                )
            )
        return SimpleNamespace(errors=errors)


class _Tenants:
    def __init__(self, store: FakeWeaviate) -> None:
        self.store = store

    def get(self) -> dict[str, object]:
        self.store._call("tenants.get")
        return dict.fromkeys(self.store.tenants)

    def create(self, tenants: list) -> None:
        self.store._call("tenants.create")
        self.store.tenants.update(t.name for t in tenants)
