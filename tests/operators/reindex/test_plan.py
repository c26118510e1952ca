"""A reindex's plan: CPU-hours and wall time from the measured rate, and how it is shown."""

from __future__ import annotations

import orjson
import pytest

from operators.reindex.plan import Plan


def plan(**changes: object) -> Plan:
    fields: dict[str, object] = {
        "source": "ChatSegment_aaa111",
        "target": "ChatSegment_bbb222",
        "model_version": "bbb222",
        "tenants": {"acme": 1_000, "globex": 234},
        "segments": 1_234,
        "tokens": 98_765,
        "segments_per_s": 50.0,
        "cpu_s_per_segment": 0.036,
        "processes": 2,
        **changes,
    }
    return Plan(**fields)


def test_cpu_hours_are_segments_times_cpu_time_each() -> None:
    assert plan().cpu_hours == pytest.approx(1_234 * 0.036 / 3600)
    assert plan(segments=0).cpu_hours == 0


def test_wall_time_divides_the_segments_among_the_processes() -> None:
    assert plan().wall_s == pytest.approx(1_234 / 100)
    assert plan(processes=1).wall_s == pytest.approx(1_234 / 50)


def test_wall_time_is_zero_without_a_measured_rate() -> None:
    assert plan(segments_per_s=0.0).wall_s == 0.0
    assert plan(processes=0).wall_s == 0.0


def test_to_dict_is_json_with_the_derived_figures() -> None:
    decoded = orjson.loads(orjson.dumps(plan().to_dict()))
    assert decoded["tenants"] == {"acme": 1_000, "globex": 234}
    assert decoded["segments"] == 1_234
    assert decoded["cpu_hours"] == pytest.approx(plan().cpu_hours)
    assert decoded["wall_s"] == pytest.approx(plan().wall_s)


def test_describe_names_segments_tenants_tokens_and_cpu_hours() -> None:
    text = plan().describe()
    assert "1,234 segments of 2 tenants" in text
    assert "~98,765 tokens" in text
    assert "ChatSegment_aaa111 -> ChatSegment_bbb222 (model bbb222)" in text
    assert "~0.012 CPU-hours" in text
    assert "36.0 CPU-ms a segment" in text
    assert "~12 s with 2 process(es)" in text
