"""Starting a real HTTP service (`python -m services.<name>`) for a test or a benchmark.

`ServiceProcess` writes the registry it is given into the test's directory, starts the
service on a free port in a process group of its own (master and workers), with the
workers' metrics files under that directory so a kill leaves none behind, and waits for
/readyz (or /healthz, for a server not meant to be ready). `kill()` SIGKILLs the whole
group, as a crash would; `metrics()` reads /metrics, summed over the workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.throwaway_kafka import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Metric samples: (sample name, its labels) -> value."""


class Metrics:
    """A parsed /metrics page."""

    def __init__(self, text: str) -> None:
        self.samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = self.samples.get(key, 0.0) + sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """`name` summed per value of `label` (over the samples matching `labels`)."""
        wanted = set(labels.items())
        out: dict[str, float] = {}
        for (n, ls), v in self.samples.items():
            if n == name and wanted <= ls:
                key = dict(ls).get(label, "")
                out[key] = out.get(key, 0.0) + v
        return out


class ServiceProcess:
    """`python -m services.<service>`; `settings` are `HEADWATER_<NAME>` variables
    (`search_cache_ttl_s=1` sets HEADWATER_SEARCH_CACHE_TTL_S=1)."""

    def __init__(
        self,
        service: str,
        directory: Path,
        registry_toml: str,
        *,
        workers: int = 2,
        **settings: object,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.service = service
        self.directory = directory
        self.registry = directory / "tenants.toml"
        self.registry.write_text(registry_toml, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / f"{service}.log"
        metrics = directory / "metrics"
        metrics.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "HEADWATER_TENANTS_FILE": str(self.registry),
            f"HEADWATER_{service.upper()}_HOST": "127.0.0.1",
            f"HEADWATER_{service.upper()}_PORT": str(self.port),
            f"HEADWATER_{service.upper()}_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            **{f"HEADWATER_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> Self:
        """Start the process; do not wait (`wait` does)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def start(self, *, ready: bool = True) -> Self:
        """Start it and wait for /readyz (`ready=False`: for /healthz only)."""
        self.launch()
        self.wait("/readyz" if ready else "/healthz")
        return self

    def wait(self, path: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the {self.service} exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the {self.service} did not answer {path}:\n{self.log_tail()}")

    def metrics(self) -> Metrics:
        """/metrics, summed over the workers."""
        page = httpx.get(self.url + "/metrics", timeout=10)
        page.raise_for_status()
        return Metrics(page.text)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """A clean stop (SIGTERM to the group: the workers finish what they hold), a kill
        if it takes too long."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None:
            # Workers left behind by a master that died first.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def alive_workers(self) -> int:
        """Worker processes of this server still running."""
        if self.proc is None:
            return 0
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid), "-f", "spawn_main"], capture_output=True, text=True
        ).stdout
        return len(out.split())

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
