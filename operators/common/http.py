"""What the HTTP services share: JSON answers, bounded request bodies, the operational
routes (`/healthz`, `/readyz`, `/metrics`, refusals for unrouted requests), and running
uvicorn worker processes behind one port."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from operators.common.metrics import exposition, multiprocess_metrics
from schemas.http import Refusal

Readiness = Callable[[Request], Awaitable[tuple[bool, str]]]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def refusal_response(refusal: Refusal) -> Response:
    return json_response(refusal.status, refusal.body(), refusal.headers())


async def bounded_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole body: `413` above `limit` bytes, `408` when it takes over `timeout_s`."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Refusal(413, "too_large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Refusal(413, "too_large", f"the body is over {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise Refusal(408, "body_timeout", "the body did not arrive in time") from None
    return b"".join(chunks)


def add_operational_routes(app: FastAPI, readiness: Readiness, ready_means: str) -> None:
    """`/healthz` (the process is up), `/readyz` (`readiness`: `ready_means`), `/metrics`
    (every worker's), and the refusal body for a request no route takes."""

    @app.exception_handler(StarletteHTTPException)
    async def unrouted(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "refused")
        headers = dict(exc.headers) if exc.headers else None
        return json_response(exc.status_code, {"error": reason, "detail": str(exc.detail)}, headers)

    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, why = await readiness(request)
        body = {"status": "ready" if ready else "not_ready", "detail": why}
        return json_response(200 if ready else 503, body)

    async def metrics() -> Response:
        data, content_type = exposition()
        return Response(data, media_type=content_type)

    app.add_api_route("/healthz", healthz, methods=["GET"], description="The process is up.")
    app.add_api_route("/readyz", readyz, methods=["GET"], description=ready_means)
    app.add_api_route("/metrics", metrics, methods=["GET"], description="Prometheus metrics.")


def serve(factory: str, *, name: str, host: str, port: int, workers: int) -> None:
    """Run the app `factory` (`module:function`) in `workers` uvicorn processes on one port,
    their metrics summed (`multiprocess_metrics`)."""
    with multiprocess_metrics(f"headwater-{name}-metrics-"):
        uvicorn.run(
            factory,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
