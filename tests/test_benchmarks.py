"""The benchmark script runs (tiny sizes, nothing written); its timings are not asserted: benchmarks, not tests."""

import subprocess
import sys

from conftest import ROOT


def test_benchmark_script_runs_and_reports_a_ratio():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plan_pipeline.py"), "--sizes", "3",
                             "--repeat", "1", "--no-write"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| 3 |"))
    assert len(row.split("|")) == 10
