"""Reindex: re-embed every stored segment into a new collection while the old one serves,
check the new one, and swap the alias to it in one call (blue/green).

    python -m flows.reindex status                      # collections, models, counts
    python -m flows.reindex plan [--tenant T] [--json]  # segments, tokens, CPU-hours
    python -m flows.reindex build [--model DIR] [--tenant T] [--processes N]
    python -m flows.reindex swap [--collection NAME]    # catch up, gate, move the alias
    python -m flows.reindex rollback                    # the alias back where it was
    python -m flows.reindex retire [--collection NAME] [--grace-s S]

`build` runs this module's dataflow, which is also run on its own (on one machine or
several, with Bytewax's `-i/-a`):

    python -m bytewax.run "flows.reindex:build(collection='ChatSegment_<v>')" \\
        -r <recovery dir> -s 5 -b 0

The source is the collection the alias serves: its segments' stored texts are embedded
again with the target model (the model changes, the segments do not; replaying the raw
archive through ingest would redo parsing, PII redaction and segmentation for the same
texts). While the build runs the live index writes every message to both collections
(`operators.index.fanout`), and `swap` first copies what the new one still lacks
(`operators.reindex.gate.catch_up`).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bytewax.operators as op
import orjson
import weaviate
from bytewax.dataflow import Dataflow
from bytewax.recovery import init_db_dir

from flows.index import writer_for
from flows.settings import Settings
from models import Embedder, load_embedder, load_embedder_of_version
from operators.common import metrics
from operators.common.weaviate import connect_weaviate
from operators.index.search import model_version_of
from operators.reindex import gate
from operators.reindex.copy import Reembedder
from operators.reindex.plan import Plan, make_plan, tenant_counts
from operators.reindex.registry import RETIRE_GRACE_S, Registry, RegistryError
from operators.reindex.report import CostReport, read_reports
from operators.reindex.source import CopiedSegments
from operators.reindex.stored import shards

log = logging.getLogger(__name__)

SNAPSHOT_S = 5
"""Checkpoint interval of `build`: a restart redoes at most this much work."""


class ReindexError(RuntimeError):
    """A reindex cannot start or go on; the message says why."""


def target_embedder(settings: Settings) -> Embedder:
    return load_embedder(
        settings.reindex_model_dir or settings.embedding_model_dir, settings.embedding_threads
    )


def _source(registry: Registry) -> str:
    source = registry.serving()
    if source is None:
        raise ReindexError(f"nothing to reindex: alias {registry.alias} does not exist yet")
    return source


def selected_tenants(settings: Settings, client: weaviate.WeaviateClient, source: str) -> list[str]:
    """`reindex_tenants`, or every tenant of `source` when none is named; a named tenant
    the source does not have is an error naming it."""
    present = gate.tenants_of(client, source)
    named = settings.reindex_tenants
    unknown = sorted(set(named) - set(present))
    if unknown:
        raise ReindexError(f"{source} has no tenant {', '.join(map(repr, unknown))}")
    return list(named) or present


def build(collection: str | None = None, report: str | None = None, **overrides: Any) -> Dataflow:
    """The reindex dataflow: the serving collection's segments of `reindex_tenants` (all
    when empty), embedded with the target model, into `collection` (default: the
    collection being built for that model, registered now when there is none).
    `report`: each worker writes its totals to `<report>.<worker>.json` at the end."""
    settings = Settings(**overrides)
    metrics.serve_metrics(settings.metrics_port)
    embedder = target_embedder(settings)
    client = connect_weaviate(settings)
    try:
        registry = Registry(client, settings.weaviate_alias)
        source = _source(registry)
        tenants = selected_tenants(settings, client, source)
        target = collection or registry.begin_build(embedder.version).collection
    finally:
        client.close()
    if model_version_of(target) != embedder.version:
        raise ReindexError(
            f"{target} holds model {model_version_of(target)}, not {embedder.version}"
        )
    if target == source:
        raise ReindexError(f"{target} is the collection the alias serves; build another")
    flow = Dataflow("reindex")
    reembedder = Reembedder(embedder, writer_for(settings, embedder.version, target, "collection"))
    copied = op.input(
        "copy",
        flow,
        CopiedSegments(
            functools.partial(connect_weaviate, settings),
            source,
            shards(tenants, settings.reindex_shards_per_tenant),
            reembedder,
            page_size=settings.reindex_page_size,
            retry_s=settings.index_retry_s,
        ),
    )
    op.output("report", copied, CostReport(report))
    return flow


def __getattr__(name: str) -> Dataflow:
    if name == "flow":
        return build()
    raise AttributeError(name)


# --- the command line ------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "tenant", None):
        overrides["reindex_tenants"] = args.tenant
    if getattr(args, "model", None):
        overrides["reindex_model_dir"] = args.model
    if getattr(args, "shards", None):
        overrides["reindex_shards_per_tenant"] = args.shards
    return Settings(**overrides)


def _plan(
    settings: Settings, client: weaviate.WeaviateClient, embedder: Embedder, processes: int
) -> Plan:
    registry = Registry(client, settings.weaviate_alias)
    source = _source(registry)
    target, _ = registry.build_name(embedder.version)
    tenants = selected_tenants(settings, client, source)
    return make_plan(client, source, target, tenants, embedder, processes=processes)


def cmd_plan(args: argparse.Namespace) -> int:
    settings = _settings(args)
    embedder = target_embedder(settings)
    with connect_weaviate(settings) as client:
        plan = _plan(settings, client, embedder, args.processes)
    print(orjson.dumps(plan.to_dict()).decode() if args.json else plan.describe())
    return 0


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _children(
    settings: Settings, collection: str, state: Path, report: Path, args: argparse.Namespace
) -> list[list[str]]:
    """The `bytewax.run` command of each process of a build."""
    processes, workers = args.processes, args.workers
    kwargs = {
        "collection": collection,
        "report": str(report),
        "reindex_tenants": list(settings.reindex_tenants),
        "reindex_shards_per_tenant": settings.reindex_shards_per_tenant,
        "reindex_page_size": settings.reindex_page_size,
    }
    if settings.reindex_model_dir is not None:
        kwargs["reindex_model_dir"] = str(settings.reindex_model_dir)
    call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    base = [
        sys.executable,
        "-m",
        "bytewax.run",
        f"flows.reindex:build({call})",
        "-r",
        str(state / "recovery"),
        "-s",
        str(args.snapshot_s),
        "-b",
        "0",
        "-w",
        str(workers),
    ]
    if processes == 1:
        return [base]
    addresses = ";".join(f"127.0.0.1:{p}" for p in _free_ports(processes))
    return [[*base, "-i", str(i), "-a", addresses] for i in range(processes)]


class _Progress:
    """Segments of the selected tenants in the target against the source, with the rate
    and the time left; a bar on a terminal, a line every `every_s` elsewhere."""

    def __init__(self, client, target: str, tenants: dict[str, int], every_s: float = 5.0) -> None:
        self._client, self._target, self._tenants = client, target, tenants
        self.total = sum(tenants.values())
        self._last = 0
        self._start = time.monotonic()
        self._first = self.done()
        self._every_s = every_s
        self._printed = 0.0
        self._bar: Any = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("reindex"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
            )
            self._task = self._bar.add_task("reindex", total=self.total, rate="")
            self._bar.start()

    def done(self) -> int:
        try:
            counts = tenant_counts(self._client, self._target, list(self._tenants))
        except Exception:  # Weaviate busy or away: no update this time
            return self._last
        self._last = sum(min(counts[t], n) for t, n in self._tenants.items())
        return self._last

    def update(self, final: bool = False) -> None:
        done = self.done()
        elapsed = time.monotonic() - self._start
        rate = (done - self._first) / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else float("inf")
        if self._bar is not None:
            self._bar.update(self._task, completed=done, rate=f"{rate:.0f} segments/s")
            if final:
                self._bar.stop()
        elif final or elapsed - self._printed >= self._every_s:
            self._printed = elapsed
            eta = f"{left:.0f} s" if left != float("inf") else "?"
            print(
                f"progress: {done:,}/{self.total:,} segments "
                f"({100 * done / max(self.total, 1):.0f} %), "
                f"{rate:.0f} segments/s, ETA {eta}",
                flush=True,
            )


def cmd_build(args: argparse.Namespace) -> int:
    settings = _settings(args)
    embedder = target_embedder(settings)
    with connect_weaviate(settings) as client:
        registry = Registry(client, settings.weaviate_alias)
        source = _source(registry)
        selected = selected_tenants(settings, client, source)  # before anything is created
        entry = registry.begin_build(embedder.version, new_generation=args.new_generation)
        print(
            f"building {entry.collection} (model {entry.model_version}) from {source}", flush=True
        )
        state = build_state(settings, entry.collection)
        if args.fresh and state.exists():
            shutil.rmtree(state)
        tenants = _pinned(state, selected)
        settings = settings.model_copy(update={"reindex_tenants": tenants})
        plan = make_plan(
            client, source, entry.collection, tenants, embedder, processes=args.processes
        )
        print(plan.describe(), flush=True)
        if not (state / "recovery").exists():
            (state / "recovery").mkdir(parents=True)
            init_db_dir(state / "recovery", args.processes * args.workers)
        run_dir = state / f"run-{int(time.time() * 1000)}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        progress = _Progress(client, entry.collection, plan.tenants)
        children = [
            subprocess.Popen(command, env={**os.environ, "HEADWATER_METRICS_PORT": str(port)})
            for command, port in zip(
                _children(
                    settings,
                    entry.collection,
                    state,
                    run_dir / "worker",
                    args,
                ),
                _metrics_ports(settings.metrics_port, args.processes),
                strict=True,
            )
        ]
        try:
            while any(c.poll() is None for c in children):
                time.sleep(1.0)
                progress.update()
        except KeyboardInterrupt:
            for c in children:
                c.terminate()
            raise
        progress.update(final=True)
        codes = [c.wait() for c in children]
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if any(codes):
            print(
                f"build stopped: exit codes {codes}; run the same command again to resume",
                file=sys.stderr,
            )
            return 1
        totals = read_reports(run_dir)
        print(
            f"cost: {totals['segments']:,} segments read, {totals['stored']:,} written "
            f"({totals['stale']:,} already there, {totals['rejected']:,} refused), "
            f"{totals['tokens']:,} tokens, {wall:.1f} s wall, {cpu:.1f} CPU-s "
            f"({cpu / 3600:.4f} CPU-hours; planned {plan.cpu_hours:.4f}), "
            f"{totals['segments'] / wall if wall else 0:.0f} segments/s"
        )
        print(f"next: python -m flows.reindex swap --collection {entry.collection}")
    return 0


def build_state(settings: Settings, collection: str) -> Path:
    """Where a build of `collection` keeps its checkpoints and reports: one directory per
    selection (the tenants named, or all, and the shards), so the same command resumes
    and another selection starts its own."""
    named = settings.reindex_tenants
    digest = hashlib.sha256("\x1f".join(sorted(named)).encode()).hexdigest()[:10]
    selection = f"tenants-{digest}" if named else "all"
    return (
        settings.reindex_dir
        / collection
        / f"{selection}-shards{settings.reindex_shards_per_tenant}"
    )


def _pinned(state: Path, tenants: Sequence[str]) -> list[str]:
    """The tenants of a build, fixed by its first run: a resumed run reads the same
    shards (a tenant created since reaches the new collection through the live index and
    the catch-up before the swap)."""
    path = state / "tenants.json"
    if path.exists():
        return list(orjson.loads(path.read_bytes()))
    state.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(sorted(tenants)))
    return sorted(tenants)


def _metrics_ports(base: int, processes: int) -> list[int]:
    return [0 if base == 0 else base + i for i in range(processes)]


def cmd_swap(args: argparse.Namespace) -> int:
    settings = Settings()
    with connect_weaviate(settings) as client:
        registry = Registry(client, settings.weaviate_alias)
        source = _source(registry)
        target = args.collection or _newest_building(registry)
        embedder = load_embedder_of_version(model_version_of(target), settings.embedding_threads)
        reembedder = Reembedder(
            embedder, writer_for(settings, embedder.version, target, "collection")
        )
        repaired = gate.catch_up(client, source, target, reembedder)
        print(f"catch-up: {sum(repaired.values()):,} segments copied to {target}")
        result = gate.check(client, source, target, embedder)
        print(result.describe())
        if not result.ok:
            print(f"swap refused: alias {registry.alias} stays on {source}", file=sys.stderr)
            return 1
        registry.point_alias(target)
        print(f"swapped: alias {registry.alias} {source} -> {target}")
    return 0


def _newest_building(registry: Registry) -> str:
    """The newest collection being built, else the one a rollback left."""
    building = [e for e in registry.entries() if e.state == "building"]
    if building:
        return building[-1].collection
    try:
        return registry.rollback_target()
    except RegistryError:
        raise ReindexError(
            "no collection is being built; run `python -m flows.reindex build`"
        ) from None


def cmd_rollback(args: argparse.Namespace) -> int:
    settings = Settings()
    with connect_weaviate(settings) as client:
        registry = Registry(client, settings.weaviate_alias)
        target = registry.rollback_target()
        left = registry.point_alias(target)
        print(f"rolled back: alias {registry.alias} {left} -> {target}")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    settings = Settings()
    with connect_weaviate(settings) as client:
        registry = Registry(client, settings.weaviate_alias)
        retired = registry.retire(args.collection, grace_s=args.grace_s)
        print(
            f"retired: {', '.join(retired)}"
            if retired
            else "retired: nothing past its grace period"
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = Settings()
    with connect_weaviate(settings) as client:
        registry = Registry(client, settings.weaviate_alias)
        print(f"alias {registry.alias} -> {registry.serving() or '(none)'}")
        print(
            f"{'collection':<36} {'model':<14} {'gen':>3} {'state':<12} "
            f"{'tenants':>7} {'objects':>9}"
        )
        for e in registry.entries():
            counts = tenant_counts(client, e.collection, gate.tenants_of(client, e.collection))
            print(
                f"{e.collection:<36} {e.model_version:<14} {e.generation:>3} {e.state:<12} "
                f"{len(counts):>7} {sum(counts.values()):>9,}"
            )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.reindex", description=(__doc__ or "").split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tenant", action="append", help="only this tenant (repeatable)")
        p.add_argument(
            "--model", type=Path, help="built model directory (default: the default model)"
        )
        p.add_argument("--processes", type=int, default=1, help="Bytewax processes")

    plan = commands.add_parser("plan", help="what a build would embed and cost")
    selection(plan)
    plan.add_argument("--json", action="store_true", help="one JSON object")
    plan.set_defaults(run=cmd_plan)
    build_ = commands.add_parser("build", help="build (or resume building) the new collection")
    selection(build_)
    build_.add_argument("--workers", type=int, default=1, help="workers per process")
    build_.add_argument("--shards", type=int, help="shards per tenant")
    build_.add_argument(
        "--snapshot-s", type=int, default=SNAPSHOT_S, help="seconds between checkpoints"
    )
    build_.add_argument(
        "--new-generation", action="store_true", help="another collection for the same model"
    )
    build_.add_argument(
        "--fresh", action="store_true", help="forget the checkpoints of earlier runs"
    )
    build_.set_defaults(run=cmd_build)
    swap = commands.add_parser("swap", help="catch up, check the gate, point the alias")
    swap.add_argument("--collection", help="default: the newest collection being built")
    swap.set_defaults(run=cmd_swap)
    commands.add_parser("rollback", help="point the alias back").set_defaults(run=cmd_rollback)
    retire = commands.add_parser("retire", help="delete collections the alias left")
    retire.add_argument("--collection", help="this one, whatever its age")
    retire.add_argument("--grace-s", type=float, default=RETIRE_GRACE_S)
    retire.set_defaults(run=cmd_retire)
    commands.add_parser("status", help="collections and which one serves").set_defaults(
        run=cmd_status
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ReindexError, RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
