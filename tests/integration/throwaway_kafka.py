"""A second, throwaway Kafka broker for tests that take Kafka away.

The shared broker on 127.0.0.1:9092 serves every other test, so an outage is staged on
a broker of the test's own: the jars and the config `deploy/local/services.sh` uses, free
ports, a log dir under the test's tmp_path. It starts in about 3 s on two cores.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBS = ROOT / ".cache" / "kafka" / "libs"
CONFIG = ROOT / "deploy" / "local" / "kafka" / "server.properties"
LOG4J = ROOT / "deploy" / "local" / "kafka" / "log4j2.properties"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


class ThrowawayKafka:
    """One KRaft broker+controller on free loopback ports, data under `directory`.

    `stop()` kills it (an outage, not a clean shutdown), `start()` brings it back on
    the same ports with the same data.
    """

    def __init__(self, directory: Path) -> None:
        if not any(LIBS.glob("kafka_*.jar")):
            raise RuntimeError(f"no Kafka jars in {LIBS}: run `make services` once")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port, self.controller_port = free_port(), free_port()
        self.brokers = f"127.0.0.1:{self.port}"
        self.config = directory / "server.properties"
        text = CONFIG.read_text(encoding="utf-8")
        text = text.replace("9092", str(self.port)).replace("9093", str(self.controller_port))
        # After a kill the controller keeps the dead broker's registration for the
        # session timeout (9 s by default) before the restarted one may register.
        extra = f"\nlog.dirs={directory / 'data'}\nbroker.session.timeout.ms=1500\n"
        extra += "broker.heartbeat.interval.ms=300\n"
        self.config.write_text(text + extra, encoding="utf-8")
        self.log = directory / "logs" / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._java = [
            "java",
            "-Xms128m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={directory / 'logs'}",
            "-cp",
            f"{LIBS}/*",
        ]
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            [*self._java, "kafka.tools.StorageTool", "format", "-t", cluster_id]
            + ["-c", str(self.config)],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start (or restart) the broker and wait until it serves."""
        assert self._proc is None, "already running"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        started = (
            self.log.read_text(errors="replace").count("Kafka Server started")
            if (self.log.exists())
            else 0
        )
        with open(self.directory / "stdout.log", "ab") as out:
            self._proc = subprocess.Popen(
                [*self._java, "kafka.Kafka", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"throwaway Kafka exited; see {self.log}")
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if text.count("Kafka Server started") > started and port_open(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"throwaway Kafka not up in {START_TIMEOUT_S:.0f} s; see {self.log}")

    def stop(self) -> None:
        """Kill the broker (SIGKILL) and wait until its port is closed."""
        if self._proc is None:
            return
        os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=30)
        self._proc = None
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
