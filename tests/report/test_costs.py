"""Where a step's time goes, from synthetic cost-split records with a known fixed and per-sample
cost; JAX eager's step taken apart; the time to an accuracy from the grid's runs."""

import numpy as np
import pytest

from mnistbench.report import costs


def side(variant, a, c, sizes=(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096), noise=0.02, curve=0.0, seed=0,
         processes=2, **extra):
    rng = np.random.default_rng(seed)
    return {"variant": variant, "processes": [{"matmul_peak_flops": 1e11, "flops_per_sample": 9.5e6, "sizes": [
        {"batch_size": b, "step_s": [(a + c * b) * (1 + curve * np.log2(b) ** 2 / 100) * np.exp(rng.normal(0, noise))
                                     for _ in range(3)], **{k: v(b) for k, v in extra.items()}} for b in sizes]}
        for _ in range(processes)]}


def test_the_fit_recovers_a_known_fixed_and_per_sample_cost_with_intervals():
    [row] = costs.cost_split({"parts": {"jax-jit": side("jax-jit", a=0.002, c=1e-4)}})
    assert row.a.low < 0.002 < row.a.high and row.c.low < 1e-4 < row.c.high
    assert row.crossing.value == pytest.approx(20, rel=0.2) and row.crossing.low < 20 < row.crossing.high
    assert row.fits and row.points == 20 and row.processes == 2
    assert row.floor_per_sample_s == pytest.approx(9.5e6 / 1e11) and row.over_floor == pytest.approx(
        1e-4 / 9.5e-5, rel=0.1)


def test_each_process_gets_its_own_line_and_one_below_the_floor_none():
    part = side("jax-jit", a=0.002, c=1e-4, processes=3, noise=0.01)
    slow = part["processes"][1]
    slow["sizes"] = [dict(row, step_s=[2 * t for t in row["step_s"]]) for row in slow["sizes"]]
    part["processes"][2]["floor_violations"] = ["epoch 1 took 1 ms, below the physical floor of 2 ms"]
    [row] = costs.cost_split({"parts": {"jax-jit": part}})
    assert len(row.a_processes) == 2  # the process below the floor has no line
    assert row.a_processes[0] == pytest.approx(0.002, rel=0.1)
    assert row.a_processes[1] == pytest.approx(0.004, rel=0.1)
    assert row.c_processes[1] == pytest.approx(2e-4, rel=0.1)  # a slower process shows as spread, not as a point


def test_a_side_the_line_does_not_fit_is_said_to_be_so():
    [row] = costs.cost_split({"parts": {"torch-eager": side("torch-eager", a=0.002, c=1e-4, curve=3.0)}})
    assert not row.fits and max(abs(r) for r in row.residuals.values()) > costs.FIT_TOLERANCE


def test_jax_eager_is_taken_apart_into_transformation_dispatch_and_arithmetic():
    data = {"parts": {"jax-jit": side("jax-jit", a=0.001, c=1e-4, noise=0.0),
                      "jax-eager": side("jax-eager", a=0.015, c=1e-4, noise=0.0, transform_s=lambda b: 0.008,
                                        eager_calls=lambda b: 127, call_s=lambda b: 1e-5)}}
    rows = {row["batch_size"]: row for row in costs.eager_split(data)}
    assert rows[64]["transform_s"] == 0.008 and rows[64]["dispatch_s"] == pytest.approx(127e-5)
    assert rows[64]["arithmetic_s"] == pytest.approx(0.001 + 64e-4, rel=0.01)
    assert rows[64]["unexplained_s"] == pytest.approx(0.015 + 64e-4 - 0.008 - 127e-5 - (0.001 + 64e-4), abs=1e-4)


def test_the_time_to_an_accuracy_counts_from_the_start_of_training_and_says_who_never_got_there():
    """The process's start-up (imports, data, weights: a PyTorch process imports JAX too) is left out
    and kept apart; the first epoch's compile and every validation stay in."""
    def run(framework, seed, accuracies, elapsed, first_epoch):
        return {"framework": framework, "batch_size": 64, "seed": seed, "cold_start": True,
                "val_accuracy": accuracies, "elapsed_s": elapsed, "epoch_times_s": [first_epoch, 1.5, 1.5],
                "val_times_s": [0.5, 0.5, 0.5]}

    runs = [run("jax", 0, [0.95, 0.975, 0.98], [12.0, 14.0, 16.0], 9.5),  # start-up 2 s: 10, 12, 14
            run("jax", 1, [0.96, 0.97, 0.976], [11, 13, 15], 8.5),  # start-up 2 s: 9, 11, 13
            run("torch", 0, [0.96, 0.965, 0.968], [3.0, 5.0, 7.0], 0.5)]
    rows = {row["framework"]: row for row in costs.time_to_accuracy(runs, 0.975)}
    assert rows["jax"]["median_s"] == pytest.approx(12.5) and rows["jax"]["range_s"] == [12.0, 13.0]
    assert rows["jax"]["start_up_s"] == pytest.approx(2.0) and rows["torch"]["start_up_s"] == pytest.approx(2.0)
    assert rows["torch"]["reached"] == 0 and rows["torch"]["median_s"] is None
