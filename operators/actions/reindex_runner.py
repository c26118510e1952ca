"""Planning and starting a tenant's reindex, for the actions policy: the reindex CLI, run
as a subprocess (`ReindexCli`), or any object with the same two methods (`ReindexRunner`;
tests record the calls instead).

The CLI contract this relies on (`python -m flows.reindex`, in the same environment and
with the same `HEADWATER_*` settings as the flow):

- plan: `<python> -m flows.reindex plan --tenant <tenant> --json` prints one JSON object
  on stdout and exits 0; anything else (another status, no JSON object) is a failure;
- start: `<python> -m flows.reindex build --tenant <tenant>` is launched detached (its
  own session, so it outlives the flow), stdout and stderr appended to
  `<log_dir>/reindex-<tenant>-<alert_id>.log`. It runs for as long as the build takes:
  a status other than 0 within `start_grace_s` is a failure, otherwise it started.

A tenant that begins with `-` is passed as `--tenant=<tenant>`, which argparse reads the
same way, so that it is not taken for an option.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

import orjson

PLAN_TIMEOUT_S = 300.0
"""How long a plan may take before it counts as failed."""

START_GRACE_S = 2.0
"""How long a started build is watched for an early failure (a missing CLI, bad args)."""

ERROR_CHARS = 2000
"""The end of a failed command's output kept in the error text."""


class ReindexError(Exception):
    """The reindex could not be planned or started; the message says why."""


class ReindexRunner(Protocol):
    """Plans or starts a tenant's reindex, returning what to keep in the audit log."""

    def plan(self, tenant: str) -> dict[str, Any]:
        """The plan (raises `ReindexError`)."""
        ...

    def start(self, tenant: str, alert_id: str) -> dict[str, Any]:
        """Start a build and return at once (raises `ReindexError`)."""
        ...


def tenant_args(tenant: str) -> list[str]:
    """`--tenant <tenant>`, or `--tenant=<tenant>` for one that looks like an option.

    >>> tenant_args("acme"), tenant_args("-acme")
    (['--tenant', 'acme'], ['--tenant=-acme'])
    """
    return [f"--tenant={tenant}"] if tenant.startswith("-") else ["--tenant", tenant]


class ReindexCli:
    """The reindex CLI (`python -m <module>`) run as a subprocess."""

    def __init__(
        self,
        log_dir: Path,
        *,
        python: str = sys.executable,
        module: str = "flows.reindex",
        plan_timeout_s: float = PLAN_TIMEOUT_S,
        start_grace_s: float = START_GRACE_S,
    ) -> None:
        self.log_dir = log_dir
        self.python = python
        self.module = module
        self.plan_timeout_s = plan_timeout_s
        self.start_grace_s = start_grace_s

    def plan_command(self, tenant: str) -> list[str]:
        return [self.python, "-m", self.module, "plan", *tenant_args(tenant), "--json"]

    def start_command(self, tenant: str) -> list[str]:
        return [self.python, "-m", self.module, "build", *tenant_args(tenant)]

    def log_path(self, tenant: str, alert_id: str) -> Path:
        return self.log_dir / f"reindex-{tenant}-{alert_id}.log"

    def plan(self, tenant: str) -> dict[str, Any]:
        command = self.plan_command(tenant)
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.plan_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ReindexError(f"plan timed out after {self.plan_timeout_s:g} s") from exc
        except OSError as exc:
            raise ReindexError(f"plan could not run {command[0]}: {exc}") from exc
        if done.returncode != 0:
            raise ReindexError(f"plan exited {done.returncode}: {_tail(done.stderr)}")
        try:
            plan = orjson.loads(done.stdout)
        except orjson.JSONDecodeError as exc:
            raise ReindexError(f"plan printed no JSON ({exc}): {_tail(done.stdout)}") from exc
        if not isinstance(plan, dict):
            raise ReindexError(f"plan printed JSON that is not an object: {_tail(done.stdout)}")
        return {"plan": plan}

    def start(self, tenant: str, alert_id: str) -> dict[str, Any]:
        command = self.start_command(tenant)
        path = self.log_path(tenant, alert_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "ab") as out:
                start = out.tell()
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ReindexError(f"build could not run {command[0]}: {exc}") from exc
        try:
            status = process.wait(self.start_grace_s)
        except subprocess.TimeoutExpired:
            return {"pid": process.pid, "log": str(path)}
        if status != 0:
            with open(path, "rb") as f:
                f.seek(start)
                output = f.read()
            raise ReindexError(f"build exited {status}: {_tail(output)} (log: {path})")
        return {"pid": process.pid, "log": str(path), "exit": 0}


def _tail(output: bytes) -> str:
    text = output.decode("utf-8", "replace").strip()
    return text if len(text) <= ERROR_CHARS else "…" + text[-ERROR_CHARS:]
