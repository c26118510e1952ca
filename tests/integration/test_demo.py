"""`make run`'s demo end to end on the bundled sample: it indexes into the real Weaviate
and answers a Vietnamese question from an English conversation and one typed without
diacritics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def answers(output: str, question: str) -> str:
    """The hits printed under `question`, up to the next question."""
    after = output.split(question, 1)[1]
    return after.split("\nQ (", 1)[0]


def test_the_demo_answers_across_languages_and_without_diacritics(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HEADWATER_SINK": f"file:{tmp_path}",
        "HEADWATER_METRICS_PORT": "0",
        "COLUMNS": "200",
    }
    env.pop("HEADWATER_SOURCE", None)
    done = subprocess.run(
        [sys.executable, "-m", "flows.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = done.stdout
    assert "accepted messages" in out and "3,340" in out
    across = answers(out, "Tôi muốn đổi địa chỉ nhận hàng").splitlines()
    first_hit = next(i for i, line in enumerate(across) if line.lstrip().startswith("score"))
    assert "shipping address" in across[first_hit + 1]  # written in English
    unmarked = answers(out, "shop oi doi size ao duoc khong").splitlines()
    first_hit = next(i for i, line in enumerate(unmarked) if line.lstrip().startswith("score"))
    assert "Đổi size áo" in unmarked[first_hit + 1]
