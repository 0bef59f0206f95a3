"""A device's whole study as one prioritized, tiered, budgeted, resumable plan.

``plan`` lists every step the report and the supplement need from one device, in
two tiers. Tier 1, what the two-page report needs: on a GPU the equality check of the
CUDA-graph variants (no CPU test covers them); the main grid's first seed (each batch
size a cold start, the two frameworks' processes adjacent, ABBA) and, on a GPU, every
variant at the smallest and largest batch size in those processes. Tier 2: the other
seeds (on the CPU pairs of cold processes too, ``compare.grid_pairs``), the compile
causes, TF32 (GPU), and the rest; on the CPU the paired item measures the variants.

Each thing is measured once, in the cheapest honest way. A step is a *session* (runs in one new
process: the first is a cold start, the later ones share the process and are used only for steady
epochs, accuracy and profiles, never for a first epoch; variants that only feed the steady state train
fewer epochs, and every record says so), or one part of an evidence item (its own child processes).
Kernel counts and host and device time per step come from a few profiled steps of the runs themselves.

``execute`` runs what is not done, in order, and stops cleanly before a step
that would end past the time budget (a session that does not fit runs as many
of its runs as do). Every finished run and part is saved at once, so running
the same command again continues where the last one stopped; an interrupted
run is simply done again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import Error
from ..networks.config import Config
from ..provenance import code_version, device_name
from . import estimates, variants
from .evidence import costsplit, paired
from .evidence.items import current_data, describe_device, run_evidence
from .evidence.measure import compile_parts, equality_parts, updates_parts
from .results import is_recorded, load_records, results_folder, software_fingerprint
from .session import Run, run_session_in_fresh_process, size
from .variants import FRAMEWORKS

DONE, TO_DO, BLOCKED = "done", "to do", "blocked: "  # a step's states; BLOCKED starts a reason
EVIDENCE_FOLDER = "evidence"  # inside the results folder, where a campaign keeps its evidence records
TIERS = {1: "what the two-page report needs", 2: "the other seeds, then everything else the supplement shows"}


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing to measure: a session of runs, or one part of an evidence item."""

    label: str
    kind: str  # "session" or "evidence"
    tier: int = 1
    runs: tuple[Run, ...] = ()
    folder: Path | None = None  # where its records go
    evidence: str | None = None
    part: str | None = None


@dataclasses.dataclass
class Planned:
    """A step as assessed now: its state, its estimate and whose records gave it, its runs left."""
    step: Step
    state: str  # DONE, TO_DO or a reason starting with BLOCKED
    estimate_s: float
    estimate_from: str  # whose records the estimate used, or "defaults"
    todo: tuple[Run, ...] = ()  # a session's runs that are not recorded yet


# --- the plan -------------------------------------------------------------------------


def session_step(runs: list[Run], tier: int, folder: Path) -> Step:
    """A session of ``runs`` in one new process, labelled by its first (the cold start)."""
    first = runs[0]
    c = first.config
    label = (f"session   {first.framework}: {first.variant} batch {c.batch_size} seed {c.seed}"
             + (" tf32" if c.matmul_precision == "tf32" else "") + " (cold start)"
             + (f" + {len(runs) - 1} more run{'s' * (len(runs) > 2)}" if len(runs) > 1 else ""))
    return Step(label, "session", tier, tuple(runs), folder)


def evidence_step(name: str, part: str, tier: int, folder: Path) -> Step:
    return Step(f"evidence  {name} {part}", "evidence", tier, folder=folder, evidence=name, part=part)


def abba(number: int) -> tuple[str, ...]:
    """The frameworks' order in the ``number``-th pair of adjacent processes: JAX first, then PyTorch
    first, and so on (ABBA), so that neither framework always runs first."""
    return FRAMEWORKS if number % 2 == 0 else FRAMEWORKS[::-1]


def grid_run(quick: bool, framework: str, variant: str, batch_size: int, seed: int, epochs: int | None = None,
             precision: str = "float32", profile: bool = False) -> Run:
    """One run of the main grid's study (quick or full) at this batch size and seed."""
    study = size(quick)
    config = Config(epochs=epochs or study.epochs, train_subset=study.train_subset, batch_size=batch_size, seed=seed,
                    matmul_precision=precision)
    return Run(framework, variant, config, profile)


def grid_steps(device: str, quick: bool, results_dir: Path) -> tuple[list[Step], list[Step]]:
    """The main grid's sessions: the first seed (tier 1) and the other seeds (tier 2)."""
    study = size(quick)
    sizes, seeds = study.batch_sizes, study.seeds
    ends = (sizes[0], sizes[-1])
    default = variants.DEFAULT_VARIANT

    def others(framework):  # on the CPU the paired item measures the variants, in rounds of processes
        return [] if device == "cpu" else [v.name for v in variants.for_device(device, (framework,))
                                           if not v.is_default]

    # the first seed: each batch size a cold start of each framework in adjacent processes (ABBA),
    # then, in the same process, the other variants (steady state only)
    first = []
    for number, b in enumerate(sizes):
        for framework in abba(number):
            runs = [grid_run(quick, framework, default[framework], b, seeds[0], profile=b in ends)]
            runs += [grid_run(quick, framework, v, b, seeds[0], study.variant_epochs, profile=True)
                     for v in others(framework) if b in ends]
            first.append(session_step(runs, 1, results_dir))
    # the other seeds: on the CPU each run a cold start, the frameworks' processes adjacent (ABBA, its
    # first pair PyTorch first: the full grid's tier 1 ends with JAX first)
    cells = [(s, b) for s in seeds[1:] for b in sizes]
    if device == "cpu":
        rest = [session_step([grid_run(quick, fw, default[fw], b, s)], 2, results_dir)
                for number, (s, b) in enumerate(cells) for fw in abba(number + 1)]
    else:  # on a GPU a process's start and compiles cost more than its epochs: one process per framework
        rest = [session_step([grid_run(quick, fw, default[fw], b, s) for s, b in cells], 2, results_dir)
                for fw in FRAMEWORKS]
    return first, rest


def compile_steps(device: str, quick: bool, evidence_dir: Path) -> list[Step]:
    """The compile item's parts: JAX's step at the smallest batch in tier 1 on the CPU, the rest in tier 2;
    on a GPU torch.compile's cold compile is measured by the sessions, not by the compile item."""
    first = f"jax-jit bs{size(quick).batch_sizes[0]}"
    return [evidence_step("compile", part, 1 if part == first and device == "cpu" else 2, evidence_dir)
            for part in compile_parts(device, quick) if not (device == "gpu" and part.startswith("torch-compile"))]


def plan(device: str, quick: bool, results_dir: Path) -> list[Step]:
    """Every step, tier 1 first: the equality checks no CPU test covers, the grid's first seed and
    (on the CPU) JAX's compile; then the other checks, seeds, compiles and evidence items."""
    results_dir = Path(results_dir)
    evidence_dir = results_dir / EVIDENCE_FOLDER
    equality = [evidence_step("equality", part, 1 if part == "gpu-only" else 2, evidence_dir)
                for part in equality_parts(device, quick)]
    compiles = compile_steps(device, quick, evidence_dir)
    first_seed, other_seeds = grid_steps(device, quick, results_dir)

    def tier(steps, number):
        return [step for step in steps if step.tier == number]

    steps = tier(equality, 1) + first_seed + tier(compiles, 1) + tier(equality, 2) + other_seeds + tier(compiles, 2)
    if device == "gpu":  # TF32's compile time and epochs: JAX's at the largest batch size (most matmul), cold
        largest, seed = size(quick).batch_sizes[-1], size(quick).seeds[0]
        steps.append(session_step([grid_run(quick, "jax", "jit", largest, seed, precision="tf32")], 2,
                                  results_dir / "tf32"))
    if device == "cpu":  # the variants in rounds of fresh processes, where the machine's noise asks for them
        steps += [evidence_step("paired", part, 2, evidence_dir) for part in paired.parts(device, quick)]
    steps += [evidence_step("cost-split", part, 2, evidence_dir) for part in costsplit.parts(device, quick)]
    if device == "cpu":  # accuracy does not depend on the device (the twins are tested equal), nor on a session
        steps += [evidence_step("updates", part, 2, evidence_dir) for part in updates_parts(device, quick)]
    return steps


# --- states ---------------------------------------------------------------------------------


def runs_to_do(step: Step, device: str, code_version: str, software: str | None = None,
               cached: bool = False) -> tuple[Run, ...]:
    """A session's runs without a current record (this code, configuration, machine)."""
    return tuple(run for run in step.runs
                 if not is_recorded(step.folder, run.framework, run.variant, run.config, device, code_version,
                                    software, cached))


def blocked_by_equality(run: Run, equality: dict | None, running: bool = False) -> str | None:
    """Why a run must not be timed: its variant failed its equality check, or (when about
    to run: a GPU-only variant, which no CPU test covers) has not passed one yet; None when
    it may run. The plan counts an unchecked GPU variant as to do: its check comes first."""
    variant = variants.get(run.framework, run.variant)
    result = next((part[variant.key] for part in (equality or {}).get("parts", {}).values() if variant.key in part),
                  None)
    if result is not None and not result["passed"]:
        return f"{BLOCKED}{variant.key} failed its equality check"
    if running and variant.needs_gpu and result is None:
        return f"{BLOCKED}{variant.key} has not passed its equality check"
    return None


def state_of(step: Step, todo: tuple[Run, ...], evidence_data: Callable) -> str:
    """DONE, TO_DO, or why the step is blocked (every run it has left waits for an equality check)."""
    if step.kind == "session":
        if not todo:
            return DONE
        reasons = {blocked_by_equality(run, evidence_data("equality")) for run in todo}
        return reasons.pop() if len(reasons) == 1 and None not in reasons else TO_DO
    data = evidence_data(step.evidence)
    return DONE if data and step.part in data["parts"] else TO_DO


def load_history(results_dir: Path, device: str, device_name: str, quick: bool) -> estimates.History:
    """Every record in ``results_dir`` and in the committed results/ folder: the source of
    estimates (a plan for a device without records of its own reads another's)."""
    records = []
    for folder in dict.fromkeys([Path(results_dir), results_folder()]):
        records += load_records(folder, kind=None) if folder.exists() else []
    runs, evidence = [r for r in records if r["kind"] == "run"], [r for r in records if r["kind"] == "evidence"]
    return estimates.History(runs, evidence, device, device_name, quick)


def estimate(step: Step, todo: tuple[Run, ...], history: estimates.History) -> estimates.Estimate:
    """How long the step's runs left (or its evidence part) should take, from ``history``."""
    if step.kind == "session":
        return estimates.session(list(todo or step.runs), history)
    return estimates.evidence_part(step.evidence, step.part, history)


def assess(steps: list[Step], device: str, quick: bool, results_dir: Path, cached: bool = False,
           visible: bool = True, history: estimates.History | None = None) -> list[Planned]:
    """Each step with its state, the runs it has left and its estimate (from ``history``, read
    here unless given). ``visible``: the device is on this machine (a GPU plan made elsewhere
    cannot tell which records were made with this machine's software, and takes every current
    record as done)."""
    version = code_version()
    described = describe_device(device) if visible else None
    software = software_fingerprint(described) if described else None
    if history is None:
        history = load_history(results_dir, device, device_name(device), quick)
    cache: dict[str, dict | None] = {}

    def evidence_data(item: str) -> dict | None:
        """The item's current record data, read once."""
        if item not in cache:
            cache[item] = current_data(item, device, quick, Path(results_dir) / EVIDENCE_FOLDER, described)
        return cache[item]

    planned = []
    for step in steps:
        todo = runs_to_do(step, device, version, software, cached) if step.kind == "session" else ()
        guess = estimate(step, todo, history)
        planned.append(Planned(step, state_of(step, todo, evidence_data), guess.seconds, guess.source, todo))
    return planned


# --- running -------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """What ``execute`` did: the steps done, failed (with the error), left and blocked (with why)."""
    done: list[Planned]
    failed: list[tuple[Planned, str]]
    left: list[Planned]  # not started (or only partly): the budget would have run out
    seconds: float
    blocked: list[tuple[Planned, str]] = dataclasses.field(default_factory=list)


class Blocked(Error):
    """A step that must not run now (a variant without a passed equality check)."""


def execute_step(step: Step, todo: tuple[Run, ...], device: str, quick: bool, results_dir: Path,
                 compilation_cache: Path | None, log: Callable[[str], None]) -> list[str]:
    """Run one step (a session: the runs ``todo``); returns why runs were left out, if any."""
    def equality():  # the equality record as measured by now
        return current_data("equality", device, quick, Path(results_dir) / EVIDENCE_FOLDER, describe_device(device))

    if step.kind == "session":
        checked = equality()
        reasons = {run: blocked_by_equality(run, checked, running=True) for run in todo}
        allowed = [run for run in todo if not reasons[run]]
        if not allowed:
            raise Blocked("; ".join(sorted({reason for reason in reasons.values() if reason})))
        run_session_in_fresh_process(allowed, device, step.folder, compilation_cache=compilation_cache,
                                     on_record=lambda path: log(f"    saved {Path(path).name}"))
        return sorted({f"{reason}: {run.name}" for run, reason in reasons.items() if reason})
    side = Run(*step.part.split("-", 1), Config()) if step.evidence == "cost-split" else None
    if side and (reason := blocked_by_equality(side, equality(), running=True)):  # a GPU-only side waits for its check
        raise Blocked(reason)
    run_evidence(step.evidence, device, quick, step.folder, only_parts=[step.part], log=log)
    return []


def fitting_prefix(item: Planned, budget_left: float, history_estimate: Callable) -> Planned | None:
    """The longest start of a session that fits into ``budget_left`` (a session of runs can
    stop between runs), or None."""
    runs = list(item.todo or item.step.runs)
    for n in range(len(runs) - 1, 0, -1):
        guess = history_estimate(item.step, tuple(runs[:n]))
        if guess.seconds <= budget_left:
            return dataclasses.replace(item, todo=tuple(runs[:n]), estimate_s=guess.seconds)
    return None


def execute(planned: list[Planned], device: str, quick: bool, results_dir: Path, max_seconds: float | None,
            compilation_cache: Path | None = None, log: Callable[[str], None] = print,
            run_step: Callable = execute_step, clock: Callable[[], float] = time.monotonic,
            estimator: Callable | None = None) -> Outcome:
    """Run every step that is to do, in order, within ``max_seconds``."""
    started = clock()
    todo = [p for p in planned if p.state == TO_DO]
    outcome = Outcome([], [], [], 0.0)
    for number, item in enumerate(todo):
        elapsed = clock() - started
        last = False
        if max_seconds is not None and elapsed + item.estimate_s > max_seconds:
            part = (fitting_prefix(item, max_seconds - elapsed, estimator)
                    if item.step.kind == "session" and estimator else None)
            outcome.left += todo[number:]  # this step (or the rest of its session) and everything after it
            if part is None:
                break
            item, last = part, True
        budget = f" of {format_seconds(max_seconds)}" if max_seconds else ""
        runs = f", {len(item.todo)} runs" if item.step.kind == "session" else ""
        log(f"[{number + 1}/{len(todo)}] tier {item.step.tier}: {item.step.label} (about "
            f"{format_seconds(item.estimate_s)}{runs}; {format_seconds(elapsed)}{budget} used)")
        try:
            left_out = run_step(item.step, item.todo, device, quick, results_dir, compilation_cache, log)
        except Blocked as reason:  # the step's reason, naming the step
            outcome.blocked.append((item, f"{reason}: {item.step.label}"))
            log(f"    {reason}")
        except Error as error:
            outcome.failed.append((item, str(error)))
            log(f"    failed: {error}")
        else:
            outcome.blocked += [(item, reason) for reason in left_out or []]
            outcome.done.append(item)
        if last:
            break
    outcome.seconds = clock() - started
    return outcome


def format_seconds(seconds: float) -> str:
    """'45 s', '3.5 min', '12 min' or '1.6 h': how long a step or a plan takes, as a plan prints it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min" if seconds < 600 else f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def recorded_seconds(results_dir: Path) -> tuple[float, int]:
    """The time the records in ``results_dir`` say they took: each run's share of its
    process (imports included for the first) and each evidence part's measured seconds."""
    records = load_records(results_dir, kind=None) if Path(results_dir).exists() else []
    runs = [r["wall_s"] for r in records if r.get("kind", "run") == "run" and "wall_s" in r]
    parts = [r["measure_wall_s"] for r in records if r.get("kind") == "evidence" and r.get("measure_wall_s")]
    return sum(runs) + sum(parts), len(runs) + len(parts)
