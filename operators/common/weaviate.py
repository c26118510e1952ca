"""Opening a Weaviate client from the connection settings."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

import weaviate
from pydantic import SecretStr
from weaviate.classes.init import AdditionalConfig, Auth, Timeout


class WeaviateSettings(Protocol):
    """The settings a Weaviate connection needs (`flows.settings.Settings` has them)."""

    @property
    def weaviate_url(self) -> str: ...

    @property
    def weaviate_grpc_port(self) -> int: ...

    @property
    def weaviate_api_key(self) -> SecretStr | None: ...


def connect_weaviate(
    settings: WeaviateSettings, timeout_s: float = 30.0
) -> weaviate.WeaviateClient:
    """Connect over HTTP (REST/GraphQL) and gRPC; raise when the server does not answer."""
    parts = urlsplit(settings.weaviate_url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    key = settings.weaviate_api_key
    return weaviate.connect_to_custom(
        http_host=host,
        http_port=parts.port or (443 if secure else 8080),
        http_secure=secure,
        grpc_host=host,
        grpc_port=settings.weaviate_grpc_port,
        grpc_secure=secure,
        auth_credentials=Auth.api_key(key.get_secret_value()) if key else None,
        additional_config=AdditionalConfig(
            timeout=Timeout(init=timeout_s, query=timeout_s, insert=timeout_s)
        ),
    )


def api_key_headers(settings: WeaviateSettings) -> dict[str, str]:
    """The HTTP headers of a request to Weaviate's REST/GraphQL API."""
    key = settings.weaviate_api_key
    return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
