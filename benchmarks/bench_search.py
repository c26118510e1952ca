"""Search API latency, cache hit rate, staleness, fairness and CPU cost: open loop at rising
rates against `python -m services.search`, cached and uncached, on an index of its own.

    .venv/bin/python benchmarks/bench_search.py [--duration 5] [--quick] [--ttl 5]
        [--cached-rates 100,250,500,750] [--uncached-rates 50,100,150,200,250]
        [--noisy-quota 100] [--noisy-miss-quota 20] [--staleness | --no-staleness]

Needs Weaviate, Redis and the model (`make services model`); vegeta is installed into
.cache/go-bin on first use. What it does:

1. Index: `--tenants` tenants `bench-search-<i>` (and `bench-search-noisy`, a copy of
   tenant 0's segments) in the shared `ChatSegment_<model version>` collection, written
   with `SegmentWriter`; each with the segments of `--conversations` conversations of the
   bundled sample generator (`flows.samples.conversations`, Vietnamese and English; a
   conversation is split where it pauses for 30 min), embedded with `models.load_embedder()`.
   Texts and vectors are cached in .cache/bench/; the tenants are removed at the end.
2. Questions: `--questions` distinct questions per tenant (the user lines of its
   conversations, some with a prefix or suffix), Zipf(1.1) popularity within a tenant,
   tenants drawn with mild skew (weights 1/(i+1)^0.5). The exact-match ceiling of a drawn
   sequence is the share of requests whose (tenant, question) came earlier in it; the TTL
   ceiling is what an ideal shared cache with the service's TTL would hit at the step's
   real timing.
3. The service (`tests.integration.search_server.SearchServer`: its own port, registry and
   PROMETHEUS_MULTIPROC_DIR) twice: cached (TTL `--ttl`, default the service's
   `search_cache_ttl_s`; HEADWATER_SEARCH_SHADOW_RATE=`--shadow-rate`) and uncached
   (HEADWATER_SEARCH_CACHE_TTL_S=0). Registry entries from
   `tests.integration.gateway_server.tenant_entry`: every tenant unbounded but the noisy
   one. vegeta at each rate for `--duration` s; hit rate and stale rate per step from the
   /metrics delta of the step.
4. While the cached sweep runs, a thread writes `--fresh-rate` new segments a second
   (the `popular` writer: a user line that is a drawn question, popularity-weighted, and
   a reply), embedded by the real embedder, so that shadow re-searches can find answers
   stale. After each write it sends the index's write notice for the tenants written,
   as the index step does (`--no-write-notices`: none, the cache has only its TTL).
5. Noisy neighbour (cached service, writer stopped): tenant 0 at `--quiet-rate` alone,
   then beside `bench-search-noisy` (quota `--noisy-quota`/s, of which
   `--noisy-miss-quota`/s may be searches the cache cannot answer) flooding at
   `--noisy-factor` x its quota with unique questions, then beside it at 0.9 x its quota,
   then alone again. The noisy tenant's answers by status and the refusals by reason.
6. CPU: utime+stime (/proc) of the service (master and workers), Weaviate, Redis, vegeta
   and this process over every step. A fixed-rate cached step (`--cpu-cached-rate`, writer
   stopped) and a hits-only step (the 25 most popular questions of each tenant, asked
   once, then again within the TTL) give the CPU-ms of a hit and of a cached miss; with
   an uncached step they give the cores 1,000 and 10,000 q/s would need: at the measured
   hit rate, uncached, and at the workload's TTL ceiling for that rate (simulated).
7. Staleness trade-off (`--staleness`, in the full run by default, not with --quick): at
   `--stale-rate` q/s with shadow rate `--stale-shadow-rate`, for each TTL of
   `--stale-ttls` (a service each) and each writer: none, `random` (segments of new
   conversations of the sample generator, not aimed at any question) and `popular`, at
   each of `--stale-fresh-rates`. A cell runs its writer one TTL unmeasured (so no answer
   cached before it is served), then `--stale-duration` s measured: hit rate, stale rate,
   latency. With each tenant's segment count: the stale rate follows writes/s per tenant
   over segments per tenant.

Everything (vegeta, the service, Weaviate, Redis, this script) shares the machine's cores.
Prints markdown tables. Load only targets 127.0.0.1; every attack stops by itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import redis  # noqa: E402

from benchmarks.loadgen import Report, Request, attack, ensure_vegeta, write_targets  # noqa: E402
from flows.index import writer_for  # noqa: E402
from flows.samples.conversations import (  # noqa: E402
    ACKS,
    CLOSINGS,
    SEGMENT_GAP_MS,
    SHOPS,
    ConversationGenerator,
)
from flows.settings import Settings  # noqa: E402
from models import Embedder, load_embedder  # noqa: E402
from operators.common.weaviate import connect_weaviate  # noqa: E402
from operators.index.write_notices import WriteNotices  # noqa: E402
from operators.index.writer import collection_name  # noqa: E402
from schemas.segment import Segment, SegmentLine, minute_number  # noqa: E402
from services.search.cache import PREFIX, normalize_question, vector_key  # noqa: E402
from services.search.settings import SearchSettings  # noqa: E402
from tests.integration.gateway_server import tenant_entry  # noqa: E402
from tests.integration.search_server import Metrics, SearchServer  # noqa: E402
from tests.integration.service_process import ServiceProcess  # noqa: E402

CACHE_DIR = ROOT / ".cache" / "bench"
CORPUS_FORMAT = 1
TENANT_PREFIX = "bench-search-"
NOISY = TENANT_PREFIX + "noisy"
ZIPF_S = 1.1
TENANT_SKEW = 0.5
K, ALPHA = 5, 0.5
DEFAULT_TTL_S = SearchSettings().search_cache_ttl_s
GOAL_P95_MS, GOAL_P99_MS = 50.0, 200.0
HIT_OUTCOMES = ("local", "redis", "shared")
HOT_PER_TENANT = 25  # questions of the hits-only step
HOT_REQUESTS = 5000
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOURCES = ("zalo", "webhook", "csv")


# --- the index ---------------------------------------------------------------------------


@dataclass
class Corpus:
    """Per tenant: its segments and their vectors, and the user lines they hold."""

    segments: dict[str, list[Segment]]
    vectors: dict[str, np.ndarray]
    user_lines: dict[str, list[tuple[str, str]]]  # (text, language)


def tenant_names(n: int) -> list[str]:
    return [f"{TENANT_PREFIX}{i}" for i in range(n)]


def _segments_of(tenant: str, conv_id: str, turns: list, language: str, source: str) -> list:
    """A conversation's segments: split where it pauses for more than 30 minutes."""
    groups: list[list] = []
    for turn in turns:
        if not groups or turn.event_ms - groups[-1][-1].event_ms > SEGMENT_GAP_MS:
            groups.append([])
        groups[-1].append(turn)
    out, last = [], -1
    for g in groups:
        number = max(minute_number(g[0].event_ms), last + 1)
        last = number
        lines = tuple(
            SegmentLine(
                f"{conv_id}-{number}-{j}",
                t.role,
                t.text,
                language,
                source,
                t.event_ms,
                t.event_ms + 150,
            )
            for j, t in enumerate(g)
        )
        out.append(Segment(tenant, conv_id, number, lines, final=True))
    return out


def generate_corpus(tenants: list[str], conversations: int) -> tuple[dict, dict]:
    """Segments (as JSON-able rows) and user lines per tenant, seeded."""
    shops = list(SHOPS)
    rows: dict[str, list] = {}
    users: dict[str, list] = {}
    for i, tenant in enumerate(tenants):
        gen = ConversationGenerator(seed=1000 + i)
        shop = shops[i % len(shops)]
        rows[tenant], users[tenant] = [], []
        for c in range(conversations):
            # The generator's own conversation builder (private): one coherent conversation.
            conv = gen._conversation(shop)
            conv_id = f"c{c:05d}"
            source = {"zalo": "zalo", "webhook": "webhook"}.get(conv.channel, "csv")
            for seg in _segments_of(tenant, conv_id, conv.turns, conv.language, source):
                rows[tenant].append(
                    {
                        "conversation_id": seg.conversation_id,
                        "number": seg.number,
                        "lines": [list(vars(line).values()) for line in seg.lines],
                    }
                )
            users[tenant] += [(t.text, conv.language) for t in conv.turns if t.role == "user"]
    return rows, users


def load_corpus(tenants: list[str], conversations: int) -> Corpus:
    embedder = load_embedder(threads=2)
    base = CACHE_DIR / (
        f"search-corpus-v{CORPUS_FORMAT}-{embedder.version}-t{len(tenants)}-c{conversations}"
    )
    meta, vecs = base.with_suffix(".json"), base.with_suffix(".npz")
    if meta.is_file() and vecs.is_file():
        data = json.loads(meta.read_text(encoding="utf-8"))
        rows, users = data["rows"], {t: [tuple(u) for u in us] for t, us in data["users"].items()}
        loaded = np.load(vecs)
        vectors = {t: loaded[f"v{i}"] for i, t in enumerate(tenants)}
        print(f"[bench] corpus from {meta.name}", flush=True)
    else:
        rows, users = generate_corpus(tenants, conversations)
        vectors = {}
        started = time.perf_counter()
        for t in tenants:
            texts = [_segment(t, r).text for r in rows[t]]
            vectors[t] = np.asarray(embedder.embed_passages(texts), dtype=np.float32)
            print(
                f"[bench] embedded {len(texts)} segments of {t} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.savez(vecs, **{f"v{i}": vectors[t] for i, t in enumerate(tenants)})
        meta.write_text(json.dumps({"rows": rows, "users": users}, ensure_ascii=False))
    segments = {t: [_segment(t, r) for r in rows[t]] for t in tenants}
    return Corpus(segments, vectors, users)


def _segment(tenant: str, row: dict) -> Segment:
    lines = tuple(SegmentLine(*line) for line in row["lines"])
    return Segment(tenant, row["conversation_id"], row["number"], lines, final=True)


def write_index(corpus: Corpus, version: str) -> int:
    """Write every tenant's segments (and tenant 0's again as the noisy tenant)."""
    writer = writer_for(Settings(), version)
    written = 0
    try:
        items = list(corpus.segments.items())
        first = items[0][0]
        noisy = [
            Segment(NOISY, s.conversation_id, s.number, s.lines, final=True)
            for s in corpus.segments[first]
        ]
        items.append((NOISY, noisy))
        vectors = dict(corpus.vectors, **{NOISY: corpus.vectors[first]})
        for tenant, segs in items:
            for i in range(0, len(segs), 200):
                done = writer.write(segs[i : i + 200], vectors[tenant][i : i + 200])
                if done.rejected:
                    raise RuntimeError(f"Weaviate refused segments: {done.rejected[0].errors}")
                written += len(done.stored)
    finally:
        writer.close()
    return written


def remove_tenants(version: str, names: list[str]) -> None:
    client = connect_weaviate(Settings())
    try:
        collection = client.collections.get(collection_name(version))
        if not client.collections.exists(collection_name(version)):
            return
        existing = set(collection.tenants.get())
        gone = [n for n in names if n in existing]
        if gone:
            collection.tenants.remove(gone)
    finally:
        client.close()


# --- questions -------------------------------------------------------------------------

VARIANTS = {
    "vi": (("cho mình hỏi ", ""), ("shop ơi, ", ""), ("ad ơi ", ""), ("", " ạ"), ("", " vậy shop")),
    "en": (
        ("hi, ", ""),
        ("quick question: ", ""),
        ("hello, ", ""),
        ("", " please"),
        ("", " thanks"),
    ),
}
NOT_QUESTIONS = {
    normalize_question(user)
    for by_lang in (CLOSINGS, ACKS)
    for pairs in by_lang.values()
    for user, _ in pairs
}


@dataclass(frozen=True)
class Question:
    tenant: str
    text: str
    language: str


def question_pool(corpus: Corpus, per_tenant: int, seed: int = 5) -> dict[str, list[Question]]:
    """`per_tenant` distinct questions per tenant, most popular first."""
    r = random.Random(seed)
    pool: dict[str, list[Question]] = {}
    for tenant, lines in corpus.user_lines.items():
        seen: dict[str, Question] = {}
        candidates = [(t, lang) for t, lang in lines if normalize_question(t) not in NOT_QUESTIONS]
        r.shuffle(candidates)
        for text, lang in candidates:
            if r.random() < 0.3:  # a variant of the line, as another customer would write it
                pre, post = r.choice(VARIANTS[lang])
                text = pre + text[:1].lower() + text[1:] + post if pre else text + post
            key = normalize_question(text)
            if key not in seen:
                seen[key] = Question(tenant, text, lang)
            if len(seen) >= per_tenant:
                break
        if len(seen) < per_tenant:
            raise RuntimeError(f"{tenant}: only {len(seen)} distinct questions")
        questions = list(seen.values())
        r.shuffle(questions)  # popularity rank is independent of the text
        pool[tenant] = questions
    return pool


class Draw:
    """Requests drawn from the pool: a tenant (mild skew), then its question by Zipf(1.1)."""

    def __init__(self, pool: dict[str, list[Question]], seed: int) -> None:
        self.pool = pool
        self.tenants = list(pool)
        self.rng = np.random.default_rng(seed)
        w = 1.0 / np.arange(1, len(self.tenants) + 1) ** TENANT_SKEW
        self.tenant_p = w / w.sum()
        n = len(next(iter(pool.values())))
        z = 1.0 / np.arange(1, n + 1) ** ZIPF_S
        self.rank_p = z / z.sum()

    def rank(self, n: int) -> np.ndarray:
        return self.rng.choice(len(self.rank_p), size=n, p=self.rank_p)

    def draw(self, n: int) -> list[Question]:
        tenants = self.rng.choice(len(self.tenants), size=n, p=self.tenant_p)
        ranks = self.rank(n)
        return [self.pool[self.tenants[t]][q] for t, q in zip(tenants, ranks, strict=True)]

    def tenant_draw(self, tenant: str, n: int) -> list[Question]:
        return [self.pool[tenant][q] for q in self.rank(n)]


def exact_ceiling(seq: Sequence[Question]) -> float:
    seen: set[tuple[str, str]] = set()
    repeats = 0
    for q in seq:
        key = (q.tenant, normalize_question(q.text))
        repeats += key in seen
        seen.add(key)
    return repeats / max(1, len(seq))


def ttl_ceiling(
    steps: Sequence[tuple[float, int, Sequence[Question]]], ttl_s: float
) -> list[float]:
    """Per step (start time, rate, requests): the hit rate of an ideal shared cache whose
    answers live `ttl_s` from when they were computed, over the whole run so far."""
    computed: dict[tuple[str, str], float] = {}
    out = []
    for start, rate, seq in steps:
        hits = 0
        for i, q in enumerate(seq):
            t = start + i / rate
            key = (q.tenant, normalize_question(q.text))
            at = computed.get(key)
            if at is not None and t - at < ttl_s:
                hits += 1
            else:
                computed[key] = t
        out.append(hits / max(1, len(seq)))
    return out


# --- the service -------------------------------------------------------------------------


def registry_toml(
    tenants: list[str], noisy_quota: int, noisy_miss_quota: int
) -> tuple[dict[str, str], str]:
    """API keys and the registry: every tenant unbounded (`tenant_entry`'s defaults) but
    the noisy one, with a request quota and a quota of searches the cache cannot answer."""
    keys, parts = {}, []
    for t in tenants:
        quotas = (
            {
                "search_rate_limit_per_s": noisy_quota,
                "search_miss_rate_limit_per_s": noisy_miss_quota,
            }
            if t == NOISY
            else {}
        )
        tenant_keys, entry = tenant_entry(t, **quotas)
        keys[t] = tenant_keys.api_key
        parts.append(entry)
    return keys, "\n".join(parts)


def service_pids(server: ServiceProcess) -> list[int]:
    """The master and all its descendants (the workers, multiprocessing helpers)."""
    if server.proc is None:
        return []
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    out, todo = [], [server.proc.pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def metrics_delta(after: Metrics, before: Metrics) -> Metrics:
    """What changed between two /metrics readings (the samples that moved)."""
    delta = Metrics("")
    for key in after.samples.keys() | before.samples.keys():
        v = after.samples.get(key, 0.0) - before.samples.get(key, 0.0)
        if v:
            delta.samples[key] = v
    return delta


def remove_answers(client: redis.Redis, tenants: list[str]) -> int:
    """Drop the cached answers of `tenants` (not the questions' embeddings)."""
    gone = 0
    for t in tenants:
        keys = list(client.scan_iter(f"{PREFIX}:a:{t}:*", count=1000))
        for i in range(0, len(keys), 500):
            gone += client.delete(*keys[i : i + 500])
    return gone


OUTCOMES = ("local", "redis", "shared", "miss", "off", "bypass")
SECONDS_COUNT = "headwater_search_seconds_count"
REFUSALS_TOTAL = "headwater_search_refusals_total"
REQUESTS_TOTAL = "headwater_search_requests_total"
SHADOW_TOTAL = "headwater_search_shadow_total"


def diagnostics(delta: Metrics) -> str:
    """Cache outcomes, refusals, Redis and Weaviate errors of a metrics delta, where any."""
    parts = []
    outcomes = delta.by(SECONDS_COUNT, "cache")
    parts.append(" ".join(f"{c} {outcomes[c]:.0f}" for c in OUTCOMES if outcomes.get(c)))
    for name, label in (
        (REFUSALS_TOTAL, "reason"),
        ("headwater_search_cache_errors_total", "op"),
        ("headwater_search_weaviate_errors_total", "kind"),
        ("headwater_quota_unchecked_total", "scope"),
    ):
        found = {k: v for k, v in delta.by(name, label).items() if v}
        if found:
            short = name.removeprefix("headwater_").removesuffix("_total")
            parts.append(f"{short}: " + ", ".join(f"{k} {v:.0f}" for k, v in found.items()))
    return "; ".join(p for p in parts if p)


# --- CPU -------------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _pid_of(pattern: str, must: str) -> int | None:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    for pid in out:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if must in cmd:
            return int(pid)
    return int(out[0]) if out else None


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK, sum(fields[:8]) / CLK_TCK


COMPONENTS = ("service", "weaviate", "redis", "vegeta", "bench")


class CpuMeter:
    def __init__(self, server: ServiceProcess) -> None:
        self.server = server
        port = Settings().weaviate_url.rsplit(":", 1)[-1].strip("/")
        self.weaviate = _pid_of("weaviate-server", f"--port {port}")
        redis_port = Settings().redis_url.rsplit(":", 1)[-1].split("/")[0]
        self.redis = _pid_of("redis-server", f":{redis_port}")

    def snapshot(self) -> dict[str, float]:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = _machine_busy()
        return {
            "service": sum(_proc_cpu_s(p) for p in service_pids(self.server)),
            "weaviate": _proc_cpu_s(self.weaviate) if self.weaviate else math.nan,
            "redis": _proc_cpu_s(self.redis) if self.redis else math.nan,
            "vegeta": kids.ru_utime + kids.ru_stime,
            "bench": me.ru_utime + me.ru_stime,
            "machine_busy": busy,
            "machine_total": total,
        }


# --- load --------------------------------------------------------------------------------


def targets_for(
    path: Path, url: str, keys: dict[str, str], seq: Sequence[Question], suffix: Callable | None
) -> Path:
    reqs = []
    for i, q in enumerate(seq):
        text = q.text + (suffix(i) if suffix else "")
        reqs.append(
            Request(
                "GET",
                f"{url}/v1/search?q={quote(text)}&k={K}&alpha={ALPHA}",
                {"Authorization": f"Bearer {keys[q.tenant]}"},
            )
        )
    return write_targets(path, reqs)


@dataclass
class Step:
    name: str
    rate: int
    attack: Report
    started: float
    seq: Sequence[Question]
    delta: Metrics
    cpu: dict[str, float]
    fresh: int = 0
    ttl_ceiling: float = math.nan

    @property
    def served(self) -> float:
        return self.delta.value(SECONDS_COUNT)

    @property
    def hits(self) -> float:
        return sum(self.delta.value(SECONDS_COUNT, cache=c) for c in HIT_OUTCOMES)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.served if self.served else math.nan

    @property
    def shadow(self) -> tuple[float, float]:
        stale = self.delta.value(SHADOW_TOTAL, result="stale")
        return stale, stale + self.delta.value(SHADOW_TOTAL, result="same")

    def cpu_ms(self, component: str) -> float:
        return self.cpu[component] * 1000 / max(1, self.attack.requests)

    @property
    def other_ms(self) -> float:
        """Machine CPU not in the components (Kafka, the kernel, other users of the box)."""
        mine = sum(self.cpu[c] for c in COMPONENTS if not math.isnan(self.cpu[c]))
        return (self.cpu["machine_busy"] - mine) * 1000 / max(1, self.attack.requests)

    @property
    def machine_busy(self) -> float:
        return self.cpu["machine_busy"] / max(1e-9, self.cpu["machine_total"])


def run_step(
    name: str,
    server: ServiceProcess,
    meter: CpuMeter,
    keys: dict[str, str],
    rate: int,
    duration: float,
    seq: Sequence[Question],
    work: Path,
    fresh: FreshWriter | None = None,
) -> Step:
    targets = targets_for(work / f"{name}-{rate}.http", server.url, keys, seq, None)
    before, cpu0 = server.metrics(), meter.snapshot()
    fresh0 = fresh.written if fresh else 0
    started = time.time()
    result = attack(targets, rate, duration)
    cpu1, after = meter.snapshot(), server.metrics()
    step = Step(
        name,
        rate,
        result,
        started,
        seq,
        metrics_delta(after, before),
        {k: cpu1[k] - cpu0[k] for k in cpu1},
        (fresh.written - fresh0) if fresh else 0,
    )
    stale, shadows = step.shadow
    r = result
    print(
        f"  {name:8} {rate:>5}/s  sent {result.sent_per_s:7.1f}/s  ok {r.throughput:7.1f}/s  "
        f"p50 {r.p50_ms:7.1f}  p95 {result.p95_ms:7.1f}  p99 {r.p99_ms:8.1f} ms  "
        f"success {r.success_ratio:.4f}  hit {step.hit_rate:.3f}  stale {stale:.0f}/{shadows:.0f}"
        f"  {r.status_codes}",
        flush=True,
    )
    print(f"           {diagnostics(step.delta)}", flush=True)
    for e in r.errors:
        print(f"           error: {e}", flush=True)
    return step


SegmentSource = Callable[[int], list[Segment]]


class PopularSource:
    """The segments of the `popular` writer: a drawn question (popularity-weighted, tenants
    with the requests' skew) as the user line, and a reply."""

    REPLIES = {
        "vi": "Dạ shop đã ghi nhận, shop kiểm tra và phản hồi anh/chị ngay ạ.",
        "en": "Thanks, we have noted this and will get back to you shortly.",
    }

    def __init__(self, draw: Draw, run: str) -> None:
        self.draw, self.run_id, self.n = draw, run, 0

    def __call__(self, count: int) -> list[Segment]:
        now_ms = int(time.time() * 1000)
        segs = []
        for q in self.draw.draw(count):
            self.n += 1
            conv = f"fresh-{self.run_id}-{self.n:06d}"
            lines = (
                SegmentLine(f"{conv}-0", "user", q.text, q.language, "webhook", now_ms, now_ms),
                SegmentLine(
                    f"{conv}-1",
                    "bot",
                    self.REPLIES[q.language],
                    q.language,
                    "webhook",
                    now_ms + 1,
                    now_ms + 1,
                ),
            )
            segs.append(Segment(q.tenant, conv, minute_number(now_ms), lines, final=True))
        return segs


class RandomSource:
    """The segments of the `random` writer: new conversations of the sample generator (as
    the index was made, other seeds), segment after segment, not aimed at any question;
    tenants drawn with the requests' skew."""

    def __init__(self, tenants: list[str], run: str, seed: int) -> None:
        shops = list(SHOPS)
        self.tenants, self.run_id, self.n = tenants, run, 0
        self.gens = {t: ConversationGenerator(seed=seed + i) for i, t in enumerate(tenants)}
        self.shops = {t: shops[i % len(shops)] for i, t in enumerate(tenants)}
        self.pending: dict[str, deque[Segment]] = {t: deque() for t in tenants}
        self.rng = np.random.default_rng(seed)
        w = 1.0 / np.arange(1, len(tenants) + 1) ** TENANT_SKEW
        self.tenant_p = w / w.sum()

    def __call__(self, count: int) -> list[Segment]:
        out = []
        for i in self.rng.choice(len(self.tenants), size=count, p=self.tenant_p):
            t = self.tenants[i]
            if not self.pending[t]:
                conv = self.gens[t]._conversation(self.shops[t])
                self.n += 1
                conv_id = f"rand-{self.run_id}-{self.n:06d}"
                source = {"zalo": "zalo", "webhook": "webhook"}.get(conv.channel, "csv")
                self.pending[t].extend(_segments_of(t, conv_id, conv.turns, conv.language, source))
            out.append(self.pending[t].popleft())
        return out


class FreshWriter(threading.Thread):
    """`rate` new segments a second from `source` while it runs, embedded by the real
    embedder and written with `SegmentWriter`, so shadow re-searches can find served
    answers stale."""

    TICK_S = 0.5

    def __init__(
        self,
        source: SegmentSource,
        version: str,
        rate: float,
        embedder: Embedder,
        *,
        notices: bool = True,
    ) -> None:
        super().__init__(daemon=True, name="fresh-writer")
        self.source, self.rate, self.version, self.embedder = source, rate, version, embedder
        self.notices = WriteNotices(Settings().redis_url) if notices else None
        self.written = 0
        self.per_tenant: Counter[str] = Counter()
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        writer = writer_for(Settings(), self.version)
        start, sent = time.monotonic(), 0
        try:
            while not self.stop.is_set():
                due = int(self.rate * (time.monotonic() - start)) + 1 - sent  # one at once
                if due > 0:
                    segs = self.source(due)
                    sent += due
                    vectors = self.embedder.embed_passages([s.text for s in segs])
                    done = writer.write(segs, vectors)
                    if self.notices is not None:  # as the index step does after a write
                        self.notices.written({seg.tenant for seg, _ in done.stored})
                    self.written += len(done.stored)
                    self.per_tenant.update(seg.tenant for seg, _ in done.stored)
                    if done.rejected:
                        self.errors.append(str(done.rejected[0].errors))
                self.stop.wait(self.TICK_S)
        except Exception as exc:  # reported, not raised: the sweep goes on
            self.errors.append(repr(exc))
        finally:
            writer.close()

    def finish(self) -> None:
        self.stop.set()
        self.join(30)


# --- reporting ---------------------------------------------------------------------------


def fmt_pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f} %"


def codes(r: Report) -> str:
    return ", ".join(f"{v:,} × {k}" for k, v in sorted(r.status_codes.items()))


def sweep_table(steps: Sequence[Step], cached: bool) -> str:
    head = "| offered q/s | sent q/s | ok q/s | p50 ms | p95 ms | p99 ms | max ms | success |"
    sep = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    if cached:
        head += " hit rate | TTL ceiling | stale (shadow) | fresh writes |"
        sep += " ---: | ---: | ---: | ---: |"
    head += " answers |"
    sep += " --- |"
    rows = [head, sep]
    for s in steps:
        r = s.attack
        row = (
            f"| {s.rate:,} | {s.attack.sent_per_s:,.0f} | {r.throughput:,.0f} | {r.p50_ms:.1f} | "
            f"{s.attack.p95_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:,.0f} | {r.success_ratio:.4f} |"
        )
        if cached:
            stale, shadows = s.shadow
            rate = stale / shadows if shadows else math.nan
            row += (
                f" {fmt_pct(s.hit_rate)} | {fmt_pct(s.ttl_ceiling)} | "
                f"{fmt_pct(rate)} ({stale:.0f}/{shadows:.0f}) | {s.fresh} |"
            )
        row += f" {codes(r)} |"
        rows.append(row)
    return "\n".join(rows)


def cpu_table(steps: Sequence[Step]) -> str:
    rows = [
        "| step | q/s | hit rate | CPU-ms/query: service | Weaviate | Redis | vegeta | bench "
        "| other | machine busy (2 cores = 100 %) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in steps:
        rows.append(
            f"| {s.name} | {s.rate:,} | {fmt_pct(s.hit_rate)} | "
            + " | ".join(f"{s.cpu_ms(c):.2f}" for c in COMPONENTS)
            + f" | {s.other_ms:.2f} | {fmt_pct(s.machine_busy)} |"
        )
    return "\n".join(rows)


PARTS = ("service", "weaviate", "redis")


def steady_ttl_ceiling(
    pool: dict[str, list[Question]], rate: int, ttl_s: float, seconds: float = 20
) -> float:
    """The TTL ceiling of this workload at `rate`, over the second half of `seconds`."""
    seq = Draw(pool, seed=47).draw(int(rate * seconds))
    half = len(seq) // 2
    first, second = seq[:half], seq[half:]
    return ttl_ceiling([(0.0, rate, first), (half / rate, rate, second)], ttl_s)[1]


def capacity_table(
    cached: Step,
    uncached: Step,
    per_hit: dict[str, float],
    per_miss: dict[str, float],
    ceilings: dict[int, float],
) -> str:
    """Cores at 1,000 and 10,000 q/s: at the measured hit rate, uncached, and at the
    workload's TTL ceiling for that rate (from the cost of a hit and of a cached miss)."""
    rows = [
        "| at | hit rate | service cores (workers) | Weaviate cores | Redis cores (processes) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def row(qps: int, label: str, hit: float, ms: dict[str, float]) -> str:
        cores = {c: qps * ms[c] / 1000 for c in PARTS}
        return (
            f"| {qps:,} q/s, {label} | {fmt_pct(hit)} | {cores['service']:.1f} "
            f"({math.ceil(cores['service'])}) | {cores['weaviate']:.1f} | "
            f"{cores['redis']:.2f} ({max(1, math.ceil(cores['redis']))}) |"
        )

    for qps in (1_000, 10_000):
        rows.append(
            row(qps, "measured cached mix", cached.hit_rate, {c: cached.cpu_ms(c) for c in PARTS})
        )
        rows.append(row(qps, "uncached", 0.0, {c: uncached.cpu_ms(c) for c in PARTS}))
        h = ceilings[qps]
        mix = {c: h * per_hit[c] + (1 - h) * per_miss[c] for c in PARTS}
        rows.append(row(qps, "TTL ceiling of the rate (derived)", h, mix))
    return "\n".join(rows)


def latency_row(name: str, a: Report) -> str:
    r = a
    return (
        f"| {name} | {r.rate:,} | {r.throughput:,.0f} | {r.p50_ms:.1f} | {a.p95_ms:.1f} | "
        f"{r.p99_ms:.1f} | {codes(r)} |"
    )


def overloaded(s: Step) -> bool:
    """Past the cliff: a higher rate would only add backlog to the next step."""
    return s.attack.success_ratio < 0.9 or s.attack.p50_ms > 2000


def passes(s: Step) -> bool:
    r = s.attack
    return r.success_ratio == 1.0 and s.attack.p95_ms < GOAL_P95_MS and r.p99_ms < GOAL_P99_MS


# --- main ------------------------------------------------------------------------------


def redis_cleanup(
    client: redis.Redis, tenants: list[str], questions: Sequence[str], version: str
) -> int:
    """Drop this benchmark's cached answers and its questions' cached embeddings."""
    gone = remove_answers(client, tenants)
    vkeys = [vector_key(version, normalize_question(q)) for q in questions]
    for i in range(0, len(vkeys), 500):
        gone += client.delete(*vkeys[i : i + 500])
    return gone


def code_version() -> str:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--oneline", "-1"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" (uncommitted changes: {', '.join(changed)})" if changed else "")


# --- the noisy neighbour -----------------------------------------------------------------


@dataclass
class Phase:
    name: str
    quiet: Report
    noisy: Report | None
    delta: Metrics
    cpu: dict[str, float]

    def quiet_hit_rate(self, tenant: str) -> float:
        served = self.delta.value(SECONDS_COUNT, tenant=tenant)
        hits = sum(self.delta.value(SECONDS_COUNT, tenant=tenant, cache=c) for c in HIT_OUTCOMES)
        return hits / served if served else math.nan

    @property
    def refusals(self) -> dict[str, float]:
        """Refusals by reason (every tenant's: the metric has no tenant label)."""
        return {k: v for k, v in self.delta.by(REFUSALS_TOTAL, "reason").items() if v}

    @property
    def noisy_429(self) -> int:
        return self.noisy.status_codes.get("429", 0) if self.noisy else 0


def noisy_neighbour(
    args: argparse.Namespace,
    server: ServiceProcess,
    meter: CpuMeter,
    keys: dict[str, str],
    draw: Draw,
    quiet_tenant: str,
    work: Path,
    run: str,
    asked: list[str],
) -> list[Phase]:
    """The quiet tenant at `--quiet-rate` alone, beside the noisy tenant flooding with
    unique questions, beside it within its request quota, and alone again."""
    noise_s = args.noise_duration or 2 * args.duration
    quiet_seq = draw.tenant_draw(quiet_tenant, int(args.quiet_rate * noise_s))
    quiet_t = targets_for(work / "quiet.http", server.url, keys, quiet_seq, None)
    flood_rate = int(args.noisy_quota * args.noisy_factor)
    within_rate = int(args.noisy_quota * 0.9)
    noisy_q = [
        Question(NOISY, q.text, q.language)
        for q in draw.tenant_draw(quiet_tenant, int(flood_rate * noise_s) + 10)
    ]

    def busting_targets(tag: str) -> Path:
        def busting(i: int) -> str:
            return f" #{tag}{run}{i:07d}"

        asked.extend(q.text + busting(i) for i, q in enumerate(noisy_q))
        return targets_for(work / f"{tag}.http", server.url, keys, noisy_q, busting)

    phases: list[Phase] = []

    def phase(name: str, noisy_rate: int | None, noisy_t: Path | None = None) -> None:
        before, cpu0 = server.metrics(), meter.snapshot()
        with ThreadPoolExecutor(2) as ex:
            q = ex.submit(attack, quiet_t, args.quiet_rate, noise_s)
            n = ex.submit(attack, noisy_t, noisy_rate, noise_s) if noisy_rate and noisy_t else None
            quiet, noisy = q.result(), (n.result() if n is not None else None)
        cpu1, after = meter.snapshot(), server.metrics()
        p = Phase(
            name, quiet, noisy, metrics_delta(after, before), {k: cpu1[k] - cpu0[k] for k in cpu1}
        )
        phases.append(p)
        r = quiet
        print(
            f"  {name:22} quiet p50 {r.p50_ms:6.1f}  p95 {quiet.p95_ms:6.1f}  "
            f"p99 {r.p99_ms:6.1f} ms  hit {p.quiet_hit_rate(quiet_tenant):.3f}  "
            f"{r.status_codes}"
            + (f"  | noisy {noisy.status_codes}" if noisy else "")
            + f"  | service CPU {p.cpu['service']:.2f} s",
            flush=True,
        )
        print(f"           {diagnostics(p.delta)}", flush=True)
        time.sleep(1.0)

    print(
        f"noisy neighbour: {quiet_tenant} at {args.quiet_rate}/s; {NOISY} quota "
        f"{args.noisy_quota}/s, misses {args.noisy_miss_quota}/s",
        flush=True,
    )
    phase("alone", None)
    phase(f"flood {flood_rate}/s", flood_rate, busting_targets("flood"))
    phase(f"within quota {within_rate}/s", within_rate, busting_targets("within"))
    phase("alone again", None)
    return phases


# --- staleness ---------------------------------------------------------------------------


@dataclass
class Cell:
    ttl_s: float
    writer: str
    fresh_rate: float
    step: Step


STALE_WRITERS = ("none", "random", "popular")


def staleness(
    args: argparse.Namespace,
    registry: str,
    keys: dict[str, str],
    pool: dict[str, list[Question]],
    tenants: list[str],
    version: str,
    embedder: Embedder,
    run: str,
    work: Path,
    rclient: redis.Redis,
    written: Counter[str],
) -> list[Cell]:
    """At `--stale-rate` with shadow rate `--stale-shadow-rate`, for each TTL (a service of
    its own) and each writer x fresh rate: the writer runs for one TTL unmeasured (the
    answers cached before it expire), then `--stale-duration` s are measured."""
    ttls = [float(t) for t in args.stale_ttls.split(",")]
    rates = [float(r) for r in args.stale_fresh_rates.split(",")]
    plan = [("none", 0.0)] + [(w, r) for w in STALE_WRITERS[1:] for r in rates]
    draw = Draw(pool, seed=61)
    seqs = [draw.draw(int(args.stale_rate * args.stale_duration)) for _ in plan]
    warm_draw = Draw(pool, seed=67)
    popular = PopularSource(Draw(pool, seed=71), run)
    randoms = RandomSource(tenants, run, seed=7000)
    cells: list[Cell] = []
    for ttl in ttls:
        remove_answers(rclient, tenants)
        settings = {"search_cache_ttl_s": ttl, "search_shadow_rate": args.stale_shadow_rate}
        directory = work / f"stale-ttl{ttl:g}"
        with SearchServer(directory, registry, workers=args.workers, **settings) as server:
            meter = CpuMeter(server)
            print(
                f"staleness: TTL {ttl:g} s, shadow rate {args.stale_shadow_rate}, "
                f"{args.stale_rate}/s",
                flush=True,
            )
            for (writer, rate), seq in zip(plan, seqs, strict=True):
                fresh = None
                if writer != "none":
                    source = popular if writer == "popular" else randoms
                    fresh = FreshWriter(source, version, rate, embedder, notices=args.write_notices)
                    fresh.start()
                warm_s = max(1.0, ttl)
                warm = warm_draw.draw(int(args.stale_rate * warm_s))
                warm_t = targets_for(work / "stale-warm.http", server.url, keys, warm, None)
                attack(warm_t, args.stale_rate, warm_s)
                name = f"stale-ttl{ttl:g}-{writer}" + (f"-{rate:g}" if fresh else "")
                step = run_step(
                    name,
                    server,
                    meter,
                    keys,
                    args.stale_rate,
                    args.stale_duration,
                    seq,
                    work,
                    fresh,
                )
                if fresh is not None:
                    fresh.finish()
                    written.update(fresh.per_tenant)
                    if fresh.errors:
                        print(f"           writer errors: {fresh.errors[:3]}", flush=True)
                cells.append(Cell(ttl, writer, rate, step))
    return cells


def wilson(k: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson interval of a proportion k/n."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def staleness_table(cells: Sequence[Cell]) -> str:
    rows = [
        "| TTL s | writer | fresh/s | written | hit rate | stale (shadow) | 95 % interval "
        "| p50 ms | p95 ms | p99 ms | machine busy | answers |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in cells:
        s, r = c.step, c.step.attack
        stale, shadows = s.shadow
        rate = stale / shadows if shadows else math.nan
        lo, hi = wilson(stale, shadows)
        rows.append(
            f"| {c.ttl_s:g} | {c.writer} | {c.fresh_rate:g} | {s.fresh} | {fmt_pct(s.hit_rate)} "
            f"| {fmt_pct(rate)} ({stale:.0f}/{shadows:.0f}) | {fmt_pct(lo)}–{fmt_pct(hi)} | "
            f"{r.p50_ms:.1f} | {s.attack.p95_ms:.1f} | {r.p99_ms:.1f} | "
            f"{fmt_pct(s.machine_busy)} | {codes(r)} |"
        )
    return "\n".join(rows)


def corpus_table(
    tenants: list[str], segments: dict[str, int], written: Counter[str], rates: list[float]
) -> str:
    """Per tenant: its share of requests and writes, its segments, and how fast each fresh
    rate renews it (writes/s ÷ segments)."""
    w = 1.0 / np.arange(1, len(tenants) + 1) ** TENANT_SKEW
    share = w / w.sum()
    head = "| tenant | share of requests and writes | segments (index) | written by this run |"
    sep = "| --- | ---: | ---: | ---: |"
    for r in rates:
        head += f" at {r:g}/s: writes/s | ÷ segments |"
        sep += " ---: | ---: |"
    rows = [head, sep]
    for t, p in zip(tenants, share, strict=True):
        row = f"| {t} | {fmt_pct(p)} | {segments[t]:,} | {written.get(t, 0):,} |"
        for r in rates:
            row += f" {r * p:.2f} | {r * p / segments[t]:.5f} |"
        rows.append(row)
    return "\n".join(rows)


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds a step")
    parser.add_argument("--cached-rates", default="100,250,500,750")
    parser.add_argument("--uncached-rates", default="50,100,150,200,250")
    parser.add_argument("--cpu-cached-rate", type=int, default=250)
    parser.add_argument("--cpu-uncached-rate", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--conversations", type=int, default=250, help="per tenant")
    parser.add_argument("--questions", type=int, default=500, help="distinct, per tenant")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--ttl",
        type=float,
        default=DEFAULT_TTL_S,
        help=f"the cached service's answer TTL, s (default: the service's, {DEFAULT_TTL_S:g})",
    )
    parser.add_argument("--shadow-rate", type=float, default=0.05)
    parser.add_argument("--fresh-rate", type=float, default=8.0, help="new segments/s")
    parser.add_argument(
        "--write-notices",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the writers send the index's write notices after each write (as the index "
        "step does); --no-write-notices leaves the cache to its TTL",
    )
    parser.add_argument("--quiet-rate", type=int, default=50)
    parser.add_argument("--noisy-quota", type=int, default=100, help="searches/s")
    parser.add_argument(
        "--noisy-miss-quota", type=int, default=20, help="searches/s the cache cannot answer"
    )
    parser.add_argument("--noisy-factor", type=float, default=5.0)
    parser.add_argument("--noise-duration", type=float, default=None, help="default 2 x step")
    parser.add_argument(
        "--staleness",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the staleness trade-off step (default: in the full run, not with --quick)",
    )
    parser.add_argument("--stale-rate", type=int, default=250, help="q/s of the step")
    parser.add_argument("--stale-shadow-rate", type=float, default=0.2)
    parser.add_argument("--stale-duration", type=float, default=10.0, help="seconds a cell")
    parser.add_argument("--stale-ttls", default="1,2,5")
    parser.add_argument("--stale-fresh-rates", default="1,8")
    parser.add_argument("--quick", action="store_true", help="3 s steps, fewer rates")
    parser.add_argument("--keep", action="store_true", help="keep tenants and work directory")
    args = parser.parse_args()
    if args.quick:
        args.duration = min(args.duration, 3.0)
        args.cached_rates, args.uncached_rates = "100,500", "50,100"
    if args.staleness is None:
        args.staleness = not args.quick
    noise_s = args.noise_duration or 2 * args.duration
    cached_rates = [int(r) for r in args.cached_rates.split(",")]
    uncached_rates = [int(r) for r in args.uncached_rates.split(",")]
    if args.cpu_uncached_rate not in uncached_rates:
        uncached_rates = sorted({*uncached_rates, args.cpu_uncached_rate})
    started = time.perf_counter()
    print(f"[bench] load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    print(f"[bench] code: {code_version()}", flush=True)
    ensure_vegeta()
    run = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    tenants = tenant_names(args.tenants)
    every = [*tenants, NOISY]
    embedder = load_embedder(threads=1)  # the fresh writers'
    version = embedder.version

    corpus = load_corpus(tenants, args.conversations)
    pool = question_pool(corpus, args.questions)
    n_segments = sum(len(s) for s in corpus.segments.values())
    print(
        f"[bench] {len(tenants)} tenants (+ {NOISY}), {n_segments:,} segments, "
        f"{args.questions * len(tenants):,} distinct questions; model {version}",
        flush=True,
    )
    remove_tenants(version, every)
    t0 = time.perf_counter()
    written = write_index(corpus, version)
    print(f"[bench] wrote {written:,} segments in {time.perf_counter() - t0:.1f} s", flush=True)
    rclient = redis.Redis.from_url(Settings().redis_url)
    asked = [q.text for qs in pool.values() for q in qs]
    redis_cleanup(rclient, every, asked, version)

    draw = Draw(pool, seed=11)
    cached_seqs = [draw.draw(int(rate * args.duration)) for rate in cached_rates]
    cpu_seq = draw.draw(int(args.cpu_cached_rate * args.duration))
    whole = [q for seq in cached_seqs for q in seq]
    keys, registry = registry_toml(every, args.noisy_quota, args.noisy_miss_quota)
    cached_steps: list[Step] = []
    uncached_steps: list[Step] = []
    phases: list[Phase] = []
    cells: list[Cell] = []
    fresh_written: Counter[str] = Counter()
    fresh: FreshWriter | None = None
    sweep_fresh = 0
    errors: dict[str, str] = {}
    try:
        settings = {"search_cache_ttl_s": args.ttl, "search_shadow_rate": args.shadow_rate}
        with SearchServer(work / "cached", registry, workers=args.workers, **settings) as server:
            meter = CpuMeter(server)
            print(
                f"cached: {args.workers} workers, TTL {args.ttl:g} s, shadow rate "
                f"{args.shadow_rate}; weaviate pid {meter.weaviate}, redis pid {meter.redis}",
                flush=True,
            )
            fresh = FreshWriter(
                PopularSource(Draw(pool, seed=23), run),
                version,
                args.fresh_rate,
                embedder,
                notices=args.write_notices,
            )
            fresh.start()
            for rate, seq in zip(cached_rates, cached_seqs, strict=True):
                step = run_step(
                    "cached", server, meter, keys, rate, args.duration, seq, work, fresh
                )
                cached_steps.append(step)
                if overloaded(step):
                    print("  (stopping the sweep: past the cliff)", flush=True)
                    break
                time.sleep(1.0)
            fresh.finish()
            fresh_written.update(fresh.per_tenant)
            sweep_fresh = fresh.written
            time.sleep(3.0)  # what an overloaded step left running ends (2 s search timeout)
            cpu_cached = run_step(
                "cached-cpu",
                server,
                meter,
                keys,
                args.cpu_cached_rate,
                args.duration,
                cpu_seq,
                work,
            )
            # -- hits only: the most popular questions, asked once, then again within the TTL --
            hot = [q for t in tenants for q in pool[t][:HOT_PER_TENANT]]
            warm = targets_for(work / "warm.http", server.url, keys, hot, None)
            time.sleep(args.ttl + 0.5)  # every answer of the step before has expired
            attack(warm, len(hot), 1.0)
            hot_seq = [hot[i] for i in draw.rng.integers(0, len(hot), HOT_REQUESTS)]
            hits_only = run_step(
                "cached-hits",
                server,
                meter,
                keys,
                args.cpu_cached_rate,
                min(args.duration, max(1.0, args.ttl - 2)),
                hot_seq,
                work,
            )
            phases = noisy_neighbour(args, server, meter, keys, draw, tenants[0], work, run, asked)
            if "Traceback" in server.log_tail(50_000):
                errors["cached"] = server.log_tail(2000)

        uncached_draw = Draw(pool, seed=31)
        uncached_seqs = [uncached_draw.draw(int(r * args.duration)) for r in uncached_rates]
        with SearchServer(
            work / "uncached", registry, workers=args.workers, search_cache_ttl_s=0
        ) as server:
            meter = CpuMeter(server)
            print(f"uncached: {args.workers} workers, HEADWATER_SEARCH_CACHE_TTL_S=0", flush=True)
            for rate, seq in zip(uncached_rates, uncached_seqs, strict=True):
                step = run_step("uncached", server, meter, keys, rate, args.duration, seq, work)
                uncached_steps.append(step)
                if overloaded(step):
                    print("  (stopping the sweep: past the cliff)", flush=True)
                    break
                time.sleep(1.0)
            if "Traceback" in server.log_tail(50_000):
                errors["uncached"] = server.log_tail(2000)

        written_before_stale = Counter(fresh_written)
        if args.staleness:
            cells = staleness(
                args,
                registry,
                keys,
                pool,
                tenants,
                version,
                embedder,
                run,
                work,
                rclient,
                fresh_written,
            )
    finally:
        if fresh is not None:
            fresh.stop.set()
        if not args.keep:
            remove_tenants(version, every)
            redis_cleanup(rclient, every, asked, version)
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[bench] kept tenants {every} and {work}")

    # -- the report -----------------------------------------------------------------------
    ceilings = ttl_ceiling([(s.started, s.rate, s.seq) for s in cached_steps], args.ttl)
    for s, c in zip(cached_steps, ceilings, strict=True):
        s.ttl_ceiling = c
    print()
    print(
        f"Workload: {len(tenants)} tenants, {n_segments:,} segments, {args.questions} distinct "
        f"questions a tenant (Zipf {ZIPF_S}), tenants weighted 1/(i+1)^{TENANT_SKEW}; "
        f"k={K}, alpha={ALPHA}; {args.duration:g} s a step."
    )
    print(
        f"Exact-match ceiling of the cached sweep's drawn sequence ({len(whole):,} requests): "
        f"{fmt_pct(exact_ceiling(whole))}; of its first step alone "
        f"({len(cached_seqs[0]):,}): {fmt_pct(exact_ceiling(cached_seqs[0]))}."
    )
    print()
    print(
        f"Cached (TTL {args.ttl:g} s, shadow rate {args.shadow_rate}); the cache is warm from "
        "the steps before (the first step starts cold):\n"
    )
    print(sweep_table(cached_steps, cached=True))
    print(
        f"\nFresh segments written during the cached sweep (`popular` writer): {sweep_fresh:,} "
        f"(target {args.fresh_rate:g}/s)"
        + (f"; errors: {fresh.errors[:3]}" if fresh and fresh.errors else "")
    )
    print("\nUncached (HEADWATER_SEARCH_CACHE_TTL_S=0):\n")
    print(sweep_table(uncached_steps, cached=False))
    print()
    for label, ok in (
        (f"p95 < {GOAL_P95_MS:.0f} ms and p99 < {GOAL_P99_MS:.0f} ms", passes),
        ("p99 < 100 ms, as loadgen.knee", lambda s: s.attack.ok(100.0)),
    ):
        for name, steps in (("Uncached", uncached_steps), ("Cached", cached_steps)):
            knee = max((s for s in steps if ok(s)), key=lambda s: s.rate, default=None)
            print(
                f"{name} knee (every answer 200, {label}): {knee.rate if knee else 0} q/s"
                + (
                    f" (p95 {knee.attack.p95_ms:.1f}, p99 {knee.attack.p99_ms:.1f} ms)"
                    if knee
                    else ""
                )
            )
    for s in (s for s in cached_steps if s.rate >= 500):
        r = s.attack
        print(
            f"Cached at {s.rate}/s: p95 {s.attack.p95_ms:.1f} ms (goal < {GOAL_P95_MS:.0f}), "
            f"p99 {r.p99_ms:.1f} ms (goal < {GOAL_P99_MS:.0f}), hit rate {fmt_pct(s.hit_rate)} "
            f"(goal >= 70 %): {'met' if passes(s) and s.hit_rate >= 0.7 else 'not met'}"
        )
    stale = sum(s.shadow[0] for s in cached_steps)
    shadows = sum(s.shadow[1] for s in cached_steps)
    print(
        f"Stale rate over the cached sweep: {fmt_pct(stale / shadows if shadows else math.nan)} "
        f"({stale:.0f} of {shadows:.0f} shadow re-searches; goal <= 1 %)"
    )

    print_noisy(args, phases, tenants[0], noise_s, uncached_steps)

    print(
        "\nCPU per query (utime+stime over the step / requests sent; `other` is the rest of "
        "the machine's busy time: Kafka, the kernel, anything else running):\n"
    )
    print(cpu_table([*cached_steps, cpu_cached, hits_only, *uncached_steps]))
    cpu_uncached = next(
        (s for s in uncached_steps if s.rate == args.cpu_uncached_rate), uncached_steps[0]
    )
    print(
        f"\nCores needed (CPU-ms/query of the `cached-cpu` step at {cpu_cached.rate}/s, "
        f"writer stopped, and of the uncached step at {cpu_uncached.rate}/s; 100 % busy):\n"
    )
    # A hit's cost from the hits-only step; a miss's (in the cached service: the embedding
    # is often cached, the answer is stored) from the cached mix: mix = h x hit + (1-h) x miss.
    hit_share = hits_only.hit_rate
    per_hit = {c: hits_only.cpu_ms(c) for c in PARTS}
    h = cpu_cached.hit_rate
    per_miss = {c: (cpu_cached.cpu_ms(c) - h * per_hit[c]) / (1 - h) for c in PARTS}
    ceilings_at = {qps: steady_ttl_ceiling(pool, qps, args.ttl) for qps in (1_000, 10_000)}
    print(capacity_table(cpu_cached, cpu_uncached, per_hit, per_miss, ceilings_at))
    print(
        f"\nPer query, CPU-ms (service / Weaviate / Redis): a hit "
        f"{' / '.join(f'{per_hit[c]:.2f}' for c in PARTS)} (the `cached-hits` step, "
        f"{fmt_pct(hit_share)} hits, shadow re-searches included); a miss of the cached "
        f"service {' / '.join(f'{per_miss[c]:.2f}' for c in PARTS)} (from the `cached-cpu` "
        f"mix); an uncached search {' / '.join(f'{cpu_uncached.cpu_ms(c):.2f}' for c in PARTS)}."
        f" The TTL-ceiling rows assume a hit rate equal to the ceiling of this workload at "
        f"that rate with a {args.ttl:g} s TTL (simulated, 20 s)."
    )

    if cells:
        print(
            f"\nStaleness trade-off: {args.stale_rate} q/s, shadow rate {args.stale_shadow_rate}, "
            f"{args.stale_duration:g} s a cell after one TTL of the cell's writer unmeasured; "
            "a service per TTL. `random`: segments of new sample-generator conversations; "
            "`popular`: a drawn question as the user line, and a reply:\n"
        )
        print(staleness_table(cells))
        segments = {t: len(corpus.segments[t]) for t in tenants}
        rates = sorted({c.fresh_rate for c in cells if c.fresh_rate})
        print(
            "\nSegments per tenant (the index at the start; written by this run's writers: "
            f"{sum(written_before_stale.values()):,} before the staleness step, "
            f"{sum(fresh_written.values()):,} in all):\n"
        )
        print(corpus_table(tenants, segments, fresh_written, rates))
        met = [c for c in cells if c.step.shadow[1] and c.step.shadow[0] / c.step.shadow[1] <= 0.01]
        print(
            f"\nStale rate <= 1 %: met in {len(met)} of {len(cells)} cells"
            + (
                ": " + ", ".join(f"TTL {c.ttl_s:g} {c.writer} {c.fresh_rate:g}/s" for c in met)
                if met
                else ""
            )
        )
    for label, text in errors.items():
        print(f"\n{label} service log (tail, it has a traceback):\n{text}")
    print(f"\n[bench] {time.perf_counter() - started:.0f} s in all")


def print_noisy(
    args: argparse.Namespace,
    phases: Sequence[Phase],
    quiet_tenant: str,
    noise_s: float,
    uncached_steps: Sequence[Step],
) -> None:
    print(
        f"\nNoisy neighbour (cached service): {quiet_tenant} at {args.quiet_rate} q/s, "
        f"{noise_s:g} s a phase; {NOISY} (quota {args.noisy_quota}/s, misses "
        f"{args.noisy_miss_quota}/s) sends unique questions:\n"
    )
    print(
        "| phase | rate q/s | ok q/s | p50 ms | p95 ms | p99 ms | answers | CPU s: service "
        "| Weaviate | Redis | machine busy |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for p in phases:
        cpu = p.cpu
        busy = cpu["machine_busy"] / max(1e-9, cpu["machine_total"])
        print(
            latency_row(f"quiet, {p.name}", p.quiet)
            + f" {cpu['service']:.2f} | {cpu['weaviate']:.2f} | {cpu['redis']:.2f} | "
            f"{fmt_pct(busy)} |"
        )
        if p.noisy is not None:
            print(latency_row(f"{p.name} (noisy)", p.noisy) + " | | | |")
    if not phases:
        return
    alone = phases[0]
    print()
    for p in phases[1:]:
        print(
            f"quiet p95 {p.name}: {p.quiet.p95_ms:.1f} ms vs alone {alone.quiet.p95_ms:.1f} ms = "
            f"{p.quiet.p95_ms / alone.quiet.p95_ms:.2f}x (goal <= 1.2); quiet hit rate "
            f"{fmt_pct(p.quiet_hit_rate(quiet_tenant))}"
        )
    print(
        "\nThe noisy tenant's answers (vegeta) and the service's refusals by reason "
        "(/metrics; the metric has no tenant, the quiet tenant's are in it too):\n"
    )
    reasons = sorted({r for p in phases for r in p.refusals})
    print(
        "| phase | sent | "
        + " | ".join(["answers", "searched for it (misses)", *(f"429 {r}" for r in reasons)])
        + " | service CPU s | service CPU-ms per noisy request |"
    )
    print("| --- | ---: | --- | ---: |" + " ---: |" * len(reasons) + " ---: | ---: |")
    for p in phases:
        if p.noisy is None:
            continue
        searched = p.delta.value(SECONDS_COUNT, tenant=NOISY, cache="miss")
        sent = p.noisy.requests
        per = (p.cpu["service"] - alone.cpu["service"]) * 1000 / max(1, sent)
        print(
            f"| {p.name} | {sent:,} | {codes(p.noisy)} | {searched:,.0f} | "
            + " | ".join(f"{p.refusals.get(r, 0):,.0f}" for r in reasons)
            + f" | {p.cpu['service']:.2f} | {per:.2f} (above alone) |"
        )
    noisy = [p for p in phases if p.noisy is not None]
    if len(noisy) >= 2:
        flood, within = noisy[0], noisy[1]
        extra_cpu = flood.cpu["service"] - within.cpu["service"]
        extra_429 = flood.noisy_429 - within.noisy_429
        print(
            f"\nThe flood's service CPU above the within-quota phase: {extra_cpu:.2f} s for "
            f"{extra_429:,} more 429s = {extra_cpu * 1000 / max(1, extra_429):.2f} ms per 429 "
            f"(both phases searched about as much for the noisy tenant: "
            f"{flood.delta.value(SECONDS_COUNT, tenant=NOISY, cache='miss'):.0f} vs "
            f"{within.delta.value(SECONDS_COUNT, tenant=NOISY, cache='miss'):.0f})."
        )
        search_ms = next(
            (s.cpu_ms("service") for s in uncached_steps if s.rate == args.cpu_uncached_rate),
            math.nan,
        )
        for p in noisy:
            searched = p.delta.value(SECONDS_COUNT, tenant=NOISY, cache="miss")
            left = p.cpu["service"] - alone.cpu["service"] - searched * search_ms / 1000
            print(
                f"{p.name}: service CPU above alone {p.cpu['service'] - alone.cpu['service']:.2f}"
                f" s; less {searched:.0f} searches at {search_ms:.2f} ms (uncached step) leaves "
                f"{left:.2f} s for {p.noisy_429:,} 429s = "
                f"{left * 1000 / max(1, p.noisy_429):.2f} ms per 429 (rough)"
            )


if __name__ == "__main__":
    main()
