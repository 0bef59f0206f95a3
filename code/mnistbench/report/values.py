"""The values report.qmd quotes, by name, as text that carries its number, and ``check``, which flags a
claim the records contradict. The sentences are report.qmd's; a value the records do not hold reads
"(not measured)" and fails every check that reads it.

Names built from parts (grep a part to find where a name report.qmd reads is made):
``{comparison}_{small,large}`` and ``..._power``, the paired comparisons (``paired_values``);
``{a,c,crossing,over_floor,fits}_{side}`` and ``eager_{step,transform,dispatch,arithmetic,unexplained}``,
the cost split (``costs_values``); ``gpu_..._{small,large}`` and ``gpu_{trace,lower,compile}_s``, the
older GPU study (``gpu_values``)."""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from ..bench import compare
from ..bench.evidence import costsplit, paired
from ..bench.results import started_process
from ..bench.selection import default_variant_runs
from ..networks.config import Config
from . import analysis as analyze
from . import costs, verdicts
from .analysis import median
from .formatting import break_even_words, commit_of, device_label, fmt_s, ratio_text, short_label
from .studies import Study

STRICT_ENV = "MNISTBENCH_STRICT"
NOT_MEASURED = "(not measured)"
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}


class ClaimContradicted(AssertionError):
    """A claim of the report that its records contradict (strict mode)."""


class Value(str):
    """Text as the report quotes it, with the number behind it (``.value``)."""

    def __new__(cls, text: str, value=None):
        obj = super().__new__(cls, text)
        obj.value = value
        return obj


class Ratio(Value):
    """B's time over A's with its interval: '0.78× [0.66, 0.94]', and the verdict where the
    interval does not say it alone: '1.08× [0.86, 1.36], not resolved', '1.01× [0.95, 1.06], within ±10%'.
    A paired comparison prints its interval at the family's corrected level, whatever its verdict."""

    def __new__(cls, interval: compare.Interval, within: bool = False, agree: bool = True):
        """``within``: the equivalence test placed it inside the margin; ``agree``: the sessions
        do not differ (where they do, no verdict stands)."""
        within = within and agree
        towards = compare.direction(interval) if agree else None
        verdict = compare.verdict_text(towards, within) if agree else compare.DISAGREE
        text = ratio_text(interval.ratio, interval.low, interval.high)
        if verdict != towards:  # the interval says 'faster' or 'slower' alone; the rest is written out
            text += ", " + (compare.verdict_text(None, within) if agree else verdict)
        obj = super().__new__(cls, text, interval.ratio)
        obj.interval, obj.verdict = interval, verdict
        obj.slower, obj.faster, obj.equivalent = towards == "slower", towards == "faster", within
        return obj


MISSING = Value(NOT_MEASURED)
MISSING.slower = MISSING.faster = None


class Quoted(dict):
    """Values by name, read as attributes; one the records do not hold reads "(not measured)", and
    so does a misspelt name: the report's strict test on the committed records fails on either."""

    def __getattr__(self, name):
        return self.get(name, MISSING)


def check(holds, claim: str) -> None:
    """Print nothing when the claim holds; else a flag at this place in the document and a line
    on standard error naming the claim (an error in strict mode)."""
    if holds is not None and holds:
        return
    why = "the records do not hold what it needs" if holds is None else "the records contradict it"
    print(f"\n**[Claim not supported: {claim} ({why}).]**\n")
    print(f"report: claim not supported: {claim} ({why})", file=sys.__stderr__)
    if os.environ.get(STRICT_ENV, "").lower() in ("1", "true", "yes"):
        raise ClaimContradicted(f"{claim}: {why}")


def seconds_value(seconds: float | None) -> Value:
    return MISSING if seconds is None else Value(fmt_s(seconds), seconds)


def seed_ratio(runs: list[dict], a: tuple[str, int], b: tuple[str, int], per_step: bool = False) -> Ratio | None:
    """B's steady epoch (or step) over A's, each a (framework, batch size), paired by seed, with a t interval
    over the seeds; a run without a steady epoch (of one epoch) is left out."""
    def by_seed(framework: str, batch_size: int) -> dict[int, float]:
        return {r["seed"]: r["steady_epoch_s"] / (r["steps_per_epoch"] if per_step else 1) for r in runs
                if (r["framework"], r["batch_size"]) == (framework, batch_size) and r["valid"]
                and r["steady_epoch_s"] is not None}

    a, b = by_seed(*a), by_seed(*b)
    seeds = sorted(set(a) & set(b))
    interval = compare.paired_interval([a[s] for s in seeds], [b[s] for s in seeds]) if len(seeds) > 1 else None
    return Ratio(interval) if interval else None


def setup_values(study: Study) -> dict:
    """The network and training settings the Setup section quotes, from the first run's configuration."""
    config = Config.from_dict(study.first["config"])
    hidden = config.layer_sizes[1:-1]
    words = {1: "one", 2: "two", 3: "three"}.get(len(hidden), str(len(hidden)))
    width = f"{hidden[0]:,}" if len(set(hidden)) == 1 else ", ".join(f"{h:,}" for h in hidden)
    return {"hidden": Value(f"{words} hidden layer{'s' * (len(hidden) > 1)} of {width}"),
            "n_train": Value(f"{config.n_train:,}"),
            "n_val": Value(f"{config.validation_size:,}"),
            "momentum": Value(f"{config.momentum:g}"), "learning_rate": Value(f"{config.learning_rate:g}"),
            "epochs": Value(str(config.epochs), config.epochs),
            "seeds": Value(", ".join(str(s) for s in sorted({r["seed"] for r in study.main}))),
            "cost_sizes": Value(f"{costsplit.SIZES['cpu'][0]:,} to {costsplit.SIZES['cpu'][-1]:,}")}


def gpu_values(study: Study) -> dict:
    """The older GPU study's defaults: PyTorch over JAX per seed, break-evens, the twins' accuracy gap;
    JAX's cold start and its parts (``gpu_compile_values``)."""
    runs = default_variant_runs(study.study_of("gpu"))
    if not runs:
        return {}
    small, large = min(r["batch_size"] for r in runs), max(r["batch_size"] for r in runs)
    out = {"gpu_label": Value(f"{runs[0]['device']['name']} (GPU)"), "gpu_short": Value(short_label(runs)),
           "gpu_commit": Value(commit_of(runs[0]))}
    amortized = {row["batch_size"]: row for row in analyze.amortization(runs)}
    for name, b in (("small", small), ("large", large)):
        if ratio := seed_ratio(runs, ("jax", b), ("torch", b)):
            out[f"gpu_torch_over_jax_{name}"] = ratio
        if b in amortized:
            out[f"gpu_break_even_{name}"] = Value(break_even_words(amortized[b]), amortized[b]["break_even_epoch"])
    if amortized:  # PyTorch eager's running total stayed ahead through every measured epoch
        out["gpu_torch_ahead_throughout"] = not any(row["measured"] for row in amortized.values())
    if growth := seed_ratio(runs, ("torch", small), ("torch", large), per_step=True):
        out["gpu_torch_step_growth"] = growth
    out.update(gpu_compile_values(study, runs, small))
    cells = {}  # the twins' test accuracies by batch size and seed
    for r in runs:
        cells.setdefault((r["batch_size"], r["seed"]), {})[r["framework"]] = r["test_accuracy"]
    if gaps := [abs(c["jax"] - c["torch"]) for c in cells.values() if len(c) == 2]:
        out["twin_gap"] = Value(f"{100 * max(gaps):.2f}", 100 * max(gaps))
    return out


def gpu_compile_values(study: Study, runs: list[dict], small: int) -> dict:
    """JAX's cold start on the older GPU study at its smallest batch: the step's compile and its parts,
    evaluate's compile and its share of the wait before epoch 2, and the same step with TF32 matmuls."""
    out = {}
    jax_runs = [r for r in runs if r["framework"] == "jax" and r["batch_size"] == small]
    compile_total = median(r["compile_total_s"] for r in jax_runs)
    evaluate_s = median(analyze.evaluation_compile_s(r) for r in jax_runs)
    out.update(gpu_jax_compile_small=seconds_value(compile_total), gpu_eval_compile=seconds_value(evaluate_s))
    split = {key: median(r["compile_split"][key] for r in jax_runs) for key in ("trace_s", "lower_s", "compile_s")}
    tf32 = [r for r in study.all_runs if (r["framework"], r["batch_size"], r["precision"]) == ("jax", small, "tf32")
            and study.same_setup(r, runs[0]) and started_process(r) and r["compile_total_s"]]
    if tf32:  # the same step with TF32 matmuls, cold: what full float32 adds to the compile
        out["gpu_tf32_compile_small"] = seconds_value(median(r["compile_total_s"] for r in tf32))
        out["gpu_tf32_runs"] = Value("one seed" if len(tf32) == 1 else f"{len(tf32)} seeds", len(tf32))
    out.update({f"gpu_{key}": seconds_value(value) for key, value in split.items()})
    compiles = {b: median(r["compile_total_s"] for r in runs if r["framework"] == "jax" and r["batch_size"] == b)
                for b in sorted({r["batch_size"] for r in runs})}  # the step's compile (median) per batch size
    if compile_total:  # longer at every larger batch size
        out["gpu_compile_grows"] = all(compiles[b] > compile_total for b in compiles if b != small)
    # how far a cold first epoch is from its step's compile alone (the slowest seed and batch size)
    out["gpu_first_epoch_beyond_compile"] = seconds_value(max(
        (r["first_epoch_s"] - r["compile_total_s"] for r in runs if r["framework"] == "jax" and started_process(r)),
        default=None))
    # what a user waits before epoch 2, seed by seed as Table 2 prints it: the first epoch and its validation
    cold = [r for r in jax_runs if started_process(r)]
    out["gpu_jax_first_small"] = seconds_value(median(r["first_epoch_s"] for r in cold))
    out["gpu_jax_cold_small"] = seconds_value(median(r["epoch_times_s"][0] + r["val_times_s"][0] for r in cold))
    shares = [analyze.evaluation_compile_s(r) / (r["epoch_times_s"][0] + r["val_times_s"][0]) for r in cold
              if analyze.evaluation_compile_s(r) is not None]
    if share := median(shares):
        out["gpu_eval_share"] = Value(f"{100 * share:.0f}%", share)
    return out


def paired_values(study: Study) -> dict:
    """The CPU's paired sessions: the declared comparisons' verdicts (the family's corrected level, every
    session's rounds together) and their power, whether the sessions agree; then their processes' costs
    (``paired_cost_values``) and matmul peaks (``peak_values``)."""
    records = verdicts.paired_sessions(study)
    if not records:
        return {}
    result = verdicts.paired_analysis(records)
    rows = {(row["part"], row["comparison"]): row for row in result["rows"]}
    out = {"margin": Value(f"±{100 * compare.MARGIN:.0f}%", compare.MARGIN),
           "level": Value(verdicts.level_text(result["alpha"])), "sessions": Value(str(len(records)), len(records))}
    names = {"cpu_jax_over_torch": paired.DEFAULTS[0], "jit_over_compile": paired.STEP[0],
             "jax_eager_over_torch_eager": paired.OPERATION[0], "jit_over_jax_eager": paired.JIT[0],
             "scan_over_jit": paired.SCAN[0], "donation": paired.DONATION[0]}
    small, large = (f"bs{b}" for b in paired.batch_sizes(quick=False))
    looks = verdicts.over_looks(records)  # the verdicts reached only at an added look, and what holds over the looks
    late, open_by_session = {}, []
    for name, label in names.items():
        for size, part in (("small", small), ("large", large)):
            if (row := rows.get((part, label))) is not None:
                if (part, label) in looks["late"]:
                    late[f"{name}_{size}"] = looks["late"][part, label]
                if row["direction"] and not (row["by_session"] and compare.Interval(**row["by_session"]).excludes_one):
                    open_by_session.append(f"{name}_{size}")  # resolved pooled, not with the sessions as units
                # the family's corrected interval whatever the verdict; the supplement adds the equivalence test's
                out[f"{name}_{size}"] = Ratio(compare.Interval(**row["difference"]), row["within"], row["agree"])
                # what "not resolved" is worth: the power those rounds had at the margin with the spread they met
                out[f"{name}_{size}_power"] = Value(f"{100 * row['power']:.0f}%", row["power"])
    row = rows.get(("dispatch", "dispatch: one operation"))
    out["dispatch_op_jax_slower"] = None if row is None else row["agree"] and row["direction"] == "slower"
    out["open_by_session"] = Value(", ".join(sorted(open_by_session)) or "none", sorted(open_by_session))
    out["late_verdicts"] = Value(", ".join(late) or "none", sorted(late))  # the report's names of them
    first = max(late.values(), default=None)  # the session that reached the last of them
    out["late_session"] = None if first is None else Value(ORDINALS.get(first, f"{first}th"), first)
    out["late_hold_over_looks"] = not any(key in looks["weaker"] for key in looks["late"])
    out["all_hold_over_looks"] = not looks["weaker"]
    out["looks"] = Value(str(looks["looks"]), looks["looks"])
    out["sessions_agree"] = all(row["agree"] for row in result["rows"]) if len(records) > 1 else None
    if (row := rows.get((small, paired.DEFAULTS[0]))) is not None:  # the session's spread against the pilot's
        pilot = paired.PILOT_SD["small"][paired.DEFAULTS[0]]
        out["defaults_sd_over_pilot"] = Value(f"{row['sd'] / pilot:.1f}", row["sd"] / pilot)
    parts = [r["data"]["parts"] for r in records]
    return out | paired_cost_values(parts) | peak_values(parts, large, result["alpha"])


def paired_cost_values(parts: list[dict]) -> dict:
    """From the paired sessions' processes: one jitted call's cost, torch.compile's first call."""
    out = {}
    dispatch = [p["dispatch"] for p in parts if "dispatch" in p]
    calls = [compare.process_mean(d, r["jax-jit-call"]) / d["calls_per_block"] for d in dispatch for r in d["rounds"]
             if compare.usable(d, r.get("jax-jit-call"))]
    if calls:  # one jitted call's cost
        out["call_us_jax"] = Value(f"{1e6 * float(np.mean(calls)):.1f} µs", float(np.mean(calls)))
    compiles = [sum(r["torch-compile"]["compile_split"].values()) for p in parts for part in p.values()
                for r in part["rounds"] if compare.usable(part, r.get("torch-compile"))
                and r["torch-compile"].get("compile_split")]
    if compiles:
        out["torch_compile_first"] = Value(f"{np.mean(compiles):.1f} s", float(np.mean(compiles)))
    return out


def peak_values(parts: list[dict], large: str, alpha: float) -> dict:
    """At the largest batch: PyTorch eager's matmul peak over JAX jit's, probed in the same round's
    processes, and the defaults' time ratio per probed peak (time × peak), at the family's level
    (post hoc: not a declared comparison)."""
    out = {}
    pairs = [(p[large], r["torch-eager"], r["jax-jit"]) for p in parts if large in p for r in p[large]["rounds"]
             if compare.usable(p[large], r.get("torch-eager")) and compare.usable(p[large], r.get("jax-jit"))]
    if pairs:
        peaks = [torch["matmul_peak_flops"] / jax["matmul_peak_flops"] for _, torch, jax in pairs]
        ratio = float(np.exp(np.mean(np.log(peaks))))
        out["paired_peak_ratio_large"] = Value(f"{ratio:.2f}×", ratio)
        per_peak = [math.log(compare.process_mean(part, jax) * jax["matmul_peak_flops"]
                             / (compare.process_mean(part, torch) * torch["matmul_peak_flops"]))
                    for part, torch, jax in pairs]
        if interval := compare.log_ratio_interval(per_peak, 1 - alpha):
            out["cpu_jax_over_torch_per_peak_large"] = Ratio(interval)
    return out


def cpu_values(study: Study) -> dict:
    """The CPU grid's: JAX's cold compile, and the fusion counts at the smallest batch."""
    runs = default_variant_runs(study.study_of("cpu"))
    if not runs:
        return {}
    out = {"jax_compile_cpu": seconds_value(median(r["compile_total_s"] for r in runs
                                                   if r["framework"] == "jax" and r["cold_start"]))}
    if fused := analyze.fusion_run(runs):  # the report quotes the fusion counts at its smallest batch
        kinds = fused["profile"]["hlo"]["after_optimization"]["fusion_kinds"]
        out["fusion_kinds"] = Value(f"{kinds['with_matmul']} around a matrix product, "
                                    f"{kinds['without_matmul']} without one")
    return out


def costs_values(study: Study) -> dict:
    """The CPU's cost split (the current code's): each side's fixed and per-sample cost with its
    crossing, JAX eager taken apart, the update's loops; and the declared time-to-accuracy target."""
    out = {}
    record = costs.newest_record(study)
    if record is not None:
        out["cpu_label"] = Value(device_label(record))
        fits = {fit.variant: fit for fit in costs.cost_split(record["data"])}
        for side, fit in fits.items():
            name = side.replace("-", "_")
            a, c = fit.a, fit.c
            out[f"a_{name}"] = Value(f"{1e3 * a.value:.2g} ms [{1e3 * a.low:.2g}, {1e3 * a.high:.2g}]", a.value)
            out[f"c_{name}"] = Value(f"{1e6 * c.value:.3g} µs [{1e6 * c.low:.3g}, {1e6 * c.high:.3g}]", c.value)
            out[f"crossing_{name}"] = Value(f"{fit.crossing.value:.0f}", fit.crossing.value)
            out[f"over_floor_{name}"] = Value(f"{fit.over_floor:.1f}", fit.over_floor)
            out[f"fits_{name}"] = fit.fits
        if own := [c for fit in fits.values() for c in fit.c_processes]:  # every side's processes
            out["c_spread"] = Value(f"{100 * (max(own) / min(own) - 1):.0f}%", max(own) / min(own))
        fitted = [fit for fit in fits.values() if fit.fits]  # c means a cost per sample only where the line fits
        if within := [max(f.c_processes) / min(f.c_processes) for f in fitted if f.c_processes]:
            out["c_within_side"] = Value(f"{100 * (max(within) - 1):.0f}%", max(within))  # one side's processes
            sides = [fit.c.value for fit in fitted]
            out["c_between_sides"] = Value(f"{100 * (max(sides) / min(sides) - 1):.0f}%", max(sides) / min(sides))
        small = paired.batch_sizes(quick=False)[0]
        if {"jax-jit", "torch-eager"} <= fits.keys():  # the defaults' step ratio the fitted lines predict
            for size, b in zip(("small", "large"), paired.batch_sizes(quick=False)):
                jit, eager = (fits[side].a.value + fits[side].c.value * b for side in ("jax-jit", "torch-eager"))
                out[f"fits_jit_over_eager_{size}"] = Value(f"{jit / eager:.2f}×", jit / eager)
            top = sorted(fits["jax-jit"].step_s)[-2:]  # the cost split's two largest sizes, unpaired
            out["split_torch_faster_largest"] = all(fits["torch-eager"].step_s[b] < fits["jax-jit"].step_s[b]
                                                    for b in top)
        if split := {row["batch_size"]: row for row in costs.eager_split(record["data"])}.get(small):
            for key in ("step_s", "transform_s", "dispatch_s", "arithmetic_s", "unexplained_s"):
                out[f"eager_{key.removesuffix('_s')}"] = seconds_value(split[key])
        if loops := {row["update_loops"] for row in costs.fusions_by_size(record["data"])}:
            out["update_loops"] = Value(", ".join(map(str, sorted(loops))), max(loops))
    out["target_accuracy"] = Value(f"{100 * costs.TARGET_ACCURACY:g}%", costs.TARGET_ACCURACY)
    return out


def older_gpu_values(study: Study) -> dict:
    """What the H100 study's older evidence records (one process each, older code) say of PyTorch's step: the
    ATen operations it dispatched from the host, the GPU kernels they launched, and its time."""
    out = {}
    if fusion := study.older_evidence("fusion"):
        data = fusion["data"]
        if ops := data["torch"].get("all_ops_per_step"):  # ATen operations a step dispatched from the host
            out["gpu_torch_ops"] = Value(f"{ops:.0f}", ops)
        if kernels := data["torch"].get("gpu_kernels_per_step"):  # the GPU kernels they launched (profiled)
            out["gpu_torch_kernels"] = Value(f"{kernels:.0f}", kernels)
        torch_runs = [r for r in default_variant_runs(study.study_of("gpu"))
                      if (r["framework"], r["batch_size"]) == ("torch", data["torch"]["batch_size"])]
        if step := median(r["steady_epoch_s"] / r["steps_per_epoch"] for r in torch_runs if r["steady_epoch_s"]):
            out["gpu_torch_step"] = seconds_value(step)
    return out


def updates_values(study: Study) -> dict:
    """The updates experiment's test accuracies (seed 0): the reference, equal epochs, equal updates."""
    record = max(study.evidence("updates"), key=lambda r: r["timestamp"], default=None)
    if record is None:
        return {}
    arms = {row["arm"]: row for part in record["data"]["parts"].values() for row in part["rows"] if row["seed"] == 0}
    out = {}
    for arm, name in (("reference", "acc_reference"), ("equal epochs", "acc_equal_epochs"),
                      ("equal updates", "acc_equal_updates")):
        if (accuracy := arms.get(arm, {}).get("test_accuracy")) is not None:
            out[name] = Value(f"{100 * accuracy:.1f}%", accuracy)
    return out


def quoted(study: Study | None) -> Quoted:
    """Every value report.qmd quotes, by name (none without a study)."""
    if study is None:
        return Quoted()
    values = {}
    for part in (setup_values, gpu_values, paired_values, cpu_values, costs_values, older_gpu_values, updates_values):
        values.update(part(study))
    return Quoted(values)
