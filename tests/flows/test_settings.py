from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from flows.settings import DEFAULT_SOURCE, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HEADWATER_"):
            monkeypatch.delenv(name)


EXPECTED_DEFAULTS = {
    "source": DEFAULT_SOURCE,
    "sink": None,
    "allowed_lateness_s": 2.0,
    "dedup_ttl_s": 86_400.0,
    "max_clock_skew_s": 300.0,
    "default_tz": "Asia/Ho_Chi_Minh",
    "archive_dir": Path(".cache/archive"),
    "max_line_bytes": 262_144,
    "pii_hmac_key": "headwater-local-only",
    "metrics_port": 9464,
    "embedding_model_dir": None,
    "embedding_threads": 2,
    "segment_gap_s": 1800.0,
    "segment_max_tokens": 128,
    "index_coalesce_ms": 200,
    "index_source": "kafka:chat.messages",
    "index_backfill_hold_ms": None,
    "index_write_notices": True,
    "index_reembed_closed": True,
    "index_retry_s": 60.0,
    "reindex_model_dir": None,
    "reindex_tenants": [],
    "reindex_shards_per_tenant": 1,
    "reindex_page_size": 32,
    "reindex_dir": Path(".cache/reindex"),
    "drift_source": "kafka:chat.messages,chat.feedback",
    "drift_sink": None,
    "drift_cooldown_s": 3600.0,
    "drift_reference_size": 500,
    "drift_reference_file": None,
    "drift_window_size": 200,
    "drift_refusal_threshold": 0.05,
    "drift_toxicity_threshold": 0.02,
    "actions_source": "kafka:drift.alerts",
    "actions_sink": None,
    "actions_reindex": "plan",
    "actions_audit_path": Path(".cache/actions/audit.jsonl"),
    "kafka_brokers": "127.0.0.1:9092",
    "kafka_partitions": 4,
    "kafka_start": "beginning",
    "kafka_transactional_id": None,
    "weaviate_url": "http://127.0.0.1:8080",
    "weaviate_grpc_port": 50051,
    "weaviate_api_key": None,
    "weaviate_alias": "ChatSegment",
    "redis_url": "redis://127.0.0.1:6379/0",
}


def test_every_default_is_the_documented_one() -> None:
    s = Settings()
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in s.model_dump().items()
    }
    assert values == EXPECTED_DEFAULTS
    assert s.source_path is not None and s.source_path.endswith("chat_sample.jsonl")


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [
        name for name in Settings.model_fields if f"`HEADWATER_{name.upper()}`" not in readme
    ]
    assert missing == []


def test_bundled_sample_exists() -> None:
    assert Path(Settings().source_path).is_file()


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_SOURCE", "kafka:raw.zalo, raw.webhook")
    monkeypatch.setenv("HEADWATER_SINK", "file:/tmp/out")
    monkeypatch.setenv("HEADWATER_ALLOWED_LATENESS_S", "5.5")
    monkeypatch.setenv("HEADWATER_WEAVIATE_API_KEY", "s3cret")
    s = Settings()
    assert s.source_topics == ["raw.zalo", "raw.webhook"]
    assert s.source_path is None
    assert s.sink == "file:/tmp/out"
    assert s.allowed_lateness_s == 5.5
    assert s.weaviate_api_key is not None
    assert s.weaviate_api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize(
    "name, value",
    [
        ("HEADWATER_SOURCE", "s3://bucket/x"),
        ("HEADWATER_SOURCE", "kafka:"),
        ("HEADWATER_SOURCE", "file:"),
        ("HEADWATER_SINK", "elastic"),
        ("HEADWATER_SINK", "file:"),
        ("HEADWATER_INDEX_SOURCE", "chat.messages"),
        ("HEADWATER_DRIFT_SOURCE", "kafka:"),
        ("HEADWATER_ACTIONS_SOURCE", "file:"),
        ("HEADWATER_ACTIONS_SINK", "weaviate"),
        ("HEADWATER_ACTIONS_REINDEX", "now"),
        ("HEADWATER_DEFAULT_TZ", "Mars/Olympus_Mons"),
        ("HEADWATER_DEDUP_TTL_S", "0"),
        ("HEADWATER_ALLOWED_LATENESS_S", "-1"),
        ("HEADWATER_WEAVIATE_GRPC_PORT", "70000"),
        ("HEADWATER_WEAVIATE_ALIAS", "chat-segment"),
        ("HEADWATER_REINDEX_SHARDS_PER_TENANT", "0"),
    ],
)
def test_rejects_bad_values_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.removeprefix("HEADWATER_").lower() in str(info.value)


def test_overrides_by_keyword_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_SINK", "kafka")
    assert Settings(sink="weaviate").sink == "weaviate"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.sink = "kafka"  # type: ignore[misc]


def test_weaviate_host_port_from_url() -> None:
    assert Settings(weaviate_url="http://weaviate.internal:9999").weaviate_host_port == (
        "weaviate.internal",
        9999,
    )


def test_the_backfill_hold_follows_the_input_unless_set() -> None:
    from flows.index import FILE_BACKFILL_HOLD_MS, KAFKA_BACKFILL_HOLD_MS, backfill_hold_ms

    assert backfill_hold_ms(Settings(), input_ends=False) == KAFKA_BACKFILL_HOLD_MS
    assert backfill_hold_ms(Settings(), input_ends=True) == FILE_BACKFILL_HOLD_MS
    for hold in (5, KAFKA_BACKFILL_HOLD_MS):
        for input_ends in (False, True):
            assert (
                backfill_hold_ms(Settings(index_backfill_hold_ms=hold), input_ends=input_ends)
                == hold
            )
