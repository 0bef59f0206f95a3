"""The campaign: a device's plan, its states and estimates, the budget, and continuing."""

import subprocess
import sys

import pytest

from mnistbench import campaign, results
from mnistbench.config import Config

from .factories import run_record


def kinds(steps):
    return [s.evidence or s.label.split()[0] for s in steps]


def test_the_cpu_quick_plan_exercises_every_kind_of_step(tmp_path):
    steps = campaign.plan("cpu", True, tmp_path)
    names = kinds(steps)
    for kind in ("equality", "grid", "variants", "compile", "overhead", "fusion", "updates", "amortization",
                 "efficiency"):
        assert kind in names, kind
    assert names.index("equality") < names.index("grid") < names.index("variants") < names.index("compile")
    assert not [s for s in steps if s.variant in ("cudagraph", "cudagraph-epoch")]
    assert not [s for s in steps if s.config and s.config.matmul_precision == "tf32"]
    assert all(s.config.train_subset and s.config.epochs == 2 for s in steps if s.kind == "run")


def test_the_gpu_plan_adds_tf32_and_cuda_graphs_and_leaves_out_the_cpu_experiment(tmp_path):
    steps = campaign.plan("gpu", False, tmp_path)
    runs = [s for s in steps if s.kind == "run"]
    main = [s for s in runs if s.label.startswith("grid")]
    assert len(main) == 2 * 3 * 3 and {s.config.epochs for s in runs} == {10}
    assert {s.variant for s in runs} >= {"cudagraph", "cudagraph-epoch", "compile", "eager", "scan"}
    assert len([s for s in runs if s.config.matmul_precision == "tf32"]) == 2 * 3
    assert "updates" not in kinds(steps)
    seeds_late = [s.config.seed for s in runs if s.label.startswith("variants")]
    assert seeds_late[0] == 0 and seeds_late[-1] == 2  # more seeds of the variants come last


def test_states_estimates_and_blocked_variants(tmp_path):
    from mnistbench.platform import code_version

    steps = campaign.plan("gpu", False, tmp_path)
    step = next(s for s in steps if s.kind == "run" and s.variant == "jit")
    path = campaign.run_path(step, "gpu")
    record = run_record("jax", step.config.batch_size, seed=step.config.seed, epoch_times=[1.0] * 10)
    record.update(config=step.config.to_dict(), config_fingerprint=step.config.fingerprint(), run_wall_s=40.0)
    record["platform"]["code_version"] = code_version()
    results.save_record(record, tmp_path)
    assert path.exists()
    no_evidence = lambda name: None  # noqa: E731
    assert campaign.state_of(step, "gpu", False, code_version(), no_evidence) == "done"
    assert campaign.state_of(step, "gpu", False, "older", no_evidence) == "to do"
    graph = next(s for s in steps if s.kind == "run" and s.variant == "cudagraph")
    failed = {"parts": {"torch-cudagraph": {"passed": False}}}
    passed = {"parts": {"torch-cudagraph": {"passed": True}}}
    assert "failed its equality check" in campaign.state_of(graph, "gpu", False, code_version(), lambda _: failed)
    # unchecked: to do in the plan (its check runs first), blocked only if it is still unchecked when it is its turn
    assert campaign.state_of(graph, "gpu", False, code_version(), no_evidence) == "to do"
    assert "has not passed" in campaign.blocked_by_equality(graph, None, running=True)
    assert campaign.blocked_by_equality(graph, passed, running=True) is None
    assert campaign.state_of(graph, "gpu", False, code_version(), lambda _: passed) == "to do"
    scan = next(s for s in steps if s.kind == "run" and s.variant == "scan")  # a CPU test covers it
    assert campaign.state_of(scan, "gpu", False, code_version(), no_evidence) == "to do"
    other_machine = "0123456789"
    assert campaign.state_of(step, "gpu", False, code_version(), no_evidence, other_machine) == "to do"
    part = next(s for s in steps if s.evidence == "compile")
    assert campaign.state_of(part, "gpu", False, code_version(), lambda name: {"parts": {part.part: {}}}) == "done"

    history = campaign.load_history(tmp_path)
    assert campaign.estimate(step, "gpu", "Test GPU", False, history) == (40.0 + campaign.STARTUP_S["gpu"],
                                                                          "earlier records")
    seconds, source = campaign.estimate(step, "gpu", "Another GPU", False, history)
    assert source == "default" and seconds > 0


def planned(labels_and_estimates, state="to do"):
    return [campaign.Planned(campaign.Step(label, "evidence"), state, seconds, "default")
            for label, seconds in labels_and_estimates]


def test_execute_stops_before_a_step_that_would_end_past_the_budget():
    ran, now = [], [0.0]

    def run(step, *rest):  # each step takes 9 s of a fake clock
        ran.append(step.label)
        now[0] += 9

    outcome = campaign.execute(planned([("a", 10), ("b", 10), ("c", 10)]), "cpu", True, None, max_seconds=25,
                               log=lambda _: None, run_step=run, clock=lambda: now[0])
    assert ran == ["a", "b"] and [p.step.label for p in outcome.left] == ["c"] and outcome.seconds == 18


def test_execute_goes_on_after_a_failure_and_derives_only_from_a_whole_main_grid():
    from mnistbench.errors import Error

    def run(step, *rest):
        if step.label.startswith("b"):
            raise Error("b broke")
        if step.label.startswith("g"):
            raise campaign.Blocked("blocked: no equality check")

    def steps(failing_variant):
        main = campaign.Step("b main", "run", "jax", failing_variant)
        return (planned([("a", 1)], "done") + [campaign.Planned(main, "to do", 1, "default")]
                + planned([("c", 1)]) + [campaign.Planned(campaign.Step("g graph", "run", "torch", "cudagraph"),
                                                          "to do", 1, "default"),
                                         campaign.Planned(campaign.Step("derive", "derived"), "to do", 1, "default")])

    outcome = campaign.execute(steps("jit"), "cpu", True, None, None, log=lambda _: None, run_step=run)
    assert [p.step.label for p in outcome.done] == ["c"]
    assert [(p.step.label, error) for p, error in outcome.failed] == [("b main", "b broke")]
    assert [p.step.label for p, _ in outcome.blocked] == ["g graph"]
    assert [p.step.label for p in outcome.left] == ["derive"]  # a main-grid run failed: nothing to derive from
    outcome = campaign.execute(steps("scan"), "cpu", True, None, None, log=lambda _: None, run_step=run)
    assert "derive" in [p.step.label for p in outcome.done]  # a variant's failure does not hold the derived back


def test_plan_text_shows_states_estimates_and_totals():
    text = campaign.plan_text(planned([("a", 30)], "done") + planned([("b", 120), ("c", 60)]))
    assert "[done] a" in text and "[to do] b" in text and "~2 min (default)" in text
    assert text.splitlines()[-1].startswith("1 of 3 steps done or blocked; 2 to do, about 3 min")


@pytest.mark.slow
def test_a_quick_campaign_stops_within_its_budget_and_continues(tmp_path):
    command = [sys.executable, "-m", "mnistbench", "campaign", "--device", "cpu", "--quick", "--results-dir",
               str(tmp_path), "--quiet"]
    first = subprocess.run([*command, "--max-seconds", "40"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "continue with: python -m mnistbench campaign --device cpu" in first.stdout
    done_first = int(first.stdout.split("campaign: ")[1].split()[0])
    assert done_first >= 1
    plan = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=300)
    assert plan.stdout.count("[done]") == done_first
    second = subprocess.run([*command, "--max-seconds", "40"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0
    again = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=300)
    assert again.stdout.count("[done]") > done_first  # it went on where it stopped
    assert (tmp_path / "evidence" / "evidence-equality-cpu.json").exists()


def test_a_config_round_trips_through_the_run_filename(tmp_path):
    step = campaign.plan("cpu", True, tmp_path)[0]
    assert step.kind == "evidence"
    run = next(s for s in campaign.plan("cpu", True, tmp_path) if s.kind == "run")
    assert isinstance(run.config, Config) and campaign.run_path(run, "cpu").parent == tmp_path
