"""The actions flow with a reindex runner that records its calls in a JSONL file, for the
integration tests, which run it in another process:

    python -m bytewax.run "tests.integration.actions_flow:build(recording='calls.jsonl', \
        actions_source='kafka:<topic>', actions_audit_path='audit.jsonl')"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bytewax.dataflow import Dataflow

from flows import actions
from tests.operators.actions.fakes import RecordingRunner


def build(recording: str, **overrides: Any) -> Dataflow:
    return actions.build(runner=RecordingRunner(Path(recording)), **overrides)
