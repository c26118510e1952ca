"""Opening a Weaviate client from the connection settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import grpc  # type: ignore[import-untyped]
import weaviate
from pydantic import SecretStr
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.config import ConnectionConfig
from weaviate.exceptions import WeaviateConnectionError

log = logging.getLogger(__name__)

_NO_HTTP_RETRIES = ConnectionConfig(session_pool_max_retries=0)


class WeaviateSettings(Protocol):
    """The settings a Weaviate connection needs (`flows.settings.Settings` has them)."""

    @property
    def weaviate_url(self) -> str: ...

    @property
    def weaviate_grpc_port(self) -> int: ...

    @property
    def weaviate_api_key(self) -> SecretStr | None: ...


class WeaviateUnavailableError(WeaviateConnectionError):
    """Weaviate did not answer: a gRPC call ended UNAVAILABLE (raised at once by a client
    opened with `client_retries=False`), or a writer gave up on an outage."""


def connect_weaviate(
    settings: WeaviateSettings, timeout_s: float = 30.0, *, client_retries: bool = True
) -> weaviate.WeaviateClient:
    """Connect over HTTP (REST/GraphQL) and gRPC; raise when the server does not answer.

    `client_retries=False` is for a caller that retries outages itself, with its own bound:
    a gRPC call that ends UNAVAILABLE raises `WeaviateUnavailableError` at once instead of
    the client's own back-off (1+2+4+8+16+32 s per call in weaviate-client 4.24), and the
    HTTP transport does not retry failed connections.
    """
    parts = urlsplit(settings.weaviate_url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    key = settings.weaviate_api_key
    client = weaviate.connect_to_custom(
        http_host=host,
        http_port=parts.port or (443 if secure else 8080),
        http_secure=secure,
        grpc_host=host,
        grpc_port=settings.weaviate_grpc_port,
        grpc_secure=secure,
        auth_credentials=Auth.api_key(key.get_secret_value()) if key else None,
        additional_config=AdditionalConfig(
            timeout=Timeout(init=timeout_s, query=timeout_s, insert=timeout_s),
            connection=ConnectionConfig() if client_retries else _NO_HTTP_RETRIES,
        ),
    )
    if not client_retries:
        _fail_fast(client)
    return client


def _fail_fast(client: weaviate.WeaviateClient) -> None:
    # weaviate-client retries UNAVAILABLE inside each call (weaviate/retry.py, `_Retry`),
    # with no setting to turn it off; it only catches grpc.RpcError, so a stub that raises
    # another exception for UNAVAILABLE skips that loop. The stub is a private attribute:
    # without it (another client version), say so and keep the client's retries.
    connection = getattr(client, "_connection", None)
    stub = getattr(connection, "_grpc_stub", None)
    if stub is None:
        log.warning(
            "weaviate-client %s: cannot turn off its gRPC retries; an outage may be "
            "retried longer than the caller's bound",
            weaviate.__version__,
        )
        return
    connection._grpc_stub = FailFastStub(stub)  # type: ignore[union-attr]


class FailFastStub:
    """A gRPC stub whose calls raise `WeaviateUnavailableError` when they end UNAVAILABLE."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        return _fail_fast_call(name, method) if callable(method) else method


def _fail_fast_call(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except grpc.RpcError as exc:
            if _code(exc) == grpc.StatusCode.UNAVAILABLE:
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                raise WeaviateUnavailableError(f"gRPC {name}: UNAVAILABLE: {details}") from exc
            raise

    return call


def _code(exc: grpc.RpcError) -> grpc.StatusCode | None:
    return exc.code() if isinstance(exc, grpc.Call) else None


def api_key_headers(settings: WeaviateSettings) -> dict[str, str]:
    """The HTTP headers of a request to Weaviate's REST/GraphQL API."""
    key = settings.weaviate_api_key
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
