"""The campaign: a device's tiered plan, its states and estimates, the budget, and continuing."""

import subprocess
import sys

import pytest

from mnistbench.bench import campaign, campaign_text, estimates, results, variants
from mnistbench.bench.session import FULL, Run
from mnistbench.networks.config import Config
from tests.factories import run_record


def kinds(steps):
    return [s.evidence or s.kind for s in steps]


def all_runs(steps):
    return [run for s in steps for run in s.runs]


def test_the_cpu_quick_plan_exercises_every_kind_of_step(tmp_path):
    steps = campaign.plan("cpu", True, tmp_path)
    names = kinds(steps)
    for kind in ("equality", "session", "compile", "updates", "paired"):
        assert kind in names, kind
    assert not [r for r in all_runs(steps) if r.variant in ("cudagraph", "cudagraph-epoch")]
    assert not [r for r in all_runs(steps) if r.config.matmul_precision == "tf32"]
    assert all(r.config.train_subset and r.config.epochs <= 2 for r in all_runs(steps))
    assert [s.tier for s in steps] == sorted(s.tier for s in steps)  # tier 1 first


def test_the_gpu_plan_puts_what_the_report_needs_first():
    steps = campaign.plan("gpu", False, "results/x")
    first = [s for s in steps if s.tier == 1]
    assert first[0].evidence == "equality" and first[0].part == "gpu-only"  # CUDA graphs checked before any timing
    sessions = [s for s in first if s.kind == "session"]
    # the main grid's first seed: every batch size of both frameworks, each the cold start of its own process
    cold = [s.runs[0] for s in sessions if s.runs[0].config.matmul_precision == "float32"]
    assert sorted((r.framework, r.variant, r.config.batch_size) for r in cold) == sorted(
        (fw, v, b) for fw, v in (("jax", "jit"), ("torch", "eager")) for b in (64, 256, 1024))
    assert {r.config.seed for r in cold} == {0} and {r.config.epochs for r in cold} == {10}
    # every variant at the smallest and the largest batch size, after the cold run, profiled
    later = [r for s in sessions for r in s.runs[1:] if r.config.matmul_precision == "float32"]
    assert {(r.variant, r.config.batch_size) for r in later} == {
        (v, b) for v in ("eager", "scan", "jit-no-donation", "compile", "cudagraph", "cudagraph-epoch")
        for b in (64, 1024)}
    assert all(r.profile and r.config.epochs == FULL.variant_epochs for r in later)
    second = [s for s in steps if s.tier == 2]
    assert {(s.evidence, s.part) for s in second if s.kind == "evidence"} >= {("compile", "jax-jit bs64")}
    assert not [s for s in steps if s.evidence == "compile" and s.part.startswith("torch")]  # the session's
    assert any(r.config.matmul_precision == "tf32" for s in second for r in s.runs)
    assert {r.config.seed for s in second for r in s.runs} == {0, 1, 2}  # the other seeds (and TF32) come second
    assert [s.part for s in steps if s.evidence == "equality"] == ["gpu-only"]  # the rest: checked on the CPU
    assert "updates" not in kinds(steps)  # accuracy does not depend on the device


def test_the_cpu_plan_runs_the_grid_as_pairs_of_processes_and_the_variants_in_the_paired_item():
    steps = campaign.plan("cpu", False, "results/x")
    sessions = [s for s in steps if s.kind == "session"]
    assert all(len(s.runs) == 1 and variants.get(s.runs[0].framework, s.runs[0].variant).is_default
               for s in sessions)  # every grid run a cold start; no variant runs beside them
    cells = [(s.runs[0].config.seed, s.runs[0].config.batch_size) for s in sessions]
    assert cells[0::2] == cells[1::2] and len(cells) == 18  # the two frameworks' processes adjacent
    order = [s.runs[0].framework for s in sessions]
    assert order[0:2] != order[2:4]  # ABBA
    assert [s.part for s in steps if s.evidence == "paired"] == ["bs64", "bs1024", "dispatch"]


def test_a_session_is_done_run_by_run_and_blocked_variants_are_said(tmp_path):
    from mnistbench.provenance import code_version

    steps = campaign.plan("gpu", False, tmp_path)
    session = next(s for s in steps if s.kind == "session" and len(s.runs) > 2
                   and any(r.variant == "cudagraph" for r in s.runs))
    first = session.runs[0]
    record = run_record(first.framework, first.config.batch_size, seed=0, epoch_times=[1.0] * 10)
    record.update(config=first.config.to_dict(), config_fingerprint=results.config_fingerprint(first.config),
                  variant=first.variant)
    record["platform"]["code_version"] = code_version()
    results.save_record(record, tmp_path)
    todo = campaign.runs_to_do(session, "gpu", code_version())
    assert todo == session.runs[1:]  # the recorded run is done, the others are left
    assert campaign.runs_to_do(session, "gpu", "older code") == session.runs
    assert campaign.runs_to_do(session, "gpu", code_version(), software="another machine") == session.runs
    no_evidence = lambda name: None  # noqa: E731
    assert campaign.state_of(session, todo, no_evidence) == "to do"
    assert campaign.state_of(session, (), no_evidence) == "done"
    graph = next(r for r in session.runs if r.variant == "cudagraph")
    failed = {"parts": {"gpu-only": {"torch-cudagraph": {"passed": False}}}}
    passed = {"parts": {"gpu-only": {"torch-cudagraph": {"passed": True}}}}
    assert "failed its equality check" in campaign.state_of(session, (graph,), lambda _: failed)
    # unchecked: to do in the plan (its check runs first), blocked only if still unchecked when it is its turn
    assert "has not passed" in campaign.blocked_by_equality(graph, None, running=True)
    assert campaign.blocked_by_equality(graph, passed, running=True) is None
    compiled = next(r for r in session.runs if r.variant == "compile")  # a CPU test covers it
    assert campaign.blocked_by_equality(compiled, None, running=True) is None


def history(runs=(), evidence=(), device="gpu", name="Test GPU", quick=False):
    return estimates.History(list(runs), list(evidence), device, name, quick)


def test_a_run_takes_its_records_wall_time_scaled_to_its_epochs_from_this_device_else_another_of_its_kind():
    record = {**run_record("jax", 64, epoch_times=[10.0] + [1.0] * 9, val_times=[3.0] + [0.5] * 9),
              "wall_s": 40.0}  # 10 epochs of 1 s + 0.5 s steady: 15 s, so 25 s are the process's own
    ten, three = Run("jax", "jit", Config(batch_size=64)), Run("jax", "jit", Config(batch_size=64, epochs=3))
    mine = estimates.run_time(ten, history([record]))
    assert mine.seconds == pytest.approx(40.0) and mine.source == "Test GPU records"
    assert estimates.run_time(three, history([record])).seconds == pytest.approx(25.0 + 3 * 1.5)
    other = estimates.run_time(ten, history([record], name="Another GPU"))
    assert other.seconds == mine.seconds and other.source == "Test GPU records"  # another GPU's, and named
    alone = estimates.run_time(ten, history([record], device="cpu"))  # no CPU record: the one stated number
    assert alone.seconds == estimates.UNMEASURED_S and alone.source == "no record"
    scan = estimates.run_time(Run("jax", "scan", Config(batch_size=64)), history([record]))
    assert scan.seconds == mine.seconds  # no scan record: the framework's default stands in


def test_a_later_run_of_a_session_pays_for_its_program_only_once():
    records = [{**run_record("jax", 64, epoch_times=[10.0] + [1.0] * 9), "wall_s": 30.0}]
    first = Run("jax", "jit", Config(batch_size=64, seed=1))
    again = Run("jax", "jit", Config(batch_size=64, seed=2))
    eager = Run("jax", "eager", Config(batch_size=64, seed=2))
    whole = estimates.session([first, again, eager], history(records))
    # the second seed finds its program compiled: its epochs only; the eager run compiles nothing either
    assert whole.seconds == pytest.approx(30.0 + 10 * 1.0 + 10 * 1.0)
    other_batch = estimates.session([first, Run("jax", "jit", Config(batch_size=256))], history(records))
    # a new program: its compile; no record of batch 256, so the nearest's steps stand in: 195 steps an epoch
    assert other_batch.seconds == pytest.approx(30.0 + (10.0 - 1.0) + 10 * 195 / 781)


def test_evidence_parts_take_their_recorded_seconds_scaled_by_their_processes():
    part = {"rounds": [{"jax-jit": {}, "torch-eager": {}}]}  # one round of two processes, then
    record = {"kind": "evidence", "name": "paired", "device": {"kind": "cpu", "name": "Test CPU"},
              "timestamp": "2026-01-01", "data": {"quick": True, "seconds": {"bs64": 30.0}, "parts": {"bs64": part}}}
    from mnistbench.bench.evidence import measure

    now = measure.process_count("paired", "bs64", "cpu", True)
    assert estimates.evidence_part("paired", "bs64", history(evidence=[record], device="cpu", name="Test CPU",
                                                             quick=True)).seconds == pytest.approx(15.0 * now)
    full_only = estimates.evidence_part("paired", "bs64", history(evidence=[record], device="cpu", quick=False))
    assert full_only.source == "no record"  # a record of the other size is not this part


def planned(labels_and_estimates, state="to do"):
    return [campaign.Planned(campaign.Step(label, "evidence"), state, seconds, "defaults")
            for label, seconds in labels_and_estimates]


def test_execute_stops_before_a_step_that_would_end_past_the_budget():
    ran, now = [], [0.0]

    def run(step, *rest):  # each step takes 9 s of a fake clock
        ran.append(step.label)
        now[0] += 9

    outcome = campaign.execute(planned([("a", 10), ("b", 10), ("c", 10)]), "cpu", True, None, max_seconds=25,
                               log=lambda _: None, run_step=run, clock=lambda: now[0])
    assert ran == ["a", "b"] and [p.step.label for p in outcome.left] == ["c"] and outcome.seconds == 18


def test_a_session_that_does_not_fit_runs_as_many_of_its_runs_as_do():
    runs = tuple(Run("jax", "jit", Config(batch_size=64, seed=s)) for s in range(4))
    session = campaign.Planned(campaign.Step("s", "session", runs=runs), "to do", 40.0, "defaults", runs)
    given = []

    def run(step, todo, *rest):
        given.append(todo)

    outcome = campaign.execute([session] + planned([("after", 1)]), "cpu", True, None, max_seconds=25,
                               log=lambda _: None, run_step=run,
                               estimator=lambda step, todo: estimates.unmeasured(10.0 * len(todo)))
    assert given == [runs[:2]]  # two runs of 10 s fit into 25 s
    assert [p.step.label for p in outcome.left] == ["s", "after"]


def test_execute_goes_on_after_a_failure_and_says_what_was_blocked():
    from mnistbench.errors import Error

    def run(step, *rest):
        if step.label.startswith("b"):
            raise Error("b broke")
        if step.label.startswith("g"):
            raise campaign.Blocked("blocked: no equality check")

    def steps():
        main = (Run("jax", "jit", Config()),)
        graph = (Run("torch", "cudagraph", Config()),)
        return (planned([("a", 1)], "done")
                + [campaign.Planned(campaign.Step("b main", "session", runs=main), "to do", 1, "defaults", main)]
                + planned([("c", 1)])
                + [campaign.Planned(campaign.Step("g graph", "session", runs=graph), "to do", 1, "defaults", graph)])

    outcome = campaign.execute(steps(), "cpu", True, None, None, log=lambda _: None, run_step=run)
    assert [p.step.label for p in outcome.done] == ["c"]
    assert [(p.step.label, error) for p, error in outcome.failed] == [("b main", "b broke")]
    assert [p.step.label for p, _ in outcome.blocked] == ["g graph"] and outcome.left == []


def test_plan_text_shows_tiers_states_estimates_and_totals():
    items = planned([("a", 30)], "done") + planned([("b", 120), ("c", 60)])
    items[2].step = campaign.Step("c", "evidence", tier=2)
    text = campaign_text.plan_text(items, (80.0, 3))
    assert "tier 1 (what the two-page report needs): 2 steps, about 2.5 min" in text
    assert "tier 2" in text and "[done] a" in text and "[to do] b" in text and "~2.0 min (defaults)" in text
    assert "whole plan about 3.5 min; 1 of 3 steps done or blocked; 2 to do, about 3.0 min" in text
    assert text.splitlines()[-1] == "recorded so far: 80 s in 3 records (their own walls)"


def test_the_gpu_plan_fits_a_short_loan_in_its_own_estimate(tmp_path):
    """On a machine without a GPU the dry run reads the committed H100 records; tier 1 fits 7
    minutes (one call, with the machine's start, in a 15-minute loan) and the whole plan 11."""
    out = subprocess.run([sys.executable, "-m", "mnistbench", "campaign", "--device", "gpu", "--dry-run",
                          "--results-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    planned_steps = campaign.assess(campaign.plan("gpu", False, tmp_path), "gpu", False, tmp_path, visible=False)
    tier1 = sum(p.estimate_s for p in planned_steps if p.step.tier == 1)
    assert tier1 <= 7 * 60 and sum(p.estimate_s for p in planned_steps) <= 11 * 60
    assert "NVIDIA H100 80GB HBM3 records" in out.stdout and "tier 1" in out.stdout


@pytest.mark.slow
def test_a_quick_campaign_stops_within_its_budget_and_continues(tmp_path):
    command = [sys.executable, "-m", "mnistbench", "campaign", "--device", "cpu", "--quick", "--results-dir",
               str(tmp_path), "--quiet"]
    first = subprocess.run([*command, "--max-seconds", "12"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "continue with: python -m mnistbench campaign --device cpu" in first.stdout
    assert len(results.load_records(tmp_path, kind=None)) >= 1
    # the same command goes on where this one stopped: its plan counts what was recorded as done (a second
    # budgeted call that runs the next step: test_gpu_study.py and the SLURM requeue test)
    plan = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=300)
    assert "[done]" in plan.stdout and "[to do]" in plan.stdout and "recorded so far" in plan.stdout


def test_a_run_round_trips_through_its_record_file_name(tmp_path):
    session = next(s for s in campaign.plan("cpu", True, tmp_path) if s.kind == "session")
    run = session.runs[0]
    assert isinstance(run.config, Config)
    assert results.run_path(session.folder, run.framework, run.variant, run.config, "cpu").parent == tmp_path
    assert Run.from_dict(run.to_dict()) == run
