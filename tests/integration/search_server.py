"""Starting the real search API (`python -m services.search`) for a test: a
`ServiceProcess` (its registry holds tenants named by the test, with
`gateway_server.tenant_entry`, so runs never share keys or quotas)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.service_process import Metrics, ServiceProcess

__all__ = ["Metrics", "SearchServer"]


class SearchServer(ServiceProcess):
    def __init__(
        self, directory: Path, registry_toml: str, *, workers: int = 2, **settings: object
    ) -> None:
        super().__init__("search", directory, registry_toml, workers=workers, **settings)
