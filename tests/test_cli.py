import subprocess
import sys

import pytest

from mnistbench import cli
from mnistbench.bench import results


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "mnistbench", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "JAX_PLATFORMS": "cpu"})


@pytest.mark.parametrize("args, message", [
    (["run", "--framework", "jax", "--batch-size", "0"], "must be at least 1"),
    (["run", "--framework", "jax", "--batch-size", "-5"], "must be at least 1"),
    (["run", "--framework", "jax", "--batch-size", "abc"], "not a whole number"),
    (["run", "--framework", "mxnet"], "invalid choice"),
    (["run", "--framework", "jax", "--batch-size", "60000"], "larger than the 50,000 training images"),
    (["grid", "--batch-sizes", "64", "0"], "must be at least 1"),
    (["run", "--framework", "torch", "--seed", "-1"], "must not be negative"),
    (["summary", "--results-dir", "/nonexistent/folder"], "no result records"),
    (["grid", "--train-subset", "100", "--batch-sizes", "256"], "batch size 256 is larger than the 100 training"),
    (["run", "--framework", "jax", "--momentum", "1.5"], "must be in [0, 1)"),
    (["run", "--framework", "jax", "--learning-rate", "nan"], "must be a positive float32 number"),
    (["run", "--framework", "torch", "--learning-rate", "1e300"], "must be a positive float32 number"),
    (["run", "--framework", "jax", "--learning-rate", "-1"], "learning rate -1.0 must be a positive"),
    (["run", "--framework", "jax", "--data-dir", "/proc/no/such/place"], "cannot be created"),
    (["evidence", "precision"], "invalid choice"),
    (["run", "--framework", "torch", "--variant", "scan"], "torch has no variant 'scan'"),
    (["run", "--framework", "torch", "--variant", "cudagraph", "--device", "cpu"], "needs a GPU"),
    (["grid", "--variants", "warp", "--device", "cpu"], "has a variant 'warp'"),
    (["grid", "--variants", "cudagraph", "--device", "cpu"], "needs a GPU"),
    (["campaign", "--device", "cpu"], "required: --results-dir"),
    (["campaign", "--device", "cpu", "--results-dir", "x", "--max-seconds", "-5"], "positive number of seconds"),
    (["frobnicate"], "invalid choice"),
    (["run", "--framwork", "jax"], "unknown option --framwork (did you mean --framework?)"),
    (["campaign", "--results-dir", "x", "--devise", "cpu"], "unknown option --devise (did you mean --device?)"),
    (["run", "--framework", "jax", "--batchsize", "3"], "unrecognized arguments: --batchsize 3"),
    (["run", "--framework", "jax", "--train-subset", "999999"], "more than the 50,000 training images"),
    (["run", "--framework", "jax", "--device", "cpu", "--precision", "tf32"], "a mode of NVIDIA GPUs"),
    (["grid", "--device", "cpu", "--precision", "tf32"], "a mode of NVIDIA GPUs"),
    (["run", "--framework", "jax", "--compilation-cache", __file__], "is a file, not a folder"),
    (["campaign", "--device", "cpu", "--quick", "--dry-run", "--results-dir", __file__], "is a file, not a folder"),
])
def test_user_errors_are_one_line_and_status_2(args, message, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_mistyped_command_is_offered_the_public_commands_only(capsys):
    assert cli.main(["summery"]) == 2
    err = capsys.readouterr().err
    assert "'summary'" in err and "session" not in err  # `session` is the grid's and campaign's child


def test_results_folder_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["run", "--framework", "jax", "--results-dir", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert cli.main(["fetch-data", "--data-dir", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_gpu_on_a_cpu_machine_is_one_line():
    done = run_cli("run", "--framework", "torch", "--device", "gpu", "--epochs", "1", "--train-subset", "256")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["mnistbench: error: --device gpu: torch sees no GPU on this machine"]


def test_help_lists_the_commands():
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("run", "grid", "summary", "evidence", "fetch-data"):
        assert command in done.stdout


def test_grid_runs_resumes_and_summarizes(tmp_path):
    common = ["--results-dir", str(tmp_path), "--quick", "--seeds", "0", "--batch-sizes", "256",
              "--train-subset", "1024", "--device", "cpu"]
    first = run_cli("grid", *common)
    assert first.returncode == 0, first.stderr
    assert "2 to do" in first.stderr and "JAX" in first.stdout and "PyTorch" in first.stdout
    records = results.load_records(tmp_path)
    assert sorted(r["framework"] for r in records) == ["jax", "torch"]
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}

    again = run_cli("grid", *common)
    assert again.returncode == 0 and "2 already recorded, 0 to do" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")} == mtimes

    forced = run_cli("grid", *common, "--force", "--frameworks", "jax")
    assert "1 to do" in forced.stderr

    summary = run_cli("summary", "--results-dir", str(tmp_path))
    assert summary.returncode == 0 and "256" in summary.stdout


def test_a_run_with_the_settings_of_a_recorded_one_says_it_replaced_it(raw_dir, tmp_path):
    args = ("run", "--framework", "jax", "--epochs", "1", "--train-subset", "256", "--device", "cpu", "--quiet",
            "--data-dir", str(raw_dir), "--results-dir", str(tmp_path))
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "replaced" not in first.stdout and "(it replaced the earlier run of these settings)" in second.stdout
    assert len(list(tmp_path.glob("run-*.json"))) == 1
