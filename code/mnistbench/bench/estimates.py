"""How long a campaign's steps should take, from earlier records where there are some.

A step's estimate is built from parts that records hold: a cold run's wall
time (``run_wall_s``), a process's start-up before its first run, the
compile time of a program, a steady epoch, a validation pass, an evidence
part's measured seconds. Each part comes from records of this device when
there are some, else from records of another device of the same kind (a
GPU plan on a machine without a GPU reads the committed H100 records), else
from the stated defaults below, and the estimate says which.
"""

from __future__ import annotations

import dataclasses
import statistics

from .results import started_process, variant_name

# Stated defaults, used only where no record holds the number (seconds).
STARTUP_S = {"gpu": 6.0, "cpu": 8.0}  # a fresh process: imports, before its first run starts its clock
INIT_S = {"gpu": 10.0, "cpu": 3.0}  # a process's first run: data, device, weights, matmul probe, test pass
EVALUATE_COMPILE_S = {"gpu": 11.0, "cpu": 0.2}  # JAX's evaluation program, once a process
COMPILE_S = {("gpu", "jax"): 14.0, ("gpu", "torch"): 20.0, ("cpu", "jax"): 0.5, ("cpu", "torch"): 13.0}
EAGER_COMPILE_S = {"gpu": 10.0, "cpu": 1.0}  # JAX eager compiles every operation on its first use
CAPTURE_S = 3.0  # a CUDA graph's warm-up and capture
RECOMPILE_SHARE = 0.3  # torch.compile again in the same process (Dynamo is reset; Inductor's cache is warm)
PROFILE_S = {"gpu": 3.0, "cpu": 1.0}  # starting, stopping and reading a profiler
STEP_S = {  # a steady step at batch 64 where no record of the variant (or of its framework's default) exists
    ("gpu", "jax"): 0.0002, ("gpu", "torch"): 0.0015, ("cpu", "jax"): 0.004, ("cpu", "torch"): 0.0045}
JAX_EAGER_STEP_S = {"gpu": 0.0065, "cpu": 0.022}  # JAX eager: about 130 operations from Python a step, at least
VARIANT_STEP_FACTOR = {"scan": 0.5, "cudagraph": 0.3, "cudagraph-epoch": 0.3, "compile": 0.5}
AUTOTUNE_OFF_SHARE = 0.5  # a GPU compile with XLA's autotuning off, against the cold one
WARM_SHARE = 0.2  # a compile served by a warm persistent cache, against the cold one
UPDATES_S = {True: 520.0, False: 150.0}  # the updates experiment, one seed, full size (CPU): with its 16x arm or not
PARTIAL_BATCH_S = 8.0
QUICK_SHARE = 0.3  # a quick evidence part takes about this share of a full one
DERIVED_S = 2.0
PAIRED_OVERHEAD = 1.1  # a paired part's wall against the sum of its processes' walls (the pilot: 1.10 to 1.13)


@dataclasses.dataclass
class Estimate:
    seconds: float
    sources: set[str]  # devices whose records the estimate used; "defaults" for stated defaults

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.seconds + other.seconds, self.sources | other.sources)

    @property
    def source(self) -> str:
        named = sorted(self.sources - {"defaults"})
        text = " + ".join(f"{name} records" for name in named)
        return (text + " + defaults" if "defaults" in self.sources and text else text or "defaults")


def default(seconds: float) -> Estimate:
    return Estimate(seconds, {"defaults"})


class History:
    """The records a plan is estimated from: this device's first, else another of its kind."""

    def __init__(self, runs: list[dict], evidence: list[dict], device: str, device_name: str, quick: bool,
                 evidence_version: str | None = None):
        self.device, self.name, self.quick = device, device_name, quick
        self.runs = [r for r in runs if r["device"]["kind"] == device and r.get("valid", True)]
        self.evidence = [r for r in evidence if r["device"]["kind"] == device]
        self.evidence_version = evidence_version

    def _ranked(self, records: list[dict]) -> tuple[list[dict], str]:
        """Records of this device, else of the other device of this kind with the most records."""
        mine = [r for r in records if r["device"]["name"] == self.name]
        if mine:
            return mine, self.name
        names = [r["device"]["name"] for r in records]
        if not names:
            return [], ""
        best = max(set(names), key=names.count)
        return [r for r in records if r["device"]["name"] == best], best

    def runs_like(self, framework: str, variant: str, batch_size: int, precision: str, subset, **match) -> tuple:
        found = [r for r in self.runs if r["framework"] == framework and variant_name(r) == variant
                 and r["batch_size"] == batch_size and r["precision"] == precision
                 and r.get("config", {}).get("train_subset") == subset
                 and all(r.get(key) == value for key, value in match.items())]
        return self._ranked(found)

    def runs_of(self, framework: str) -> tuple[list[dict], str]:
        return self._ranked([r for r in self.runs if r["framework"] == framework and started_process(r)
                             and r.get("config", {}).get("train_subset") is None])

    def part_seconds(self, name: str, part: str) -> tuple[list[float], str]:
        """Measured seconds of an evidence part, from records made by this evidence code."""
        found = [r for r in self.evidence if r["name"] == name and r["data"].get("quick") == self.quick
                 and part in r["data"].get("seconds", {})
                 and r["platform"].get("code_version") == self.evidence_version]
        records, source = self._ranked(found)
        return [r["data"]["seconds"][part] for r in records], source


def median_or(values: list[float], source: str, fallback: float) -> Estimate:
    return Estimate(statistics.median(values), {source}) if values else default(fallback)


# --- runs --------------------------------------------------------------------------------


def startup(history: History) -> Estimate:
    """A fresh process's start before its first run's clock: its imports."""
    runs, source = history._ranked([r for r in history.runs if started_process(r) and "wall_s" in r])
    return median_or([r["wall_s"] - r["run_wall_s"] for r in runs], source, STARTUP_S[history.device])


def cold_run(run, history: History) -> Estimate:
    """The first run of a process: a comparable cold run's wall time, else the model."""
    c = run.config
    same, source = history.runs_like(run.framework, run.variant, c.batch_size, c.matmul_precision, c.train_subset,
                                     epochs=c.epochs)
    cold = [r["run_wall_s"] for r in same if started_process(r) and "run_wall_s" in r]
    if cold:
        return startup(history) + Estimate(statistics.median(cold), {source}) + profile_cost(run, history)
    fixed = startup(history) + init(run.framework, history)
    if run.framework == "jax":
        fixed = fixed + evaluate_compile(history)
    return fixed + later_run(run, history, compiled=set())


def later_run(run, history: History, compiled: set) -> Estimate:
    """A run after the first in its process: its own compilation (none for a program the
    process has compiled), its epochs and validations, and its profile."""
    from .variants import get

    variant = get(run.framework, run.variant)
    key = (run.framework, run.variant, run.config.batch_size, run.config.matmul_precision, run.config.train_subset)
    first_time = key not in compiled
    compiled.add(key)
    cost = default(0.0)
    if variant.compiles and (first_time or run.framework == "torch"):
        cost = compile_time(run, history)
        if not first_time:  # torch.compile after a Dynamo reset, with Inductor's cache warm; a capture again
            cost = Estimate(cost.seconds * RECOMPILE_SHARE, cost.sources)
    elif run.framework == "jax" and run.variant == "eager" and first_time:
        cost = default(EAGER_COMPILE_S[history.device])
    epoch = steady_epoch(run, history)
    epochs = Estimate(epoch.seconds * run.config.epochs, epoch.sources)
    return cost + epochs + validations(run, history) + profile_cost(run, history, epoch.seconds)


def compile_time(run, history: History) -> Estimate:
    c = run.config
    if run.variant.startswith("cudagraph"):
        return default(CAPTURE_S)
    same, source = history.runs_like(run.framework, run.variant, c.batch_size, c.matmul_precision, c.train_subset)
    values = [r["compile_s"] for r in same if r.get("compile_s") is not None and started_process(r)]
    if not values and run.framework == "jax":  # every compiled JAX variant compiles the step's arithmetic
        same, source = history.runs_like("jax", "jit", c.batch_size, c.matmul_precision, c.train_subset)
        values = [r["compile_s"] for r in same if r.get("compile_s") is not None and started_process(r)]
    return median_or(values, source, COMPILE_S[(history.device, run.framework)])


def steady_epoch(run, history: History) -> Estimate:
    from .variants import DEFAULT_VARIANT

    c = run.config
    same, source = history.runs_like(run.framework, run.variant, c.batch_size, c.matmul_precision, c.train_subset)
    values = [r["steady_epoch_s"] for r in same if r.get("steady_epoch_s")]
    if values:
        return Estimate(statistics.median(values), {source})
    steps = (c.train_subset or 50_000) // c.batch_size
    if run.framework == "jax" and run.variant == "eager":
        return default(steps * JAX_EAGER_STEP_S[history.device])
    default_variant = DEFAULT_VARIANT[run.framework]
    factor = VARIANT_STEP_FACTOR.get(run.variant, 1.0) if run.variant != default_variant else 1.0
    same, source = history.runs_like(run.framework, default_variant, c.batch_size, c.matmul_precision, c.train_subset)
    values = [r["steady_epoch_s"] for r in same if r.get("steady_epoch_s")]
    if values:  # the default variant's epoch, times a stated factor for the variant
        return Estimate(statistics.median(values) * factor, {source, "defaults"})
    return default(steps * STEP_S[(history.device, run.framework)] * factor * max(1.0, c.batch_size / 64) ** 0.5)


def validations(run, history: History) -> Estimate:
    runs, source = history.runs_of(run.framework)
    later = [statistics.median(r["val_times_s"][1:]) for r in runs if len(r["val_times_s"]) > 1]
    each = median_or(later, source, 0.2)
    return Estimate(each.seconds * run.config.epochs, each.sources)


def init(framework: str, history: History) -> Estimate:
    """What a process's first run adds besides its epochs, validations and compilations:
    data, device, weights, the matmul probe and the test pass."""
    runs, source = history.runs_of(framework)
    residual = [r["run_wall_s"] - sum(r["epoch_times_s"]) - sum(r["val_times_s"]) for r in runs if "run_wall_s" in r]
    return median_or(residual, source, INIT_S[history.device])


def evaluate_compile(history: History) -> Estimate:
    runs, source = history.runs_of("jax")
    values = [r["val_times_s"][0] - statistics.median(r["val_times_s"][1:]) for r in runs if len(r["val_times_s"]) > 1]
    return median_or(values, source, EVALUATE_COMPILE_S[history.device])


def profile_cost(run, history: History, epoch_s: float | None = None) -> Estimate:
    if not run.profile:
        return default(0.0)
    from .profiling import PROFILED_STEPS
    from .variants import get

    steps = (run.config.train_subset or 50_000) // run.config.batch_size
    epoch_s = epoch_s if epoch_s is not None else steady_epoch(run, history).seconds
    share = 1.0 if get(run.framework, run.variant).granularity == "epoch" else min(1.0, PROFILED_STEPS / steps)
    return default(PROFILE_S[history.device] + epoch_s * share)


def session(runs: list, history: History) -> Estimate:
    """A session of runs in one new process: the first is a cold start, the rest share it."""
    compiled: set = set()
    total = cold_run(runs[0], history)
    c = runs[0].config
    compiled.add((runs[0].framework, runs[0].variant, c.batch_size, c.matmul_precision, c.train_subset))
    for run in runs[1:]:
        total = total + later_run(run, history, compiled)
    return total


# --- evidence ------------------------------------------------------------------------------


def evidence_part(name: str, part: str, history: History) -> Estimate:
    """An evidence part's measured seconds (by this evidence code), else its processes
    built from the run records' parts."""
    values, source = history.part_seconds(name, part)
    if values:
        return Estimate(max(values), {source})
    share = QUICK_SHARE if history.quick else 1.0
    if name == "updates":
        from .evidence.measure import UPDATES_LONG_SEEDS

        return default(UPDATES_S[int(part.split()[1]) in UPDATES_LONG_SEEDS] * share)
    if name == "paired":
        return paired_part(part, history)
    if part == "partial-batch":
        return default(PARTIAL_BATCH_S)
    guess = equality_part(part, history) if name == "equality" else compile_part(part, history)
    return Estimate(guess.seconds * share, guess.sources)


def process(framework: str, history: History) -> Estimate:
    """A new process up to its first compilation: imports, data, device, weights."""
    return startup(history) + init(framework, history)


def equality_part(part: str, history: History) -> Estimate:
    """One process training each variant of the part and its default for a few steps."""
    from ..networks.config import Config
    from .evidence.measure import equality_variants
    from .run import Run
    from .variants import REGISTRY

    keys = equality_variants(part, history.device)
    framework = REGISTRY[keys[0]].framework
    total = process(framework, history)
    config = Config(batch_size=64)
    for key in [f"{framework}-{'jit' if framework == 'jax' else 'eager'}"] + keys:
        variant = REGISTRY[key]
        if variant.compiles:
            total = total + compile_time(Run(framework, variant.name, config), history)
        elif framework == "jax":
            total = total + default(EAGER_COMPILE_S[history.device])
    return total


def compile_part(part: str, history: History) -> Estimate:
    """A cold process and a warm one (and on a GPU, JAX with autotuning off), each with one epoch."""
    from ..networks.config import Config
    from .run import Run

    variant_key, batch = part.split(" bs")
    framework, variant = variant_key.split("-", 1)
    run = Run(framework, variant, Config(batch_size=int(batch), epochs=1))
    compile_s = compile_time(run, history)
    if framework == "jax":
        compile_s = compile_s + evaluate_compile(history)
    epoch = steady_epoch(run, history)
    cold = process(framework, history) + compile_s + epoch
    warm = process(framework, history) + Estimate(compile_s.seconds * WARM_SHARE, compile_s.sources) + epoch
    total = cold + warm
    if framework == "jax" and history.device == "gpu":
        total = total + process(framework, history) + Estimate(compile_s.seconds * AUTOTUNE_OFF_SHARE,
                                                                compile_s.sources | {"defaults"}) + epoch
    return total


def paired_part(part: str, history: History) -> Estimate:
    """Every round of one batch size: each side a new process, its compile and its blocks
    (epochs over the part's images, a share of a whole epoch's)."""
    from ..networks.config import Config
    from . import compare, variants
    from .evidence import paired
    from .run import Run

    measured = paired_part_from_records(part, history)
    if measured is not None:
        return measured
    rounds = paired.rounds(part, history.quick)
    if part == "dispatch":  # a process each, a few seconds of calls
        return Estimate((2 if history.quick else len(paired.DISPATCH_SIDES)) * rounds * (
            startup(history).seconds + 5.0), startup(history).sources | {"defaults"})
    batch = int(part.removeprefix("bs"))
    subset = paired.train_subset(history.device, batch, history.quick)
    share = (subset or 50_000) / 50_000
    total = Estimate(0.0, set())
    for key in paired.sides(history.device, batch, paired.BATCH_SIZES[history.quick][0], history.quick):
        framework, variant = paired.EXTRA_SIDES.get(key, key).split("-", 1)
        run = Run(framework, variant, Config(batch_size=batch))
        epoch = steady_epoch(run, history)
        total = total + process(framework, history) + Estimate(
            epoch.seconds * share * (compare.WARMUP_BLOCKS + paired.BLOCKS), epoch.sources)
        if variants.get(framework, variant).compiles:
            total = total + compile_time(run, history)
    return Estimate(total.seconds * rounds, total.sources)


def paired_part_from_records(part: str, history: History) -> Estimate | None:
    """A paired part from an earlier paired record of this device (any code version): each
    side's process as it was (its wall less its blocks), its blocks scaled to the steps a block
    has now, times the rounds now; None without such a record."""
    from . import compare
    from .evidence import paired

    if history.quick:
        return None
    records, source = history._ranked([r for r in history.evidence if r["name"] == "paired"
                                       and r["data"].get("quick") is False and part in r["data"].get("parts", {})])
    if not records:
        return None
    old = records[-1]["data"]["parts"][part]
    blocks = compare.WARMUP_BLOCKS + paired.BLOCKS
    seconds = 0.0
    keys = list(old["rounds"][0])
    for key in keys:
        processes = [r[key] for r in old["rounds"] if key in r and "wall_s" in r[key]]
        if not processes:
            return None
        fixed = statistics.mean(p["wall_s"] - sum(p["blocks_s"]) for p in processes)
        if part == "dispatch":
            per_block = statistics.mean(statistics.mean(p["blocks_s"]) for p in processes) * (
                paired.CALLS_PER_BLOCK / old["calls_per_block"])
        else:
            steps_now = paired.train_subset(history.device, old["batch_size"], False) // old["batch_size"]
            per_block = statistics.mean(sum(p["blocks_s"][compare.WARMUP_BLOCKS:]) / len(p["blocks_s"][
                compare.WARMUP_BLOCKS:]) / p["steps_per_block"] for p in processes) * steps_now
        seconds += fixed + per_block * blocks
    return Estimate(seconds * paired.rounds(part, False) * PAIRED_OVERHEAD, {source})
