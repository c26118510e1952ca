"""The gateway benchmark's baseline: the same server and framework (uvicorn with uvloop and
httptools, FastAPI), the same routes, and handlers that answer 200 without any work."""

from __future__ import annotations

from fastapi import FastAPI, Response

app = FastAPI()
ACCEPTED = b'{"status":"accepted","topic":"raw.webhook","events":1}'


@app.post("/webhooks/zalo")
async def zalo() -> Response:
    return Response(ACCEPTED, media_type="application/json")


@app.post("/webhooks/partner/{tenant}")
async def partner(tenant: str) -> Response:
    return Response(ACCEPTED, media_type="application/json")
