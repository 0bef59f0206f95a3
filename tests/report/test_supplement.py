"""The supplement's sections on hand-made records: the paired section's tables, δ and what was left out;
the fusion counts both documents quote; a study of one-epoch runs."""

import inspect
import math

import numpy as np

from mnistbench.bench import compare
from mnistbench.bench.evidence import paired
from mnistbench.report import supplement, values
from mnistbench.report.studies import Study
from tests.factories import run_record


def process(rng, mean, compile_s=None, calls=False, started=0.0):
    result = {"blocks_s": [mean * 3] + [mean * math.exp(rng.normal(0, 0.01)) for _ in range(4)], "warmup_blocks": 1,
              "floor_violations": [], "machine": [{"interference": False, "others": 0.01, "steal": 0.0}] * 5,
              "started_s": started}
    if not calls:
        result.update(flops_per_block=1e10, matmul_peak_flops=1e11,
                      compile_split={"trace_s": 0.1, "lower_s": 0.1, "compile_s": compile_s} if compile_s else None,
                      evaluate_compile_split={"compile_s": 0.05} if compile_s else None)
    return result


def paired_record(rng, timestamp="2026-12-06T21:00:00+00:00", jax_jit=0.8):
    training = {"batch_size": 64, "train_subset": 10_000, "calls_per_block": None, "blocks": 4, "order_seed": 1,
                "rounds": [{side: process(rng, mean, compile_s=0.3 if side == "jax-jit" else None, started=20.0 * i)
                            for i, (side, mean) in enumerate((("torch-eager", 1.0), ("torch-eager again", 1.0),
                                                              ("jax-jit", jax_jit)))} for _ in range(6)]}
    dispatch = {"batch_size": None, "train_subset": None, "calls_per_block": 2000, "blocks": 4,
                "rounds": [{"jax-op": process(rng, 0.02, calls=True), "torch-op": process(rng, 0.004, calls=True),
                            "jax-op again": process(rng, 0.02, calls=True)} for _ in range(5)]}
    return {"name": "paired", "kind": "evidence", "timestamp": timestamp, "data": {"quick": False, "parts": {
        "bs64": training, "dispatch": dispatch}}, "device": {"kind": "cpu", "name": "Test CPU"},
        "platform": {"code_version": "v", "jax": "0", "torch": "0", "git": {"commit": "abcdef0"}}}


def test_the_paired_section_prints_the_verdicts_of_every_session_the_a_a_and_the_drift(monkeypatch):
    from mnistbench.report import verdicts

    rng = np.random.default_rng(0)
    records = [paired_record(rng), paired_record(rng, "2026-12-07T09:00:00+00:00")]
    monkeypatch.setattr(Study, "evidence", lambda self, name: records if name == "paired" else [])
    text = verdicts.paired_section(Study(all_runs=[], all_evidence=[]))
    assert "2 sessions" in text and "frameworks' defaults" in text and "dispatch: one operation" in text
    assert "0.80× [" in text and "slower" in text
    each = text.split("**Each session apart**")[1].split("**A/A**")[0]  # every session's own estimate, side by side
    assert "| Session 1 [99.6%]" in each and "| Session 2 [99.6%]" in each and "Sessions differ, p" in each
    assert "| Sessions as units [99.6%]" in each  # two session means: an interval, however wide
    assert each.count(", faster") >= 2
    assert "not resolved" not in each  # a session's cell names a verdict only where that session reaches one
    assert "Ratio [99.6%]" in text and "[99.2%]" in text  # the intervals the verdicts read, at the family's level
    assert "**A/A**" in text and "| yes " in text and "Drift a minute" in text
    assert "One call, µs" in text and "0 left out" in text
    looks = text.split("**As the sessions joined**")[1].split("**A/A**")[0]  # the verdicts look by look
    assert "| Session 1 " in looks and "| Sessions 1-2 " in looks and "planned as 2 sessions" in looks
    assert "Reached only after the planned sessions: none." in looks and "every verdict holds" in looks
    design = verdicts.design_section(Study(all_runs=[], all_evidence=[]))
    assert "±10%" in design and "12 comparisons" in design and "Williams square" in design


def test_the_values_name_the_verdicts_reached_only_after_the_planned_sessions(monkeypatch):
    """Two sessions that agree are the planned analysis: no verdict is late. A third that reverses the
    first two turns the verdict into 'sessions disagree' (no verdict, never late); a third that carries a
    weak effect over the line makes it late, and the split level over the two looks decides if it holds."""
    rng = np.random.default_rng(0)
    planned = [paired_record(rng), paired_record(rng, "2026-12-07T09:00:00+00:00")]
    monkeypatch.setattr(Study, "evidence", lambda self, name: records if name == "paired" else [])
    records = planned
    two = values.paired_values(Study(all_runs=[], all_evidence=[]))
    assert two["late_verdicts"].value == [] and two["late_session"] is None and two["looks"] == "1"
    assert two["cpu_jax_over_torch_small"].verdict == "faster" and two["all_hold_over_looks"] is True
    records = [*planned, paired_record(rng, "2026-12-08T09:00:00+00:00", jax_jit=1.25)]
    reversed_ = values.paired_values(Study(all_runs=[], all_evidence=[]))
    assert reversed_["cpu_jax_over_torch_small"].verdict == "sessions disagree"
    assert reversed_["late_verdicts"].value == [] and reversed_["looks"] == "2"
    from mnistbench.report import verdicts

    key = ("bs64", "frameworks' defaults")
    for seed, holds in ((0, False), (2, True)):  # a 1% effect the third session carries over the line
        weak = [paired_record(np.random.default_rng(100 * seed + i), f"2026-12-0{6 + i}T09:00:00+00:00", jax_jit=0.99)
                for i in range(3)]
        assert verdicts.verdicts_as_sessions_joined(weak)[key] == ["within ±10%", "within ±10%", "faster, within ±10%"]
        found = verdicts.over_looks(weak)
        assert found["looks"] == 2 and found["late"] == {key: 3} and (key not in found["weaker"]) is holds
        pooled = [x for r in weak for x in compare.log_ratios(r["data"]["parts"]["bs64"], "torch-eager", "jax-jit")]
        split = compare.family_level(paired.family(False))[1] / 2  # the family's level split over the two looks
        assert compare.log_ratio_interval(pooled, 1 - split).excludes_one is holds


def hlo(with_matmul: int, without_matmul: int) -> dict:
    program = {"operations": 40, "by_opcode": {"fusion": with_matmul + without_matmul}}
    kinds = {"with_matmul": with_matmul, "without_matmul": without_matmul, "matmuls_outside_fusions": 3}
    return {"before_optimization": program, "after_optimization": {**program, "fusion_kinds": kinds}}


def test_the_report_and_the_supplement_quote_the_fusions_of_the_smallest_batch():
    """Records sort by file name, batch 1024's before batch 64's: both documents read batch 64's program."""
    runs = [run_record(fw, b, seed=s, device_kind="cpu") for b in (1024, 64) for fw in ("jax", "torch")
            for s in (0, 1)]
    for run in runs:
        if run["framework"] == "jax" and run["seed"] == 0:
            run["profile"] = {"hlo": hlo(5, 31) if run["batch_size"] == 64 else hlo(7, 40)}
    study = Study(all_runs=runs, all_evidence=[])
    assert values.quoted(study).fusion_kinds == "5 around a matrix product, 31 without one"
    text = supplement.fusion_section(study)
    assert "batch 64:" in text and "5 hold a matrix product" in text and "31 are element-wise" in text


def test_a_study_of_one_epoch_runs_prints_no_nan_and_raises_nothing():
    """``grid --epochs 1``: no steady epoch, one validation; every section and value still reads."""
    runs = [run_record(fw, b, seed=s, device_kind=kind, epoch_times=(2.0,), val_times=(0.5,), steps=50_000 // b)
            for kind in ("gpu", "cpu") for fw in ("jax", "torch") for b in (64, 1024) for s in (0, 1, 2)]
    assert all(r["steady_epoch_s"] is None and len(r["val_times_s"]) == 1 for r in runs)
    study = Study(all_runs=runs, all_evidence=[])
    from mnistbench.report import cost_sections, verdicts

    sections = [f for module in (supplement, verdicts, cost_sections)
                for name, f in inspect.getmembers(module, inspect.isfunction)
                if name.endswith("_section") and f.__module__ == module.__name__]
    assert len(sections) == 18
    texts = [section(study) for section in sections] + [str(v) for v in values.quoted(study).values()]
    assert not [text for text in texts if "nan" in text.lower()], texts
    assert "First epoch, JAX / PyTorch" in supplement.grid_pairs_section(study)  # the pairs of first epochs stay


def test_the_report_sets_pytorchs_peak_over_jaxs_from_the_same_rounds_and_says_whether_sessions_agree(monkeypatch):
    """At the largest batch the ratio of the matmul peaks PyTorch's and JAX's processes probed, round by
    round (a geometric mean over every session's rounds); two sessions with the same effect agree."""
    rng = np.random.default_rng(1)
    records = [paired_record(rng), paired_record(rng, "2026-12-07T09:00:00+00:00")]
    for record in records:
        large = {**record["data"]["parts"]["bs64"], "batch_size": 1024}
        large["rounds"] = [{side: {**p, "matmul_peak_flops": 0.9e11 if side == "torch-eager" else 1e11}
                            for side, p in r.items()} for r in large["rounds"]]
        record["data"]["parts"]["bs1024"] = large
    monkeypatch.setattr(Study, "evidence", lambda self, name: records if name == "paired" else [])
    v = values.paired_values(Study(all_runs=[], all_evidence=[]))
    assert v["paired_peak_ratio_large"] == "0.90×" and math.isclose(v["paired_peak_ratio_large"].value, 0.9)
    assert v["sessions_agree"] is True and v["sessions"].value == 2
