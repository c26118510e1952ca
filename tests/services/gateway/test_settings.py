from pathlib import Path

import pytest

from flows.settings import Settings
from services.gateway.settings import GatewaySettings

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


pytestmark = pytest.mark.usefixtures("clean_env")


def test_every_gateway_setting_is_in_the_readme() -> None:
    missing = [n for n in GatewaySettings.model_fields if f"`HEADWATER_{n.upper()}`" not in README]
    assert missing == []


def test_shared_addresses_default_as_the_flows_do() -> None:
    gateway, flows = GatewaySettings(), Settings()
    assert gateway.kafka_brokers == flows.kafka_brokers
    assert gateway.redis_url == flows.redis_url


def test_a_webhook_body_fits_in_an_ingest_line() -> None:
    assert GatewaySettings().gateway_max_body_bytes + 200 < Settings().max_line_bytes


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_GATEWAY_ACK_TIMEOUT_S", "0.5")
    monkeypatch.setenv("HEADWATER_TENANTS_FILE", "/etc/headwater/tenants.toml")
    s = GatewaySettings()
    assert s.gateway_ack_timeout_s == 0.5
    assert s.tenants_file == Path("/etc/headwater/tenants.toml")
