import json

import pytest

from mnistbench import evidence as ev
from mnistbench.results import load_records

from .factories import run_record

HLO = """HloModule jit_step, entry_computation_layout={(f32[4]{0})->f32[4]{0}}

%fused_computation (p: f32[4]) -> f32[4] {
  %p = f32[4]{0} parameter(0)
  ROOT %n = f32[4]{0} negate(f32[4]{0} %p)
}

ENTRY %main.5 (Arg_0.1: f32[4]) -> (f32[4], f32[]) {
  %Arg_0.1 = f32[4]{0} parameter(0)
  %constant.2 = f32[] constant(1)
  %fusion = f32[4]{0} fusion(f32[4]{0} %Arg_0.1), kind=kLoop, calls=%fused_computation
  %custom-call.1 = (f32[4]{0}, s8[16]{0}) custom-call(f32[4]{0} %fusion), custom_call_target="__cublas$gemm"
  %get-tuple-element = f32[4]{0} get-tuple-element((f32[4]{0}, s8[16]{0}) %custom-call.1), index=0
  ROOT %tuple = (f32[4]{0}, f32[]) tuple(f32[4]{0} %get-tuple-element, f32[] %constant.2)
}
"""


def test_hlo_entry_opcodes_reads_only_the_entry_computation():
    opcodes = ev.hlo_entry_opcodes(HLO)
    assert opcodes == ["parameter", "constant", "fusion", "custom-call", "get-tuple-element", "tuple"]
    counts = ev.count_kernels(opcodes)
    assert counts == {"operations": 2, "fusions": 1, "library_calls": 1, "by_opcode": {"custom-call": 1, "fusion": 1}}


def test_fit_overhead_recovers_a_line():
    rows = [{"batch_size": b, "step_s": 2e-4 + b * 1e-6} for b in (16, 64, 256, 1024)]
    fit = ev.fit_overhead(rows)
    assert fit["overhead_s"] == pytest.approx(2e-4) and fit["per_sample_s"] == pytest.approx(1e-6)
    assert fit["r2"] == pytest.approx(1.0) and fit["crossover_batch"] == pytest.approx(200)


def test_amortization_measured_extrapolated_and_never():
    runs = [run_record("jax", 64, epoch_times=(10, 1, 1)), run_record("torch", 64, epoch_times=(3, 3, 3)),
            run_record("jax", 256, epoch_times=(10, 1, 1)), run_record("torch", 256, epoch_times=(2, 1.5, 1.5)),
            run_record("jax", 1024, epoch_times=(10, 1, 1)), run_record("torch", 1024, epoch_times=(1, 1, 1))]
    rows = {r["batch_size"]: r for r in ev.amortization(runs)}
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
    [row] = ev.amortization(runs)
    assert row["cumulative_s"]["jax"] == [9, 10, 11]
    assert row["break_even_epoch"] == 5  # 11 + n < 9 + 3n  ->  n = 2 more epochs
    # ahead after the first epoch, but slower per epoch: it never stays ahead
    runs = [run_record("jax", 64, epoch_times=(1, 2, 2)), run_record("torch", 64, epoch_times=(3, 1, 1))]
    assert ev.amortization(runs)[0]["break_even_epoch"] is None


def test_amortization_within_the_measured_epochs():
    runs = [run_record("jax", 64, epoch_times=(4, 1, 1)), run_record("torch", 64, epoch_times=(3, 3, 3))]
    [row] = ev.amortization(runs)
    assert row["break_even_epoch"] == 2 and row["measured"]


def test_breakdown_is_the_median_of_per_run_differences():
    runs = [run_record("jax", 64, seed=0, epoch_times=(10, 1, 1), compile_s=9.0),
            run_record("jax", 64, seed=1, epoch_times=(20, 1, 1), compile_s=10.0),
            run_record("jax", 64, seed=2, epoch_times=(30, 1, 1), compile_s=28.0)]
    [row] = ev.first_epoch_breakdown(runs)
    # per run: unexplained 0, 9, 1 -> median 1 (a difference of medians would say 19 - 10 = 9)
    assert row["unexplained_s"] == pytest.approx(1.0) and row["excess_s"] == 19


def test_first_epoch_breakdown_and_overhead_from_runs():
    runs = [run_record("jax", b, epoch_times=(10, 1, 1), compile_s=8.5, steps=50_000 // b) for b in (64, 1024)]
    runs += [run_record("torch", b, epoch_times=(3, 2, 2), steps=50_000 // b) for b in (64, 1024)]
    rows = {(r["framework"], r["batch_size"]): r for r in ev.first_epoch_breakdown(runs)}
    assert rows[("jax", 64)]["excess_s"] == 9 and rows[("jax", 64)]["unexplained_s"] == pytest.approx(0.5)
    assert rows[("torch", 64)]["compile_total_s"] == 0 and rows[("torch", 64)]["unexplained_s"] == 1
    fits = ev.overhead_from_runs(runs)
    assert set(fits) == {"jax", "torch"} and len(fits["jax"]["rows"]) == 2


def test_precision_comparison_pairs_float32_with_tf32():
    runs = [run_record("jax", 1024, seed=0, epoch_times=(5, 2, 2)),
            run_record("jax", 1024, seed=1, epoch_times=(5, 9, 9)),  # no TF32 run of seed 1: not compared
            run_record("jax", 1024, epoch_times=(3, 1, 1), precision="tf32", accuracy=0.97, compile_s=3.0),
            run_record("torch", 1024, epoch_times=(3, 1, 1))]  # no TF32 partner: left out
    [row] = ev.precision_comparison(runs)
    assert row["speedup"] == 2 and row["test_accuracy"] == {"float32": 0.98, "tf32": 0.97}
    assert row["seeds"] == [0] and row["compile_s"] == {"float32": 9.0, "tf32": 3.0}
    assert ev.precision_comparison(runs, device_name="Another GPU") == []


def test_donation_effect():
    record = {"data": {"rows": [
        {"variant": "jax-loop", "steady_epoch_s": 1.0, "peak_memory_bytes": 100},
        {"variant": "jax-no-donation", "steady_epoch_s": 1.5, "peak_memory_bytes": 160}]}}
    effect = ev.donation_effect(record)
    assert effect["memory_saved_bytes"] == 60 and effect["steady_s"]["not_donated"] == 1.5


def test_donation_reuses_the_variants_measured_in_the_same_command(tmp_path, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("donation trained its variants again")

    variants = {"batch_size": 64, "rows": [
        {"variant": "jax-loop", "steady_epoch_s": 1.0, "peak_memory_bytes": 100},
        {"variant": "jax-scan", "steady_epoch_s": 0.5, "peak_memory_bytes": 90},
        {"variant": "jax-no-donation", "steady_epoch_s": 1.5, "peak_memory_bytes": 160}]}
    monkeypatch.setattr(ev, "_measure_variants", must_not_train)
    measured = {"variants": variants}
    path = ev.run_evidence("donation", "cpu", True, tmp_path, tmp_path, measured=measured)
    record = json.loads(path.read_text())
    assert [row["variant"] for row in record["data"]["rows"]] == ["jax-loop", "jax-no-donation"]
    assert ev.donation_effect(record)["memory_saved_bytes"] == 60 and "donation" in measured
    with pytest.raises(AssertionError, match="again"):
        ev.run_evidence("donation", "cpu", True, tmp_path, tmp_path)


def test_partial_last_batch_compiles_a_second_program():
    result = ev.task_partial_batch_compiles("cpu", batch_size=64, n_train=1000)
    assert result["programs"] == {"dropped": 1, "kept": 2}


def test_xla_fuses_the_step_and_pytorch_dispatches_many_operators():
    jax_ops = ev.task_jax_ops("cpu", batch_size=64)
    before, after = jax_ops["before_optimization"], jax_ops["after_optimization"]
    assert after["fusions"] > 0 and after["operations"] < before["operations"]
    torch_ops = ev.task_torch_ops("cpu", batch_size=64, steps=3)
    assert torch_ops["top_level_ops_per_step"] >= 10 and torch_ops["gpu_kernels_per_step"] is None
    table = {r["framework"]: r for r in ev.operations_table({"data": {"jax": jax_ops, "torch": torch_ops}})}
    assert table["jax"]["kernels_per_step"] == after["operations"]
    assert table["torch"]["dispatches_per_step"] > table["jax"]["dispatches_per_step"]


def test_step_times_in_a_child_process():
    result = ev.run_child("step_times", framework="jax", device="cpu", batch_sizes=[16, 64], max_steps=5)
    assert [r["batch_size"] for r in result["rows"]] == [16, 64]
    assert all(r["step_s"] > 0 for r in result["rows"])


def test_donation_aliases_the_state_in_the_compiled_step():
    rows = {name: ev.run_child("variant", name=name, device="cpu", batch_size=64, epochs=2, train_subset=512)
            for name in ("jax-loop", "jax-no-donation", "torch-eager")}
    donated, copied = rows["jax-loop"]["step_memory"], rows["jax-no-donation"]["step_memory"]
    state_bytes = 2 * 4 * 1_863_690 + 4  # parameters, velocity and the loss sum, float32
    assert donated["alias_size_in_bytes"] == state_bytes and copied["alias_size_in_bytes"] == 0
    assert copied["peak_memory_in_bytes"] - donated["peak_memory_in_bytes"] > state_bytes / 2
    assert rows["torch-eager"]["step_memory"] is None


def test_failing_child_is_an_evidence_error():
    with pytest.raises(ev.EvidenceError, match="variant failed"):
        ev.run_child("variant", name="no-such-variant", device="cpu", batch_size=64, epochs=2, train_subset=256)


def test_evidence_command_writes_records(tmp_path, capsys):
    from mnistbench import cli
    from mnistbench.results import save_record

    runs_dir = tmp_path / "runs"
    for record in [run_record("jax", 64, epoch_times=(4, 1, 1)), run_record("torch", 64, epoch_times=(3, 3, 3))]:
        save_record(record, runs_dir)
    out = tmp_path / "evidence"
    assert cli.main(["evidence", "amortization", "efficiency", "precision", "--device", "cpu", "--quiet",
                     "--results-dir", str(out), "--runs-dir", str(runs_dir)]) == 0
    records = {r["name"]: r for r in load_records(out, kind="evidence")}
    assert records["amortization"]["data"]["rows"][0]["break_even_epoch"] == 2
    assert records["precision"]["data"] == {"applies": False,
                                            "reason": "TF32 is a matmul mode of NVIDIA GPUs (Ampere and later)"}
    assert records["efficiency"]["device"]["name"] == "Test GPU"  # derived records describe their study
    assert records["efficiency"]["platform"]["git"]["commit"] == "abcdef0"  # the runs' commit ...
    assert records["efficiency"]["derived_by"]["commit"] != "abcdef0"  # ... and the deriving code's


def test_evidence_without_runs_fails_clearly(tmp_path, capsys):
    from mnistbench import cli

    assert cli.main(["evidence", "amortization", "--device", "cpu", "--quiet", "--results-dir",
                     str(tmp_path / "e"), "--runs-dir", str(tmp_path / "none")]) == 2
    assert "no valid run records" in capsys.readouterr().err
