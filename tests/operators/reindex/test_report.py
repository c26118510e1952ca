"""The reindex's cost report: each worker's totals written at the end of a run, summed."""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from operators.reindex.copy import Copied
from operators.reindex.report import FIELDS, CostReport, read_reports

PAGES = [
    ("acme#0/2", Copied(segments=10, stored=8, stale=1, rejected=1, tokens=400)),
    ("acme#1/2", Copied(segments=5, stored=5, stale=0, rejected=0, tokens=150)),
    ("acme#0/2", Copied(segments=3, stored=2, stale=1, rejected=0, tokens=90)),
    ("globex", Copied(segments=0, stored=0, stale=0, rejected=0, tokens=0)),
]


def report_flow(prefix: str | None) -> Dataflow:
    flow = Dataflow("report")
    op.output("report", op.input("in", flow, TestingSource(PAGES)), CostReport(prefix))
    return flow


def test_the_reports_sum_the_totals_and_the_segments_of_each_shard(
    tmp_path: Path, entry_point
) -> None:
    entry_point(report_flow(str(tmp_path / "reports" / "cost")))
    assert read_reports(tmp_path / "reports") == {
        "segments": 18,
        "stored": 15,
        "stale": 2,
        "rejected": 1,
        "tokens": 640,
        "shards": {"acme#0/2": 13, "acme#1/2": 5, "globex": 0},
    }


def test_each_worker_writes_its_own_report(tmp_path: Path) -> None:
    report = CostReport(str(tmp_path / "cost"))
    for worker in range(2):
        sink = report.build("report", worker, 2)
        sink.write_batch(PAGES[worker::2])
        sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cost.0.json", "cost.1.json"]
    assert orjson.loads((tmp_path / "cost.1.json").read_bytes())["shards"] == {
        "acme#1/2": 5,
        "globex": 0,
    }
    assert read_reports(tmp_path)["segments"] == 18


def test_without_a_prefix_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_main(report_flow(None))
    assert list(tmp_path.iterdir()) == []


def test_no_reports_sum_to_zero(tmp_path: Path) -> None:
    assert read_reports(tmp_path) == {**dict.fromkeys(FIELDS, 0), "shards": {}}


@pytest.mark.parametrize("missing", FIELDS)
def test_a_report_without_a_field_counts_it_as_zero(tmp_path: Path, missing: str) -> None:
    report = {name: 1 for name in FIELDS if name != missing}
    (tmp_path / "cost.0.json").write_bytes(orjson.dumps(report))
    totals = read_reports(tmp_path)
    assert totals[missing] == 0
    assert totals["shards"] == {}
