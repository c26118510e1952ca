"""Real records for the schema tests: the ingest flow's outputs and the detectors' alerts."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tests.schemas.records import SAMPLE


@pytest.fixture(scope="session")
def ingest_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ingest flow's file outputs for the bundled sample."""
    from bytewax.testing import run_main

    from flows.ingest import build

    tmp = tmp_path_factory.mktemp("ingest")
    out = tmp / "out"
    run_main(
        build(
            source=f"file:{SAMPLE}",
            sink=f"file:{out}",
            archive_dir=str(tmp / "archive"),
            metrics_port=0,
        )
    )
    return out


@pytest.fixture(scope="session")
def drift_alerts() -> list:
    """Alerts of every signal, raised by `TenantDrift` on the drift tests' streams."""
    from operators.drift.detectors import TenantDrift
    from tests.operators.drift.test_detectors import (
        CENTERS,
        CONFIG,
        TOXIC,
        bot_stream,
        embedding_events,
        feedback,
        message,
        run_bots,
        run_users,
        unit_vectors,
    )

    refusals = bot_stream(4, [(800, 0.02), (400, 0.15)])
    toxic = bot_stream(5, [(800, 0.0), (400, 0.10)], text=TOXIC, start=len(refusals))
    alerts = run_bots(TenantDrift("acme", CONFIG), refusals + toxic)
    alerts += run_users(TenantDrift("acme", CONFIG), embedding_events(7, 600, 300))

    rng = random.Random(13)
    drift = TenantDrift("acme", CONFIG)
    scores = [1.0 if rng.random() < (0.8 if i < 1000 else 0.55) else 0.0 for i in range(1500)]
    alerts += [a for i, s in enumerate(scores) for a in drift.on_feedback(feedback(i, s))]

    # Data drift: pasted order details make messages longer after 1,500.
    rng, drift = random.Random(3), TenantDrift("globex", CONFIG)
    vectors = unit_vectors(3, 2500, CENTERS[0])
    long = (
        "Đơn hàng #12345 gồm 3 áo thun màu đen size L, giao tới 12 Nguyễn Huệ, quận 1, "
        "thanh toán khi nhận hàng ạ"
    )
    for i in range(2500):
        text = long if i >= 1500 and rng.random() < 0.5 else "Shop ơi còn hàng không ạ"
        alerts += drift.on_user_message(
            message(i, "user", text, tenant="globex"), np.asarray(vectors[i])
        )
    return alerts
