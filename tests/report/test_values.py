"""Every value the report quotes, on small hand-made studies whose answers are known and
where the plausible wrong aggregates give other answers; and ``check``, which flags a claim
its records contradict."""

import pytest

from mnistbench.bench import compare, timing
from mnistbench.bench.selection import summarize
from mnistbench.report import values
from mnistbench.report.studies import Study
from tests.factories import run_record


def study_of(runs, evidence=()):
    return Study(all_runs=list(runs), all_evidence=list(evidence))


# --- the run's own definitions ---------------------------------------------------------------------


def test_first_epoch_is_epoch_one_and_steady_is_the_median_of_the_rest():
    first, later = 3.0, [9.0, 1.0, 2.0]  # max 9, mean of the rest 4, median of all 2.5
    steady, bounds = timing.steady_epoch([first, *later])
    assert steady == 2.0 and bounds == [1.0, 9.0]
    assert timing.steady_epoch([first]) == (None, None)
    [row] = summarize([run_record("jax", 64, epoch_times=(first, *later))])
    assert row["first_epoch_s"] == 3.0 and row["steady_epoch_s"] == 2.0


def test_first_epochs_come_from_runs_that_started_their_process_only():
    cold = [run_record("jax", 64, seed=s, epoch_times=(t, 1.0, 1.0)) for s, t in ((0, 10.0), (1, 20.0))]
    shared = run_record("jax", 64, seed=2, epoch_times=(1.1, 1.0, 1.0), compile_s=0.0)
    shared["runs_before_in_process"] = 3
    [row] = summarize(cold + [shared])
    assert row["first_epoch_s"] == 15.0 and row["first_epoch_range_s"] == [10.0, 20.0]
    assert row["compile_total_s"] == 9.0 and row["repeats"] == 3  # steady and accuracy from all three


def test_a_run_below_its_physical_floor_is_invalid():
    from mnistbench.bench import timing

    # 3 GFLOP at 1.5 x a 4 GFLOP/s peak: no epoch can take less than 0.5 s
    assert timing.floor_violations([1.0, 0.4], flops_per_epoch=3e9, peak_flops=4e9) == [
        "epoch 2 took 0.4 s, below the physical floor of 0.5 s"]
    assert timing.floor_violations([1.0, 0.5], flops_per_epoch=3e9, peak_flops=4e9) == []


# --- the report's values ---------------------------------------------------------------------------


def grid(jax_steady=(1.0, 1.1, 0.9), torch_steady=(3.0, 3.3, 2.7), batch_sizes=(64, 1024), epochs=10):
    runs = []
    for b in batch_sizes:
        steps = 50_000 // b
        for s, (j, t) in enumerate(zip(jax_steady, torch_steady)):
            runs.append(run_record("jax", b, seed=s, epoch_times=(12.0,) + (j,) * (epochs - 1), compile_s=9.0 + s,
                                   steps=steps, val_times=(5.0,) + (0.1,) * (epochs - 1), accuracy=0.98 - 0.001 * s))
            runs.append(run_record("torch", b, seed=s, epoch_times=(t,) * epochs, steps=steps,
                                   val_times=(0.2,) + (0.1,) * (epochs - 1), accuracy=0.98 - 0.002 * s))
    return runs


def test_gpu_ratios_pair_the_seeds_and_their_interval_comes_from_the_seeds():
    v = values.quoted(study_of(grid()))
    ratio = v.gpu_torch_over_jax_small
    assert ratio.value == pytest.approx(3.0)  # every seed's PyTorch epoch is 3x its JAX epoch: no spread
    assert ratio.interval.low == pytest.approx(3.0) and ratio.slower
    assert str(ratio).startswith("3.00× [3.00, 3.00]")
    assert v.gpu_jax_compile_small == "10.0 s" and v.gpu_jax_compile_small.value == 10.0  # the median, not the mean
    assert v.twin_gap == "0.20"  # the largest gap over seeds and batch sizes, in points
    # JAX's running total: 17 s after epoch 1, then 1.1 s an epoch (medians over seeds); PyTorch's 3.1 s an
    # epoch (3.2 s the first): JAX's is below from epoch 8 (24.7 against 24.9), not 7 (23.6 against 21.8)
    assert v.gpu_break_even_small == "epoch 8" and v.gpu_break_even_small.value == 8
    assert v.gpu_torch_ahead_throughout is False


def test_the_first_wait_is_the_median_over_seeds_of_each_seeds_epoch_and_validation():
    """As Table 2 prints it: no sum of two medians that no seed waited (11 + 5.0 would be 16.0)."""
    runs = grid()
    for run, (first, validation) in zip([r for r in runs if r["framework"] == "jax" and r["batch_size"] == 64],
                                        ((10.0, 7.0), (11.0, 5.0), (14.0, 4.0))):  # waits 17, 16, 18
        run["epoch_times_s"][0], run["val_times_s"][0], run["first_epoch_s"] = first, validation, first
    v = values.quoted(study_of(runs))
    assert v.gpu_jax_cold_small.value == pytest.approx(17.0) and v.gpu_jax_first_small.value == pytest.approx(11.0)


def test_break_even_is_extrapolated_past_the_run_or_never():
    v = values.quoted(study_of(grid(epochs=3)))  # 19.2 against 9.4 after 3 epochs, 2 s a epoch closer after
    assert v.gpu_break_even_small == "about epoch 8 (extrapolated)" and v.gpu_torch_ahead_throughout is True
    v = values.quoted(study_of(grid(jax_steady=(5.0, 5.0, 5.0), epochs=3)))
    assert v.gpu_break_even_small == "never"


def test_an_interval_that_holds_one_reads_not_resolved_and_an_equivalence_says_so():
    interval = compare.log_ratio_interval([0.1, -0.05, 0.2])
    ratio = values.Ratio(interval)
    assert ratio.verdict == "not resolved" and str(ratio).endswith(", not resolved")
    assert not ratio.slower and not ratio.faster
    close = values.Ratio(compare.log_ratio_interval([0.01, -0.01, 0.0, 0.005]), within=True)
    assert close.equivalent and str(close).endswith(", within ±10%")
    assert close.verdict == ("faster, within ±10%" if close.faster else "within ±10%")
    split = values.Ratio(compare.log_ratio_interval([0.2, 0.21, 0.19]), agree=False)
    assert split.verdict == "sessions disagree" and not split.slower and str(split).endswith(", sessions disagree")


def test_an_interval_that_excludes_one_never_prints_a_bound_of_one():
    from mnistbench.report.formatting import ratio_text
    assert ratio_text(0.921, 0.849, 0.9986) == "0.921× [0.849, 0.999]"  # faster: 0.9986 is not 1.00
    assert ratio_text(0.92, 0.85, 1.004) == "0.920× [0.850, 1.004]"  # not resolved: the bound says it includes 1
    assert ratio_text(8.8, 5.71, 13.5) == "8.8× [5.7, 13.5]"
    assert ratio_text(0.27, 0.091, 0.78) == "0.27× [0.09, 0.78]"  # not 0.3× [0.1, 0.8]


def test_a_value_the_records_do_not_hold_reads_not_measured_and_fails_its_check(capsys, monkeypatch):
    v = values.quoted(study_of(grid()))
    assert v.margin == values.NOT_MEASURED  # no paired record in this study
    values.check(v.margin.value, "the A/A resolved the study")
    assert "Claim not supported: the A/A resolved the study (the records do not hold" in capsys.readouterr().out


def test_check_is_silent_when_a_claim_holds_flags_it_when_not_and_fails_in_strict_mode(capsys, monkeypatch):
    monkeypatch.delenv(values.STRICT_ENV, raising=False)
    values.check(True, "holds")
    assert capsys.readouterr().out == ""
    values.check(False, "JAX is faster")
    assert "**[Claim not supported: JAX is faster (the records contradict it).]**" in capsys.readouterr().out
    monkeypatch.setenv(values.STRICT_ENV, "1")
    with pytest.raises(values.ClaimContradicted, match="JAX is faster"):
        values.check(False, "JAX is faster")
