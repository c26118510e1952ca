"""Open-loop HTTP load helper built on vegeta (github.com/tsenart/vegeta).

    .venv/bin/python benchmarks/loadgen.py http://127.0.0.1:8000/healthz

Open loop: vegeta sends requests at a fixed rate whatever the server's latency, so a slow
server shows up as latency and errors, not as a lower request rate. This module installs
vegeta under .cache/go-bin (`ensure_vegeta`), writes its http-format targets file
(`write_targets`), runs one attack and reads vegeta's JSON report (`attack`), and runs
attacks at increasing rates to find the highest rate that still meets a p99 latency bound
(`sweep`, `knee`).

Loopback only: `write_targets` refuses any URL whose host is not 127.0.0.1, ::1 or
localhost, vegeta does not follow redirects (`-redirects=-1`), and every attack stops by
itself after its duration (with a hard subprocess timeout behind it).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
GO_BIN = REPO / ".cache" / "go-bin"
GO_FALLBACK = Path("/usr/local/go/bin/go")


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Report:
    rate: int  # requested requests/s
    throughput: float  # successful requests/s, as vegeta reports it
    requests: int
    success_ratio: float
    status_codes: dict[str, int]
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: list[str]
    sent_per_s: float = 0.0  # the rate vegeta managed to send

    def ok(self, p99_ms: float) -> bool:
        return self.success_ratio == 1.0 and self.p99_ms < p99_ms


def _writable(path: Path) -> bool:
    """Whether `path`, or its nearest existing parent, is writable."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)


def ensure_vegeta() -> Path:
    """Path of the vegeta binary, `go install`ed into .cache/go-bin when it is missing."""
    binary = GO_BIN / "vegeta"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = shutil.which("go") or str(GO_FALLBACK)
    env = dict(os.environ, GOBIN=str(GO_BIN), GOTOOLCHAIN="local")
    defaults = subprocess.run(
        [go, "env", "GOPATH", "GOMODCACHE", "GOCACHE"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    if not all(_writable(Path(p)) for p in defaults):
        gopath = REPO / ".cache" / "go"
        env.update(
            GOPATH=str(gopath),
            GOMODCACHE=str(gopath / "pkg" / "mod"),
            GOCACHE=str(gopath / "build"),
        )
    GO_BIN.mkdir(parents=True, exist_ok=True)
    print("[bench] installing vegeta ...", flush=True)
    proc = subprocess.run(
        [go, "install", VEGETA_MODULE],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if proc.returncode != 0 or not binary.is_file():
        raise RuntimeError(
            f"go install {VEGETA_MODULE} failed (exit {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return binary


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"loadgen only targets loopback, not {url!r}")


def write_targets(path: Path, requests: Iterable[Request]) -> Path:
    """Write vegeta's `-format=http` targets file at `path`, bodies in `<path>.bodies/`."""
    path = Path(path)
    bodies = path.parent / f"{path.name}.bodies"
    shutil.rmtree(bodies, ignore_errors=True)
    bodies.mkdir(parents=True)
    chunks: list[str] = []
    for i, req in enumerate(requests):
        _check_loopback(req.url)
        lines = [f"{req.method.upper()} {req.url}"]
        lines += [f"{k}: {v}" for k, v in req.headers.items()]
        if req.body:
            body = bodies / f"{i:06d}.bin"
            body.write_bytes(req.body)
            lines.append(f"@{body.resolve()}")
        chunk = "\n".join(lines)
        if "\r" in chunk or chunk.count("\n") != len(lines) - 1:
            raise ValueError(f"newline in request {i}: {req.method} {req.url}")
        chunks.append(chunk)
    if not chunks:
        raise ValueError("no requests")
    path.write_text("\n\n".join(chunks) + "\n")
    return path


def attack(
    targets: Path,
    rate: int,
    duration_s: float,
    *,
    timeout_s: float = 5.0,
    workers: int | None = None,
    max_workers: int | None = None,
) -> Report:
    """One open-loop attack at `rate` requests/s for `duration_s`, read from vegeta's report."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration_s must be positive")
    vegeta = ensure_vegeta()
    with tempfile.TemporaryDirectory(prefix="vegeta-") as tmp:
        results = Path(tmp) / "results.bin"
        cmd = [
            str(vegeta),
            "attack",
            "-format=http",
            f"-targets={Path(targets).resolve()}",
            f"-rate={rate}/1s",
            f"-duration={duration_s:.3f}s",
            f"-timeout={timeout_s:.3f}s",
            "-redirects=-1",
            f"-output={results}",
        ]
        if workers is not None:
            cmd.append(f"-workers={workers}")
        if max_workers is not None:
            cmd.append(f"-max-workers={max_workers}")
        limit = duration_s + timeout_s + 30
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        if proc.returncode != 0:
            raise RuntimeError(f"vegeta attack failed (exit {proc.returncode}):\n{proc.stderr}")
        proc = subprocess.run(
            [str(vegeta), "report", "-type=json", str(results)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"vegeta report failed (exit {proc.returncode}):\n{proc.stderr}")
    data = json.loads(proc.stdout)
    lat = data["latencies"]  # nanoseconds
    return Report(
        rate=rate,
        throughput=float(data["throughput"]),
        requests=int(data["requests"]),
        success_ratio=float(data["success"]),
        status_codes={str(k): int(v) for k, v in (data.get("status_codes") or {}).items()},
        p50_ms=lat["50th"] / 1e6,
        p90_ms=lat["90th"] / 1e6,
        p95_ms=lat["95th"] / 1e6,
        p99_ms=lat["99th"] / 1e6,
        max_ms=lat["max"] / 1e6,
        errors=list(dict.fromkeys(data.get("errors") or []))[:10],
        sent_per_s=float(data.get("rate", 0.0)),
    )


def sweep(
    targets: Path,
    rates: Sequence[int],
    duration_s: float,
    *,
    p99_ms: float = 100.0,
    stop_after_failures: int = 1,
    pause_s: float = 1.0,
) -> list[Report]:
    """Attack at each rate in order; stop after `stop_after_failures` consecutive misses."""
    reports: list[Report] = []
    failures = 0
    for i, rate in enumerate(rates):
        if i:
            time.sleep(pause_s)
        report = attack(targets, rate, duration_s)
        reports.append(report)
        failures = 0 if report.ok(p99_ms) else failures + 1
        if failures >= stop_after_failures:
            break
    return reports


def knee(reports: Iterable[Report], p99_ms: float) -> Report | None:
    """The highest-rate report that is ok, or None."""
    good = [r for r in reports if r.ok(p99_ms)]
    return max(good, key=lambda r: r.rate, default=None)


def format_table(reports: Sequence[Report], p99_ms: float) -> str:
    head = f"{'rate':>6} {'thru/s':>8} {'reqs':>6} {'success':>8} "
    head += f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}  ok  codes"
    rows = [head]
    for r in reports:
        codes = ",".join(f"{k}:{v}" for k, v in sorted(r.status_codes.items()))
        rows.append(
            f"{r.rate:>6} {r.throughput:>8.1f} {r.requests:>6} {r.success_ratio:>8.3f} "
            f"{r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} {r.max_ms:>8.2f}  "
            f"{'yes' if r.ok(p99_ms) else 'no ':<3} {codes}"
        )
        rows += [f"         error: {e}" for e in r.errors]
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/loadgen.py URL  (a loopback URL)")
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
        tgt = write_targets(Path(tmp) / "targets.http", [Request("GET", sys.argv[1])])
        done = sweep(tgt, [100, 200], 3.0, stop_after_failures=2)
    print(format_table(done, 100.0))
    best = knee(done, 100.0)
    print(f"knee (p99 < 100 ms, all ok): {best.rate if best else 'none'} req/s")
