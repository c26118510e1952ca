"""A Weaviate of a test's own, on free ports with its own data directory: the tests that
stop Weaviate stop this one, never the shared one on 127.0.0.1:8080."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from flows.index import writer_for
from flows.settings import Settings
from operators.common.weaviate import connect_weaviate
from operators.index.writer import SegmentWriter

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".cache" / "bin" / "weaviate-server"
START_TIMEOUT_S = 60


def free_port_pairs(n: int) -> list[int]:
    """`n` ports p, each with p + 1 free too (Weaviate wants its gossip and data ports, and
    its two raft ports, next to each other)."""
    found: list[int] = []
    while len(found) < n:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port + 1 > 65535 or port in found or port + 1 in found or port - 1 in found:
                continue
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            found.append(port)
    return found


class ThrowawayWeaviate:
    """A Weaviate of our own: started, SIGKILLed and started again on the same data."""

    def __init__(self, data: Path) -> None:
        http, grpc_port, gossip, raft, profiling = free_port_pairs(5)
        self.data, self.http_port, self.grpc_port = data, http, grpc_port
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PERSISTENCE_DATA_PATH": str(data / "data"),
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "DISABLE_TELEMETRY": "true",
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "GRPC_PORT": str(grpc_port),
            "CLUSTER_HOSTNAME": "throwaway",
            "CLUSTER_IN_LOCALHOST": "true",
            "CLUSTER_GOSSIP_BIND_PORT": str(gossip),
            "CLUSTER_DATA_BIND_PORT": str(gossip + 1),
            "RAFT_PORT": str(raft),
            "RAFT_INTERNAL_RPC_PORT": str(raft + 1),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "GO_PROFILING_PORT": str(profiling),
            "LIMIT_RESOURCES": "true",
            "GOMAXPROCS": "2",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it is ready."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with (self.data / "weaviate.log").open("ab") as log_file:
            self.proc = subprocess.Popen(
                [str(BINARY), "--host", "127.0.0.1", "--port", str(self.http_port)]
                + ["--scheme", "http"],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.http_port}/v1/.well-known/ready"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"throwaway Weaviate exited: {self.log_tail()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(
            f"throwaway Weaviate not ready in {START_TIMEOUT_S} s: {self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, as a crash or an OOM kill would stop it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def settings(self, **overrides: object) -> Settings:
        return Settings(
            weaviate_url=f"http://127.0.0.1:{self.http_port}",
            weaviate_grpc_port=self.grpc_port,
            **overrides,
        )

    def connect(self):
        return connect_weaviate(self.settings(), timeout_s=5)

    def writer(self, model_version: str, retry_s: float) -> SegmentWriter:
        """The index flow's own writer (`flows.index.writer_for`), on this Weaviate."""
        return writer_for(self.settings(index_retry_s=retry_s), model_version)

    def log_tail(self) -> str:
        return (self.data / "weaviate.log").read_text(errors="replace")[-2000:]
