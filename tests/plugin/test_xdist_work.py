"""Under xdist the workers split a cold suite's two models between them and share the cores."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

# Loaded by every worker: records which side each worker predicted first, and its thread setting.
SPY = """
import json, os
from muscle_guard.pytest_plugin import session

real = session.MuscleSession.predict

def predict(self, side, suite):
    result = real(self, side, suite)
    with open(f"order-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl", "a") as log:
        log.write(json.dumps({"side": side, "computed": result.computed, "omp": os.environ.get("OMP_NUM_THREADS")}))
        log.write("\\n")
    return result

session.MuscleSession.predict = predict
"""


def test_two_workers_each_compute_one_model_of_a_cold_suite_with_half_the_cores(project: Project) -> None:
    # The two fake models must differ, or they share one fingerprint and so one cache file.
    project.suite("capitals", **{f"q{i}": "positive_flip" if i % 2 else "both_right" for i in range(40)})
    project.write("conftest.py", SPY)

    run = project.run("-n", "2", "--muscle-cache-dir=cache")

    assert run.ret == pytest.ExitCode.OK
    logs = {
        w: [json.loads(x) for x in (project.path / f"order-{w}.jsonl").read_text().splitlines()] for w in ("gw0", "gw1")
    }
    assert [e["side"] for e in logs["gw0"]] == ["old", "new"]
    assert [e["side"] for e in logs["gw1"]] == ["new", "old"]
    # Each side computed once in all: by the worker that started with it; the other read it from the cache.
    assert sorted(e["computed"] for log in logs.values() for e in log) == [0, 0, 40, 40]
    expected = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // 2))
    assert {e["omp"] for log in logs.values() for e in log} == {expected}
