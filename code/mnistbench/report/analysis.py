"""Pure functions over run records and the ``data`` of evidence records: what the measurements say,
as plain rows for the tables, the figures and the report's values. Nothing here measures or reads a file."""

from __future__ import annotations

import math

import numpy as np

from ..bench.evidence.measure import COMPILE_PROGRAMS
from ..bench.results import started_process
from ..bench.selection import default_variant_runs, group_by
from ..bench.variants import GRANULARITIES, REGISTRY

HORIZON = 1000  # epochs: a break-even later than this is not one a user would wait for


def median(values) -> float | None:
    """The median of the values that were measured; None when none were."""
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def by_framework_and_batch(records: list[dict], first_in_process: bool = False) -> dict[tuple[str, int], list[dict]]:
    """Each framework's default runs that have a steady epoch, by (framework, batch size); with
    ``first_in_process``, only those that started their process: the runs whose first epoch means something."""
    return group_by([r for r in default_variant_runs(records) if r["steady_epoch_s"] is not None
                     and (not first_in_process or started_process(r))],
                    lambda r: (r["framework"], r["batch_size"]))


def fusion_run(runs: list[dict]) -> dict | None:
    """The run whose optimized program both documents quote: JAX's default at the study's smallest
    batch size, a cold start with an HLO profile (the lowest seed)."""
    small = min((r["batch_size"] for r in runs), default=None)
    profiled = [r for r in default_variant_runs(runs) if r["framework"] == "jax" and r["batch_size"] == small
                and r["cold_start"] and (r.get("profile") or {}).get("hlo")]
    return min(profiled, key=lambda r: r["seed"], default=None)


def evaluation_compile_s(run: dict) -> float | None:
    """The first validation's excess over the later ones (JAX compiles ``evaluate`` there); None after one epoch."""
    later = median(run["val_times_s"][1:])
    return None if later is None else run["val_times_s"][0] - later


def first_epoch_breakdown(records: list[dict]) -> list[dict]:
    """Per framework and batch size, medians over cold runs of per-run values: the first epoch's excess over the
    steady one, its measured trace / lower / compile parts, and what they leave unexplained (PyTorch eager: all)."""
    def parts(run: dict) -> dict:
        split = run["compile_split"] or {}
        excess = run["first_epoch_s"] - run["steady_epoch_s"]
        return {"excess_s": excess, **{f"split_{k}": split.get(k, 0.0) for k in ("trace_s", "lower_s", "compile_s")},
                "unexplained_s": excess - sum(split.values()), "evaluate_s": evaluation_compile_s(run)}

    groups = by_framework_and_batch(records, first_in_process=True).items()
    return [{"framework": framework, "batch_size": batch_size,
             **{key: median(parts(r)[key] for r in runs) for key in parts(runs[0])}}
            for (framework, batch_size), runs in groups]


def granularity_table(runs: list[dict]) -> list[dict]:
    """One row per (framework, variant): its granularity; calls, host operators, kernels per step and HLO from its
    profiled run at the smallest batch size (lowest seed); its steady epoch at the smallest and largest batch."""
    sizes = sorted({r["batch_size"] for r in runs})
    rows = []
    for (framework, name), group in group_by(runs, lambda r: (r["framework"], r["variant"])).items():
        profiled = sorted((r for r in group if r.get("profile")), key=lambda r: (r["batch_size"], r["seed"]))
        profile = profiled[0]["profile"] if profiled else {}
        rows.append({"framework": framework, "variant": name,
                     "granularity": REGISTRY[f"{framework}-{name}"].granularity,
                     **{key: profile.get(key) for key in ("calls_per_step", "ops_per_step", "kernels_per_step", "hlo")},
                     "steady_s": {b: median(r["steady_epoch_s"] for r in group if r["batch_size"] == b)
                                  for b in (sizes[0], sizes[-1])}})
    return sorted(rows, key=lambda r: (GRANULARITIES.index(r["granularity"]), r["framework"], r["variant"]))


def amortization(records: list[dict], warm: dict | None = None) -> list[dict]:
    """Per batch size, each framework's default: the cumulative seconds of training and validation
    (what a user waits for: JAX compiles ``evaluate`` in the first validation) and the break-even,
    the first epoch from which JAX's total stays below PyTorch's; past the measured epochs both grow
    by their steady epoch plus validation. ``warm`` (``warm_cache_firsts``) puts a warm cache's first
    epoch and evaluate compile in JAX's, for the batch sizes it holds: a second process's break-even."""
    rows = []
    by_key = by_framework_and_batch(records, first_in_process=True)  # a later run of a session starts warm
    for batch_size in sorted({b for _, b in by_key}):
        runs = {fw: by_key.get((fw, batch_size)) for fw in ("jax", "torch")}
        if not all(runs.values()) or (warm is not None and batch_size not in warm):
            continue
        curves = {fw: np.median([np.cumsum(_wait_per_epoch(r, warm and fw == "jax" and warm[batch_size]))
                                 for r in rs], axis=0) for fw, rs in runs.items()}
        steady = {fw: float(np.median([r["steady_epoch_s"] + np.median(r["val_times_s"][1:]) for r in rs]))
                  for fw, rs in runs.items()}
        ahead = curves["jax"] < curves["torch"]
        stays_ahead = [i for i in range(len(ahead)) if ahead[i:].all()]
        never = steady["jax"] >= steady["torch"]  # PyTorch's epochs are as fast or faster: JAX never catches up
        if never:
            break_even = None
        elif stays_ahead:
            break_even = stays_ahead[0] + 1
        else:
            gap = curves["jax"][-1] - curves["torch"][-1]
            break_even = len(curves["jax"]) + math.floor(gap / (steady["torch"] - steady["jax"])) + 1
        rows.append({"batch_size": batch_size, "cumulative_s": {fw: c.tolist() for fw, c in curves.items()},
                     "steady_s": steady, "cache": "warm" if warm else "cold", "never": never,
                     "break_even_epoch": break_even if break_even and break_even <= HORIZON else None,
                     "measured": bool(stays_ahead), "horizon": HORIZON})
    return rows


def _wait_per_epoch(run: dict, warm: dict | None) -> np.ndarray:
    """Training plus validation seconds per epoch; with ``warm``, the first as a warm compilation cache makes it."""
    wait = np.add(run["epoch_times_s"], run["val_times_s"])
    if warm:
        wait[0] = warm["first_epoch_s"] + warm["evaluate_compile_s"] + float(np.median(run["val_times_s"][1:]))
    return wait


def compile_cells(compile_data: dict) -> list[dict]:
    return [cell for part in compile_data["parts"].values() for cell in part.get("cells", [])]


def warm_cache_firsts(compile_data: dict) -> dict[int, dict]:
    """Per batch size: JAX's first epoch (step compile included) and evaluate compile with a warm cache."""
    cells = [c for c in compile_cells(compile_data) if c["setting"] == "warm" and c["applies"]]
    firsts = {c["batch_size"]: c for c in cells if c["program"] == COMPILE_PROGRAMS["jax-jit"]}
    evaluates = {c["batch_size"]: c for c in cells if c["program"] == "jax evaluate" and c["variant"] == "jit"}
    return {b: {"first_epoch_s": firsts[b]["first_epoch_s"], "evaluate_compile_s": evaluates[b]["total_s"]}
            for b in firsts if b in evaluates}


def compile_table(compile_data: dict) -> list[dict]:
    """The compile cells as rows per program and batch size, one cell per setting."""
    groups = group_by(compile_cells(compile_data), lambda c: (c["program"], c["batch_size"]))
    return [{"program": program, "batch_size": batch_size, "settings": {c["setting"]: c for c in group}}
            for (program, batch_size), group in groups.items()]


def overhead_rows(runs: list[dict]) -> list[dict]:
    """Per variant and batch size, medians over the runs that recorded them: the host's time to issue
    a step, the device's busy time per step (summed kernel durations on a GPU; on a CPU, where host
    and device are one processor, the measured step), the measured step and its physical floor."""
    timed = [r for r in runs if r.get("host_epoch_times_s") and r["steady_epoch_s"] is not None]
    rows = []
    for (key, batch_size), group in group_by(timed, lambda r: (f"{r['framework']}-{r['variant']}",
                                                               r["batch_size"])).items():
        steps = group[0]["steps_per_epoch"]
        step_s = median(r["steady_epoch_s"] for r in group) / steps
        device_s = median((r.get("profile") or {}).get("device_s_per_step") for r in group)
        rows.append({"variant_key": key, "batch_size": batch_size, "steps": steps, "runs": len(group),
                     "host_s": median(np.median(r["host_epoch_times_s"][1:]) for r in group) / steps,
                     "step_s": step_s, "floor_s": median(r["physical_floor_s"] for r in group) / steps,
                     "device_s": step_s if device_s is None and group[0]["device"]["kind"] != "gpu" else device_s})
    return rows


def updates_table(updates_data: dict) -> list[dict]:
    """Per arm of the updates experiment: mean test accuracy over the seeds that did not diverge, its range."""
    rows = []
    runs = [row for part in updates_data["parts"].values() for row in part["rows"]]
    arms = list(dict.fromkeys(row["arm"] for row in runs))  # the order of the plan: reference first
    for group in group_by(runs, lambda r: (r["batch_size"], arms.index(r["arm"]))).values():
        accuracy = [r["test_accuracy"] for r in group if r["test_accuracy"] is not None]
        rows.append({**{key: group[0][key] for key in ("arm", "batch_size", "learning_rate", "epochs", "updates")},
                     "seeds": len(group), "diverged": len(group) - len(accuracy),
                     "test_accuracy": float(np.mean(accuracy)) if accuracy else None,
                     "test_accuracy_spread": [min(accuracy), max(accuracy)] if accuracy else None})
    return rows


def paired_by_seed(runs: list[dict], arm_of, arms: tuple[str, str]) -> tuple[list[int], dict[str, list[dict]]]:
    """The seeds measured in both arms (``arm_of(run)``), and each arm's runs of those seeds."""
    by_arm = group_by(runs, arm_of)
    seeds = sorted(set.intersection(*({r["seed"] for r in by_arm.get(arm, [])} for arm in arms)))
    return seeds, {arm: [r for r in by_arm.get(arm, []) if r["seed"] in seeds] for arm in arms}


def precision_comparison(records: list[dict]) -> list[dict]:
    """Per framework and batch size on a GPU: steady time, compile and accuracy, float32 against TF32 matmuls."""
    runs = [r for r in default_variant_runs(records) if r["device"]["kind"] == "gpu" and r["valid"]
            and r["steady_epoch_s"] is not None]
    rows = []
    for (framework, batch_size), group in group_by(runs, lambda r: (r["framework"], r["batch_size"])).items():
        seeds, paired = paired_by_seed(group, lambda r: r["precision"], ("float32", "tf32"))
        if seeds:
            steady = {p: median(r["steady_epoch_s"] for r in rs) for p, rs in paired.items()}
            rows.append({"framework": framework, "batch_size": batch_size, "seeds": seeds, "steady_s": steady,
                         "speedup": steady["float32"] / steady["tf32"],
                         "compile_total_s": {p: median(r["compile_total_s"] for r in rs) for p, rs in paired.items()},
                         "test_accuracy": {p: float(np.mean([r["test_accuracy"] for r in rs]))
                                           for p, rs in paired.items()}})
    return rows


def efficiency(records: list[dict]) -> list[dict]:
    """Per framework and batch size: steady epoch, achieved FLOP/s, fraction of peak."""
    keys = ("steady_epoch_s", "achieved_flops", "peak_matmul_flops", "fraction_of_peak", "physical_floor_s")
    return [{"framework": framework, "batch_size": batch_size, **{key: median(r[key] for r in runs) for key in keys}}
            for (framework, batch_size), runs in by_framework_and_batch(records).items()]


def donation_effect(runs: list[dict]) -> list[dict]:
    """Per batch size, JAX's donated step (``jit``) against ``jit-no-donation``: steady epochs and their memory."""
    jax_runs = [r for r in runs if r["framework"] == "jax" and r["steady_epoch_s"] is not None]
    rows = []
    for batch_size, group in group_by(jax_runs, lambda r: r["batch_size"]).items():
        seeds, paired = paired_by_seed(group, lambda r: r["variant"], ("jit", "jit-no-donation"))
        if seeds:
            epochs = {v: [t for r in rs for t in r["epoch_times_s"][1:]] for v, rs in paired.items()}
            rows.append({"batch_size": batch_size, "seeds": seeds,
                         "steady_s": {v: median(r["steady_epoch_s"] for r in rs) for v, rs in paired.items()},
                         "epoch_range_s": {v: [min(ts), max(ts)] for v, ts in epochs.items()},
                         "compiled_memory": {v: rs[0].get("compiled_memory") for v, rs in paired.items()}})
    return rows
