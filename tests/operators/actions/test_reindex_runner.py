"""The reindex CLI runner, against a stand-in CLI module run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from operators.actions.reindex_runner import ReindexCli, ReindexError, tenant_args

ROOT = Path(__file__).resolve().parents[3]
FAKE = "tests.operators.actions.fake_reindex_cli"


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    # `python -m tests....` from wherever pytest runs.
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str = "ok", **kw) -> ReindexCli:
    monkeypatch.setenv("FAKE_REINDEX", mode)
    monkeypatch.setenv("FAKE_REINDEX_CALLS", str(tmp_path / "calls.jsonl"))
    return ReindexCli(tmp_path / "logs", module=FAKE, **kw)


def calls(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_commands_are_the_reindex_cli_contract(tmp_path: Path) -> None:
    runner = ReindexCli(tmp_path)
    assert runner.plan_command("acme") == [
        sys.executable,
        "-m",
        "flows.reindex",
        "plan",
        "--tenant",
        "acme",
        "--json",
    ]
    assert runner.start_command("acme") == [
        sys.executable,
        "-m",
        "flows.reindex",
        "build",
        "--tenant",
        "acme",
    ]
    assert runner.log_path("acme", "a-1") == tmp_path / "reindex-acme-a-1.log"


def test_a_tenant_that_looks_like_an_option_is_passed_with_an_equals_sign() -> None:
    assert tenant_args("-x") == ["--tenant=-x"]
    assert tenant_args("x-") == ["--tenant", "x-"]


def test_plan_returns_the_printed_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = cli(tmp_path, monkeypatch)
    assert runner.plan("acme") == {"plan": {"tenant": "acme", "segments": 3}}
    assert runner.plan("-dash") == {"plan": {"tenant": "-dash", "segments": 3}}
    assert calls(tmp_path) == [
        ["plan", "--tenant", "acme", "--json"],
        ["plan", "--tenant=-dash", "--json"],
    ]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("fail", "plan exited 3: reindex: no collection for tenant acme"),
        ("text", "plan printed no JSON"),
        ("list", "plan printed JSON that is not an object: [1, 2]"),
    ],
)
def test_a_plan_that_fails_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, error: str
) -> None:
    with pytest.raises(ReindexError, match=error.replace("[", r"\[").replace("]", r"\]")):
        cli(tmp_path, monkeypatch, mode).plan("acme")


def test_a_missing_cli_is_a_reindex_error(tmp_path: Path) -> None:
    runner = ReindexCli(tmp_path, module="tests.operators.actions.no_such_cli")
    with pytest.raises(ReindexError, match="plan exited 1: .*No module named"):
        runner.plan("acme")
    with pytest.raises(ReindexError, match="build exited 1: .*No module named"):
        runner.start("acme", "a-1")
    assert "No module named" in (tmp_path / "reindex-acme-a-1.log").read_text()


def test_a_missing_python_is_a_reindex_error(tmp_path: Path) -> None:
    runner = ReindexCli(tmp_path, python=str(tmp_path / "no-python"))
    with pytest.raises(ReindexError, match="could not run"):
        runner.plan("acme")
    with pytest.raises(ReindexError, match="could not run"):
        runner.start("acme", "a-1")


def test_a_plan_that_hangs_times_out(tmp_path: Path) -> None:
    runner = ReindexCli(
        tmp_path, python=sys.executable, module="this.is.ignored", plan_timeout_s=0.5
    )
    runner.plan_command = lambda tenant: [sys.executable, "-c", "import time; time.sleep(30)"]  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(ReindexError, match="timed out after 0.5 s"):
        runner.plan("acme")
    assert time.monotonic() - started < 10


def test_a_build_that_finishes_at_once_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = cli(tmp_path, monkeypatch)
    detail = runner.start("acme", "a-1")
    assert detail["exit"] == 0 and detail["log"] == str(tmp_path / "logs" / "reindex-acme-a-1.log")
    assert (tmp_path / "logs" / "reindex-acme-a-1.log").read_text() == "building acme\n"
    assert calls(tmp_path) == [["build", "--tenant", "acme"]]


def test_a_long_build_runs_detached_with_its_output_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = cli(tmp_path, monkeypatch, "slow", start_grace_s=0.5)
    detail = runner.start("acme", "a-1")
    try:
        assert "exit" not in detail
        assert os.getpgid(detail["pid"]) == detail["pid"]  # a session of its own
        log = Path(detail["log"])
        deadline = time.monotonic() + 10
        while log.read_text() != "building acme\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.read_text() == "building acme\n"
    finally:
        os.killpg(detail["pid"], signal.SIGKILL)


def test_a_build_that_fails_at_once_says_why_and_a_retry_appends_to_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = cli(tmp_path, monkeypatch, "fail")
    for _ in range(2):
        with pytest.raises(ReindexError, match="build exited 3: reindex: no collection") as info:
            runner.start("acme", "a-1")
        assert "reindex-acme-a-1.log" in str(info.value)
    log = (tmp_path / "logs" / "reindex-acme-a-1.log").read_text()
    assert log.count("no collection for tenant acme") == 2
