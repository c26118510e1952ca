"""Starting the real gateway (`python -m services.gateway`) for a test, and signing
requests the way Zalo and partners do.

`GatewayServer` is a `ServiceProcess` against the given Kafka: a registry of its own
(tenants named by the test, so runs never share quotas), several workers on a free port,
ready once /readyz answers; `kill()` SIGKILLs master and workers, as a crash would.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path

from schemas.tenants import hash_api_key
from tests.integration.service_process import ServiceProcess


@dataclass(frozen=True)
class TenantKeys:
    """A test tenant's credentials, in the clear (the registry holds the key's hash)."""

    tenant: str
    oa_id: str
    app_id: str
    oa_secret: str
    partner_secret: str
    api_key: str


def tenant_entry(
    name: str,
    *,
    rate_limit_per_s: int = 100_000,
    search_rate_limit_per_s: int = 100_000,
    search_miss_rate_limit_per_s: int = 100_000,
) -> tuple[TenantKeys, str]:
    """Credentials for tenant `name` and its registry entry (TOML)."""
    keys = TenantKeys(
        tenant=name,
        oa_id=f"oa-{name}",
        app_id=f"app-{name}",
        oa_secret=f"oa-secret-{name}",
        partner_secret=f"partner-secret-{name}",
        api_key=f"hw_key_{name}",
    )
    entry = f"""
[tenants.{name}]
partner_secrets = ["{keys.partner_secret}"]
api_keys = ["{hash_api_key(keys.api_key)}"]
rate_limit_per_s = {rate_limit_per_s}
search_rate_limit_per_s = {search_rate_limit_per_s}
search_miss_rate_limit_per_s = {search_miss_rate_limit_per_s}

[[tenants.{name}.zalo]]
oa_id = "{keys.oa_id}"
app_id = "{keys.app_id}"
secret = "{keys.oa_secret}"
"""
    return keys, entry


def zalo_headers(keys: TenantKeys, body: bytes, timestamp: str) -> dict[str, str]:
    mac = hashlib.sha256(
        keys.app_id.encode() + body + timestamp.encode() + keys.oa_secret.encode()
    ).hexdigest()
    return {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}


def partner_headers(secret: str, body: bytes, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Headwater-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}


class GatewayServer(ServiceProcess):
    def __init__(
        self,
        directory: Path,
        registry_toml: str,
        *,
        brokers: str = "127.0.0.1:9092",
        workers: int = 2,
        **settings: str,
    ) -> None:
        super().__init__(
            "gateway", directory, registry_toml, workers=workers, kafka_brokers=brokers, **settings
        )
