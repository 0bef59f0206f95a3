"""Faults a user meets: damaged data, damaged records, Ctrl-C, a results folder that
goes away mid-grid. Each is one line on stderr naming the file or value, exit
status 2 (130 for Ctrl-C), and nothing finished is lost."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistbench import arguments, cli, mnist_files
from mnistbench.bench import results
from tests.factories import run_record

TINY_RUN = ["--batch-size", "128", "--epochs", "2", "--train-subset", "1024", "--device", "cpu"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# --- damaged data ---------------------------------------------------------------------


@pytest.fixture
def data_copy(raw_dir, tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(raw_dir, folder)
    return folder


def flip_deflate_bytes(path: Path):
    raw = bytearray(path.read_bytes())
    raw[100:104] = bytes(b ^ 0xFF for b in raw[100:104])
    path.write_bytes(bytes(raw))


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path):
    path.write_bytes(b"")


def wrong_magic(path: Path):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x0D  # float data instead of unsigned bytes
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))


def wrong_label_counts(path: Path):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8:18] = bytes(10)  # ten labels turned into zeros
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))


@pytest.mark.parametrize("damage, message", [
    (flip_deflate_bytes, "not a readable gzip file"), (truncate, "not a readable gzip file"),
    (empty, "empty file"), (wrong_magic, "bad magic number"), (wrong_label_counts, "label counts"),
])
def test_damaged_data_is_one_line_naming_the_file_and_the_repair(damage, message, data_copy, capsys):
    damaged = data_copy / "train-labels-idx1-ubyte.gz"
    damage(damaged)
    assert cli.main(["fetch-data", "--data-dir", str(data_copy)]) == 2
    err = one_line_error(capsys)
    assert str(damaged) in err and message in err and "fetch-data" in err and "--force" in err
    assert cli.main(["run", "--framework", "jax", "--data-dir", str(data_copy), "--results-dir",
                     str(data_copy.parent / "r"), *TINY_RUN]) == 2
    assert message in one_line_error(capsys)


def test_force_fetches_a_damaged_set_again(data_copy, raw_dir, monkeypatch, capsys):
    def offline(staging):
        raise OSError("no route to the download host")

    def local_copy(staging):
        for name in mnist_files.FILES.values():
            shutil.copyfile(Path(raw_dir) / name, staging / name)

    monkeypatch.setattr(mnist_files, "ROUTES", {"torchvision": offline, "a local copy": local_copy})
    flip_deflate_bytes(data_copy / "t10k-images-idx3-ubyte.gz")
    assert cli.main(["fetch-data", "--data-dir", str(data_copy), "--force"]) == 0
    assert "torchvision failed (no route to the download host)" in capsys.readouterr().err
    mnist_files.load_raw(data_copy)  # whole again
    assert not [p for p in data_copy.iterdir() if p.is_dir()]  # no staging folder left behind


# --- damaged records --------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    ({"test_accuracy": "oops"}, "field 'test_accuracy' is \"oops\""),
    ({"test_accuracy": 1.5}, "field 'test_accuracy' is 1.5"),
    ({"epoch_times_s": [1.0, float("nan"), 1.0]}, "field 'epoch_times_s'"),
    ({"epoch_times_s": [1.0, -2.0, 1.0]}, "field 'epoch_times_s'"),
    ({"batch_size": 6.4}, "field 'batch_size'"),
    ({"valid": "yes"}, "field 'valid'"),
    ({"device": {"kind": "tpu", "name": "x"}}, "field 'device'"),
    ({"schema_version": 99}, "schema version 99, this code reads 1; update mnistbench"),
    ({"epochs": 5}, "3 epoch times for 5 epochs"),
])
def test_damaged_records_are_named_with_their_field(change, message, tmp_path, capsys):
    record = {**run_record("jax", 64), **change}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record))
    assert cli.main(["summary", "--results-dir", str(tmp_path)]) == 2
    err = one_line_error(capsys)
    assert str(path) in err and message in err and ("move the file away" in err or "update mnistbench" in err)


def test_a_record_missing_fields_is_refused(tmp_path, capsys):
    record = run_record("jax", 64)
    del record["test_accuracy"], record["steps_per_epoch"]
    (tmp_path / "run.json").write_text(json.dumps(record))
    assert cli.main(["summary", "--results-dir", str(tmp_path)]) == 2
    assert "missing test_accuracy, steps_per_epoch" in one_line_error(capsys)


def test_run_refuses_a_damaged_destination_before_training(tmp_path, monkeypatch, capsys):
    from mnistbench.bench import run
    from mnistbench.networks.config import Config

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although the record could not be saved")

    monkeypatch.setattr(run, "run_one", must_not_train)
    config = Config(batch_size=128, epochs=2, train_subset=1024)
    destination = tmp_path / results.run_filename("jax", "jit", 128, 0, "cpu", results.config_fingerprint(config))
    destination.write_text("{ damaged")
    assert cli.main(["run", "--framework", "jax", "--results-dir", str(tmp_path), *TINY_RUN]) == 2
    err = one_line_error(capsys)
    assert destination.name in err and "move the file away" in err
    assert destination.read_text() == "{ damaged"


def test_records_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        path = results.save_record(run_record("jax", 64), tmp_path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


# --- Ctrl-C -------------------------------------------------------------------------------


def start(*args, **options):
    return subprocess.Popen([sys.executable, "-m", "mnistbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                            **options)


def test_ctrl_c_in_run_is_one_line_and_saves_nothing(tmp_path):
    child = start("run", "--framework", "torch", "--results-dir", str(tmp_path), "--batch-size", "64", "--epochs",
                  "50", "--train-subset", "8192", "--device", "cpu")
    seen = ""
    while "1/50" not in seen:  # the progress bar (stderr) shows a finished epoch: training is under way
        seen += child.stderr.read(1)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip().splitlines()[-1] == "mnistbench: interrupted: the run did not finish, nothing was saved"
    assert "Traceback" not in seen + err and not list(tmp_path.iterdir())


def test_ctrl_c_in_grid_keeps_finished_runs(tmp_path):
    child = start("grid", "--results-dir", str(tmp_path), "--epochs", "2", "--train-subset", "1024",
                  "--batch-sizes", "128", "--seeds", "0", "1", "2", "--frameworks", "jax", "--device", "cpu",
                  "--quiet", start_new_session=True)
    deadline = time.time() + 240
    while not list(tmp_path.glob("*.json")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGINT)  # like Ctrl-C in a terminal: the grid and its running child
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip().splitlines()[-1].startswith("mnistbench: interrupted: finished runs are saved in")
    kept = results.load_records(tmp_path)
    assert 1 <= len(kept) < 3 and all(r["valid"] for r in kept)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_results_folder_that_goes_away_mid_grid_stops_the_grid(tmp_path):
    folder = tmp_path / "results"
    child = start("grid", "--results-dir", str(folder), "--epochs", "2", "--train-subset", "1024",
                  "--batch-sizes", "128", "--seeds", "0", "1", "--frameworks", "jax", "--device", "cpu", "--quiet")
    deadline = time.time() + 240
    while not list(folder.glob("*.json")) and time.time() < deadline:
        time.sleep(0.05)
    folder.rename(tmp_path / "kept")
    folder.write_text("")  # the folder's path is now a file: the next run cannot save there
    _, err = child.communicate(timeout=240)
    assert child.returncode == 2
    [line] = err.strip().splitlines()
    assert "seed 1 failed" in line and "is a file, not a folder" in line
    assert len(results.load_records(tmp_path / "kept")) == 1


# --- smaller things -----------------------------------------------------------------------


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_gpu_request_without_a_gpu_creates_no_folder(tmp_path, capsys):
    folder = tmp_path / "new"
    assert cli.main(["run", "--framework", "torch", "--device", "gpu", "--results-dir", str(folder)]) == 2
    assert cli.main(["grid", "--device", "gpu", "--results-dir", str(folder)]) == 2
    assert not folder.exists()


def test_summary_of_a_file_says_so(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli.main(["summary", "--results-dir", str(blocker)]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)
    assert cli.main(["summary", "--results-dir", str(tmp_path / "empty")]) == 2
    assert f"grid --results-dir {tmp_path / 'empty'}" in one_line_error(capsys)


def test_tables_say_what_their_numbers_mean_and_mark_smoke_runs():
    from mnistbench.report.tables import summary_text

    text = summary_text([run_record("jax", 64, epoch_times=(2.0,), train_subset=1024)])
    assert "1 epoch," in text and "1 epochs" not in text
    assert "first 1024 training images only (smoke run)" in text
    assert "(range) over seeds" in text and "mean ± standard deviation" in text


def test_run_help_gives_defaults():
    done = subprocess.run([sys.executable, "-m", "mnistbench", "run", "--help"], capture_output=True, text=True)
    assert "examples per step (default: 64)" in done.stdout and "epochs (default: 10)" in done.stdout
    assert "(default: 0)" in done.stdout


def test_single_runs_stay_out_of_the_committed_results():
    args = arguments.build_parser().parse_args(["run", "--framework", "jax"])
    assert args.results_dir == arguments.ADHOC_RESULTS
    ignored = subprocess.run(["git", "check-ignore", "-q", str(arguments.ADHOC_RESULTS / "run.json")],
                             cwd=Path(__file__).resolve().parents[1])
    assert ignored.returncode == 0


def test_a_run_with_a_compilation_cache_gets_its_own_file_beside_the_cold_run(tmp_path):
    from mnistbench.bench import results
    from tests.factories import run_record

    cold = run_record("jax", 64, device_kind="cpu")
    warm = {**cold, "compilation_cache": {"dir": "/tmp/cache", "hits": 3, "misses": 0}}
    assert results.record_filename(warm) == results.record_filename(cold).replace(".json", "-cache.json")
    path = tmp_path / results.record_filename(cold)
    path.write_text(json.dumps(cold))
    fingerprint, version = cold["config_fingerprint"], cold["platform"]["code_version"]
    assert results.is_current(path, fingerprint, version)
    assert not results.is_current(path, fingerprint, version, cached=True)  # a cold run does not stand for a warm one


def test_a_budget_below_the_next_step_says_so_and_offers_one_that_fits(tmp_path, capsys):
    assert cli.main(["campaign", "--device", "cpu", "--quick", "--quiet", "--max-seconds", "1",
                     "--results-dir", str(tmp_path / "study")]) == 0
    out = capsys.readouterr().out
    assert "0 steps done" in out and "more than --max-seconds 1" in out
    budget = float(out.split("continue with: ")[1].split("--max-seconds ")[1].split()[0])
    assert budget > 1
