"""The one command for a short GPU loan, tried end to end in its CPU mode (a small plan)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnistbench.bench import results

ROOT = Path(__file__).resolve().parents[1]


def gpu_study(results_dir, data_dir, max_seconds="15", **env):
    return subprocess.run(["bash", "scripts/gpu-study.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "QUICK": "1",
                               "RESULTS": str(results_dir), "DATA": str(data_dir), "MAX_SECONDS": max_seconds,
                               **env})


@pytest.mark.slow
def test_the_loan_command_measures_within_its_budget_and_continues(raw_dir, tmp_path):
    first = gpu_study(tmp_path / "study", raw_dir)
    assert first.returncode == 0, first.stderr
    assert "continue with: python -m mnistbench campaign --device cpu" in first.stdout
    done = len(results.load_records(tmp_path / "study", kind=None))
    assert done >= 1
    [log] = (tmp_path / "study" / "logs").glob("*.log")  # what the call printed, kept with the records
    assert "campaign:" in log.read_text()
    # the second call gets room for its next step even on a loaded machine (15 s left it none once in CI)
    second = gpu_study(tmp_path / "study", raw_dir, max_seconds="60")
    assert second.returncode == 0, second.stderr
    assert len(results.load_records(tmp_path / "study", kind=None)) > done  # it went on where it stopped


def test_the_loan_command_checks_its_data_and_budget_before_anything_else(tmp_path):
    empty = gpu_study(tmp_path / "study", tmp_path / "no-data")
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines()[-1].startswith("mnistbench: error: ")
    assert "train-images-idx3-ubyte.gz: missing" in empty.stderr
    bad = gpu_study(tmp_path / "study", tmp_path / "no-data", max_seconds="nine minutes")
    assert bad.returncode == 2 and "MAX_SECONDS must be a whole number" in bad.stderr
    assert not results.load_records(tmp_path / "study", kind=None)


def test_the_gpu_only_tests_the_loan_command_runs_exist():
    """The script names a test file and a selection; both must still select the CUDA-graph tests
    (a moved file would make a GPU loan stop before timing anything)."""
    import re

    script = (ROOT / "scripts" / "gpu-study.sh").read_text()
    path, selection = re.search(r"pytest -q -p no:cacheprovider (\S+) -k (\S+)", script).groups()
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", path,
                          "-k", selection], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "test_every_gpu_variant_matches_its_default[torch-cudagraph]" in out.stdout


def test_the_loan_command_without_a_gpu_stops_before_its_tests(raw_dir, tmp_path):
    """DEVICE=gpu where the frameworks see none: one line, exit 2, and the GPU-only tests not marked as passed
    (skipped tests would otherwise count as passed for this code version)."""
    from mnistbench import devices

    if devices.resolve("auto", ("jax", "torch")) == "gpu":
        pytest.skip("this machine has a GPU")
    out = gpu_study(tmp_path / "study", raw_dir, DEVICE="gpu")
    assert out.returncode == 2 and "do not both see a GPU here" in out.stderr
    assert not list((tmp_path / "study" / "logs").glob("gpu-tests-passed-*"))
