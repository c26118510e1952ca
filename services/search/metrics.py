"""The search API's Prometheus metrics. With several worker processes, `python -m
services.search` sets PROMETHEUS_MULTIPROC_DIR and /metrics sums every worker's
(`operators.common.metrics.exposition`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "headwater_search_requests_total",
    'Search requests answered, by tenant ("-" before the key is checked) and status code.',
    ["tenant", "status"],
)
REFUSALS = Counter(
    "headwater_search_refusals_total",
    "Search requests refused, by reason (the `error` of the answer).",
    ["reason"],
)
SECONDS = Histogram(
    "headwater_search_seconds",
    "Time to answer a search, by tenant and cache outcome: `local` and `redis` (hits), "
    "`shared` (another request's search), `miss`, `off` (no cache configured) and `bypass` "
    "(Redis unreachable).",
    ["tenant", "cache"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5),
)
WEAVIATE_ERRORS = Counter(
    "headwater_search_weaviate_errors_total",
    "Searches Weaviate did not answer, by kind: `unavailable`, `timeout`, `error`.",
    ["kind"],
)
CACHE_ERRORS = Counter(
    "headwater_search_cache_errors_total",
    "Redis calls that failed (the search went on uncached), by operation.",
    ["op"],
)
SHADOW = Counter(
    "headwater_search_shadow_total",
    "Cache hits searched again in the background (HEADWATER_SEARCH_SHADOW_RATE), by "
    "result: `same`, or `stale` when the fresh hits differ from the served ones.",
    ["result"],
)
