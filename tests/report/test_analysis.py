"""The analysis of records: break-evens, the first epoch's parts, the variants' table, donation,
precision, updates and the per-step overhead, from synthetic records."""

import pytest

from mnistbench.report import analysis as analyze
from tests.factories import run_record


def test_amortization_measured_extrapolated_and_never():
    runs = [run_record("jax", 64, epoch_times=(10, 1, 1)), run_record("torch", 64, epoch_times=(3, 3, 3)),
            run_record("jax", 256, epoch_times=(10, 1, 1)), run_record("torch", 256, epoch_times=(2, 1.5, 1.5)),
            run_record("jax", 1024, epoch_times=(10, 1, 1)), run_record("torch", 1024, epoch_times=(1, 1, 1))]
    rows = {r["batch_size"]: r for r in analyze.amortization(runs)}
    # 64: totals 10, 11, 12 against 3, 6, 9; from then on JAX gains 2 s per epoch: 12+n < 9+3n at n=2 -> epoch 5
    assert rows[64]["break_even_epoch"] == 5 and not rows[64]["measured"]
    # 256: totals 12 against 5 after 3 epochs, gaining 0.5 s per epoch: 14 more epochs -> epoch 18
    assert rows[256]["break_even_epoch"] == 18
    assert rows[1024]["break_even_epoch"] is None
    assert rows[64]["cumulative_s"]["jax"] == [10, 11, 12]


def test_amortization_counts_validation_and_needs_a_faster_steady_state():
    # JAX's first validation compiles evaluation: 5 s more, which moves the break-even
    runs = [run_record("jax", 64, epoch_times=(4, 1, 1), val_times=(5, 0, 0)),
            run_record("torch", 64, epoch_times=(3, 3, 3))]
    [row] = analyze.amortization(runs)
    assert row["cumulative_s"]["jax"] == [9, 10, 11]
    assert row["break_even_epoch"] == 5  # 11 + n < 9 + 3n  ->  n = 2 more epochs
    runs = [run_record("jax", 64, epoch_times=(1, 2, 2)), run_record("torch", 64, epoch_times=(3, 1, 1))]
    assert analyze.amortization(runs)[0]["break_even_epoch"] is None


def test_warm_cache_moves_the_break_even():
    runs = [run_record("jax", 64, epoch_times=(10, 1, 1), val_times=(5, 0.5, 0.5)),
            run_record("torch", 64, epoch_times=(3, 3, 3), val_times=(0.5, 0.5, 0.5))]
    cold = analyze.amortization(runs)[0]
    warm_firsts = {64: {"first_epoch_s": 1.5, "evaluate_compile_s": 0.2}}
    warm = analyze.amortization(runs, warm=warm_firsts)[0]
    assert warm["cache"] == "warm" and cold["cache"] == "cold"
    assert warm["cumulative_s"]["jax"][0] == pytest.approx(1.5 + 0.2 + 0.5)
    assert warm["break_even_epoch"] == 1 < cold["break_even_epoch"]
    assert analyze.amortization(runs, warm={}) == []  # no warm measurement at this batch size: no row


def test_warm_cache_firsts_read_the_compile_record():
    cells = [{"program": "jax step", "variant": "jit", "batch_size": 64, "setting": "warm", "applies": True,
              "total_s": 0.1, "first_epoch_s": 2.0, "split": {}},
             {"program": "jax evaluate", "variant": "jit", "batch_size": 64, "setting": "warm", "applies": True,
              "total_s": 0.05, "split": {}},
             {"program": "jax step", "variant": "jit", "batch_size": 64, "setting": "cold", "applies": True,
              "total_s": 9.0, "first_epoch_s": 11.0, "split": {}}]
    data = {"parts": {"jax-jit bs64": {"cells": cells}}}
    assert analyze.warm_cache_firsts(data) == {64: {"first_epoch_s": 2.0, "evaluate_compile_s": 0.05}}
    rows = {row["program"]: row for row in analyze.compile_table(data)}
    assert set(rows["jax step"]["settings"]) == {"warm", "cold"} and set(rows["jax evaluate"]["settings"]) == {"warm"}


def test_breakdown_is_the_median_of_per_run_differences():
    runs = [run_record("jax", 64, seed=0, epoch_times=(10, 1, 1), compile_s=9.0),
            run_record("jax", 64, seed=1, epoch_times=(20, 1, 1), compile_s=10.0),
            run_record("jax", 64, seed=2, epoch_times=(30, 1, 1), compile_s=28.0)]
    [row] = analyze.first_epoch_breakdown(runs)
    # per run: unexplained 0, 9, 1 -> median 1 (a difference of medians would say 19 - 10 = 9)
    assert row["unexplained_s"] == pytest.approx(1.0) and row["excess_s"] == 19


def test_analyses_of_the_main_comparison_ignore_other_variants():
    runs = [run_record("jax", 64, epoch_times=(10, 1, 1)), run_record("torch", 64, epoch_times=(3, 3, 3)),
            run_record("jax", 64, epoch_times=(1, 0.1, 0.1), variant="scan")]
    assert len(analyze.efficiency(runs)) == 2
    assert analyze.amortization(runs)[0]["cumulative_s"]["jax"] == [10, 11, 12]


def test_granularity_table_orders_by_dispatch_and_reads_calls_from_the_smallest_profiled_run():
    runs = [run_record("jax", b, epoch_times=(9, t, t), variant=v) for v, t in (("jit", 1.0), ("eager", 4.0),
                                                                               ("scan", 0.5)) for b in (64, 1024)]
    runs += [run_record("torch", b, epoch_times=(5, t, t), variant=v) for v, t in (("eager", 3.0), ("compile", 1.5))
             for b in (64, 1024)]
    eager = {r["batch_size"]: r for r in runs if (r["framework"], r["variant"]) == ("torch", "eager")}
    eager_1024, eager_64 = eager[1024], eager[64]
    eager_1024["profile"] = {"calls_per_step": 50.0, "ops_per_step": 50.0, "kernels_per_step": 41.0}
    eager_64["profile"] = {"calls_per_step": 47.0, "ops_per_step": 47.0, "kernels_per_step": 39.0}
    table = analyze.granularity_table(runs)
    assert [(r["granularity"], r["framework"], r["variant"]) for r in table] == [
        ("operation", "jax", "eager"), ("operation", "torch", "eager"), ("step", "jax", "jit"),
        ("step", "torch", "compile"), ("epoch", "jax", "scan")]
    eager = next(r for r in table if r["framework"] == "torch" and r["variant"] == "eager")
    assert eager["calls_per_step"] == 47  # batch 64's profile
    assert eager["steady_s"] == {64: 3.0, 1024: 3.0}
    assert next(r for r in table if r["variant"] == "compile")["kernels_per_step"] is None  # not profiled
    assert next(r for r in table if r["variant"] == "jit")["steady_s"] == {64: 1.0, 1024: 1.0}


def test_donation_pairs_seeds_and_keeps_memory():
    runs = [run_record("jax", 64, seed=s, epoch_times=(9, t, t, t + 0.2), variant=v)
            for s in (0, 1) for v, t in (("jit", 1.0), ("jit-no-donation", 1.5))]
    runs[0]["compiled_memory"] = {"alias_size_in_bytes": 100, "peak_memory_in_bytes": 900}
    runs[1]["compiled_memory"] = {"alias_size_in_bytes": 0, "peak_memory_in_bytes": 1000}
    [row] = analyze.donation_effect(runs)
    assert row["seeds"] == [0, 1] and row["steady_s"]["jit-no-donation"] == pytest.approx(1.5)
    assert row["epoch_range_s"]["jit"] == [1.0, 1.2]
    assert row["compiled_memory"]["jit"]["alias_size_in_bytes"] == 100


def test_precision_comparison_pairs_float32_with_tf32():
    runs = [run_record("jax", 1024, seed=0, epoch_times=(5, 2, 2)),
            run_record("jax", 1024, seed=1, epoch_times=(5, 9, 9)),  # no TF32 run of seed 1: not compared
            run_record("jax", 1024, epoch_times=(3, 1, 1), precision="tf32", accuracy=0.97, compile_s=3.0),
            run_record("torch", 1024, epoch_times=(3, 1, 1))]  # no TF32 partner: left out
    [row] = analyze.precision_comparison(runs)
    assert row["speedup"] == 2 and row["test_accuracy"] == {"float32": 0.98, "tf32": 0.97}
    assert row["seeds"] == [0] and row["compile_total_s"] == {"float32": 9.0, "tf32": 3.0}


def test_updates_table_means_over_seeds_and_counts_divergence():
    rows = [{"arm": "linear learning rate", "batch_size": 1024, "learning_rate": 0.48, "epochs": 10, "updates": 480,
             "seed": s, "test_accuracy": a} for s, a in ((0, 0.97), (1, 0.95), (2, None))]
    [row] = analyze.updates_table({"parts": {"seed 0": {"rows": rows}}})
    assert row["test_accuracy"] == pytest.approx(0.96) and row["diverged"] == 1 and row["seeds"] == 3
    assert row["test_accuracy_spread"] == [0.95, 0.97]


def test_overhead_rows_put_each_step_beside_its_floor():
    runs = [run_record("jax", b, seed=s, epoch_times=(5, 2.0, 2.0), steps=n) for b, n in ((64, 100), (1024, 10))
            for s in (0, 1)]
    for run in runs:
        run["host_epoch_times_s"] = [4.0, 0.5, 0.7]
        run["physical_floor_s"] = 0.1
    runs[0]["profile"] = {"device_s_per_step": 0.015}
    rows = {r["batch_size"]: r for r in analyze.overhead_rows(runs)}
    assert rows[64]["host_s"] == pytest.approx(0.006) and rows[64]["step_s"] == pytest.approx(0.02)
    assert rows[64]["device_s"] == 0.015 and rows[64]["runs"] == 2 and rows[64]["floor_s"] == pytest.approx(0.001)
    assert rows[1024]["device_s"] is None  # a GPU run that was not profiled: no device time
    assert all(row["step_s"] >= row["floor_s"] for row in rows.values())


