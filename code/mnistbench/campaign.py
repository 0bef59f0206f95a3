"""A device's whole study as one prioritized, budgeted, resumable plan.

``plan`` lists every step the report and the supplement need from one device,
most important first: the equality checks of the variants, the main grid, the
variants grid, the compile evidence, TF32 runs (GPU), host and device time per
step, kernel counts, the updates experiment (CPU), more seeds of the variants,
and the items derived from the runs. Each step is a run (one fresh process) or
one part of an evidence item, and knows whether it is already done for the
current code version (its record exists), and about how long it takes (from
this device's earlier records, else a stated default).

``execute`` runs the steps that are not done, in order, and stops cleanly
before a step that would end past the time budget. Every finished step has
saved its record, so running the same command again continues where the last
one stopped; an interrupted step is simply done again.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from . import variants
from .config import GRID_BATCH_SIZES, GRID_SEEDS, Config
from .errors import Error

QUICK = {"epochs": 2, "train_subset": 4096, "batch_sizes": (64, 256), "variant_batch_sizes": (256,), "seeds": (0,)}
STARTUP_S = {"gpu": 20.0, "cpu": 8.0}  # a fresh process: imports, MNIST, the device
DEFAULT_EPOCH_S = {"gpu": 2.0, "cpu": 5.0}
DEFAULT_COMPILE_S = {("gpu", "jax"): 30.0, ("gpu", "torch"): 40.0, ("cpu", "jax"): 1.0, ("cpu", "torch"): 30.0}
DEFAULT_PART_S = {  # evidence parts, full size
    "gpu": {"equality": 60, "compile": 240, "overhead": 150, "fusion": 60, "partial-batch": 30},
    "cpu": {"equality": 40, "compile": 90, "overhead": 150, "fusion": 45, "partial-batch": 15, "updates": 800},
}
QUICK_SHARE = 0.3  # a quick step takes about this share of the full one
DERIVED_S = 2.0


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing to measure: a training run, or one part of an evidence item."""

    label: str
    kind: str  # "run", "evidence" or "derived"
    framework: str | None = None
    variant: str | None = None
    config: Config | None = None
    folder: Path | None = None  # where a run's record goes
    evidence: str | None = None
    part: str | None = None


@dataclasses.dataclass
class Planned:
    step: Step
    state: str  # "done", "to do" or "blocked: why"
    estimate_s: float
    estimate_from: str  # "earlier records" or "default"


# --- the plan -------------------------------------------------------------------------


def _run_step(label: str, framework: str, variant: str, config: Config, folder: Path) -> Step:
    return Step(f"{label:9} {framework} {variant} batch {config.batch_size} seed {config.seed}"
                + (" tf32" if config.matmul_precision == "tf32" else ""),
                "run", framework, variant, config, folder)


def _evidence_steps(name: str, device: str, quick: bool, folder: Path) -> list[Step]:
    from .evidence import parts

    return [Step(f"evidence  {name} {part}", "evidence", evidence=name, part=part, folder=folder)
            for part in parts(name, device, quick)]


def plan(device: str, quick: bool, results_dir: Path) -> list[Step]:
    """Every step, most important first."""
    results_dir = Path(results_dir)
    evidence_dir = results_dir / "evidence"
    size = QUICK if quick else {"epochs": Config().epochs, "train_subset": None, "batch_sizes": GRID_BATCH_SIZES,
                                "variant_batch_sizes": GRID_BATCH_SIZES, "seeds": GRID_SEEDS}
    base = Config(epochs=size["epochs"], train_subset=size["train_subset"])
    others = [v for v in variants.for_device(device) if not v.is_default]

    def grid(label, specs, batch_sizes, seeds, precision="float32", folder=results_dir):
        return [_run_step(label, spec.framework, spec.name,
                          base.replace(batch_size=b, seed=s, matmul_precision=precision), folder)
                for s in seeds for b in batch_sizes for spec in specs]

    defaults = [variants.get(framework) for framework in ("jax", "torch")]
    steps = _evidence_steps("equality", device, quick, evidence_dir)
    steps += grid("grid", defaults, size["batch_sizes"], size["seeds"])
    steps += grid("variants", others, size["variant_batch_sizes"], size["seeds"][:1])
    steps += _evidence_steps("compile", device, quick, evidence_dir)
    if device == "gpu":
        steps += grid("tf32", defaults, size["batch_sizes"], size["seeds"][:1], "tf32", results_dir / "tf32")
    steps += _evidence_steps("overhead", device, quick, evidence_dir)
    steps += _evidence_steps("fusion", device, quick, evidence_dir)
    if device == "cpu":  # accuracy does not depend on the device: the twins are tested equal
        steps += _evidence_steps("updates", device, quick, evidence_dir)
    steps += grid("variants", others, size["variant_batch_sizes"], size["seeds"][1:])
    steps += [Step(f"derive    {name}", "derived", evidence=name, folder=evidence_dir)
              for name in ("amortization", "efficiency")]
    return steps


# --- states and estimates ----------------------------------------------------------------


def run_path(step: Step, device: str, cached: bool = False) -> Path:
    from .results import run_filename

    return step.folder / run_filename(step.framework, step.variant, step.config.batch_size, step.config.seed,
                                      device, step.config.fingerprint(), cached)


def state_of(step: Step, device: str, quick: bool, code_version: str, evidence_data: Callable,
             software: str | None = None, cached: bool = False) -> str:
    from .results import is_current

    if step.kind == "run":
        if is_current(run_path(step, device, cached), step.config.fingerprint(), code_version, software, cached):
            return "done"
        return blocked_by_equality(step, evidence_data("equality")) or "to do"
    if step.kind == "evidence":
        data = evidence_data(step.evidence)
        return "done" if data and step.part in data["parts"] else "to do"
    return "to do"  # derived items are recomputed at the end of every complete campaign


def blocked_by_equality(step: Step, equality: dict | None, running: bool = False) -> str | None:
    """Why a run must not be timed: its variant failed its equality check, or (when about
    to run: a GPU-only variant, which no CPU test covers) has not passed one yet; None when
    it may run. The plan counts an unchecked GPU variant as to do: its check comes first."""
    variant = variants.get(step.framework, step.variant)
    result = (equality or {}).get("parts", {}).get(variant.key)
    if result is not None and not result["passed"]:
        return f"blocked: {variant.key} failed its equality check"
    if running and variant.needs_gpu and result is None:
        return f"blocked: {variant.key} has not passed its equality check"
    return None


def estimate(step: Step, device: str, device_name: str, quick: bool, history: dict) -> tuple[float, str]:
    """Seconds the step should take, and where the number comes from."""
    if step.kind == "derived":
        return DERIVED_S, "default"
    if step.kind == "run":
        c = step.config
        walls = [r["run_wall_s"] for r in history["runs"]
                 if r["device"]["name"] == device_name and r["framework"] == step.framework
                 and variants.of_record(r).name == step.variant and r["batch_size"] == c.batch_size
                 and r["epochs"] == c.epochs and r["precision"] == c.matmul_precision
                 and r.get("config", {}).get("train_subset") == c.train_subset and "run_wall_s" in r]
        if walls:
            return statistics.median(walls) + STARTUP_S[device], "earlier records"
        compiling = variants.get(step.framework, step.variant).compiles
        share = QUICK_SHARE if quick else 1.0
        return (STARTUP_S[device] + DEFAULT_COMPILE_S[(device, step.framework)] * compiling
                + DEFAULT_EPOCH_S[device] * c.epochs * share), "default"
    seconds = [record["data"]["seconds"][step.part] for record in history["evidence"]
               if record["name"] == step.evidence and record["device"]["name"] == device_name
               and record["data"].get("quick") == quick and step.part in record["data"].get("seconds", {})]
    if seconds:
        return max(seconds), "earlier records"
    key = "partial-batch" if step.part == "partial-batch" else step.evidence
    return DEFAULT_PART_S[device].get(key, 60) * (QUICK_SHARE if quick else 1.0), "default"


def load_history(results_dir: Path) -> dict:
    """Every record already in ``results_dir``: the source of states and estimates."""
    from .results import load_records

    records = load_records(results_dir, kind=None) if Path(results_dir).exists() else []
    return {"runs": [r for r in records if r.get("kind", "run") == "run"],
            "evidence": [r for r in records if r.get("kind") == "evidence"]}


def assess(steps: list[Step], device: str, quick: bool, results_dir: Path, cached: bool = False) -> list[Planned]:
    """Each step with its state and estimate; ``cached``: the runs use a compilation cache
    (a study of their own, so a cold run of the same configuration does not count)."""
    from .evidence import current_data, describe_device
    from .platform import code_version, device_name
    from .results import software_fingerprint

    history = load_history(results_dir)
    name, version = device_name(device), code_version()
    described = describe_device(device)
    software = software_fingerprint(described)
    cache: dict[str, dict | None] = {}

    def evidence_data(item: str) -> dict | None:
        if item not in cache:
            cache[item] = current_data(item, device, quick, Path(results_dir) / "evidence", described)
        return cache[item]

    return [Planned(step, state_of(step, device, quick, version, evidence_data, software, cached),
                    *estimate(step, device, name, quick, history)) for step in steps]


# --- running -------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    done: list[Planned]
    failed: list[tuple[Planned, str]]
    left: list[Planned]  # not started: the budget would have run out
    seconds: float
    blocked: list[tuple[Planned, str]] = dataclasses.field(default_factory=list)


class Blocked(Error):
    """A step that must not run now (a variant without a passed equality check)."""


def execute_step(step: Step, device: str, quick: bool, results_dir: Path, compilation_cache: Path | None,
                 log: Callable[[str], None]) -> None:
    from .evidence import current_data, describe_device, run_evidence
    from .experiment import run_in_fresh_process

    if step.kind == "run":
        equality = current_data("equality", device, quick, Path(results_dir) / "evidence", describe_device(device))
        reason = blocked_by_equality(step, equality, running=True)  # as measured by now, in this campaign too
        if reason:
            raise Blocked(reason)
        run_in_fresh_process(step.framework, step.config, device, step.folder, variant=step.variant,
                             compilation_cache=compilation_cache)
    elif step.kind == "evidence":
        run_evidence(step.evidence, device, quick, step.folder, only_parts=[step.part], log=log)
    else:
        run_evidence(step.evidence, device, quick, step.folder, runs_dir=results_dir)


def execute(planned: list[Planned], device: str, quick: bool, results_dir: Path, max_seconds: float | None,
            compilation_cache: Path | None = None, log: Callable[[str], None] = print,
            run_step: Callable = execute_step, clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Run every step that is to do, in order, within ``max_seconds``."""
    started = clock()
    todo = [p for p in planned if p.state == "to do"]
    outcome = Outcome([], [], [], 0.0)
    for number, item in enumerate(todo):
        elapsed = clock() - started
        if max_seconds is not None and elapsed + item.estimate_s > max_seconds:
            outcome.left = todo[number:]
            break
        if item.step.kind == "derived" and main_grid_incomplete(planned, outcome):
            outcome.left.append(item)  # the derived items read the main grid: derive only from all of it
            continue
        budget = f" of {format_seconds(max_seconds)}" if max_seconds else ""
        log(f"[{number + 1}/{len(todo)}] {item.step.label} (about {format_seconds(item.estimate_s)}; "
            f"{format_seconds(elapsed)}{budget} used)")
        try:
            run_step(item.step, device, quick, results_dir, compilation_cache, log)
        except Blocked as reason:
            outcome.blocked.append((item, str(reason)))
            log(f"    {reason}")
            continue
        except Error as error:
            outcome.failed.append((item, str(error)))
            log(f"    failed: {error}")
            continue
        outcome.done.append(item)
    outcome.seconds = clock() - started
    return outcome


def main_grid_incomplete(planned: list[Planned], outcome: Outcome) -> bool:
    """Whether a run of the main grid (a default variant) failed, or was not run."""
    def main_run(item: Planned) -> bool:
        return item.step.kind == "run" and variants.get(item.step.framework, item.step.variant).is_default

    unfinished = [p for p, _ in outcome.failed] + [p for p, _ in outcome.blocked] + outcome.left
    return any(main_run(p) for p in unfinished) or any(main_run(p) and p.state.startswith("blocked")
                                                       for p in planned)


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def outcome_text(outcome: Outcome, max_seconds: float | None, continue_command: Callable) -> str:
    """What a campaign did and what is left, with the command that continues; a budget
    too small for the next step alone is said, and the command offers one that fits."""
    lines = [f"campaign: {len(outcome.done)} steps done in {format_seconds(outcome.seconds)}, "
             f"{len(outcome.failed)} failed, {len(outcome.blocked)} blocked, {len(outcome.left)} left"]
    lines += [f"  failed: {item.step.label}: {error}" for item, error in outcome.failed]
    lines += [f"  {reason}: {item.step.label}" for item, reason in outcome.blocked]
    if outcome.left:
        lines.append(f"left (about {format_seconds(sum(p.estimate_s for p in outcome.left))}): "
                     + "; ".join(p.step.label for p in outcome.left[:5]) + (" ..." if len(outcome.left) > 5 else ""))
        needed = outcome.left[0].estimate_s
        budget = None
        if not outcome.done and not outcome.failed and max_seconds and needed > max_seconds:
            budget = math.ceil(needed * 1.5)  # the same budget again would do nothing again
            lines.append(f"the next step alone is estimated at {format_seconds(needed)}, more than "
                         f"--max-seconds {max_seconds:g}")
        lines.append(f"continue with: {continue_command(budget)}")
    return "\n".join(lines)


def plan_text(planned: list[Planned]) -> str:
    """The plan, one step per line, with its state and estimate, and the totals."""
    lines = [f"{n:3}. [{p.state}] {p.step.label}  ~{format_seconds(p.estimate_s)} ({p.estimate_from})"
             for n, p in enumerate(planned, start=1)]
    todo = [p for p in planned if p.state == "to do"]
    from_records = sum(p.estimate_from == "earlier records" for p in todo)
    lines.append(f"{len(planned) - len(todo)} of {len(planned)} steps done or blocked; {len(todo)} to do, about "
                 f"{format_seconds(sum(p.estimate_s for p in todo))} ({from_records} estimates from earlier "
                 f"records, {len(todo) - from_records} defaults)")
    return "\n".join(lines)
