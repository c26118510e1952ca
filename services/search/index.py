"""The search API's view of Weaviate: one client per worker, which collection the alias
serves (read again every `search_alias_refresh_s`) and the embedder of its model, and
the query itself, run in the worker's thread pool with a deadline.

When the alias moves to a collection of another model, the worker loads that model (in
its pool, not in the event loop) when it next reads the alias; a model not built here
makes the searches of that collection `ModelMismatchError`s.

A worker starts even while Weaviate is down: it connects when Weaviate answers, searches
meanwhile are `WeaviateDown`, and readiness says why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import weaviate
from weaviate.exceptions import WeaviateBaseError, WeaviateQueryError

from models import Embedder
from operators.common.weaviate import connect_weaviate
from operators.index.search import (
    Hit,
    ModelMismatchError,
    Serving,
    hybrid,
    query_embedder,
    serving_collection,
)
from services.search.metrics import WEAVIATE_ERRORS
from services.search.settings import SearchSettings

log = logging.getLogger(__name__)


class WeaviateDown(Exception):
    """Weaviate did not answer, not in time, or with an error: `kind` is `unavailable`,
    `timeout` or `error`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class Index:
    def __init__(self, settings: SearchSettings, embedder: Embedder, threads: int) -> None:
        self.settings = settings
        self._embedders: dict[str, Embedder] = {embedder.version: embedder}
        self._missing: dict[str, ModelMismatchError] = {}  # looked for again at every read
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="search")
        self._client: weaviate.WeaviateClient | None = None
        self.serving: Serving | None = None
        self.problem = "the alias has not been read yet"
        self._warned = -math.inf

    # -- the alias ----------------------------------------------------------------------

    def _read_alias(self) -> Serving | None:
        if self._client is None:
            self._client = connect_weaviate(
                self.settings, self.settings.search_timeout_s, client_retries=False
            )
        serving = serving_collection(self._client, self.settings.search_alias)
        if serving is not None and serving.model_version not in self._embedders:
            try:  # one onnxruntime thread a search: parallelism is concurrency x workers
                self._embedders[serving.model_version] = query_embedder(serving, threads=1)
                self._missing.pop(serving.model_version, None)
            except ModelMismatchError as exc:
                self._missing[serving.model_version] = exc
        return serving

    def embedder_of(self, serving: Serving) -> Embedder:
        """The embedder of `serving`'s model; `ModelMismatchError` when it is not built."""
        found = self._embedders.get(serving.model_version)
        if found is not None:
            return found
        missing = self._missing.get(serving.model_version)
        raise missing or ModelMismatchError(f"model {serving.model_version} is not loaded yet")

    async def refresh(self) -> None:
        """Read the alias once; on failure keep the last target and note the problem."""
        loop = asyncio.get_running_loop()
        try:
            self.serving = await asyncio.wait_for(
                loop.run_in_executor(self._pool, self._read_alias),
                self.settings.search_timeout_s * 2,
            )
        except (WeaviateBaseError, OSError, TimeoutError, ValueError) as exc:
            self.problem = f"cannot read alias {self.settings.search_alias}: {exc}"
            now = time.monotonic()
            if now - self._warned > 30:
                self._warned = now
                log.warning("%s", self.problem)
            return
        self.problem = (
            "" if self.serving else f"alias {self.settings.search_alias} does not exist yet"
        )

    # -- searching ----------------------------------------------------------------------

    async def search(
        self,
        serving: Serving,
        tenant: str,
        question: str,
        vector: np.ndarray | None,
        *,
        k: int,
        alpha: float,
    ) -> tuple[np.ndarray, list[Hit]]:
        """Embed `question` (unless `vector` is given) and run the hybrid query."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(
            self._pool, self._search, serving, tenant, question, vector, k, alpha
        )
        try:
            return await asyncio.wait_for(work, self.settings.search_timeout_s)
        except TimeoutError:
            WEAVIATE_ERRORS.labels("timeout").inc()
            raise WeaviateDown("timeout", "Weaviate did not answer in time") from None
        except WeaviateQueryError as exc:
            WEAVIATE_ERRORS.labels("error").inc()
            raise WeaviateDown("error", f"Weaviate refused the search: {exc}") from None
        except (WeaviateBaseError, OSError) as exc:
            WEAVIATE_ERRORS.labels("unavailable").inc()
            raise WeaviateDown("unavailable", f"Weaviate did not answer: {exc}") from None

    def _search(
        self,
        serving: Serving,
        tenant: str,
        question: str,
        vector: np.ndarray | None,
        k: int,
        alpha: float,
    ) -> tuple[np.ndarray, list[Hit]]:
        if vector is None:
            vector = self.embedder_of(serving).embed_queries([question])[0]
        client = self._client
        if client is None:
            raise WeaviateDown("unavailable", "Weaviate has not been reached yet")
        try:
            hits = hybrid(
                client,
                serving.collection,
                tenant,
                question,
                _floats(vector),
                limit=k,
                alpha=alpha,
            )
        except WeaviateQueryError as exc:
            if "tenant not found" in str(exc):
                return vector, []  # nothing indexed for this tenant yet
            raise
        return vector, hits

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()


def _floats(vector: np.ndarray) -> Sequence[float]:
    return vector.tolist()  # type: ignore[no-any-return]
