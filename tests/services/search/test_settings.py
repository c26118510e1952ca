from pathlib import Path

import pytest

from flows.settings import Settings
from services.search.settings import SearchSettings

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


pytestmark = pytest.mark.usefixtures("clean_env")


def test_every_search_setting_is_in_the_readme() -> None:
    missing = [n for n in SearchSettings.model_fields if f"`HEADWATER_{n.upper()}`" not in README]
    assert missing == []


def test_shared_settings_default_as_the_flows_do() -> None:
    search, flows = SearchSettings(), Settings()
    for name in ("weaviate_url", "weaviate_grpc_port", "weaviate_api_key", "redis_url"):
        assert getattr(search, name) == getattr(flows, name), name
    assert search.embedding_model_dir == flows.embedding_model_dir


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_SEARCH_CACHE_TTL_S", "0")
    monkeypatch.setenv("HEADWATER_SEARCH_ALIAS", "ChatSegmentStaging")
    s = SearchSettings()
    assert (s.search_cache_ttl_s, s.search_alias) == (0, "ChatSegmentStaging")


@pytest.mark.parametrize(
    ("name", "value"),
    [("SEARCH_ALIAS", "chat segment"), ("SEARCH_SHADOW_RATE", "1.5"), ("SEARCH_CONCURRENCY", "0")],
)
def test_a_bad_value_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"HEADWATER_{name}", value)
    with pytest.raises(ValueError, match=name.lower()):
        SearchSettings()
