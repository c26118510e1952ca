"""The search API's settings (environment variables `HEADWATER_*`, as for the flows)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SearchSettings(BaseSettings):
    """What `python -m services.search` reads. The Weaviate, Redis and model settings are
    the same variables, with the same defaults, as the flows' (`flows.settings`)."""

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", frozen=True, extra="ignore")

    tenants_file: Path | None = Field(
        None, description='The tenant registry (TOML, README "Tenant registry"); required.'
    )
    weaviate_url: str = "http://127.0.0.1:8080"
    weaviate_grpc_port: int = Field(50051, ge=1, le=65535)
    weaviate_api_key: SecretStr | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    embedding_model_dir: Path | None = Field(
        None,
        description="The model loaded at start (unset: `make model`'s default); a search "
        "uses the model of the collection the alias serves, loaded when the alias moves.",
    )

    search_host: str = Field("127.0.0.1", description="Address the search API listens on.")
    search_port: int = Field(8001, ge=1, le=65535, description="Port it listens on.")
    search_workers: int = Field(2, ge=1, description="Worker processes.")
    search_concurrency: int = Field(
        2,
        ge=1,
        description="Searches a worker runs at once (embedding the question and querying "
        "Weaviate); the rest wait their tenant's turn.",
    )
    search_tenant_queue: int = Field(
        32, ge=1, description="Searches of one tenant a worker lets wait; beyond it, 429."
    )
    search_alias: str = Field(
        "ChatSegment",
        pattern=r"^[A-Z][A-Za-z0-9_]*$",
        description="The alias searched; its target's name gives the model version.",
    )
    search_alias_refresh_s: float = Field(
        1.0, gt=0, description="How often a worker reads which collection the alias serves."
    )
    search_timeout_s: float = Field(
        2.0, gt=0, description="A Weaviate query slower than this is answered 503."
    )
    search_cache_ttl_s: float = Field(
        5.0,
        ge=0,
        description="How long a cached answer is served (the staleness bound); 0: no cache.",
    )
    search_write_notices_refresh_s: float = Field(
        0.1,
        gt=0,
        description="How often a worker reads which tenants the index has written since "
        "(their older cached answers are then not served).",
    )
    search_local_cache_size: int = Field(
        2048, ge=0, description="Answers a worker also keeps in memory (within the TTL); 0: none."
    )
    search_vector_cache_ttl_s: float = Field(
        86_400.0, ge=0, description="How long a question's embedding is kept in Redis."
    )
    search_shadow_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of cache hits searched again in the background to measure how "
        "many served answers were stale (`headwater_search_shadow_total`).",
    )
    search_max_query_chars: int = Field(1000, ge=1, description="Longest question (422 above it).")
    search_max_k: int = Field(50, ge=1, description="Most hits a search may ask for.")
    search_max_body_bytes: int = Field(
        16 * 1024, ge=256, description="Largest POST body (413 above it)."
    )
    search_retry_after_s: int = Field(
        1, ge=1, description="`Retry-After` of a 503 (Weaviate unavailable)."
    )
