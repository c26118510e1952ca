"""`python -m services.search`: the search API on uvicorn, `HEADWATER_SEARCH_WORKERS`
processes behind one port (settings: `services.search.settings`)."""

from __future__ import annotations

import logging
import sys

from models import ModelNotBuiltError, load_embedder
from operators.common.http import serve
from schemas.tenants import RegistryError, TenantRegistry
from services.search.settings import SearchSettings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SearchSettings()
    try:  # fail here, once, rather than in every worker
        registry = TenantRegistry.from_setting(settings.tenants_file)
        model_version = load_embedder(settings.embedding_model_dir, threads=1).version
    except (RegistryError, ModelNotBuiltError) as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.getLogger("headwater.search").info(
        "%d tenants from %s; model %s; listening on %s:%d with %d workers",
        len(registry.tenants),
        settings.tenants_file,
        model_version,
        settings.search_host,
        settings.search_port,
        settings.search_workers,
    )
    serve(
        "services.search.app:create_app",
        name="search",
        host=settings.search_host,
        port=settings.search_port,
        workers=settings.search_workers,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
