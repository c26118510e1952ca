"""Starting the real gateway (`python -m services.gateway`) for a test, and signing
requests the way Zalo and partners do.

`GatewayServer` writes a registry of its own (tenants named by the test, so runs never
share quotas), starts the gateway on a free port with several workers against the given
Kafka, and waits for /readyz. `kill()` SIGKILLs the whole process group (master and
workers), as a crash would.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from schemas.tenants import hash_api_key
from tests.integration.throwaway_kafka import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


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
    name: str, *, rate_limit_per_s: int = 100_000, search_rate_limit_per_s: int = 100_000
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


class GatewayServer:
    def __init__(
        self,
        directory: Path,
        registry_toml: str,
        *,
        brokers: str = "127.0.0.1:9092",
        workers: int = 2,
        **settings: str,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.registry = directory / "tenants.toml"
        self.registry.write_text(registry_toml, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "gateway.log"
        self.env = {
            **os.environ,
            "HEADWATER_TENANTS_FILE": str(self.registry),
            "HEADWATER_KAFKA_BROKERS": brokers,
            "HEADWATER_GATEWAY_PORT": str(self.port),
            "HEADWATER_GATEWAY_WORKERS": str(workers),
            **{f"HEADWATER_{k.upper()}": v for k, v in settings.items()},
        }
        # The workers' metrics files live with the test's files, so a kill leaves none behind.
        metrics = directory / "metrics"
        metrics.mkdir(exist_ok=True)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, ready: bool = True) -> GatewayServer:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.gateway"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait("/readyz" if ready else "/healthz")
        return self

    def wait(self, path: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the gateway did not answer {path}:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the master and its workers at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """A clean stop (SIGTERM: the workers deliver what is queued first)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive_workers(self) -> int:
        """Worker processes of this gateway still running."""
        if self.proc is None:
            return 0
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid), "-f", "spawn_main"], capture_output=True, text=True
        ).stdout
        return len(out.split())

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
