"""The drift steps as a dataflow: alerts for a drifting tenant, none for a steady one."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import bytewax.operators as op
import numpy as np
import orjson
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import REGISTRY

from flows.drift import drift, drift_config, read_inputs, write_alerts
from flows.settings import Settings
from operators.common.embed_batch import Embedded
from operators.drift.detectors import TenantDrift
from operators.drift.step import parse_record
from schemas.alert import DriftAlert
from schemas.message import ChatMessage, Feedback

T0 = 1_714_532_400_000
SETTINGS = Settings(drift_reference_size=100, drift_window_size=50, metrics_port=0)


class TopicEmbedder:
    """Deterministic vectors: texts about banking lie around another centre than the rest."""

    version = "topic-test"

    def __init__(self) -> None:
        self.centres = np.random.default_rng(0).normal(size=(2, 32))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            noise = np.random.default_rng(zlib.crc32(text.encode())).normal(scale=1.5, size=32)
            row = self.centres[1 if "bank" in text else 0] + noise
            rows.append(row / np.linalg.norm(row))
        return np.array(rows, dtype=np.float32)


def scenario(
    tenant: str, seed: int, drifting: bool, n: int = 500, change: int = 300
) -> tuple[list[ChatMessage], list[Feedback]]:
    rng = random.Random(seed)
    messages, feedback = [], []
    for i in range(n):
        after = drifting and i >= change
        topic = "bank card late" if after and rng.random() < 0.5 else "shop order late"
        refused = rng.random() < (0.2 if after else 0.02)
        for k, (role, text) in enumerate(
            (
                ("user", f"{topic} #{rng.randrange(10**6)}"),
                ("bot", "Xin lỗi, em không thể hỗ trợ yêu cầu này" if refused else f"Dạ đơn {i} ạ"),
            )
        ):
            mid = f"webhook:{tenant}-{i}-{k}"
            messages.append(
                ChatMessage(
                    message_id=mid,
                    idempotency_key=mid,
                    tenant=tenant,
                    source="webhook",
                    platform="webhook",
                    conversation_id=f"c-{i % 13}",
                    sender_id="u",
                    role=role,
                    text=text,
                    language="vi",
                    event_ms=T0 + i * 2000 + k,
                    received_at=T0 + i * 2000,
                )
            )
        score = 1.0 if rng.random() < (0.5 if after else 0.8) else 0.0
        feedback.append(
            Feedback(
                feedback_id=f"f-{tenant}-{i}",
                tenant=tenant,
                source="webhook",
                platform="webhook",
                message_id=f"webhook:{tenant}-{i}-1",
                conversation_id=f"c-{i % 13}",
                score=score,
                event_ms=T0 + i * 2000 + 1500,
                received_at=T0 + i * 2000,
            )
        )
    return messages, feedback


def expected_alerts(messages: list[ChatMessage], feedback: list[Feedback]) -> list[bytes]:
    """What the detectors give when called directly, in order."""
    embedder, states = TopicEmbedder(), {}
    config = drift_config(SETTINGS, embedder.version)
    out = []
    for m in messages:
        state = states.setdefault(m.tenant, TenantDrift(m.tenant, config))
        if m.role == "user":
            out += state.on_user_message(m, embedder.embed_passages([m.text])[0])
        elif m.role == "bot":
            out += state.on_bot_message(m)
    for f in feedback:
        out += states.setdefault(f.tenant, TenantDrift(f.tenant, config)).on_feedback(f)
    return sorted(a.to_json() for a in out)


def sample(name: str, tenant: str | None = None, default: float | None = None) -> float:
    value = REGISTRY.get_sample_value(name, {"tenant": tenant} if tenant else {})
    if value is None:
        assert default is not None, f"no sample {name} for {tenant}"
        return default
    return value


DRIFTING = scenario("drifting", 1, True)
STEADY = scenario("steady", 2, False)
MESSAGES = [m for pair in zip(DRIFTING[0], STEADY[0], strict=True) for m in pair]
FEEDBACK = [f for pair in zip(DRIFTING[1], STEADY[1], strict=True) for f in pair]


def test_drift_alerts_the_drifting_tenant_only(entry_point) -> None:
    flow = Dataflow("drift_test")
    messages = op.input("messages", flow, TestingSource(MESSAGES))
    feedback = op.input("feedback", flow, TestingSource(FEEDBACK))
    out: list[DriftAlert] = []
    op.output(
        "out", drift(flow, messages, feedback, SETTINGS, embedder=TopicEmbedder()), TestingSink(out)
    )
    entry_point(flow)

    assert sorted((a.tenant, a.signal, a.action) for a in out) == [
        ("drifting", "accuracy", "retrain"),
        ("drifting", "embedding", "reindex"),
        ("drifting", "refusal", "retrain"),
    ]
    assert all(a.model_version == "topic-test" for a in out)
    assert sorted(a.to_json() for a in out) == expected_alerts(MESSAGES, FEEDBACK)


def test_files_in_alerts_file_out_and_bad_lines_are_counted(tmp_path: Path) -> None:
    source, sink = tmp_path / "ingest_out", tmp_path / "alerts_out"
    source.mkdir()
    lines = [m.to_json() for m in MESSAGES]
    lines.insert(5, b'{"not": "a message"}')
    lines.insert(9, b"not json at all")
    (source / "messages.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (source / "feedback.jsonl").write_bytes(b"\n".join(f.to_json() for f in FEEDBACK) + b"\n")
    settings = SETTINGS.model_copy(
        update={"drift_source": f"file:{source}", "drift_sink": f"file:{sink}"}
    )
    before = sample("headwater_drift_unparseable_total", default=0.0)

    flow = Dataflow("drift_files")
    messages, feedback = read_inputs(flow, settings)
    write_alerts(
        drift(flow, messages, feedback, settings, embedder=TopicEmbedder()),
        settings,
        default_sink="kafka",
    )
    run_main(flow)

    written = (sink / "alerts.jsonl").read_bytes().splitlines()
    assert sorted(written) == expected_alerts(MESSAGES, FEEDBACK)
    assert {orjson.loads(line)["tenant"] for line in written} == {"drifting"}
    assert sample("headwater_drift_unparseable_total") - before == 2


def test_gauges_and_counters_are_labelled_by_tenant() -> None:
    flow = Dataflow("drift_metrics")
    messages = op.input("messages", flow, TestingSource(MESSAGES))
    feedback = op.input("feedback", flow, TestingSource(FEEDBACK))
    op.output(
        "out", drift(flow, messages, feedback, SETTINGS, embedder=TopicEmbedder()), TestingSink([])
    )
    reindex_before = sample("reindex_events_total", "drifting", default=0.0)
    run_main(flow)
    assert sample("reindex_events_total", "drifting") == reindex_before + 1
    assert sample("refusal_rate", "drifting") > 0.05
    assert sample("refusal_rate", "steady") < 0.05
    assert sample("embedding_drift_score", "drifting") > sample("embedding_drift_score", "steady")
    assert 0.3 < sample("recent_accuracy", "drifting") < 0.7


def test_parse_record_tells_messages_feedback_and_junk_apart() -> None:
    assert isinstance(parse_record(MESSAGES[0].to_json()), ChatMessage)
    assert isinstance(parse_record(FEEDBACK[0].to_json()), Feedback)
    for junk in (b"", None, b"[1, 2]", b"{", b'{"feedback_id": "f"}', b'{"text": "hi"}'):
        assert parse_record(junk) is None


def test_user_messages_reach_the_step_with_their_vectors() -> None:
    embedder = TopicEmbedder()
    pairs = [
        Embedded(m, embedder.embed_passages([m.text])[0]) for m in MESSAGES[:4] if m.role == "user"
    ]
    assert all(p.vector.shape == (32,) for p in pairs)
