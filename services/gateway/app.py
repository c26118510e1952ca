"""The webhook gateway's ASGI app: verify the sender, write the envelope to Kafka, and
answer 200 only once Kafka confirmed it.

`create_app(settings)` builds it; the Kafka producer and the quota store are made in the
lifespan. Every refusal is a status code and `{"error": <reason>, "detail": …}`,
counted by route and reason; nothing from a body or a secret is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from operators.common.http import (
    add_operational_routes,
    bounded_body,
    json_response,
    refusal_response,
)
from operators.common.quota import TenantQuota
from schemas.http import Refusal, Refused
from schemas.ids import is_valid_tenant
from schemas.payloads import CsvRow as CsvColumns
from schemas.tenants import Tenant, TenantRegistry
from services.gateway.csv_upload import CsvRow, CsvUpload
from services.gateway.envelope import (
    csv_envelope,
    envelope,
    id_text,
    message_key,
    zalo_conversation,
    zalo_parties,
)
from services.gateway.metrics import (
    BODY_BYTES,
    CSV_ROWS,
    PRODUCE_SECONDS,
    REFUSALS,
    REQUESTS,
)
from services.gateway.producer import AckingProducer, NotAcknowledged
from services.gateway.settings import GatewaySettings
from services.gateway.signatures import SignatureError, verify_partner, verify_zalo

log = logging.getLogger(__name__)

RAW_TOPICS = {"zalo": "raw.zalo", "partner": "raw.webhook", "csv": "raw.csv"}
"""Where each route writes (the `raw.*` topics of `flows.topics`), after the
`gateway_topic_prefix`."""

CSV_IN_FLIGHT = 10_000
"""CSV rows handed to Kafka and not yet confirmed, at most; reading the upload waits."""

CSV_REQUIRED = tuple(name for name, f in CsvColumns.model_fields.items() if f.is_required())

READY_CACHE_S = 1.0


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    topic: str = Field(examples=["raw.zalo"])
    events: int = Field(1, description="events Kafka confirmed (a CSV upload: its rows)")


@dataclass
class Gateway:
    """What the handlers share: settings, registry and clients (made in the lifespan)."""

    settings: GatewaySettings
    registry: TenantRegistry
    producer: AckingProducer
    quota: TenantQuota
    _ready: tuple[float, bool, str] = field(default=(0.0, False, ""))
    topics: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        prefix = self.settings.gateway_topic_prefix
        self.topics = {route: prefix + topic for route, topic in RAW_TOPICS.items()}

    async def answer(
        self, route: str, request: Request, handler: Callable[[], Awaitable[Accepted]]
    ) -> Response:
        """Run a route's handler and answer: the acceptance, or the refusal it raised.
        A handler sets `request.state.tenant` once it knows the (registered) tenant."""
        try:
            accepted = await handler()
        except Refusal as refusal:
            REFUSALS.labels(route, refusal.reason).inc()
            REQUESTS.labels(route, _tenant_label(request), str(refusal.status)).inc()
            return refusal_response(refusal)
        except ClientDisconnect:
            # The sender went away mid-body; nothing was written, and no one reads the answer.
            REFUSALS.labels(route, "client_disconnected").inc()
            REQUESTS.labels(route, _tenant_label(request), "499").inc()
            return Response(status_code=400)
        except Exception:
            log.exception("unexpected error on %s (the request is answered 500)", route)
            REFUSALS.labels(route, "internal").inc()
            REQUESTS.labels(route, _tenant_label(request), "500").inc()
            return json_response(
                500, {"error": "internal", "detail": "unexpected error; see the log"}
            )
        REQUESTS.labels(route, _tenant_label(request), "200").inc()
        return json_response(200, accepted.model_dump())

    # -- request bodies ------------------------------------------------------------

    async def body(self, request: Request, route: str) -> bytes:
        """The whole body, refused above the size bound or when it arrives too slowly."""
        body = await bounded_body(
            request, self.settings.gateway_max_body_bytes, self.settings.gateway_body_timeout_s
        )
        BODY_BYTES.labels(route).inc(len(body))
        return body

    @staticmethod
    def json_object(body: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Refusal(400, "not_json", f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Refusal(400, "not_json", "the body must be a JSON object")
        return data

    # -- what every accepted event goes through -------------------------------------

    async def within_quota(self, tenant: str, entry: Tenant) -> None:
        wait = await self.quota.check(tenant, entry.rate_limit_per_s)
        if wait is not None:
            raise Refusal(
                429,
                "rate_limited",
                f"over {entry.rate_limit_per_s} requests a second",
                retry_after=wait,
            )

    def kafka_refusal(self, exc: BaseException) -> Refusal:
        log.warning("kafka did not confirm an event: %s", str(exc) or "no confirmation in time")
        return Refusal(
            503,
            "kafka_unavailable",
            "the event was not confirmed by Kafka; send it again",
            retry_after=self.settings.gateway_retry_after_s,
        )

    async def deliver(self, route: str, key: bytes, value: bytes) -> None:
        start = time.perf_counter()
        try:
            sent = self.producer.send(self.topics[route], key, value)
            await asyncio.wait_for(sent, self.settings.gateway_ack_timeout_s)
        except (NotAcknowledged, TimeoutError) as exc:
            raise self.kafka_refusal(exc) from None
        PRODUCE_SECONDS.labels(route).observe(time.perf_counter() - start)

    # -- the routes -------------------------------------------------------------------

    async def zalo(self, request: Request) -> Accepted:
        body = await self.body(request, "zalo")
        event = self.json_object(body)
        oa_id, user_id = zalo_parties(event)
        found = self.registry.zalo_account(oa_id) if oa_id else None
        if found is None and user_id:  # an event whose direction is the other way round
            found = self.registry.zalo_account(user_id)
            oa_id, user_id = (user_id, oa_id) if found else (oa_id, user_id)
        if found is None or oa_id is None:
            raise Refusal(404, "unknown_oa", "no tenant has this event's Official Account")
        tenant, account = found
        request.state.tenant = tenant
        app_id, timestamp = id_text(event.get("app_id")), id_text(event.get("timestamp"))
        if app_id is None or timestamp is None:
            raise Refusal(400, "invalid_event", "app_id and timestamp are required")
        try:
            verify_zalo(
                request.headers.get("x-zevent-signature"),
                body,
                app_id=app_id,
                timestamp=timestamp,
                oa_secret=account.secret.get_secret_value(),
            )
        except SignatureError as exc:
            raise Refusal(401, exc.reason, exc.detail) from None
        if app_id != account.app_id:
            raise Refusal(401, "wrong_app", "the event's app_id is not the OA's app")
        await self.within_quota(tenant, self.registry.tenants[tenant])
        key = message_key(tenant, zalo_conversation(oa_id, user_id))
        await self.deliver("zalo", key, envelope("zalo", tenant, _now_ms(), body))
        return Accepted(topic=self.topics["zalo"])

    def known_tenant(self, tenant: str) -> Tenant:
        entry = self.registry.get(tenant) if is_valid_tenant(tenant) else None
        if entry is None:
            raise Refusal(404, "unknown_tenant", "no such tenant")
        return entry

    async def partner(self, request: Request, tenant: str) -> Accepted:
        entry = self.known_tenant(tenant)
        request.state.tenant = tenant
        body = await self.body(request, "partner")
        try:
            verify_partner(
                request.headers.get("x-headwater-signature"),
                body,
                secrets=[s.get_secret_value() for s in entry.partner_secrets],
                now_s=time.time(),
                window_s=self.settings.gateway_replay_window_s,
            )
        except SignatureError as exc:
            raise Refusal(401, exc.reason, exc.detail) from None
        event = self.json_object(body)
        await self.within_quota(tenant, entry)
        key = message_key(tenant, id_text(event.get("conversation_id")))
        await self.deliver("partner", key, envelope("webhook", tenant, _now_ms(), body))
        return Accepted(topic=self.topics["partner"])

    def api_key_tenant(self, request: Request, tenant: str) -> Tenant:
        owner = self.registry.tenant_of_authorization(request.headers.get("authorization"))
        if owner is None:
            raise Refusal(401, "bad_api_key", "Authorization: Bearer <tenant API key> is required")
        if owner != tenant:
            raise Refusal(401, "bad_api_key", "the API key is not this tenant's")
        return self.registry.tenants[owner]

    async def csv(self, request: Request, tenant: str) -> Accepted:
        entry = self.api_key_tenant(request, tenant)
        request.state.tenant = tenant
        await self.within_quota(tenant, entry)
        received_at = _now_ms()
        upload = CsvUpload(max_record_chars=self.settings.gateway_max_body_bytes)
        pending: deque[asyncio.Future[None]] = deque()
        rows = 0

        def send(batch: list[CsvRow]) -> None:
            nonlocal rows
            if not batch:
                return
            conversation_column = _check_header(upload.header or [])
            for row in batch:
                key = message_key(tenant, row.columns.get(conversation_column, "").strip())
                value = csv_envelope(tenant, received_at, row.columns, row.exact)
                pending.append(self.producer.send(self.topics["csv"], key, value))
            rows += len(batch)

        async def confirm(keep: int) -> None:
            while len(pending) > keep:
                await asyncio.wait_for(pending.popleft(), self.settings.gateway_csv_ack_timeout_s)

        try:
            async for chunk in self.csv_chunks(request):
                send(upload.feed(chunk))
                await confirm(CSV_IN_FLIGHT)
            send(upload.close())
            if upload.header is None:
                raise Refusal(400, "empty_csv", "the upload has no header row")
            _check_header(upload.header)
            await confirm(0)
        except (NotAcknowledged, TimeoutError) as exc:
            for future in pending:
                future.cancel()
            raise self.kafka_refusal(exc) from None
        CSV_ROWS.labels(tenant).inc(rows)
        return Accepted(topic=self.topics["csv"], events=rows)

    async def csv_chunks(self, request: Request) -> AsyncIterator[bytes]:
        """The upload's body as it arrives; each part must come within the body timeout."""
        stream = request.stream().__aiter__()
        while True:
            try:
                async with asyncio.timeout(self.settings.gateway_body_timeout_s):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise Refusal(408, "body_timeout", "the upload stalled") from None
            BODY_BYTES.labels("csv").inc(len(chunk))
            yield chunk

    # -- health -----------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, str]:
        checked_at, ready, why = self._ready
        if time.monotonic() - checked_at < READY_CACHE_S:
            return ready, why
        try:
            topics = await asyncio.to_thread(self.producer.topics, 1.0)
        except Exception as exc:  # any failure means not ready
            ready, why = False, f"kafka unreachable: {exc}"
        else:
            missing = sorted(set(self.topics.values()) - topics)
            ready, why = not missing, (f"topics missing: {', '.join(missing)}" if missing else "")
        self._ready = (time.monotonic(), ready, why)
        return ready, why


def _tenant_label(request: Request) -> str:
    return getattr(request.state, "tenant", "-")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_header(header: list[str]) -> str:
    """The name of the conversation column; a 400 when a required column is missing."""
    names = {h.strip().lstrip("\ufeff").lower(): h for h in header}
    missing = [c for c in CSV_REQUIRED if c not in names]
    if missing:
        raise Refusal(400, "invalid_csv", f"the header lacks {', '.join(missing)}")
    return names["conversation_id"]


REFUSALS_DOC: dict[int | str, dict[str, Any]] = {
    status: {"model": Refused, "description": text}
    for status, text in {
        400: "not JSON, not a JSON object, or a CSV without the required columns",
        401: "missing or wrong signature or API key",
        404: "unknown Official Account or tenant",
        408: "the body arrived too slowly",
        413: "the body is over the size bound",
        429: "over the tenant's rate (Retry-After says when to retry)",
        503: "Kafka did not confirm in time (Retry-After); send it again",
    }.items()
}


def create_app(
    settings: GatewaySettings | None = None, registry: TenantRegistry | None = None
) -> FastAPI:
    """The gateway app; `registry` defaults to the one `settings.tenants_file` names."""
    settings = settings or GatewaySettings()
    registry = registry or TenantRegistry.from_setting(settings.tenants_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = AckingProducer(settings.kafka_brokers)
        app.state.gateway = Gateway(
            settings, registry, producer, TenantQuota(settings.redis_url, scope="gateway")
        )
        try:
            yield
        finally:
            undelivered = await asyncio.to_thread(producer.close)
            if undelivered:
                log.warning("%d events still queued for Kafka at shutdown", undelivered)

    app = FastAPI(
        title="Headwater webhook gateway",
        summary="Verifies senders, writes raw envelopes to Kafka, answers once Kafka has them.",
        lifespan=lifespan,
    )

    async def readiness(request: Request) -> tuple[bool, str]:
        return await gateway(request).readiness()

    add_operational_routes(app, readiness, "Kafka answers and has the raw topics.")

    def gateway(request: Request) -> Gateway:
        gw: Gateway = request.app.state.gateway
        return gw

    @app.post("/webhooks/zalo", response_model=Accepted, responses=REFUSALS_DOC)
    async def zalo_webhook(request: Request) -> Response:
        """A Zalo OA event, signed with `X-ZEvent-Signature: mac=<hex>`."""
        gw = gateway(request)
        return await gw.answer("zalo", request, lambda: gw.zalo(request))

    @app.post("/webhooks/partner/{tenant}", response_model=Accepted, responses=REFUSALS_DOC)
    async def partner_webhook(request: Request, tenant: str) -> Response:
        """A partner message or feedback, signed with `X-Headwater-Signature: t=…,v1=…`."""
        gw = gateway(request)
        return await gw.answer("partner", request, lambda: gw.partner(request, tenant))

    @app.post("/exports/csv/{tenant}", response_model=Accepted, responses=REFUSALS_DOC)
    async def csv_export(request: Request, tenant: str) -> Response:
        """A CSV export (streamed), with `Authorization: Bearer <tenant API key>`."""
        gw = gateway(request)
        return await gw.answer("csv", request, lambda: gw.csv(request, tenant))

    return app
