"""`python -m services.gateway`: the gateway on uvicorn, `HEADWATER_GATEWAY_WORKERS`
processes behind one port (settings: `services.gateway.settings`)."""

from __future__ import annotations

import logging
import sys

from operators.common.http import serve
from schemas.tenants import RegistryError, TenantRegistry
from services.gateway.settings import GatewaySettings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = GatewaySettings()
    try:  # fail here, once, rather than in every worker
        registry = TenantRegistry.from_setting(settings.tenants_file)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.getLogger("headwater.gateway").info(
        "%d tenants from %s; listening on %s:%d with %d workers",
        len(registry.tenants),
        settings.tenants_file,
        settings.gateway_host,
        settings.gateway_port,
        settings.gateway_workers,
    )
    serve(
        "services.gateway.app:create_app",
        name="gateway",
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=settings.gateway_workers,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
