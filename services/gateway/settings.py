"""The gateway's settings (environment variables `HEADWATER_*`, as for the flows)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """What `python -m services.gateway` reads. The Kafka and Redis addresses are the
    same variables, with the same defaults, as the flows' (`flows.settings`)."""

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", frozen=True, extra="ignore")

    tenants_file: Path | None = Field(
        None, description='The tenant registry (TOML, README "Tenant registry"); required.'
    )
    kafka_brokers: str = "127.0.0.1:9092"
    gateway_topic_prefix: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Prefix of the topics the gateway writes (`<prefix>raw.zalo`, …), for "
        "deployments that share a Kafka cluster.",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"

    gateway_host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Port the gateway listens on.")
    gateway_workers: int = Field(2, ge=1, description="Gateway worker processes.")
    gateway_ack_timeout_s: float = Field(
        1.5,
        gt=0,
        description="How long a webhook waits for Kafka to confirm its event before the "
        "answer is 503 (Zalo gives up on a webhook after 2 s).",
    )
    gateway_csv_ack_timeout_s: float = Field(
        30.0, gt=0, description="How long a CSV upload waits for Kafka to confirm its last rows."
    )
    gateway_retry_after_s: int = Field(
        5, ge=1, description="`Retry-After` of a 503 (Kafka not confirming)."
    )
    gateway_max_body_bytes: int = Field(
        240 * 1024,
        ge=1024,
        description="Largest webhook body (413 above it); below ingest's "
        "HEADWATER_MAX_LINE_BYTES, which bounds the whole envelope.",
    )
    gateway_body_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A request body (or, for a CSV upload, the next part of it) that takes "
        "longer to arrive is answered 408.",
    )
    gateway_replay_window_s: float = Field(
        300.0, gt=0, description="How far a partner signature's `t` may be from now."
    )
