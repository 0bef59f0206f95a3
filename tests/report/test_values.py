"""Every value the report quotes, on small hand-made studies whose answers are known and
where the plausible wrong aggregates (mean for median, min for max, every run for cold
runs only) give other answers."""

import copy
from pathlib import Path

import pytest

from mnistbench.bench import run as experiment
from mnistbench.bench.evidence import analyze
from mnistbench.bench.results import select_study, summarize
from mnistbench.platform import code_version
from mnistbench.report import evidence_values as report_evidence
from mnistbench.report import values as report
from mnistbench.report.studies import Study
from tests.factories import run_record


def study_of(runs, evidence=()):
    return Study(runs=select_study(runs), all_runs=list(runs), all_evidence=list(evidence), results_dir=Path("."))


def current(record, **changes):
    record = copy.deepcopy(record)
    record["platform"]["code_version"] = code_version()
    record.update(changes)
    return record


# --- the run's own definitions ---------------------------------------------------------------------


def test_first_epoch_is_epoch_one_and_steady_is_the_median_of_the_rest():
    first, later = 3.0, [9.0, 1.0, 2.0]  # max 9, mean of the rest 4, median of all 2.5
    steady, bounds = experiment.steady_state([first, *later])
    assert steady == 2.0 and bounds == [1.0, 9.0]
    assert experiment.steady_state([first]) == (None, None)
    [row] = summarize([run_record("jax", 64, epoch_times=(first, *later))])
    assert row["first_epoch_s"] == 3.0 and row["steady_epoch_s"] == 2.0


def test_first_epochs_come_from_runs_that_started_their_process_only():
    cold = [run_record("jax", 64, seed=s, epoch_times=(t, 1.0, 1.0)) for s, t in ((0, 10.0), (1, 20.0))]
    shared = run_record("jax", 64, seed=2, epoch_times=(1.1, 1.0, 1.0), compile_s=0.0)
    shared["runs_before_in_process"] = 3
    [row] = summarize(cold + [shared])
    assert row["first_epoch_s"] == 15.0 and row["first_epoch_range_s"] == [10.0, 20.0]
    assert row["compile_s"] == 9.0 and row["repeats"] == 3  # steady and accuracy from all three


def test_a_run_below_its_physical_floor_is_invalid():
    from mnistbench.bench import timing

    # 3 GFLOP at 1.5 x a 4 GFLOP/s peak: no epoch can take less than 0.5 s
    assert timing.floor_violations([1.0, 0.4], flops_per_epoch=3e9, peak_flops=4e9) == [
        "epoch 2 took 0.4 s, below the physical floor of 0.5 s"]
    assert timing.floor_violations([1.0, 0.5], flops_per_epoch=3e9, peak_flops=4e9) == []


# --- the main study: first epochs and compilation ----------------------------------------------------


def jax_and_torch(batch_sizes=(64, 1024), **jax_options):
    runs = []
    for b in batch_sizes:
        steps = 50_000 // b
        for s, (first, compile_s) in enumerate(((12.0, 6.0), (14.0, 9.0), (30.0, 9.5))):
            runs.append(run_record("jax", b, seed=s, epoch_times=(first, 1.0, 3.0, 2.0), compile_s=compile_s,
                                   steps=steps, val_times=(5.0 + s, 0.1, 0.1, 0.1), **jax_options))
            runs.append(run_record("torch", b, seed=s, epoch_times=(4.0, 3.0, 3.5, 3.2), steps=steps,
                                   val_times=(0.2, 0.1, 0.1, 0.1)))
    return runs


def test_compilation_values_are_bounds_over_cold_runs_and_medians_where_said():
    runs = jax_and_torch()
    shared = run_record("jax", 64, seed=3, epoch_times=(1.0, 1.0, 1.0, 1.0), compile_s=0.1, steps=781,
                        val_times=(0.1,) * 4)
    shared["runs_before_in_process"] = 1
    facts = report_evidence.first_epoch_facts(study_of(runs + [shared]))
    assert facts["jax_first_small"] == "14.0 s"  # median of 12, 14, 30 (mean 18.7)
    assert facts["jax_steady_small"] == "2.0 s"  # median of epochs 2..4 of each run
    assert (facts["jax_compile_lo"], facts["jax_compile_hi"]) == ("6.0 s", "9.5 s")  # min and max, cold only
    assert (facts["eval_compile_lo"], facts["eval_compile_hi"]) == ("4.9 s", "6.9 s")  # first minus later
    assert facts["jax_cold_runs"] == "6"


def test_tf32_compiles_pair_seed_and_batch_size():
    runs = jax_and_torch()
    tf32 = run_record("jax", 64, seed=1, epoch_times=(3.0, 1.0, 1.0, 1.0), compile_s=2.5, precision="tf32",
                      steps=781)
    facts = report_evidence.tf32_facts(study_of(runs + [tf32]))
    assert facts == {"tf32": True, "tf32_batch": "64", "tf32_first": "2.5 s", "f32_first": "9.0 s"}
    assert report_evidence.tf32_facts(study_of(runs)) == {"tf32": False}


def compile_record(device_kind="cpu"):
    cells = [{"program": "jax step", "variant": "jit", "batch_size": b, "setting": setting, "applies": True,
              "total_s": total, "first_epoch_s": total + 1, "split": {}}
             for b, setting, total in ((64, "cold", 0.4), (64, "warm", 0.12), (1024, "cold", 9.0))]
    cells += [{"program": "jax evaluate", "variant": "jit", "batch_size": 64, "setting": "warm", "applies": True,
               "total_s": 0.05, "split": {}},
              {"program": "torch compile step", "variant": "compile", "batch_size": 64, "setting": "cold",
               "applies": True, "total_s": 13.4, "split": {}},
              {"program": "torch compile step", "variant": "compile", "batch_size": 64, "setting": "warm",
               "applies": True, "total_s": 2.2, "split": {}},
              {"program": "jax step", "variant": "jit", "batch_size": 64, "setting": "autotune-off", "applies": False,
               "reason": "GPU only"}]
    device = {"kind": device_kind, "name": "Test CPU" if device_kind == "cpu" else "Test GPU"}
    return {"kind": "evidence", "name": "compile", "device": device, "timestamp": "2026-01-01",
            "platform": {"code_version": "x", "jax": "0", "torch": "0"},
            "data": {"parts": {"jax-jit bs64": {"cells": cells}, "partial-batch": {"programs": {"dropped": 1,
                                                                                               "kept": 2}}}}}


def test_cache_values_are_the_smallest_batch_sizes_cells():
    facts = report_evidence.cache_facts(study_of(jax_and_torch(), [compile_record()]))
    assert (facts["jax_step_cold"], facts["jax_step_warm"]) == ("400 ms", "120 ms")  # batch 64, not 1024
    assert (facts["torch_compile_cold"], facts["torch_compile_warm"]) == ("13.4 s", "2.2 s")
    assert facts["cache"] and facts["torch_compile_cache"] and not facts["autotune_off"]
    assert facts["cache_batch"] == "64" and facts["cache_device"] == "CPU"


# --- amortization ----------------------------------------------------------------------------------


def test_amortization_states_leads_one_off_cost_and_unresolved_break_evens():
    facts = report_evidence.amortization_facts(study_of(jax_and_torch()))
    # per epoch with validation, medians over cold runs: PyTorch 3.2 + 0.1, JAX 2.0 + 0.1
    assert facts["epoch_lead_small"] == "1.2 s" and facts["epoch_lead_word_small"] == "saves"
    # JAX's first epoch and validation over its steady ones (14 + 6 - 2.1), net of PyTorch's (4.2 - 3.3)
    assert facts["jax_one_off_small"] == "17.0 s"
    # 4 measured epochs leave JAX 12.1 s behind, recovered at 1.2 s an epoch: epoch 15, past 3 x 4 epochs
    assert facts["break_evens"] == "only beyond 12 epochs at batch 64 and 1024"
    rows = {row["batch_size"]: {**row, "break_even_epoch": 11} for row in analyze.amortization(jax_and_torch())}
    assert report_evidence.break_even_text(rows, {64: True, 1024: True}) == (
        "from epoch 11 at batch 64 and 1024 (past the measured epochs, at the steady rate)")
    assert facts["first_to_finish"] == "PyTorch had the lower total at every batch size"
    close = jax_and_torch()
    for run in close:  # PyTorch's steady epochs straddle JAX's (2.0 s in every seed): no break-even is claimed
        if run["framework"] == "torch" and run["batch_size"] == 1024:
            steady = (1.95, 2.2, 2.15)[run["seed"]]
            run["epoch_times_s"], run["steady_epoch_s"] = [4.0, steady, steady, steady], steady
    facts = report_evidence.amortization_facts(study_of(close))
    assert facts["break_evens"] == ("only beyond 12 epochs at batch 64 and not resolved (the two frameworks' "
                                    "steady epochs overlap across seeds) at batch 1024")


# --- what sets the speed ------------------------------------------------------------------------------


def test_shares_use_one_denominator_per_device_and_bound_every_run():
    runs = jax_and_torch(batch_sizes=(64, 1024))
    for run in runs:  # PyTorch's probe measures the higher peak: it is every run's denominator
        run["peak_matmul_flops"] = 3.3e11 if run["framework"] == "torch" else 2.9e11
        run["achieved_flops"] = {"jax": 1.0e11, "torch": 2.0e11}[run["framework"]] * (2 if run["seed"] == 2 else 1)
        run["device"] = {"kind": "cpu", "name": "Test CPU", "threads": 2}
    facts = report.share_facts(study_of(runs))
    assert (facts["cpu_share_lo"], facts["cpu_share_hi"]) == ("30%", "121%")  # 1e11 / 3.3e11 and 4e11 / 3.3e11
    assert facts["cpu_share_jax_small"] == "30.3%"  # the median over seeds, not the mean (40.4%)
    assert facts["cpu_torch_step_small"] == f"{3.2 / 781 * 1e3:.1f} ms" and facts["cpu_batch_growth"] == "16×"


def test_twin_gap_is_the_largest_over_seeds_and_batch_sizes():
    runs = [run_record("jax", 64, seed=0, accuracy=0.98), run_record("torch", 64, seed=0, accuracy=0.9805),
            run_record("jax", 64, seed=1, accuracy=0.97), run_record("torch", 64, seed=1, accuracy=0.9723)]
    assert report.twin_facts(runs) == {"twin_gap": "0.23"}


# --- the fair fight ------------------------------------------------------------------------------------


def fair_runs():
    runs = []
    for fw, variant, steady, calls in (("jax", "jit", 3.2, 1.0), ("jax", "eager", 20.0, 131.0),
                                       ("jax", "scan", 2.9, None), ("torch", "eager", 3.4, 62.0),
                                       ("torch", "compile", 2.8, 1.0)):
        for b, steps in ((64, 781), (1024, 48)):
            for s in (0, 1):
                t = steady * (1 if b == 64 else 0.6) * (1.1 if s else 1.0)
                record = current(run_record(fw, b, seed=s, epoch_times=(9.0, t, t, t), variant=variant, steps=steps,
                                            device_kind="cpu"))
                record["peak_matmul_flops"] = {"jax": 2.9e11, "torch": 3.3e11}[fw] * (1 + 0.01 * s)
                record["profile"] = {"calls_per_step": calls, "ops_per_step": 8.0 if variant == "compile" else calls,
                                     "kernels_per_step": 43.0 if variant == "jit" else None} if s == 0 else None
                runs.append(record)
    return runs


def test_fair_values_come_from_medians_at_the_smallest_batch_and_split_into_exact_factors():
    facts = report.fair_facts(study_of(fair_runs()))
    assert facts["fair"] and facts["fair_small"] == "64" and facts["fair_large"] == "1024"
    # medians over the two seeds (1.0 and 1.1 times the base): 1.05 x
    assert facts["op_ratio"] == "5.9× slower" and facts["step_ratio"] == "1.1× slower"
    assert facts["epoch_ratio"] == "1.1× faster"
    assert facts["jax_eager_calls"] == "131" and facts["torch_eager_calls"] == "62"
    assert facts["jax_eager_op_us"] == f"{(20.0 - 3.2) * 1.05 / 781 / 131 * 1e6:.0f} µs"
    assert facts["torch_eager_op_us"] == f"{(3.4 - 2.8) * 1.05 / 781 / 62 * 1e6:.0f} µs"
    assert facts["eager_overhead_ratio"] == f"{((20.0 - 3.2) / 131) / ((3.4 - 2.8) / 62):.0f}×"  # 13.3
    assert facts["headline_small"] == "1.06×" and facts["granularity_part_small"] == "1.21×"
    assert facts["framework_part_small"] == f"{(2.8 * 1.05) / (3.2 * 1.05):.2f}×"  # compile over jit
    assert facts["framework_favours_small"] == "PyTorch's"
    assert facts["jax_probe"] == "291 GFLOP/s" and facts["torch_probe"] == "332 GFLOP/s"  # medians of the probes
    assert facts["compile_host_ops"] == "8" and facts["jit_kernels"] == "43" and not facts["cuda_graphs"]


def test_headline_factors_multiply_to_the_headline_within_their_rounding():
    for eager, compiled, jit in ((6.3, 2.1, 2.3), (3.4, 2.8, 3.2), (1.81, 1.73, 1.91)):
        steady = {("torch", "eager"): {64: eager}, ("torch", "compile"): {64: compiled}, ("jax", "jit"): {64: jit}}
        split = report.headline_split(steady, 64, "small")
        headline, granularity, framework = (float(split[f"{key}_small"][:-1])
                                            for key in ("headline", "granularity_part", "framework_part"))
        assert headline == round(eager / jit, 2) and granularity == round(eager / compiled, 2)
        assert abs(headline - granularity * framework) <= 0.005 * (1 + granularity + framework)


# --- donation and updates ---------------------------------------------------------------------------------


def test_donation_values_are_per_step_and_say_whether_inside_the_spread():
    runs = []
    for b, steps, (donated, copied) in ((64, 781, (3.2, 3.6)), (1024, 48, (1.9, 1.92))):
        for s in (0, 1):
            for variant, t in (("jit", donated), ("jit-no-donation", copied)):
                runs.append(current(run_record("jax", b, seed=s, epoch_times=(9.0, t - 0.1, t, t + 0.1),
                                               variant=variant, steps=steps, device_kind="cpu")))
    runs[0]["compiled_memory"] = {"alias_size_in_bytes": 14 * 2**20}
    runs += [current(run_record("torch", b, seed=0, epoch_times=(4, 3, 3, 3), steps=n, device_kind="cpu"))
             for b, n in ((64, 781), (1024, 48))]
    facts = report_evidence.donation_facts(study_of(runs))
    assert facts["no_donation_vs_small"] == "1.1× slower"
    assert facts["no_donation_step_small"] == f"{0.4 / 781 * 1e6:.0f} µs" and facts["no_donation_word_small"] == "more"
    assert facts["donation_large_inside"] is True and facts["donation_aliased"] == "14 MiB"


def test_updates_shares_close_the_equal_epochs_gap():
    rows = [{"arm": arm, "batch_size": b, "learning_rate": lr, "epochs": e, "updates": u, "seed": s,
             "test_accuracy": acc[s]}
            for arm, b, lr, e, u, acc in (("reference", 64, 0.03, 10, 7810, (0.984, 0.983, 0.985)),
                                          ("equal epochs", 1024, 0.03, 10, 480, (0.976, 0.975, 0.975)),
                                          ("equal updates", 1024, 0.03, 163, 7824, (0.980, 0.979, 0.980)),
                                          ("linear learning rate", 1024, 0.48, 10, 480, (None, None, None)),
                                          ("square-root learning rate", 1024, 0.12, 10, 480, (0.979, 0.979, 0.979)))
            for s in range(3)]
    record = {"kind": "evidence", "name": "updates", "device": {"kind": "cpu", "name": "Test CPU"},
              "timestamp": "2026-01-01", "platform": {"code_version": "x", "jax": "0", "torch": "0"},
              "data": {"parts": {"seed 0": {"rows": rows}}}}
    facts = report_evidence.updates_facts(study_of(jax_and_torch(), [record]))
    assert facts["updates_ref_acc"] == "98.40%" and facts["updates_epochs_acc"] == "97.53%"  # means over seeds
    assert facts["updates_gap"] == "0.87"
    assert facts["updates_updates_closed"] == f"{100 * (0.87 - (98.40 - 97.967)) / 0.87:.0f}%"
    assert facts["linear_outcome"] == "diverged" and facts["updates_ratio"] == "16×"


def test_a_fact_that_was_not_measured_is_an_error_that_names_it():
    facts = report.Facts({"a": 1})
    assert facts.a == 1
    with pytest.raises(AttributeError, match="'b'"):
        facts.b  # noqa: B018 - the attribute read is what fails


def test_direction_words_come_from_the_numbers_and_near_ties_read_as_percentages():
    from mnistbench.report.formatting import fmt_vs

    assert fmt_vs(1.0, 2.5) == "2.5× faster" and fmt_vs(1.4, 1.0) == "1.4× slower"
    assert fmt_vs(3.89, 4.09) == "5% faster" and fmt_vs(1.001, 1.0) == "as fast" and fmt_vs(None, 1.0) == "n/a"
