import json

import pytest

from mnistbench.bench import profiling, timing
from mnistbench.bench.evidence import items as evidence
from mnistbench.bench.evidence import measure
from mnistbench.bench.session import QUICK

HLO = """HloModule jit_step, entry_computation_layout={(f32[4]{0})->f32[4]{0}}

%fused_computation (p: f32[4]) -> f32[4] {
  %p = f32[4]{0} parameter(0)
  ROOT %n = f32[4]{0} negate(f32[4]{0} %p)
}

%relu.1 (x: f32[4]) -> f32[4] {
  %x = f32[4]{0} parameter(0)
  %zero = f32[] constant(0)
  %b = f32[4]{0} broadcast(f32[] %zero), dimensions={}
  ROOT %m = f32[4]{0} maximum(f32[4]{0} %x, f32[4]{0} %b)
}

ENTRY %main.5 (Arg_0.1: f32[4]) -> (f32[4], f32[]) {
  %Arg_0.1 = f32[4]{0} parameter(0)
  %constant.2 = f32[] constant(1)
  %call.3 = f32[4]{0} call(f32[4]{0} %Arg_0.1), to_apply=%relu.1
  %fusion = f32[4]{0} fusion(f32[4]{0} %call.3), kind=kLoop, calls=%fused_computation
  %custom-call.1 = (f32[4]{0}, s8[16]{0}) custom-call(f32[4]{0} %fusion), custom_call_target="__cublas$gemm"
  %get-tuple-element = f32[4]{0} get-tuple-element((f32[4]{0}, s8[16]{0}) %custom-call.1), index=0
  ROOT %tuple = (f32[4]{0}, f32[]) tuple(f32[4]{0} %get-tuple-element, f32[] %constant.2)
}
"""


def test_program_opcodes_inline_calls_and_keep_fusions_whole():
    opcodes = profiling.program_opcodes(HLO)
    # the call's body (parameter, constant, broadcast, maximum) counts in place of the call;
    # the fusion counts once, its body not at all
    assert opcodes == ["parameter", "constant", "parameter", "constant", "broadcast", "maximum", "fusion",
                       "custom-call", "get-tuple-element", "tuple"]
    counts = profiling.count_kernels(opcodes)
    assert counts["operations"] == 4 and counts["fusions"] == 1 and counts["library_calls"] == 1
    assert counts["by_opcode"] == {"broadcast": 1, "custom-call": 1, "fusion": 1, "maximum": 1}


def test_updates_plan_matches_the_reference_number_of_updates():
    from mnistbench.networks.config import Config

    plan = {arm["arm"]: arm for arm in measure.updates_plan(Config(), 1024)}
    assert list(plan) == ["reference", "equal updates", "linear learning rate", "linear learning rate, warm-up",
                          "square-root learning rate"]
    assert plan["reference"]["updates"] == 7810 and plan["reference"]["batch_size"] == 64
    assert abs(plan["equal updates"]["updates"] - 7810) < 48 and plan["equal updates"]["epochs"] == 163
    assert plan["linear learning rate"]["learning_rate"] == pytest.approx(0.48)
    assert plan["square-root learning rate"]["learning_rate"] == pytest.approx(0.12)
    short = [arm["arm"] for arm in measure.updates_plan(Config(), 1024, long=False)]
    assert short[1] == "equal epochs" and "equal updates" not in short  # the 16x arm for one seed only


def test_the_warm_up_rises_from_the_reference_rate_to_the_scaled_one_in_five_epochs():
    from mnistbench.networks.config import Config

    arm = {arm["arm"]: arm for arm in measure.updates_plan(Config(), 1024)}["linear learning rate, warm-up"]
    rates = [measure.warmed_up_rate(arm, epoch) for epoch in range(1, 8)]
    assert rates[0] == pytest.approx(0.03) and rates[5] == rates[6] == pytest.approx(0.48)
    assert all(a < b for a, b in zip(rates[:6], rates[1:6]))


@pytest.fixture(scope="module")
def updates_rows():
    """The quick updates experiment's rows for seed 0, its warm-up one epoch long (epoch 1 warms up;
    epoch 2 is at the arm's own rate); trained once for the tests that read it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(measure, "LR_WARMUP_EPOCHS", 1)
        return measure.task_updates_seed("cpu", seed=0, quick=True)


def test_the_warm_up_arm_trains_each_epoch_at_the_rate_it_records(updates_rows):
    """The warm-up reaches its rate: each epoch's steps use the rate the plan gives it, recorded per epoch
    (the fault: the step was replaced only while the rate differed from the arm's own, so every epoch
    after the warm-up kept the last warm-up epoch's rate)."""
    from mnistbench.bench.jax_trainers import jitted_step
    from mnistbench.networks.config import Config
    from mnistbench.networks.data import load_mnist

    arm = next(row for row in updates_rows if row["arm"] == "linear learning rate, warm-up")
    assert arm["learning_rates"] == [pytest.approx(arm["warmup_from"]), pytest.approx(arm["learning_rate"])]
    assert arm["learning_rate"] > arm["warmup_from"]
    config = Config(batch_size=arm["batch_size"], epochs=2, train_subset=QUICK.train_subset)
    trainer = measure.build_trainer("jax-jit", "cpu", config, load_mnist(log=lambda _: None))
    for epoch, rate in enumerate(arm["learning_rates"], start=1):  # by hand: each epoch's step compiled for its rate
        trainer.step_fn = jitted_step(config.batch_size, rate, config.momentum)
        timing.timed_epoch(trainer, 0, epoch)
    assert trainer.epoch_loss() == pytest.approx(arm["train_loss"][-1], rel=1e-6)


def test_the_equal_epochs_arm_is_read_on_the_way_of_the_equal_updates_arm(updates_rows):
    """Training 10 epochs and stopping gives what the first 10 epochs of a longer training give."""
    arms = {row["arm"]: row for row in updates_rows}
    assert list(arms) == ["reference", "equal epochs", "equal updates", "linear learning rate",
                          "linear learning rate, warm-up", "square-root learning rate"]
    assert len(arms["equal updates"]["val_accuracy"]) == arms["equal updates"]["epochs"]  # the curves, per epoch
    assert arms["equal epochs"]["train_loss"] == arms["equal updates"]["train_loss"][:arms["reference"]["epochs"]]
    assert arms["equal epochs"]["epochs"] == arms["reference"]["epochs"] < arms["equal updates"]["epochs"]
    assert arms["equal epochs"]["learning_rate"] == arms["equal updates"]["learning_rate"]
    alone = measure.task_updates_seed.__globals__["build_trainer"]  # the same arm trained on its own
    from mnistbench.networks.config import Config
    from mnistbench.networks.data import load_mnist

    config = Config(batch_size=arms["equal epochs"]["batch_size"], epochs=arms["equal epochs"]["epochs"],
                    train_subset=QUICK.train_subset)
    trainer = alone("jax-jit", "cpu", config, load_mnist(log=lambda _: None))
    for epoch in range(1, config.epochs + 1):
        timing.timed_epoch(trainer, 0, epoch)
    assert trainer.evaluate("test")[1] == arms["equal epochs"]["test_accuracy"]


def test_partial_last_batch_compiles_a_second_program():
    result = measure.task_partial_batch_compiles("cpu", batch_size=64, n_train=1000)
    assert result["programs"] == {"dropped": 1, "kept": 2}


def test_compile_cell_hits_the_cache_in_a_second_process(tmp_path):
    common = {"variant": "jax-jit", "device": "cpu", "batch_size": 256, "train_subset": 1024,
              "cache_dir": str(tmp_path)}
    cold = measure.run_child("compile_cell", **common)
    warm = measure.run_child("compile_cell", **common)
    assert [c["program"] for c in cold] == ["jax step", "jax evaluate"]
    assert cold[0]["cache"]["misses"] > 0 and warm[0]["cache"]["hits"] > 0
    assert warm[0]["split"]["compile_s"] <= cold[0]["split"]["compile_s"] / 2


def test_failing_child_is_an_evidence_error():
    from mnistbench.bench.evidence import child

    with pytest.raises(child.EvidenceError, match="equality failed"):
        child.run_child("equality", part="no-such-framework", device="cpu")


def test_a_campaign_builds_a_record_part_by_part(tmp_path, monkeypatch):
    seen = []

    def fake_part(part, device, quick, log):
        seen.append(part)
        return {"variant": part, "passed": True}

    monkeypatch.setitem(measure.MEASURE_PART, "equality", fake_part)
    monkeypatch.setitem(measure.PARTS, "equality", lambda device, quick: ["a", "b"])
    evidence.run_evidence("equality", "cpu", True, tmp_path, only_parts=["a"])
    path = evidence.run_evidence("equality", "cpu", True, tmp_path, only_parts=["b"])
    record = json.loads(path.read_text())
    assert list(record["data"]["parts"]) == ["a", "b"] and set(record["data"]["seconds"]) == {"a", "b"}
    evidence.run_evidence("equality", "cpu", False, tmp_path, only_parts=["a"])  # another size: starts afresh
    assert list(json.loads(path.read_text())["data"]["parts"]) == ["a"]
    assert seen == ["a", "b", "a"]


def test_a_paired_record_keeps_the_design_declared_before_measuring(tmp_path, monkeypatch):
    from mnistbench.bench import compare
    from mnistbench.bench.evidence import paired

    monkeypatch.setitem(measure.MEASURE_PART, "paired", lambda part, device, quick, log: {"rounds": []})
    path = evidence.run_evidence("paired", "cpu", False, tmp_path, only_parts=["dispatch"])
    design = json.loads(path.read_text())["data"]["design"]
    k = sum(len(comparisons) for comparisons in paired.family(False).values())
    assert design["margin"] == compare.MARGIN and design["power_target"] == compare.POWER_TARGET
    assert design["level"] == pytest.approx(1 - compare.FAMILY_ALPHA / k)
    assert sum(map(len, design["family"].values())) == k and set(design["family"]) == set(paired.parts("cpu", False))
    assert evidence.declared_design("equality", False) == {}  # the other items declare no comparisons


def _declared_at(commit: str) -> dict[str, float] | None:
    """The margin, family-wise rate and planned power that ``compare.py`` declared at ``commit``
    (None without the project's git history)."""
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shown = subprocess.run(["git", "-C", str(root), "show", f"{commit}:code/mnistbench/bench/compare.py"],
                           capture_output=True, text=True)
    if shown.returncode:
        return None
    return {key: float(re.search(rf"^{name} = ([0-9.]+)", shown.stdout, re.M).group(1))
            for key, name in (("margin", "MARGIN"), ("family_alpha", "FAMILY_ALPHA"), ("power_target", "POWER_TARGET"))}


def test_every_committed_paired_session_ran_under_one_declared_design():
    """The sessions measured before a record kept its design name their commit: the margin, the
    family-wise rate and the planned power in ``compare.py`` there are those the later records keep,
    and one evidence version (which hashes ``paired.py``: the family, rounds and orders) holds them all."""
    from pathlib import Path

    records = [json.loads(path.read_text()) for path in
               sorted((Path(__file__).resolve().parents[2] / "results").rglob("evidence-paired-cpu.json"))]
    kept = [r["data"]["design"] for r in records if "design" in r["data"]]
    assert len(records) >= 2 and kept, "the committed study holds sessions, one at least with its design"
    assert len({r["platform"]["code_version"] for r in records}) == 1
    assert all(design == kept[0] for design in kept)
    for record in records:
        if "design" in record["data"]:
            continue
        declared = _declared_at(record["platform"]["git"]["commit"])
        if declared is None:
            pytest.skip("no git history to read an older session's design from")
        assert declared == {key: kept[0][key] for key in declared}, record["timestamp"]
