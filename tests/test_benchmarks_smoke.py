"""The benchmark harness runs end to end (``--quick``): scratch demo database, a workload, the table
and the JSON. Its figures are not checked here — speed is measured by ``make bench``, never
asserted in tests — only that each result carries both sides and a ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spatial.config import PROJECT_ROOT
from tests.conftest import TEST_CLUSTER


def test_the_harness_runs_a_workload_against_its_baseline(test_server_state, tmp_path) -> None:
    if os.environ.get("ONEMAP_TEST_DATABASE_URL"):
        pytest.skip("the harness makes its scratch database in an embedded cluster, not in an external server")
    output = tmp_path / "bench.json"
    env = {**os.environ, "ONEMAP_PG_DATA": str(TEST_CLUSTER)}
    env.pop("ONEMAP_DATABASE_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "point_lookup", "--output", str(output)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "point_lookup" in run.stdout
    results = json.loads(output.read_text())["results"]
    workloads = {r["workload"] for r in results}
    assert {"demo_load", "point_lookup"} <= workloads
    for result in results:
        assert result["ours"]["value"] > 0 and result["baseline"]["value"] > 0, result
        assert result["baseline_name"], result
