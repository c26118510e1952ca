"""Opening a Weaviate client from plain connection values."""

from __future__ import annotations

from urllib.parse import urlsplit

import weaviate
from weaviate.classes.init import AdditionalConfig, Auth, Timeout


def connect_weaviate(
    url: str, grpc_port: int, api_key: str | None = None, timeout_s: float = 30.0
) -> weaviate.WeaviateClient:
    """Connect over HTTP (REST/GraphQL) and gRPC; raise when the server does not answer."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    return weaviate.connect_to_custom(
        http_host=host,
        http_port=parts.port or (443 if secure else 8080),
        http_secure=secure,
        grpc_host=host,
        grpc_port=grpc_port,
        grpc_secure=secure,
        auth_credentials=Auth.api_key(api_key) if api_key else None,
        additional_config=AdditionalConfig(
            timeout=Timeout(init=timeout_s, query=timeout_s, insert=timeout_s)
        ),
    )
