"""The one settings model every flow reads (environment variables ``HEADWATER_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SAMPLE_DIR = Path(__file__).resolve().parent / "samples"
DEFAULT_SOURCE = f"file:{SAMPLE_DIR / 'chat_sample.jsonl'}"


def _file_or_kafka(name: str, file_part: str, value: str) -> str:
    scheme, sep, rest = value.partition(":")
    if not sep or scheme not in ("file", "kafka") or not rest.strip(" ,"):
        raise ValueError(
            f"{name} must be 'file:{file_part}' or 'kafka:<topic>[,<topic>...]', got {value!r}"
        )
    return value


def _named_or_file_dir(name: str, names: tuple[str, ...], value: str | None) -> str | None:
    if value is None or value in names:
        return value
    scheme, sep, rest = value.partition(":")
    if scheme == "file" and sep and rest:
        return value
    allowed = ", ".join(f"'{n}'" for n in names)
    raise ValueError(f"{name} must be {allowed} or 'file:<dir>', got {value!r}")


def kafka_topics(location: str) -> list[str]:
    """The topics of a `kafka:<topic>[,<topic>...]` setting; empty for a `file:` one."""
    scheme, _, rest = location.partition(":")
    return [t.strip() for t in rest.split(",") if t.strip()] if scheme == "kafka" else []


def file_path(location: str) -> str | None:
    """The path (or glob, or directory) of a `file:` setting; None for a `kafka:` one."""
    scheme, _, rest = location.partition(":")
    return rest if scheme == "file" else None


class Settings(BaseSettings):
    """Headwater configuration. Every field has a safe default for the embedded mode."""

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", frozen=True, extra="ignore")

    source: str = Field(
        DEFAULT_SOURCE,
        description="`file:<path or glob>` (JSONL envelopes, .csv exports) "
        "or `kafka:<topic>[,<topic>...]`.",
    )
    sink: str | None = Field(
        None,
        description="`weaviate`, `kafka` or `file:<dir>`; unset means the flow's own default.",
    )
    allowed_lateness_s: float = Field(2.0, ge=0, description="How long reorder waits.")
    dedup_ttl_s: float = Field(86_400.0, gt=0, description="Dedup memory, in event time.")
    max_clock_skew_s: float = Field(300.0, ge=0, description="Max event time ahead of receive.")
    default_tz: str = Field("Asia/Ho_Chi_Minh", description="Zone for naive timestamps.")

    archive_dir: Path = Field(
        Path(".cache/archive"), description="Root of the raw archive (every input line)."
    )
    max_line_bytes: int = Field(256 * 1024, ge=1024, description="Larger inputs: too_large.")
    pii_hmac_key: SecretStr = Field(
        SecretStr("headwater-local-only"),
        description="Key of the PII audit HMACs; set your own outside local runs.",
    )
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus port; 0 is off.")

    embedding_model_dir: Path | None = Field(
        None, description="Built model directory; unset: .cache/models/<default model>."
    )
    embedding_threads: int = Field(2, ge=1, description="onnxruntime intra-op threads.")

    segment_gap_s: float = Field(
        1800.0, gt=0, description="Inactivity (event time) that closes a conversation segment."
    )
    segment_max_tokens: int = Field(
        128, ge=16, description="Token budget of a segment's embedded text (model max: 256)."
    )
    index_coalesce_ms: int = Field(
        200, ge=0, description="How long the index waits to gather a burst before embedding."
    )
    index_source: str = Field(
        "kafka:chat.messages",
        description="Input of the index flow: `kafka:<topic>[,<topic>...]` carrying "
        "chat.messages JSON, or `file:<dir>` with an ingest file sink's messages.jsonl.",
    )
    index_backfill_hold_ms: int | None = Field(
        None,
        ge=0,
        description="How long the index holds segments of messages received over a minute "
        "ago; unset: 10 s when the input is Kafka, an hour when it is files (the end of the "
        "input sends them all).",
    )
    index_write_notices: bool = Field(
        True,
        description="After each write, record in Redis which tenants were written, so the "
        'search API\'s cache drops their answers (README "The search API").',
    )
    index_reembed_closed: bool = Field(
        True,
        description="Embed a closed segment's whole text once more; false keeps the vector "
        "built from its messages, each embedded once (more live capacity).",
    )
    index_retry_s: float = Field(
        60.0, gt=0, description="How long Weaviate outages are retried before the flow stops."
    )

    reindex_model_dir: Path | None = Field(
        None,
        description="Built model a reindex embeds with; unset: `embedding_model_dir` (the "
        "default model).",
    )
    reindex_tenants: list[str] = Field(
        default_factory=list,
        description='Tenants a reindex copies (JSON list, e.g. `["acme"]`); empty: all.',
    )
    reindex_shards_per_tenant: int = Field(
        1, ge=1, le=256, description="Shards (UUID ranges) each tenant splits into over workers."
    )
    reindex_page_size: int = Field(
        32, ge=1, le=1000, description="Stored segments a reindex reads and embeds at a time."
    )
    reindex_dir: Path = Field(
        Path(".cache/reindex"),
        description="Recovery state and cost reports of `python -m flows.reindex build`.",
    )

    drift_source: str = Field(
        "kafka:chat.messages,chat.feedback",
        description="Input of the drift flow: `kafka:<topic>[,<topic>...]` carrying "
        "chat.messages / chat.feedback JSON, or `file:<dir>` with an ingest file sink's "
        "messages.jsonl and feedback.jsonl.",
    )
    drift_sink: str | None = Field(
        None,
        description="Where drift alerts go: `kafka` (topic drift.alerts) or `file:<dir>` "
        "(<dir>/alerts.jsonl); unset: `sink` when that is kafka or file:, else the flow's "
        "default.",
    )
    drift_cooldown_s: float = Field(
        3600.0,
        ge=0,
        description="After an alert, no second one for the same tenant, signal and action "
        "until this much event time has passed after its last evidence.",
    )
    drift_reference_size: int = Field(
        500,
        ge=10,
        description="User messages whose embeddings form a tenant's reference centroid (and "
        "bot replies / feedback forming the baseline rates) before detection starts.",
    )
    drift_reference_file: Path | None = Field(
        None,
        description="`.npy` (n, dim) embeddings, by the current model, used as every "
        "tenant's reference instead of its first messages.",
    )
    drift_window_size: int = Field(
        200, ge=10, description="Events in the windows the alert statistics and gauges use."
    )
    drift_refusal_threshold: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="A refusal alert needs the window's refusal rate at or above this.",
    )
    drift_toxicity_threshold: float = Field(
        0.02,
        gt=0,
        lt=1,
        description="A toxicity alert needs the window's toxic-reply rate at or above this.",
    )

    actions_source: str = Field(
        "kafka:drift.alerts",
        description="Input of the actions flow: `kafka:<topic>[,<topic>...]` carrying "
        "drift.alerts JSON, or `file:<dir>` with a drift file sink's alerts.jsonl.",
    )
    actions_sink: str | None = Field(
        None,
        description="Where the actions flow writes retrain requests and dead letters: `kafka` "
        "(topics training.requests and chat.rejected) or `file:<dir>` "
        "(<dir>/training_requests.jsonl, <dir>/rejected.jsonl); unset: `sink` when that is "
        "kafka or file:, else kafka.",
    )
    actions_reindex: Literal["plan", "start"] = Field(
        "plan",
        description="What a reindex alert does: `plan` runs `python -m flows.reindex plan`, "
        "`start` launches `python -m flows.reindex build` for the alert's tenant.",
    )
    actions_audit_path: Path = Field(
        Path(".cache/actions/audit.jsonl"),
        description="The actions flow's append-only audit log (one JSON line a decision); "
        "the alerts it records as acted on are never acted on again. Reindex build logs "
        "go next to it.",
    )

    kafka_brokers: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(4, ge=1, description="Partitions of topics Headwater creates.")
    kafka_start: Literal["beginning", "end"] = Field(
        "beginning", description="Where a flow without recovery state starts reading Kafka."
    )
    kafka_transactional_id: str | None = Field(
        None,
        min_length=1,
        description="Set: Kafka sinks write in transactions committed at each snapshot, so "
        "read_committed consumers see each record once across kills (run with recovery). "
        "A name unique to this deployment and the same across its restarts.",
    )
    weaviate_url: str = "http://127.0.0.1:8080"
    weaviate_grpc_port: int = Field(50051, ge=1, le=65535)
    weaviate_api_key: SecretStr | None = Field(
        None, description="Set when Weaviate runs with API-key authentication."
    )
    weaviate_alias: str = Field(
        "ChatSegment",
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="The alias queries read; its collections are `<alias>_<model version>`.",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"

    @field_validator("source")
    @classmethod
    def _source_scheme(cls, value: str) -> str:
        return _file_or_kafka("source", "<path or glob>", value)

    @field_validator("sink")
    @classmethod
    def _sink_scheme(cls, value: str | None) -> str | None:
        return _named_or_file_dir("sink", ("weaviate", "kafka"), value)

    @field_validator("index_source", "drift_source", "actions_source")
    @classmethod
    def _file_dir_or_kafka(cls, value: str, info: ValidationInfo) -> str:
        return _file_or_kafka(str(info.field_name), "<dir>", value)

    @field_validator("drift_sink", "actions_sink")
    @classmethod
    def _kafka_or_file_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _named_or_file_dir(str(info.field_name), ("kafka",), value)

    @field_validator("drift_reference_file")
    @classmethod
    def _drift_reference_is_npy(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".npy":
            raise ValueError(f"drift_reference_file must be a .npy file, got {value}")
        return value

    @field_validator("default_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def kafka_start_offset(self) -> int:
        """`kafka_start` as the Kafka client's logical offset."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END

        return OFFSET_BEGINNING if self.kafka_start == "beginning" else OFFSET_END

    @property
    def source_topics(self) -> list[str]:
        """Topics of a `kafka:` source; empty for a file source."""
        return kafka_topics(self.source)

    @property
    def source_path(self) -> str | None:
        """Path or glob of a `file:` source; None for a Kafka source."""
        return file_path(self.source)

    @property
    def weaviate_host_port(self) -> tuple[str, int]:
        from urllib.parse import urlsplit

        parts = urlsplit(self.weaviate_url)
        return parts.hostname or "127.0.0.1", parts.port or 8080
