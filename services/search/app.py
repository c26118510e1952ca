"""The search API's ASGI app: a tenant's API key decides whose segments are searched; the
answer comes from the cache when a fresh one is there, else from one hybrid search.

A request goes: API key → tenant (401) → parameters (422) → quota (429) → the collection
behind the alias and its model (503 on a mismatch) → cached answer, or a search in the
tenant's turn (`FairGate`), computed once for concurrent identical misses → JSON. Every
refusal is a status code and `{"error", "detail"}`, counted by reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models import Embedder, load_embedder
from operators.common.http import (
    add_operational_routes,
    bounded_body,
    json_response,
    refusal_response,
)
from operators.common.quota import TenantQuota
from operators.index.search import Hit, ModelMismatchError, Serving, default_alpha
from schemas.http import Refusal, Refused
from schemas.tenants import TenantRegistry
from services.search.cache import (
    RedisCache,
    SingleFlight,
    answer_key,
    normalize_question,
    vector_key,
)
from services.search.fair import FairGate, GateFull
from services.search.index import Index, WeaviateDown
from services.search.metrics import REFUSALS, REQUESTS, SECONDS, SHADOW
from services.search.settings import SearchSettings

log = logging.getLogger(__name__)

SHADOWS_IN_FLIGHT = 2
"""Background re-searches of cache hits a worker runs at once, at most."""
BODY_TIMEOUT_S = 5.0
"""A POST body slower than this to arrive is answered 408."""
SHADOW_TENANT = " shadow"
"""The gate's name for shadow searches: they take turns like one more tenant."""


ALPHA_DOC = (
    "0 = keywords (BM25) only, 1 = vector only; by default 1, or 0.5 for a question typed "
    "without diacritics or with a digit in it (0.5 for any question with a monolingual model)"
)


class SearchBody(BaseModel):
    """The body of `POST /v1/search`."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, description="the question", examples=["how do I cancel an order?"])
    k: int = Field(5, description="how many segments to return")
    alpha: float | None = Field(None, description=ALPHA_DOC)


class SearchHit(BaseModel):
    conversation_id: str
    segment: int
    text: str
    score: float
    message_ids: list[str]


class SearchAnswer(BaseModel):
    hits: list[SearchHit]
    model_version: str | None = Field(description="the model of the collection searched")
    cached: bool
    took_ms: float


def _identity(hits: list[dict[str, Any]]) -> list[tuple[str, int, tuple[str, ...]]]:
    return [(h["conversation_id"], h["segment"], tuple(h["message_ids"])) for h in hits]


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "conversation_id": hit.conversation_id,
        "segment": hit.segment,
        "text": hit.text,
        "score": hit.score,
        "message_ids": hit.message_ids,
    }


@dataclass
class SearchApi:
    """What the handlers share (made in the lifespan)."""

    settings: SearchSettings
    registry: TenantRegistry
    index: Index
    cache: RedisCache
    quota: TenantQuota
    miss_quota: TenantQuota
    gate: FairGate
    flights: SingleFlight[tuple[bytes, str]] = field(default_factory=SingleFlight)
    shadows: int = 0
    background: set[asyncio.Task[None]] = field(default_factory=set)

    # -- the request ----------------------------------------------------------------------

    def tenant_of(self, request: Request) -> str:
        tenant = self.registry.tenant_of_authorization(request.headers.get("authorization"))
        if tenant is None:
            raise Refusal(401, "bad_api_key", "Authorization: Bearer <tenant API key> is required")
        return tenant

    def parameters(
        self, q: str | None, k: int, alpha: float | None
    ) -> tuple[str, int, float | None]:
        s = self.settings
        if q is None or not q.strip():
            raise Refusal(422, "invalid_request", "q: a question is required")
        if len(q) > s.search_max_query_chars:
            raise Refusal(
                422,
                "query_too_long",
                f"q: {len(q)} characters; at most {s.search_max_query_chars}",
            )
        if not 1 <= k <= s.search_max_k:
            raise Refusal(422, "invalid_request", f"k: must be from 1 to {s.search_max_k}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise Refusal(422, "invalid_request", "alpha: must be from 0 to 1")
        return normalize_question(q), k, alpha

    async def answer(
        self, request: Request, params: Callable[[], Awaitable[SearchBody]]
    ) -> Response:
        start = time.perf_counter()
        tenant = "-"
        try:
            tenant = self.tenant_of(request)
            body = await params()
            question, k, alpha = self.parameters(body.q, body.k, body.alpha)
            await self.within_quota(tenant)
            raw, outcome = await self.search(tenant, question, k, alpha)
        except Refusal as refusal:
            REFUSALS.labels(refusal.reason).inc()
            REQUESTS.labels(tenant, str(refusal.status)).inc()
            return refusal_response(refusal)
        except Exception:
            log.exception("unexpected error in a search (answered 500)")
            REFUSALS.labels("internal").inc()
            REQUESTS.labels(tenant, "500").inc()
            return json_response(
                500, {"error": "internal", "detail": "unexpected error; see the log"}
            )
        took = time.perf_counter() - start
        SECONDS.labels(tenant, outcome).observe(took)
        REQUESTS.labels(tenant, "200").inc()
        stored = orjson.loads(raw)
        return json_response(
            200,
            {
                "hits": stored["hits"],
                "model_version": stored["model_version"],
                "cached": outcome in ("local", "redis", "shared"),
                "took_ms": round(took * 1000, 2),
            },
        )

    async def within_quota(self, tenant: str) -> None:
        per_s = self.registry.tenants[tenant].search_rate_limit_per_s
        wait = await self.quota.check(tenant, per_s)
        if wait is not None:
            raise Refusal(429, "rate_limited", f"over {per_s} searches a second", retry_after=wait)

    async def within_miss_quota(self, tenant: str) -> None:
        """Searches the cache cannot answer cost CPU; a tenant's are bounded on their own."""
        per_s = self.registry.tenants[tenant].search_miss_rate_limit_per_s
        wait = await self.miss_quota.check(tenant, per_s)
        if wait is not None:
            raise Refusal(
                429,
                "too_many_misses",
                f"over {per_s} searches a second the cache cannot answer",
                retry_after=wait,
            )

    def serving(self) -> tuple[Serving, Embedder] | None:
        """What the alias serves and the embedder of its model; None before any index."""
        serving = self.index.serving
        if serving is None:
            if self.index.problem.startswith("cannot read"):
                raise self.unavailable(self.index.problem)
            return None
        try:
            return serving, self.index.embedder_of(serving)
        except ModelMismatchError as exc:
            raise Refusal(
                503, "model_mismatch", str(exc), retry_after=self.settings.search_retry_after_s
            ) from None

    def unavailable(self, detail: str) -> Refusal:
        return Refusal(
            503, "weaviate_unavailable", detail, retry_after=self.settings.search_retry_after_s
        )

    # -- cache, single flight, search ---------------------------------------------------

    async def search(
        self, tenant: str, question: str, k: int, alpha: float | None
    ) -> tuple[bytes, str]:
        """The answer's JSON (`{at, model_version, hits}`) and the cache outcome; `alpha`
        None is the question's default for the served model."""
        served = self.serving()
        if served is None:  # nothing indexed anywhere yet
            empty: dict[str, Any] = {"at": time.time(), "model_version": None, "hits": []}
            return orjson.dumps(empty), "miss"
        serving, embedder = served
        if alpha is None:
            alpha = default_alpha(question, embedder)
        if not self.cache.enabled:
            await self.within_miss_quota(tenant)
            return await self.compute(serving, tenant, question, k, alpha), "off"
        key = answer_key(tenant, serving.collection, question, k, alpha)
        found = await self.cache.answer(key, tenant)
        if found is not None:
            raw, outcome = found
            self.maybe_shadow(serving, tenant, question, k, alpha, raw)
            return raw, outcome
        if not self.flights.running(key):  # a search of its own, not a share of one
            await self.within_miss_quota(tenant)
        outcome = "miss" if self.cache.available else "bypass"
        (raw, outcome), shared = await self.flights.run(
            key, lambda: self.miss(key, serving, tenant, question, k, alpha, outcome)
        )
        return raw, "shared" if shared else outcome

    async def miss(
        self,
        key: str,
        serving: Serving,
        tenant: str,
        question: str,
        k: int,
        alpha: float,
        outcome: str,
    ) -> tuple[bytes, str]:
        """Search and store the answer (`outcome`); if another worker is already at it, or
        stored it since this one looked, that worker's answer (`redis`)."""
        locked = await self.cache.lock(key)
        if locked:  # the answer may have been stored between the look and the lock
            found = await self.cache.answer(key, tenant)
        else:
            found = await self.cache.wait_for(key, tenant, self.settings.search_timeout_s)
        try:
            if found is not None:
                return found
            raw = await self.compute(serving, tenant, question, k, alpha)
            await self.cache.store_answer(key, raw, orjson.loads(raw)["at"])
            return raw, outcome
        finally:
            if locked:
                await self.cache.unlock(key)

    async def compute(
        self, serving: Serving, tenant: str, question: str, k: int, alpha: float, *, turn: str = ""
    ) -> bytes:
        """One search, in `turn`'s (the tenant's) turn; the question's embedding is cached."""
        vkey = vector_key(serving.model_version, question)
        vector = await self.cache.vector(vkey) if self.cache.enabled else None
        try:
            async with self.gate.turn(turn or tenant):
                at = time.time()
                computed, hits = await self.index.search(
                    serving, tenant, question, vector, k=k, alpha=alpha
                )
        except GateFull as exc:
            raise Refusal(429, "too_many_searches", str(exc), retry_after=1) from None
        except WeaviateDown as exc:
            raise self.unavailable(str(exc)) from None
        if vector is None and self.cache.enabled:
            await self.cache.store_vector(vkey, computed)
        body = {
            "at": at,
            "model_version": serving.model_version,
            "hits": [_hit_json(h) for h in hits],
        }
        return orjson.dumps(body)

    def maybe_shadow(
        self, serving: Serving, tenant: str, question: str, k: int, alpha: float, served: bytes
    ) -> None:
        rate = self.settings.search_shadow_rate
        if rate <= 0 or self.shadows >= SHADOWS_IN_FLIGHT or random.random() >= rate:
            return

        async def shadow() -> None:
            self.shadows += 1
            try:
                fresh = await self.compute(serving, tenant, question, k, alpha, turn=SHADOW_TENANT)
            except Refusal:
                return  # busy or Weaviate down: no sample
            finally:
                self.shadows -= 1
            same = _identity(orjson.loads(fresh)["hits"]) == _identity(orjson.loads(served)["hits"])
            SHADOW.labels("same" if same else "stale").inc()

        task = asyncio.create_task(shadow())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # -- health -------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        serving = self.index.serving
        if serving is None:
            return False, self.index.problem
        if self.index.problem:
            return False, self.index.problem
        try:
            self.index.embedder_of(serving)
        except ModelMismatchError as exc:
            return False, str(exc)
        return True, f"{serving.alias} -> {serving.collection}"


REFUSALS_DOC: dict[int | str, dict[str, Any]] = {
    status: {"model": Refused, "description": text}
    for status, text in {
        401: "missing or unknown API key (`bad_api_key`)",
        408: "a POST body arrived too slowly (`body_timeout`)",
        413: "the body is over the size bound (`too_large`)",
        422: "a parameter is missing or out of bounds (`invalid_request`, `query_too_long`)",
        429: "over the tenant's rate (`rate_limited`), over its rate of searches the cache "
        "cannot answer (`too_many_misses`), or too many of its searches waiting "
        "(`too_many_searches`); Retry-After says when to retry",
        503: "Weaviate unavailable or too slow (`weaviate_unavailable`), or the index is "
        "of a model not built here (`model_mismatch`); Retry-After",
    }.items()
}


def create_app(
    settings: SearchSettings | None = None,
    registry: TenantRegistry | None = None,
    embedder: Embedder | None = None,
) -> FastAPI:
    """The search app; `registry` defaults to the one `settings.tenants_file` names."""
    settings = settings or SearchSettings()
    registry = registry or TenantRegistry.from_setting(settings.tenants_file)
    # One onnxruntime thread a search: the parallelism is search_concurrency x workers.
    embedder = embedder or load_embedder(settings.embedding_model_dir, threads=1)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        index = Index(settings, embedder, settings.search_concurrency)
        await index.refresh()
        cache = RedisCache(
            settings.redis_url,
            ttl_s=settings.search_cache_ttl_s,
            local_size=settings.search_local_cache_size,
            vector_ttl_s=settings.search_vector_cache_ttl_s,
        )
        await cache.refresh_written()
        refreshers = [
            asyncio.create_task(_every(settings.search_alias_refresh_s, index.refresh)),
            asyncio.create_task(
                _every(settings.search_write_notices_refresh_s, cache.refresh_written)
            ),
        ]
        app.state.api = SearchApi(
            settings,
            registry,
            index,
            cache,
            TenantQuota(settings.redis_url, scope="search"),
            TenantQuota(settings.redis_url, scope="search-miss"),
            FairGate(settings.search_concurrency, settings.search_tenant_queue),
        )
        try:
            yield
        finally:
            for task in refreshers:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await cache.close()
            index.close()

    app = FastAPI(
        title="Headwater search API",
        summary="A tenant's conversation segments for a question: hybrid search, cached.",
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        REFUSALS.labels("invalid_request").inc()
        return json_response(422, {"error": "invalid_request", "detail": _describe(exc.errors())})

    def api(request: Request) -> SearchApi:
        found: SearchApi = request.app.state.api
        return found

    @app.get("/v1/search", response_model=SearchAnswer, responses=REFUSALS_DOC)
    async def search_get(
        request: Request,
        q: str | None = Query(None, description="the question"),
        k: int = Query(5, description=f"how many segments (1 to {settings.search_max_k})"),
        alpha: float | None = Query(None, description=ALPHA_DOC),
    ) -> Response:
        """Search the segments of the API key's tenant, with `Authorization: Bearer <key>`."""

        async def params() -> SearchBody:
            return SearchBody.model_construct(q=q, k=k, alpha=alpha)

        return await api(request).answer(request, params)

    @app.post(
        "/v1/search",
        response_model=SearchAnswer,
        responses=REFUSALS_DOC,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SearchBody.model_json_schema()}},
            }
        },
    )
    async def search_post(request: Request) -> Response:
        """`GET /v1/search` with the parameters as a JSON body: `{"q", "k", "alpha"}`."""

        async def params() -> SearchBody:
            body = await bounded_body(request, settings.search_max_body_bytes, BODY_TIMEOUT_S)
            try:
                return SearchBody.model_validate_json(body)
            except ValidationError as exc:
                raise Refusal(422, "invalid_request", _describe(exc.errors())) from None

        return await api(request).answer(request, params)

    async def readiness(request: Request) -> tuple[bool, str]:
        return api(request).readiness()

    add_operational_routes(
        app, readiness, "Weaviate answers, the alias exists, and its collection is of this model."
    )

    return app


async def _every(seconds: float, refresh: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        await refresh()


def _describe(errors: Any) -> str:
    """Validation errors as `field: message; …`, the field named as the client sent it."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "body")]
        parts.append(f"{'.'.join(loc) or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)
