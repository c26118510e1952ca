"""The webhook gateway over real sockets: `python -m services.gateway` (two uvicorn
workers) against the real Kafka and Redis of `make services` (DESIGN "HTTP interfaces",
"Input: the raw envelope").

One gateway serves most tests (`gw`); its tenants carry a per-run id, so quotas and
Kafka records never meet another run's. What reaches Kafka is read from the end offsets
noted before sending (`Tail`). Two more gateways: one whose Kafka is a port nothing
listens on, and, for the one case that stalls a worker, a throwaway one.

Hostile requests are sent with raw sockets; a broken HTTP framing may be answered 4xx
or have its connection closed, but is never a 5xx and never costs a worker (the
workers' pids are compared, since uvicorn replaces a dead worker within a second).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from flows.settings import Settings
from flows.topics import RAW_TOPICS, ensure_topics
from tests.integration import gateway_server as gs
from tests.integration.throwaway_kafka import free_port

MAX_BODY = 240 * 1024
"""The shared gateway's HEADWATER_GATEWAY_MAX_BODY_BYTES (the default, said explicitly:
a CSV record may be as long, which the CSV field-limit case needs)."""

BODY_TIMEOUT_S = 1.0
HTTP_TIMEOUT_S = 10.0
ROLES = ("acme", "other", "noisy", "quiet", "metrics", "refused", "hostile")


# -- the gateway, its tenants, and what reaches Kafka -------------------------------------


@dataclass
class Gateway:
    server: gs.GatewayServer
    brokers: str
    keys: dict[str, gs.TenantKeys]
    pids: set[int] = field(default_factory=set)
    """The workers' pids at start: a worker that died and was replaced shows here."""

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, timeout_s: float = HTTP_TIMEOUT_S) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=timeout_s)


def worker_pids(server: gs.GatewayServer) -> set[int]:
    """The pids of the gateway's worker processes (as `alive_workers` counts them)."""
    assert server.proc is not None
    out = subprocess.run(
        ["pgrep", "-P", str(server.proc.pid), "-f", "spawn_main"], capture_output=True, text=True
    ).stdout
    return {int(pid) for pid in out.split()}


def registry(run: str, **limits: int) -> tuple[dict[str, gs.TenantKeys], str]:
    keys: dict[str, gs.TenantKeys] = {}
    toml = ""
    for role in ROLES:
        k, entry = gs.tenant_entry(f"{role}-{run}", rate_limit_per_s=limits.get(role, 100_000))
        keys[role] = k
        toml += entry
    return keys, toml


@pytest.fixture(scope="module")
def run_id() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def raw_topics(kafka_brokers: str, settings: Settings) -> str:
    """The brokers, with the raw topics the gateway's /readyz wants."""
    ensure_topics(kafka_brokers, RAW_TOPICS, settings.kafka_partitions)
    return kafka_brokers


@pytest.fixture(scope="module")
def gw(raw_topics: str, run_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    kafka_brokers = raw_topics
    keys, toml = registry(run_id, noisy=20)
    server = gs.GatewayServer(
        tmp_path_factory.mktemp("gateway"),
        toml,
        brokers=kafka_brokers,
        gateway_body_timeout_s=str(BODY_TIMEOUT_S),
        gateway_max_body_bytes=str(MAX_BODY),
    )
    try:
        server.start()
        gateway = Gateway(server, kafka_brokers, keys)
        deadline = time.monotonic() + 10
        while len(worker_pids(server)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        gateway.pids = worker_pids(server)
        assert len(gateway.pids) == 2
        yield gateway
    finally:
        server.stop()


class Tail:
    """The records a topic gets after this was made (its end offsets are noted then)."""

    def __init__(self, brokers: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": f"test-gateway-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.start = {p: self._end(p) for p in partitions}

    def _end(self, partition: int) -> int:
        return self.consumer.get_watermark_offsets(TopicPartition(self.topic, partition), 10)[1]

    def records(self, tenant: str, timeout_s: float = 15.0) -> list[Message]:
        """Every record since the start keyed `<tenant>/…`, up to the topic's end now."""
        ends = {p: self._end(p) for p in self.start}
        todo = {p for p in self.start if ends[p] > self.start[p]}
        if not todo:
            return []
        self.consumer.assign([TopicPartition(self.topic, p, self.start[p]) for p in todo])
        prefix = f"{tenant}/".encode()
        found: list[Message] = []
        deadline = time.monotonic() + timeout_s
        try:
            while todo:
                assert time.monotonic() < deadline, f"{self.topic}: {todo} not read to the end"
                msg = self.consumer.poll(0.5)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(err)
                    if msg.offset() >= ends[msg.partition()]:
                        todo.discard(msg.partition())
                    continue
                if msg.offset() + 1 >= ends[msg.partition()]:
                    todo.discard(msg.partition())
                if (msg.key() or b"").startswith(prefix):
                    found.append(msg)
        finally:
            self.consumer.unassign()
        return sorted(found, key=lambda m: (m.partition(), m.offset()))

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def tails(gw: Gateway) -> Iterator[dict[str, Tail]]:
    made = {topic: Tail(gw.brokers, topic) for topic in RAW_TOPICS}
    yield made
    for tail in made.values():
        tail.close()


def payload_bytes(value: bytes, source: str, tenant: str) -> bytes:
    """The payload of an envelope as the gateway writes it, sliced out of the raw value."""
    head = b'{"source":"%s","tenant":"%s","received_at":' % (source.encode(), tenant.encode())
    assert value.startswith(head), value[:200]
    digits_end = value.index(b",", len(head))
    assert value[len(head) : digits_end].isdigit()
    rest = value[digits_end:]
    assert rest.startswith(b',"payload":') and rest.endswith(b"}"), value[-200:]
    return rest[len(b',"payload":') : -1]


# -- requests ------------------------------------------------------------------------------


def signed(keys: gs.TenantKeys, body: bytes, **kwargs: int) -> dict[str, str]:
    return gs.partner_headers(keys.partner_secret, body, **kwargs)


def partner_body(**fields: object) -> bytes:
    event = {
        "id": f"m-{uuid.uuid4().hex[:8]}",
        "conversation_id": "c-1",
        "user_id": "u-1",
        "content": "xin chào",
        "timestamp": "2024-05-01T10:00:00+07:00",
        **fields,
    }
    return json.dumps(event, ensure_ascii=False).encode()


def zalo_event(keys: gs.TenantKeys, *, to_oa: str | None = None, **fields: object) -> bytes:
    event = {
        "app_id": keys.app_id,
        "event_name": "user_send_text",
        "sender": {"id": "user-1"},
        "recipient": {"id": to_oa or keys.oa_id},
        "message": {"msg_id": uuid.uuid4().hex, "text": "Xin chào"},
        "timestamp": "1714532400000",
        **fields,
    }
    return json.dumps(event, ensure_ascii=False).encode()


def zalo_signed(keys: gs.TenantKeys, body: bytes) -> dict[str, str]:
    return gs.zalo_headers(keys, body, json.loads(body)["timestamp"])


def bearer(keys: gs.TenantKeys) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.api_key}", "Content-Type": "text/csv"}


def assert_refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"], body


def assert_accepted(response: httpx.Response, topic: str, events: int = 1) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "topic": topic, "events": events}


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """A body httpx sends chunked (no Content-Length)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def send_valid(gateway: Gateway, n: int = 4) -> None:
    """`n` valid partner webhooks, each on a new connection (so both workers may get
    some), every one answered 200."""
    keys = gateway.keys["hostile"]
    for _ in range(n):
        body = partner_body()
        headers = {**signed(keys, body), "Connection": "close"}
        with gateway.client() as client:
            r = client.post(f"/webhooks/partner/{keys.tenant}", content=body, headers=headers)
        assert_accepted(r, "raw.webhook")


def assert_serving(gateway: Gateway) -> None:
    """Both workers are the ones started, /healthz answers, a valid request gets 200."""
    assert worker_pids(gateway.server) == gateway.pids, "a worker died and was replaced"
    assert gateway.server.alive_workers() == 2
    with gateway.client() as client:
        assert client.get("/healthz").status_code == 200
    send_valid(gateway)


# -- raw HTTP ------------------------------------------------------------------------------


@dataclass
class RawAnswer:
    status: int | None
    """None: the server closed the connection without an answer."""
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.body)
        return data


def read_answer(sock: socket.socket, timeout_s: float = HTTP_TIMEOUT_S) -> RawAnswer:
    """One HTTP answer from `sock` (a timeout raises: the server hung)."""
    sock.settimeout(timeout_s)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return RawAnswer(None, {}, buf)
            buf += data
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            data = sock.recv(65536)
            if not data:
                break
            body += data
        return RawAnswer(status, headers, body[:length])
    except ConnectionResetError:
        return RawAnswer(None, {}, buf)


def raw_request(port: int, data: bytes) -> RawAnswer:
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT_S) as sock:
        # it may answer (and close) before reading it all
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        return read_answer(sock)


def post_head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def metric_samples(gateway: Gateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with gateway.client() as client:
        r = client.get("/metrics")
    assert r.status_code == 200
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def metric(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- 1. statuses and refusals ----------------------------------------------------------


def test_partner_two_signatures_one_right_is_accepted(gw: Gateway) -> None:
    """Several `v1=` while a secret rotates: one that matches is enough."""
    keys = gw.keys["acme"]
    body = partner_body()
    t = int(time.time())
    good = signed(keys, body, t=t)["X-Headwater-Signature"].split("v1=")[1]
    header = f"t={t},v1={'0' * 64},v1={good}"
    with gw.client() as client:
        r = client.post(
            f"/webhooks/partner/{keys.tenant}",
            content=body,
            headers={"X-Headwater-Signature": header, "Content-Type": "application/json"},
        )
    assert_accepted(r, "raw.webhook")


PARTNER_REFUSALS = {
    # case: (headers(keys, other, body), body, status, error)
    "missing_signature": (lambda k, o, b: {}, None, 401, "missing_signature"),
    "bad_signature": (
        lambda k, o, b: {"X-Headwater-Signature": f"t={int(time.time())},v1={'ab' * 32}"},
        None,
        401,
        "bad_signature",
    ),
    "malformed_signature": (
        lambda k, o, b: {"X-Headwater-Signature": "sha256=deadbeef"},
        None,
        401,
        "malformed_signature",
    ),
    "signed_other_body": (lambda k, o, b: signed(k, b + b" "), None, 401, "bad_signature"),
    "stale_timestamp": (
        lambda k, o, b: signed(k, b, t=int(time.time()) - 301 - 60),
        None,
        401,
        "stale_timestamp",
    ),
    "future_timestamp": (
        lambda k, o, b: signed(k, b, t=int(time.time()) + 301 + 60),
        None,
        401,
        "stale_timestamp",
    ),
    "other_tenants_secret": (lambda k, o, b: signed(o, b), None, 401, "bad_signature"),
    "not_json": (lambda k, o, b: signed(k, b), b"this is not json", 400, "not_json"),
    "json_array": (lambda k, o, b: signed(k, b), b'[{"id": "m-1"}]', 400, "not_json"),
    "json_string": (lambda k, o, b: signed(k, b), b'"hello"', 400, "not_json"),
    "empty_body": (lambda k, o, b: signed(k, b), b"", 400, "not_json"),
}


@pytest.mark.parametrize("case", PARTNER_REFUSALS)
def test_partner_refusals(gw: Gateway, case: str) -> None:
    headers_of, body, status, error = PARTNER_REFUSALS[case]
    keys, other = gw.keys["refused"], gw.keys["other"]
    body = partner_body() if body is None else body
    with gw.client() as client:
        r = client.post(
            f"/webhooks/partner/{keys.tenant}", content=body, headers=headers_of(keys, other, body)
        )
    assert_refused(r, status, error)


@pytest.mark.parametrize(
    "tenant",
    ["nobody-{run}", "a%20b", "a" * 100, "%C3%A9t%C3%A9", "a.b", "a%00b"],
    ids=["unregistered", "space", "100-chars", "non-ascii", "dot", "nul"],
)
def test_partner_unknown_tenant(gw: Gateway, run_id: str, tenant: str) -> None:
    """404 `unknown_tenant` for a tenant nobody registered and for one breaking the rule,
    even when signed with a registered tenant's secret."""
    body = partner_body()
    with gw.client() as client:
        r = client.post(
            f"/webhooks/partner/{tenant.format(run=run_id)}",
            content=body,
            headers=signed(gw.keys["acme"], body),
        )
    assert_refused(r, 404, "unknown_tenant")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/webhooks/partner/a%2Fb", 404),
        ("POST", "/webhooks/partner/", 404),
        ("GET", "/webhooks/partner/{tenant}", 405),
    ],
    ids=["slash-in-tenant", "empty-tenant", "get"],
)
def test_unrouted_requests_have_the_refusal_body(
    gw: Gateway, method: str, path: str, status: int
) -> None:
    """The app's contract: every refusal is `{"error", "detail"}`."""
    body = partner_body()
    with gw.client() as client:
        r = client.request(
            method,
            path.format(tenant=gw.keys["acme"].tenant),
            content=body if method == "POST" else None,
            headers=signed(gw.keys["acme"], body),
        )
    assert r.status_code == status
    assert set(r.json()) == {"error", "detail"}, r.text


@pytest.mark.parametrize(
    "t",
    ["1" + "0" * 400, "9" * 5000, "1e9", "-5", "", "0x10"],
    ids=["400-digits", "5000-digits", "float", "negative", "empty", "hex"],
)
def test_partner_timestamp_not_unix_seconds(gw: Gateway, t: str) -> None:
    """A `t=` too big for a float (once a 500) or not an integer at all: 401."""
    keys = gw.keys["refused"]
    body = partner_body()
    header = f"t={t},v1={'ab' * 32}"
    with gw.client() as client:
        r = client.post(
            f"/webhooks/partner/{keys.tenant}",
            content=body,
            headers={"X-Headwater-Signature": header, "Content-Type": "application/json"},
        )
    assert_refused(r, 401, "malformed_signature")


ZALO_REFUSALS = {
    "unknown_oa": (lambda k, o: zalo_event(k, to_oa=f"oa-nobody-{uuid.uuid4().hex}"), "ok", 404),
    "no_oa": (lambda k, o: zalo_event(k, event_name="follow", recipient=None), "ok", 404),
    "bad_mac": (lambda k, o: zalo_event(k), f"mac={'0' * 64}", 401),
    "missing_signature": (lambda k, o: zalo_event(k), None, 401),
    "malformed_signature": (lambda k, o: zalo_event(k), "sha256=abc", 401),
    "other_oa_secret": (lambda k, o: zalo_event(k), "other", 401),
    "wrong_app": (lambda k, o: zalo_event(k, app_id=o.app_id), "ok", 401),
    "no_timestamp": (lambda k, o: zalo_event(k, timestamp=None), "ok", 400),
    "not_json": (lambda k, o: b"<xml>not json</xml>", None, 400),
    "json_array": (lambda k, o: b"[1, 2, 3]", None, 400),
}
ZALO_ERRORS = {
    "unknown_oa": "unknown_oa",
    "no_oa": "unknown_oa",
    "bad_mac": "bad_signature",
    "missing_signature": "missing_signature",
    "malformed_signature": "malformed_signature",
    "other_oa_secret": "bad_signature",
    "wrong_app": "wrong_app",
    "no_timestamp": "invalid_event",
    "not_json": "not_json",
    "json_array": "not_json",
}


@pytest.mark.parametrize("case", ZALO_REFUSALS)
def test_zalo_refusals(gw: Gateway, case: str) -> None:
    body_of, signature, status = ZALO_REFUSALS[case]
    keys, other = gw.keys["refused"], gw.keys["other"]
    body = body_of(keys, other)
    headers = {"Content-Type": "application/json"}
    if signature == "ok":  # signed with the OA's secret over the event's own app_id
        event = json.loads(body)
        mac = hashlib.sha256(
            str(event["app_id"]).encode()
            + body
            + str(event.get("timestamp") or "").encode()
            + keys.oa_secret.encode()
        ).hexdigest()
        headers["X-ZEvent-Signature"] = f"mac={mac}"
    elif signature == "other":
        headers = gs.zalo_headers(other, body, json.loads(body)["timestamp"])
    elif signature is not None:
        headers["X-ZEvent-Signature"] = signature
    with gw.client() as client:
        r = client.post("/webhooks/zalo", content=body, headers=headers)
    assert_refused(r, status, ZALO_ERRORS[case])


def padded(size: int) -> bytes:
    """A valid partner body of exactly `size` bytes."""
    body = partner_body(pad="")
    return body[:-2] + b"x" * (size - len(body)) + body[-2:]


def test_body_at_the_limit_is_accepted(gw: Gateway) -> None:
    keys = gw.keys["acme"]
    body = padded(MAX_BODY)
    assert len(body) == MAX_BODY and json.loads(body)
    with gw.client() as client:
        r = client.post(
            f"/webhooks/partner/{keys.tenant}", content=body, headers=signed(keys, body)
        )
    assert_accepted(r, "raw.webhook")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("route", ["partner", "zalo"])
def test_body_over_the_limit(gw: Gateway, route: str, framing: str) -> None:
    keys = gw.keys["refused"]
    if route == "partner":
        path, body = f"/webhooks/partner/{keys.tenant}", padded(MAX_BODY + 1)
        headers = signed(keys, body)
    else:
        path, body = "/webhooks/zalo", zalo_event(keys, pad="x" * MAX_BODY)
        headers = zalo_signed(keys, body)
    content: bytes | Iterator[bytes] = body if framing == "content-length" else chunks(body, 8192)
    with gw.client() as client:
        r = client.post(path, content=content, headers=headers)
    assert_refused(r, 413, "too_large")


CSV_HEADER = "message_id,conversation_id,user_id,content,timestamp\n"
CSV_ROW = "m-1,c-1,u-1,hello,2024-05-01T10:00:00Z\n"


@pytest.mark.parametrize(
    ("authorization", "body", "status", "error"),
    [
        (None, CSV_HEADER + CSV_ROW, 401, "bad_api_key"),
        ("Bearer hw_not_a_key", CSV_HEADER + CSV_ROW, 401, "bad_api_key"),
        ("Basic {key}", CSV_HEADER + CSV_ROW, 401, "bad_api_key"),
        ("Bearer {other}", CSV_HEADER + CSV_ROW, 401, "bad_api_key"),
        ("Bearer {key}", "message_id,conversation_id\nm-1,c-1\n", 400, "invalid_csv"),
        ("Bearer {key}", "message_id;conversation_id;user_id;content\n", 400, "invalid_csv"),
        ("Bearer {key}", "", 400, "empty_csv"),
    ],
    ids=[
        "no-key",
        "wrong-key",
        "not-bearer",
        "other-tenants-key",
        "missing-columns",
        "header-only-missing-timestamp",
        "empty",
    ],
)
def test_csv_refusals(
    gw: Gateway, authorization: str | None, body: str, status: int, error: str
) -> None:
    keys, other = gw.keys["refused"], gw.keys["other"]
    headers = {"Content-Type": "text/csv"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(key=keys.api_key, other=other.api_key)
    with gw.client() as client:
        r = client.post(f"/exports/csv/{keys.tenant}", content=body.encode(), headers=headers)
    assert_refused(r, status, error)


def test_refused_requests_write_nothing(gw: Gateway, tails: dict[str, Tail]) -> None:
    """One refusal of each kind on each route, for a tenant of its own: no record."""
    keys = gw.keys["refused"]
    body = partner_body(content="refused")
    csv_body = b"message_id,conversation_id\nm-1,c-1\n"
    with gw.client() as client:
        for headers in (
            {},
            signed(keys, body, t=int(time.time()) - 1000),
            signed(keys, body + b"x"),
        ):
            r = client.post(f"/webhooks/partner/{keys.tenant}", content=body, headers=headers)
            assert r.status_code == 401
        r = client.post(
            f"/webhooks/partner/{keys.tenant}",
            content=b"[]",
            headers=signed(keys, b"[]"),
        )
        assert r.status_code == 400
        event = zalo_event(keys)
        r = client.post(
            "/webhooks/zalo", content=event, headers={"X-ZEvent-Signature": f"mac={'1' * 64}"}
        )
        assert r.status_code == 401
        r = client.post(f"/exports/csv/{keys.tenant}", content=csv_body, headers=bearer(keys))
        assert r.status_code == 400
        r = client.post(
            f"/exports/csv/{keys.tenant}",
            content=(CSV_HEADER + CSV_ROW).encode(),
            headers={"Authorization": f"Bearer {gw.keys['other'].api_key}"},
        )
        assert r.status_code == 401
    for topic, tail in tails.items():
        assert tail.records(keys.tenant) == [], topic


# -- 2. what reaches Kafka ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "conversation"),
    [
        (
            # Formatting kept as sent: spaces, raw UTF-8, an escape, a trailing newline, and a
            # "tenant" of the body's own that must not become the envelope's.
            ' {"tenant": "{other}", "id":"m-1",  "conversation_id": "c-9", "content": '
            '"Xin chào \\u00e9 😀", "metadata": {"tenant": "{other}"}}\n',
            "c-9",
        ),
        ('{"id": 42, "conversation_id": 1234, "content": "numeric ids"}', "1234"),
        ('{"type": "feedback", "id": "f-1", "message_id": "m-1", "score": 0.5}', ""),
    ],
    ids=["formatted", "integer-ids", "no-conversation"],
)
def test_partner_envelope_in_kafka(
    gw: Gateway, tails: dict[str, Tail], body: str, conversation: str
) -> None:
    keys = gw.keys["acme"]
    raw = body.replace("{other}", gw.keys["other"].tenant).encode()
    before = time.time_ns() // 1_000_000
    with gw.client() as client:
        r = client.post(f"/webhooks/partner/{keys.tenant}", content=raw, headers=signed(keys, raw))
    after = time.time_ns() // 1_000_000
    assert_accepted(r, "raw.webhook")
    records = [m for m in tails["raw.webhook"].records(keys.tenant) if raw in m.value()]
    assert len(records) == 1
    msg = records[0]
    assert msg.key() == f"{keys.tenant}/{conversation}".encode()
    envelope = json.loads(msg.value())
    assert set(envelope) == {"source", "tenant", "received_at", "payload"}
    assert envelope["source"] == "webhook"
    assert envelope["tenant"] == keys.tenant
    assert before <= envelope["received_at"] <= after
    assert envelope["payload"] == json.loads(raw)
    assert payload_bytes(msg.value(), "webhook", keys.tenant) == raw


@pytest.mark.parametrize(
    ("event_name", "direction"),
    [
        ("user_send_text", "user-to-oa"),
        ("oa_send_text", "oa-to-user"),
        ("user_send_text", "oa-to-user"),  # named one way, addressed the other
        ("follow", "follower"),
    ],
    ids=["user_send_text", "oa_send_text", "user_send_text-reversed", "follow"],
)
def test_zalo_envelope_in_kafka(
    gw: Gateway, tails: dict[str, Tail], event_name: str, direction: str
) -> None:
    """The key is `<tenant>/zalo:<oa>:<user>` whichever way the event goes; the tenant is
    the OA's, not the body's."""
    keys = gw.keys["acme"]
    user = f"user-{uuid.uuid4().hex[:8]}"
    parties: dict[str, object] = {
        "user-to-oa": {"sender": {"id": user}, "recipient": {"id": keys.oa_id}},
        "oa-to-user": {"sender": {"id": keys.oa_id}, "recipient": {"id": user}},
        "follower": {
            "oa_id": keys.oa_id,
            "follower": {"id": user},
            "sender": None,
            "recipient": None,
        },
    }[direction]
    body = zalo_event(keys, event_name=event_name, tenant=gw.keys["other"].tenant, **parties)
    with gw.client() as client:
        r = client.post("/webhooks/zalo", content=body, headers=zalo_signed(keys, body))
    assert_accepted(r, "raw.zalo")
    records = [m for m in tails["raw.zalo"].records(keys.tenant) if body in m.value()]
    assert len(records) == 1
    msg = records[0]
    assert msg.key() == f"{keys.tenant}/zalo:{keys.oa_id}:{user}".encode()
    envelope = json.loads(msg.value())
    assert envelope["source"] == "zalo"
    assert envelope["tenant"] == keys.tenant
    assert payload_bytes(msg.value(), "zalo", keys.tenant) == body


def test_csv_upload_in_kafka(gw: Gateway, tails: dict[str, Tail]) -> None:
    """UTF-8 BOM, semicolons, CRLF, a quoted cell across lines and with `""`, no line end
    after the last row, a blank line; sent in 5-byte chunks (BOM and CRLF split)."""
    keys = gw.keys["acme"]
    text = (
        "\ufeffmessage_id;conversation_id;user_id;content;timestamp\r\n"
        'm-1;c-1;u-1;"Xin chào; bạn\r\nkhoẻ không?";2024-05-01T10:00:00+07:00\r\n'
        "\r\n"
        'm-2;c-1;u-1;"she said ""hi""";1714532400\r\n'
        "m-3;c-2;u-2;plain, with a comma;1714532400000"
    )
    with gw.client() as client:
        r = client.post(
            f"/exports/csv/{keys.tenant}", content=chunks(text.encode(), 5), headers=bearer(keys)
        )
    assert_accepted(r, "raw.csv", events=3)
    records = tails["raw.csv"].records(keys.tenant)
    assert len(records) == 3
    rows = {}
    for msg in records:
        envelope = json.loads(msg.value())
        assert envelope["source"] == "csv" and envelope["tenant"] == keys.tenant
        row = envelope["payload"]
        assert msg.key() == f"{keys.tenant}/{row['conversation_id']}".encode()
        rows[row["message_id"]] = row
    assert rows == {
        "m-1": {
            "message_id": "m-1",
            "conversation_id": "c-1",
            "user_id": "u-1",
            "content": "Xin chào; bạn\r\nkhoẻ không?",
            "timestamp": "2024-05-01T10:00:00+07:00",
        },
        "m-2": {
            "message_id": "m-2",
            "conversation_id": "c-1",
            "user_id": "u-1",
            "content": 'she said "hi"',
            "timestamp": "1714532400",
        },
        "m-3": {
            "message_id": "m-3",
            "conversation_id": "c-2",
            "user_id": "u-2",
            "content": "plain, with a comma",
            "timestamp": "1714532400000",
        },
    }
    # one conversation stays in one partition, in the file's order
    c1 = [
        json.loads(m.value())["payload"]["message_id"] for m in records if m.key().endswith(b"c-1")
    ]
    assert c1 == ["m-1", "m-2"]


def test_csv_many_rows(gw: Gateway, tails: dict[str, Tail]) -> None:
    keys = gw.keys["acme"]
    n = 2_000
    text = CSV_HEADER + "".join(f"r-{i},conv-{i % 7},u-1,row {i},1714532400\n" for i in range(n))
    with gw.client() as client:
        r = client.post(
            f"/exports/csv/{keys.tenant}", content=chunks(text.encode(), 4096), headers=bearer(keys)
        )
    assert_accepted(r, "raw.csv", events=n)
    ids = [
        json.loads(m.value())["payload"]["message_id"]
        for m in tails["raw.csv"].records(keys.tenant)
    ]
    assert sorted(ids) == sorted(f"r-{i}" for i in range(n))


def test_csv_cell_over_the_csv_modules_field_limit(gw: Gateway) -> None:
    """A quoted cell of 141 400 characters (short physical lines, within the record bound)
    is accepted, or refused with a 4xx and the refusal body; never a 500."""
    keys = gw.keys["acme"]
    cell = '"' + ("x" * 100 + "\n") * 1400 + '"'
    text = CSV_HEADER + f"m-big,c-1,u-1,{cell},1714532400\n"
    with gw.client() as client:
        r = client.post(f"/exports/csv/{keys.tenant}", content=text.encode(), headers=bearer(keys))
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert set(r.json()) == {"error", "detail"}


# -- 3. hostile requests ---------------------------------------------------------------

FRAMING = {
    "request-line-garbage": b"\x00\x01GARBAGE \xff\xfe\r\n\r\n",
    "not-http": b"HELLO WORLD\r\n\r\n",
    "chunk-size-garbage": b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n",
    "chunk-size-overflow": (
        b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"
    ),
    "chunk-size-negative": b"Transfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n",
    "chunked-and-content-length": (
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    "content-length-not-a-number": b"Content-Length: abc\r\n\r\nabc",
    "two-content-lengths": b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
}


@pytest.mark.parametrize(
    ("case", "route"),
    [
        (case, route)
        for case in FRAMING
        for route in (
            ["-"] if case in ("request-line-garbage", "not-http") else ["partner", "zalo"]
        )
    ],
)
def test_broken_framing(gw: Gateway, case: str, route: str) -> None:
    """A 4xx, or the connection closed; never a 5xx; the workers stay."""
    data = FRAMING[case]
    if route != "-":
        path = (
            f"/webhooks/partner/{gw.keys['hostile'].tenant}"
            if route == "partner"
            else ("/webhooks/zalo")
        )
        data = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + data
    answer = raw_request(gw.port, data)
    print(f"{case} ({route}): {answer.status or 'closed'} {answer.body[:80]!r}")
    assert answer.status is None or 400 <= answer.status < 500, answer
    assert_serving(gw)


@pytest.mark.parametrize(
    "headers",
    [
        [f"X-Big: {'a' * 100_000}"],
        [f"X-H{i}: {i}" for i in range(500)],
        [f"Cookie: {'c=' + 'v' * 8000};"] * 20,
    ],
    ids=["one-100KB-header", "500-headers", "20-8KB-cookies"],
)
@pytest.mark.parametrize("path", ["/healthz", "/webhooks/partner/{tenant}"])
def test_huge_headers(gw: Gateway, headers: list[str], path: str) -> None:
    """Answered (today: 200 for /healthz, and for a valid signed webhook), or refused
    with a 4xx (431 would do); never a 5xx."""
    keys = gw.keys["hostile"]
    body = partner_body()
    sig = signed(keys, body)["X-Headwater-Signature"]
    method = "GET" if path == "/healthz" else "POST"
    lines = [
        f"{method} {path.format(tenant=keys.tenant)} HTTP/1.1",
        "Host: 127.0.0.1",
        f"X-Headwater-Signature: {sig}",
        f"Content-Length: {len(body) if method == 'POST' else 0}",
        *headers,
    ]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body if method == "POST" else b"")
    answer = raw_request(gw.port, data)
    print(f"{len(data)} bytes to {method} {path}: {answer.status or 'closed'}")
    assert answer.status is None or answer.status < 500, answer
    if answer.status == 200 and method == "POST":
        assert answer.json()["status"] == "accepted"
    assert_serving(gw)


@pytest.mark.parametrize(
    "body",
    [b'{"content": "\xff\xfe\xc3"}', b"\xef\xbb\xbf{}", b"[" * 100_000, b'{"a":' * 40_000],
    ids=["invalid-utf8", "bom", "100000-brackets", "40000-nested-objects"],
)
@pytest.mark.parametrize("route", ["partner", "zalo"])
def test_bodies_json_refuses(gw: Gateway, route: str, body: bytes) -> None:
    """400 `not_json` (for the partner route: correctly signed)."""
    keys = gw.keys["hostile"]
    if route == "partner":
        path, headers = f"/webhooks/partner/{keys.tenant}", signed(keys, body)
    else:
        path, headers = "/webhooks/zalo", {"Content-Type": "application/json"}
    with gw.client() as client:
        r = client.post(path, content=body, headers=headers)
    assert_refused(r, 400, "not_json")
    assert_serving(gw)


@pytest.mark.parametrize("route", ["partner", "zalo", "csv"])
def test_slow_body(gw: Gateway, route: str) -> None:
    """Content-Length 100, then a byte every 0.3 s, with a body timeout of 1 s: 408
    `body_timeout` for a webhook (the whole body is bounded). A CSV upload bounds each
    part instead: its header row, then a byte every 1.5 s, is refused at the first gap."""
    keys = gw.keys["hostile"]
    path = {
        "partner": f"/webhooks/partner/{keys.tenant}",
        "zalo": "/webhooks/zalo",
        "csv": f"/exports/csv/{keys.tenant}",
    }[route]
    extra = [f"Authorization: Bearer {keys.api_key}"] if route == "csv" else []
    interval_s = 0.3 if route != "csv" else BODY_TIMEOUT_S * 1.5
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=HTTP_TIMEOUT_S) as sock:
        sock.sendall(post_head(path, "Content-Length: 100", *extra))
        if route == "csv":
            sock.sendall(CSV_HEADER.encode())
        sent = 0
        while sent < 90 and time.monotonic() - started < 8:
            readable, _, _ = select.select([sock], [], [], interval_s)
            if readable:
                break
            sock.sendall(b"x")
            sent += 1
        answer = read_answer(sock)
    elapsed = time.monotonic() - started
    print(f"slow body ({route}): {answer.status} after {elapsed:.2f} s")
    assert answer.status == 408, (answer, elapsed)
    assert answer.json()["error"] == "body_timeout"
    assert elapsed < 8, elapsed
    assert_serving(gw)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("route", ["partner", "zalo", "csv"])
def test_connection_closed_mid_body(gw: Gateway, route: str, framing: str) -> None:
    """The sender goes away mid-body: nothing to answer, counted `client_disconnected`."""
    keys = gw.keys["hostile"]
    path = {
        "partner": f"/webhooks/partner/{keys.tenant}",
        "zalo": "/webhooks/zalo",
        "csv": f"/exports/csv/{keys.tenant}",
    }[route]
    name, labels = "headwater_gateway_refusals_total", {"route": route}
    before = metric(metric_samples(gw), name, reason="client_disconnected", **labels)
    auth = [f"Authorization: Bearer {keys.api_key}"] if route == "csv" else []
    if framing == "content-length":
        head = post_head(path, "Content-Length: 10000", *auth)
        part = b'{"id": "m-1", "conte'
    else:
        head = post_head(path, "Transfer-Encoding: chunked", *auth)
        part = b"100\r\n" + CSV_HEADER.encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=HTTP_TIMEOUT_S) as sock:
        sock.sendall(head + part)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while metric(metric_samples(gw), name, reason="client_disconnected", **labels) <= before:
        assert time.monotonic() < deadline, "the disconnect was not counted"
        time.sleep(0.1)
    assert_serving(gw)


def test_many_idle_connections_leave_room(gw: Gateway) -> None:
    """200 connections that send half a request line and wait: others are still served."""
    socks = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", gw.port), timeout=HTTP_TIMEOUT_S)
            sock.sendall(b"POST /webhooks/zalo HT")
            socks.append(sock)
        assert_serving(gw)
    finally:
        for sock in socks:
            sock.close()


def test_csv_long_unterminated_line(
    raw_topics: str, run_id: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Its own gateway (this kills a worker today). A row with a 50 000-character cell and
    no line end after it: a 200 in well under the 5 s allowed, and the same workers."""
    keys, entry = gs.tenant_entry(f"longline-{run_id}")
    server = gs.GatewayServer(
        tmp_path_factory.mktemp("gateway-longline"), entry, brokers=raw_topics
    )
    server.env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path_factory.mktemp("metrics-longline"))
    try:
        server.start()
        pids = worker_pids(server)
        text = CSV_HEADER + "m-1,c-1,u-1," + "x" * 50_000 + ",1714532400"
        with httpx.Client(base_url=server.url, timeout=5) as client:
            r = client.post(
                f"/exports/csv/{keys.tenant}", content=text.encode(), headers=bearer(keys)
            )
        assert_accepted(r, "raw.csv", events=1)
        assert worker_pids(server) == pids
    finally:
        server.kill()


# -- 4. rate limit ---------------------------------------------------------------------


def test_rate_limit_is_per_tenant(gw: Gateway) -> None:
    """noisy (20/s) sends 100 at once, quiet's interleaved: noisy gets 429s with an
    integer Retry-After ≥ 1 and some 200s; quiet only 200s."""
    noisy, quiet = gw.keys["noisy"], gw.keys["quiet"]
    statuses: dict[str, Counter[int]] = {"noisy": Counter(), "quiet": Counter()}
    with gw.client() as client:
        for i in range(100):
            for who, keys in (("noisy", noisy), ("quiet", quiet)):
                if who == "quiet" and i % 4:
                    continue
                body = partner_body()
                r = client.post(
                    f"/webhooks/partner/{keys.tenant}", content=body, headers=signed(keys, body)
                )
                statuses[who][r.status_code] += 1
                if r.status_code == 429:
                    assert int(r.headers["Retry-After"]) >= 1, r.headers
                    assert_refused(r, 429, "rate_limited")
                else:
                    assert_accepted(r, "raw.webhook")
    assert statuses["quiet"] == Counter({200: 25})
    assert set(statuses["noisy"]) == {200, 429}, statuses
    assert statuses["noisy"][200] >= 20, statuses  # a fresh window admits the first 20
    assert statuses["noisy"][429] >= 1, statuses


# -- 5. Kafka not reachable --------------------------------------------------------------


@pytest.fixture(scope="module")
def gw_no_kafka(run_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    keys, toml = registry(f"nokafka-{run_id}")
    server = gs.GatewayServer(
        tmp_path_factory.mktemp("gateway-no-kafka"),
        toml,
        brokers=f"127.0.0.1:{free_port()}",
        gateway_ack_timeout_s="0.5",
        gateway_csv_ack_timeout_s="0.5",
        gateway_retry_after_s="7",
    )
    # killed, not stopped: its metrics directory is the test's, not one it would remove
    server.env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path_factory.mktemp("metrics-no-kafka"))
    try:
        server.start(ready=False)
        yield Gateway(server, "", keys, worker_pids(server))
    finally:
        server.kill()  # a stop would wait for the queued events


def test_kafka_unreachable(gw_no_kafka: Gateway) -> None:
    gateway = gw_no_kafka
    keys = gateway.keys["acme"]
    with gateway.client(timeout_s=5) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "not_ready", r.text
        body = partner_body()
        started = time.monotonic()
        r = client.post(
            f"/webhooks/partner/{keys.tenant}", content=body, headers=signed(keys, body)
        )
        took = time.monotonic() - started
        assert_refused(r, 503, "kafka_unavailable")
        assert r.headers["Retry-After"] == "7"
        event = zalo_event(keys)
        r = client.post("/webhooks/zalo", content=event, headers=zalo_signed(keys, event))
        assert_refused(r, 503, "kafka_unavailable")
        assert r.headers["Retry-After"] == "7"
        r = client.post(
            f"/exports/csv/{keys.tenant}",
            content=(CSV_HEADER + CSV_ROW).encode(),
            headers=bearer(keys),
        )
        assert_refused(r, 503, "kafka_unavailable")
        assert r.headers["Retry-After"] == "7"
        # refusals that need no Kafka are the same as ever
        assert_refused(
            client.post(f"/webhooks/partner/{keys.tenant}", content=body), 401, "missing_signature"
        )
    print(f"503 kafka_unavailable answered in {took:.3f} s")


def test_kafka_timeout_is_logged_with_a_reason(gw_no_kafka: Gateway) -> None:
    keys = gw_no_kafka.keys["other"]
    body = partner_body()
    with gw_no_kafka.client(timeout_s=5) as client:
        r = client.post(
            f"/webhooks/partner/{keys.tenant}", content=body, headers=signed(keys, body)
        )
    assert r.status_code == 503
    lines = [
        line
        for line in gw_no_kafka.server.log.read_text().splitlines()
        if "kafka did not confirm an event" in line
    ]
    assert lines
    assert all(line.split("kafka did not confirm an event:")[1].strip() for line in lines), lines


# -- 6. metrics and the API description ------------------------------------------------


def test_metrics_sum_both_workers(gw: Gateway, run_id: str) -> None:
    """A known mix for a tenant of its own, each request on a new connection (so both
    workers take some): the tenant's series are exact, the reasons' at least as much."""
    keys = gw.keys["metrics"]
    path = f"/webhooks/partner/{keys.tenant}"
    mix = {"missing_signature": 3, "stale_timestamp": 2, "not_json": 4, "ok": 5}
    before = metric_samples(gw)
    for case, count in mix.items():
        for _ in range(count):
            body = b"nope" if case == "not_json" else partner_body()
            headers = {
                "missing_signature": {},
                "stale_timestamp": signed(keys, body, t=int(time.time()) - 3600),
                "not_json": signed(keys, body),
                "ok": signed(keys, body),
            }[case]
            with gw.client() as client:
                client.post(path, content=body, headers={**headers, "Connection": "close"})
    with gw.client() as client:
        for _ in range(2):
            client.post(f"/webhooks/partner/nobody-{run_id}", content=b"{}")
    after = metric_samples(gw)

    def requests(status: str, tenant: str = keys.tenant) -> float:
        labels = {"route": "partner", "tenant": tenant, "status": status}
        name = "headwater_gateway_requests_total"
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert requests("401") == 5
    assert requests("400") == 4
    assert requests("200") == 5
    assert requests("404", tenant="-") >= 2
    for reason, count in [
        ("missing_signature", 3),
        ("stale_timestamp", 2),
        ("not_json", 4),
        ("unknown_tenant", 2),
    ]:
        labels = {"route": "partner", "reason": reason}
        name = "headwater_gateway_refusals_total"
        assert metric(after, name, **labels) - metric(before, name, **labels) >= count, reason
    assert metric(after, "headwater_gateway_produce_seconds_count", route="partner") >= 5


def test_openapi_lists_the_routes(gw: Gateway) -> None:
    with gw.client() as client:
        r = client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/webhooks/zalo", "/webhooks/partner/{tenant}", "/exports/csv/{tenant}"):
        assert "post" in paths[path], path
        responses = paths[path]["post"]["responses"]
        assert {"200", "401", "413", "429", "503"} <= set(responses), (path, responses)


def test_workers_survived_the_module(gw: Gateway) -> None:
    """After everything above (in file order), the same two workers still serve."""
    assert_serving(gw)
    with gw.client() as client:
        assert client.get("/readyz").status_code == 200
