import pytest
from pydantic import ValidationError

from flows.settings import DEFAULT_SOURCE, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HEADWATER_"):
            monkeypatch.delenv(name)


def test_defaults_match_the_design() -> None:
    s = Settings()
    assert s.source == DEFAULT_SOURCE
    assert s.source_path is not None and s.source_path.endswith("chat_sample.jsonl")
    assert s.sink is None
    assert s.allowed_lateness_s == 2
    assert s.dedup_ttl_s == 86_400
    assert s.max_clock_skew_s == 300
    assert s.default_tz == "Asia/Ho_Chi_Minh"
    assert s.kafka_brokers == "127.0.0.1:9092"
    assert s.weaviate_url == "http://127.0.0.1:8080"
    assert s.weaviate_grpc_port == 50051
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.embedding_model_dir is None and s.embedding_threads == 2


def test_bundled_sample_exists() -> None:
    from pathlib import Path

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
        ("HEADWATER_DEFAULT_TZ", "Mars/Olympus_Mons"),
        ("HEADWATER_DEDUP_TTL_S", "0"),
        ("HEADWATER_ALLOWED_LATENESS_S", "-1"),
        ("HEADWATER_WEAVIATE_GRPC_PORT", "70000"),
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


def test_a_file_input_holds_backfill_segments_until_they_close_unless_told() -> None:
    from flows.index import FILE_BACKFILL_HOLD_MS, backfill_hold_ms

    default = Settings().index_backfill_hold_ms
    assert backfill_hold_ms(Settings(), input_ends=False) == default
    assert backfill_hold_ms(Settings(), input_ends=True) == FILE_BACKFILL_HOLD_MS > default
    assert backfill_hold_ms(Settings(index_backfill_hold_ms=5), input_ends=True) == 5
