import json
import os
import time

import pytest

from mnistbench import devices
from mnistbench.bench import results, run, session
from mnistbench.bench.process import RunError
from mnistbench.errors import UserError
from mnistbench.networks.config import Config

TINY = Config(layer_sizes=(784, 64, 10), batch_size=128, epochs=2, train_subset=2048)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_a_tiny_run_gives_a_complete_record(framework, tmp_path):
    record = run.run_one(framework, TINY, device="cpu", log=lambda _: None)
    path = results.save_record(record, tmp_path)
    [loaded] = results.load_records(tmp_path)
    assert loaded["framework"] == framework and loaded["device"]["kind"] == "cpu"
    assert len(loaded["epoch_times_s"]) == 2 and loaded["first_epoch_s"] == loaded["epoch_times_s"][0]
    assert loaded["steady_epoch_s"] == loaded["epoch_times_s"][1]
    assert all(0 <= a <= 1 for a in loaded["val_accuracy"]) and 0 <= loaded["test_accuracy"] <= 1
    assert loaded["steps_per_epoch"] == 2048 // 128
    assert loaded["valid"] is True and loaded["fraction_of_peak"] > 0
    for key in ("python", "jax", "torch", "numpy", "code_version"):
        assert loaded["platform"][key]
    if framework == "jax":
        # one compilation, in the first epoch: the partial batch is dropped, nothing recompiles
        assert loaded["compile_count_per_epoch"] == [1, 0]
        assert loaded["compile_total_s"] == pytest.approx(sum(loaded["compile_split"].values()))
        assert loaded["compile_total_s"] < loaded["first_epoch_s"]
    else:
        assert loaded["compile_total_s"] is None and loaded["compile_count"] is None
    json.dumps(loaded)  # plain JSON all the way down
    assert path.exists()


def test_diverging_run_stops_with_a_clear_error():
    with pytest.raises(RunError, match="diverged"):
        run.run_one("jax", TINY.replace(learning_rate=1e6, epochs=1), device="cpu", log=lambda _: None)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_gpu_request_without_gpu_is_refused():
    with pytest.raises(UserError, match="--device gpu: jax and torch see no GPU"):
        devices.resolve("gpu", ("jax", "torch"))
    assert devices.resolve("auto", ("jax", "torch")) == "cpu"


def test_each_run_is_a_fresh_process(tmp_path):
    seen_epochs = []
    paths = [session.run_in_fresh_process("jax", TINY.replace(seed=seed), "cpu", tmp_path,
                                             on_epoch=lambda e, acc: seen_epochs.append(e))
             for seed in (0, 1)]
    pids = {results.read_record(p)["process_id"] for p in paths}
    assert len(pids) == 2 and os.getpid() not in pids
    assert seen_epochs == [1, 2, 1, 2]
    # a cold start each time: both runs compiled their step
    assert all(results.read_record(p)["compile_count_per_epoch"][0] == 1 for p in paths)


def test_a_session_trains_several_runs_in_one_process_and_only_the_first_is_a_cold_start(tmp_path):
    runs = [session.Run("jax", "jit", TINY, profile=True), session.Run("jax", "scan", TINY),
            session.Run("jax", "jit", TINY.replace(seed=1))]
    seen = []
    paths = session.run_session_in_fresh_process(runs, "cpu", tmp_path, on_record=seen.append)
    records = [results.read_record(p) for p in paths]
    assert seen == paths and len({r["process_id"] for r in records}) == 1
    assert [r["cold_start"] for r in records] == [True, False, False]
    assert [r["runs_before_in_process"] for r in records] == [0, 1, 2]
    assert records[0]["wall_s"] > records[0]["run_wall_s"]  # the first run carries the process's imports
    assert records[2]["compile_count_per_epoch"] == [0, 0]  # the same program again: compiled once a process
    assert records[0]["profile"]["calls_per_step"] == 1 and records[1]["profile"] is None
    assert all(len(r["host_epoch_times_s"]) == r["epochs"] for r in records)
    assert {r["peak_matmul_flops"] for r in records} == {records[0]["peak_matmul_flops"]}  # probed once


def test_a_failing_session_names_its_run_and_keeps_the_runs_before_it(tmp_path):
    runs = [session.Run("jax", "jit", TINY), session.Run("jax", "jit", TINY.replace(learning_rate=1e6, seed=1))]
    with pytest.raises(RunError, match="jax jit batch 128 seed 1 failed: .*diverged"):
        session.run_session_in_fresh_process(runs, "cpu", tmp_path)
    assert [r["seed"] for r in results.load_records(tmp_path)] == [0]


def test_grid_order_is_balanced():
    plan = session.grid_configs(Config(), ["jax", "torch"], [64, 256], [0, 1])
    assert [(fw, v, c.batch_size, c.seed) for fw, v, c in plan[:4]] == [
        ("jax", "jit", 64, 0), ("torch", "eager", 64, 0), ("jax", "jit", 256, 0), ("torch", "eager", 256, 0)]
    assert len(plan) == 8
    variants = session.grid_configs(Config(), ["jax", "torch"], [64], [0], ["eager", "scan"])
    assert [(fw, v) for fw, v, _ in variants] == [("jax", "eager"), ("jax", "scan"), ("torch", "eager")]


class AsyncTrainer:
    """A trainer whose work finishes only at ``sync`` (like queued GPU kernels)."""

    n_train = 256

    def __init__(self, seconds_per_epoch: float):
        self.seconds, self.synced = seconds_per_epoch, []

    def start_epoch(self, order):
        self.order = order

    def run_epoch(self, max_steps=None):
        pass  # dispatch only: returns at once

    def sync(self):
        time.sleep(self.seconds)
        self.synced.append(True)

    def epoch_loss(self):
        return 1.0

    def evaluate(self, split):
        return 1.0, 0.5


def test_each_epoch_clock_includes_the_wait_for_the_queued_work():
    trainer = AsyncTrainer(seconds_per_epoch=0.05)
    history = run.train_and_time(trainer, Config(epochs=3))
    assert len(trainer.synced) == 3
    assert all(t >= 0.05 for t in history["epoch_times_s"])
    assert history["test_accuracy"] == 0.5 and len(history["val_times_s"]) == 3


def test_auto_is_the_gpu_only_where_every_framework_of_the_command_sees_one(monkeypatch, tmp_path):
    """PyTorch with CUDA beside a CPU-only JAX: 'auto' meant the GPU to `grid` (it asked PyTorch) and
    its JAX child failed; now the grid trains both on the CPU, and `--device gpu` names JAX."""
    import torch

    from mnistbench import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # JAX's probe still answers: no GPU
    assert devices.resolve("auto", ("torch",)) == "gpu"
    assert devices.resolve("auto", ("jax", "torch")) == "cpu"
    with pytest.raises(UserError, match="jax sees no GPU"):
        devices.resolve("gpu", ("jax", "torch"))
    asked = []
    monkeypatch.setattr(session, "run_in_fresh_process", lambda fw, config, device, *a, **k: asked.append(device))
    cli.main(["grid", "--results-dir", str(tmp_path), "--quick", "--seeds", "0", "--batch-sizes", "64", "--quiet"])
    assert asked == ["cpu", "cpu"]


def test_a_clock_that_reads_too_fast_gives_an_invalid_record_that_the_campaign_measures_again(tmp_path, monkeypatch):
    """End to end: a clock that reads a thousand times too fast puts every epoch below the physical
    floor; the record says the run is invalid and why; the campaign counts the run as not done."""
    from mnistbench.bench import campaign, results, timing
    from mnistbench.provenance import code_version

    step = next(s for s in campaign.plan("cpu", True, tmp_path) if s.kind == "session")
    [planned] = step.runs
    real = timing.timed_epoch
    monkeypatch.setattr(timing, "timed_epoch", lambda *a, **k: tuple(t / 1000 for t in real(*a, **k)))
    record = run.run_one(planned.framework, planned.config, "cpu", variant=planned.variant, log=lambda _: None)
    assert record["valid"] is False and "below the physical floor" in record["invalid_reasons"][0]
    results.save_record(record, tmp_path)
    assert campaign.runs_to_do(step, "cpu", code_version()) == step.runs


def test_every_epoch_says_when_it_ended_since_the_process_began():
    record = run.run_one("jax", TINY, device="cpu", log=lambda _: None)
    elapsed = record["elapsed_s"]
    assert len(elapsed) == TINY.epochs and all(a < b for a, b in zip(elapsed, elapsed[1:]))
    assert elapsed[-1] >= sum(record["epoch_times_s"]) + sum(record["val_times_s"])
