"""Pure functions over records: what the measurements say.

Nothing here measures, starts a process or reads a file; every function takes
run records (dictionaries, see ``run.train_run``) or the ``data`` of an
evidence record and returns plain rows for tables, figures and the report.
"""

from __future__ import annotations

import math

import numpy as np

from ..bench.results import default_variant_runs, group_by, started_process


def fragments(data: dict | None) -> list[dict]:
    """The results of a measured evidence item's parts, in the order they were measured."""
    return list((data or {}).get("parts", {}).values())


def equality_rows(data: dict | None) -> list[dict]:
    """Every variant's comparison with its default: a part holds one variant's result (older
    records) or those of several variants (one process per framework)."""
    rows = []
    for part in fragments(data):
        rows += [part] if "variant" in part else list(part.values())
    return rows


def by_framework_and_batch(records: list[dict], first_in_process: bool = False) -> dict[tuple[str, int], list[dict]]:
    """Runs of each framework's default variant that have a steady state, grouped by
    (framework, batch size); with ``first_in_process``, only the runs that started their
    process (a cold start in a study without a compilation cache): the runs whose first
    epoch means something."""
    return group_by([r for r in default_variant_runs(records) if r["steady_epoch_s"] is not None
                     and (not first_in_process or started_process(r))],
                    lambda r: (r["framework"], r["batch_size"]))


# --- the first epoch ---------------------------------------------------------------


def first_epoch_parts(run: dict) -> dict:
    """One run's first-epoch excess over its steady epoch and the measured
    compile parts of it (zero for a variant that compiles nothing)."""
    split = run["compile_split"] or {}
    excess = run["first_epoch_s"] - run["steady_epoch_s"]
    compiled = sum(split.values())
    parts = {f"split_{k}": split.get(k, 0.0) for k in ("trace_s", "lower_s", "compile_s")}
    return {"excess_s": excess, "compile_total_s": compiled, **parts, "unexplained_s": excess - compiled,
            "compile_share": compiled / excess if excess > 0 else np.nan, "evaluate_s": evaluation_compile_s(run)}


def first_epoch_breakdown(records: list[dict]) -> list[dict]:
    """Per framework and batch size (medians over runs of per-run values): the
    first epoch's excess over the steady state, the measured trace / lower /
    compile parts, and what they leave unexplained (for PyTorch: all of it)."""
    rows = []
    for (framework, batch_size), runs in by_framework_and_batch(records, first_in_process=True).items():
        per_run = [first_epoch_parts(r) for r in runs]
        median = {key: float(np.nanmedian([p[key] for p in per_run])) for key in per_run[0]}
        if framework != "jax" or np.isnan(median["compile_share"]):
            median["compile_share"] = None
        rows.append({"framework": framework, "batch_size": batch_size, **median})
    return rows


def evaluation_compile_s(run: dict) -> float:
    """How much longer the first validation took than the later ones (JAX compiles
    ``evaluate`` there): the one formula of the evaluate compile from a run's record."""
    return run["val_times_s"][0] - float(np.median(run["val_times_s"][1:]))


# --- the fair fight: every variant at its granularity ------------------------------


def granularity_table(runs: list[dict], batch_sizes=(64, 1024)) -> list[dict]:
    """One row per (framework, variant) of a study: its granularity, the calls, host
    operators and kernels per step from the profile of its run at the smallest batch
    size (seed 0 first), and the median steady epoch at each of ``batch_sizes``."""
    from ..bench.variants import GRANULARITIES, REGISTRY

    groups = group_by(runs, lambda r: (r["framework"], r["variant"]))
    rows = []
    for (framework, name), group in groups.items():
        variant = REGISTRY[f"{framework}-{name}"]
        profile = profile_of(group)
        steady = {b: _median([r["steady_epoch_s"] for r in group if r["batch_size"] == b]) for b in batch_sizes}
        rows.append({"framework": framework, "variant": name, "granularity": variant.granularity,
                     "calls_per_step": profile.get("calls_per_step"), "ops_per_step": profile.get("ops_per_step"),
                     "kernels_per_step": profile.get("kernels_per_step"), "hlo": profile.get("hlo"),
                     "profile_batch_size": profile.get("batch_size"), "steady_s": steady,
                     "seeds": sorted({r["seed"] for r in group})})
    order = {g: i for i, g in enumerate(GRANULARITIES)}
    return sorted(rows, key=lambda r: (order[r["granularity"]], r["framework"], r["variant"]))


def profile_of(runs: list[dict]) -> dict:
    """The profile of the run at the smallest batch size that has one (the lowest seed
    first), with that batch size; empty when no run was profiled."""
    profiled = sorted((r for r in runs if r.get("profile")), key=lambda r: (r["batch_size"], r["seed"]))
    return {**profiled[0]["profile"], "batch_size": profiled[0]["batch_size"]} if profiled else {}


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def speed_ratio(table: list[dict], batch_size: int, slow: tuple[str, str], fast: tuple[str, str]) -> float | None:
    """How many times faster variant ``fast`` ran than ``slow`` at ``batch_size``."""
    by_key = {(r["framework"], r["variant"]): r["steady_s"].get(batch_size) for r in table}
    if by_key.get(slow) and by_key.get(fast):
        return by_key[slow] / by_key[fast]
    return None


# --- amortization --------------------------------------------------------------------


def amortization(records: list[dict], horizon: int = 1000, warm: dict | None = None) -> list[dict]:
    """Per batch size: cumulative seconds of training *and* per-epoch validation
    (what a user waits for; JAX compiles the evaluation function in the first
    validation) for each framework's default variant, and the break-even epoch:
    the first epoch from which JAX's total stays below PyTorch's. Past the measured
    epochs the totals grow by the steady epoch plus steady validation time.

    ``warm`` maps a batch size to JAX's measured first epoch and evaluation
    compile with a warm compilation cache (``warm_cache_firsts``); those replace
    the cold ones, so the break-even is the one a second process would see. Only
    runs that started their process count: a later run of a session starts warm."""
    rows = []
    by_key = by_framework_and_batch(records, first_in_process=True)
    for batch_size in sorted({b for _, b in by_key}):
        if ("jax", batch_size) not in by_key or ("torch", batch_size) not in by_key:
            continue
        if warm is not None and batch_size not in warm:
            continue
        runs = {fw: by_key[(fw, batch_size)] for fw in ("jax", "torch")}
        curves = {fw: np.median([np.cumsum(_wait_per_epoch(r, warm and fw == "jax" and warm[batch_size]))
                                 for r in rs], axis=0) for fw, rs in runs.items()}
        steady = {fw: float(np.median([r["steady_epoch_s"] + np.median(r["val_times_s"][1:]) for r in rs]))
                  for fw, rs in runs.items()}
        ahead = curves["jax"] < curves["torch"]
        stays_ahead = [i for i in range(len(ahead)) if ahead[i:].all()]
        if steady["jax"] >= steady["torch"]:
            break_even = None  # PyTorch's epochs are as fast or faster: JAX never catches up for good
        elif stays_ahead:
            break_even = stays_ahead[0] + 1
        else:
            gap = curves["jax"][-1] - curves["torch"][-1]
            break_even = len(curves["jax"]) + math.floor(gap / (steady["torch"] - steady["jax"])) + 1
        rows.append({"batch_size": batch_size, "cumulative_s": {fw: c.tolist() for fw, c in curves.items()},
                     "steady_s": steady, "cache": "warm" if warm else "cold",
                     "never": steady["jax"] >= steady["torch"],
                     "break_even_epoch": break_even if break_even and break_even <= horizon else None,
                     "measured": bool(stays_ahead), "horizon": horizon})
    return rows


def _wait_per_epoch(run: dict, warm: dict | None) -> np.ndarray:
    """Training plus validation seconds per epoch; with ``warm``, epoch 1 and the
    first validation as a warm compilation cache makes them."""
    wait = np.add(run["epoch_times_s"], run["val_times_s"])
    if warm:
        wait[0] = warm["first_epoch_s"] + warm["evaluate_compile_s"] + float(np.median(run["val_times_s"][1:]))
    return wait


def compile_cells(compile_data: dict | None) -> list[dict]:
    return [cell for part in fragments(compile_data) for cell in part.get("cells", [])]


def partial_batch_programs(compile_data: dict | None) -> dict | None:
    """Programs compiled in one epoch with the last partial batch dropped and kept."""
    part = (compile_data or {}).get("parts", {}).get("partial-batch")
    return part["programs"] if part else None


def warm_cache_firsts(compile_data: dict) -> dict[int, dict]:
    """Per batch size, from the compile evidence: JAX's first epoch (its step
    compile included) and evaluation compile in a process with a warm cache."""
    cells = [c for c in compile_cells(compile_data) if c["setting"] == "warm" and c.get("applies", True)]
    firsts = {c["batch_size"]: c for c in cells if c["program"] == "jax step"}
    evaluates = {c["batch_size"]: c for c in cells if c["program"] == "jax evaluate" and c["variant"] == "jit"}
    return {b: {"first_epoch_s": firsts[b]["first_epoch_s"], "evaluate_compile_s": evaluates[b]["total_s"]}
            for b in firsts if b in evaluates}


def compile_table(compile_data: dict) -> list[dict]:
    """The compile evidence as rows per program and batch size, one column per setting."""
    rows = []
    cells = compile_cells(compile_data)
    for (program, batch_size), group in group_by(cells, lambda c: (c["program"], c["batch_size"])).items():
        rows.append({"program": program, "batch_size": batch_size,
                     "settings": {c["setting"]: c for c in group}})
    return rows


# --- per-step costs --------------------------------------------------------------------


def overhead_rows(runs: list[dict]) -> list[dict]:
    """Per variant and batch size (medians over the runs that recorded them): the host's
    time to issue a step (until the loop returned), the device's busy time per step (summed
    kernel durations on a GPU; on a CPU host and device are the same processor, so the
    measured step), the measured step, and the physical floor of the step's matrix products."""
    timed = [r for r in runs if r.get("host_epoch_times_s") and r["steady_epoch_s"] is not None]
    rows = []
    for (key, batch_size), group in group_by(timed, lambda r: (f"{r['framework']}-{r['variant']}",
                                                               r["batch_size"])).items():
        steps = group[0]["steps_per_epoch"]
        step_s = float(np.median([r["steady_epoch_s"] for r in group])) / steps
        host_s = float(np.median([np.median(r["host_epoch_times_s"][1:]) for r in group])) / steps
        devices = [r["profile"]["device_s_per_step"] for r in group
                   if r.get("profile") and r["profile"].get("device_s_per_step") is not None]
        on_gpu = group[0]["device"]["kind"] == "gpu"
        rows.append({"variant_key": key, "batch_size": batch_size, "steps": steps, "runs": len(group),
                     "host_s": host_s, "step_s": step_s,
                     "device_s": float(np.median(devices)) if devices else (None if on_gpu else step_s),
                     "floor_s": float(np.median([r["physical_floor_s"] for r in group])) / steps})
    return rows


def below_floor(rows: list[dict]) -> list[dict]:
    """Overhead rows whose measured step time is below the step's physical floor: a bug."""
    return [r for r in rows if r["step_s"] < r["floor_s"]]


# --- accuracy against updates ------------------------------------------------------------


def updates_table(updates_data: dict) -> list[dict]:
    """Mean test accuracy (and its spread over seeds) per arm of the updates experiment."""
    rows = []
    runs = [row for part in fragments(updates_data) for row in part["rows"]]
    arms = list(dict.fromkeys(row["arm"] for row in runs))  # the order of the plan: reference first
    groups = group_by(runs, lambda r: (r["batch_size"], arms.index(r["arm"])))
    for group in groups.values():
        arm, batch_size = group[0]["arm"], group[0]["batch_size"]
        finished = [r for r in group if r.get("test_accuracy") is not None]
        accuracy = np.array([r["test_accuracy"] for r in finished])
        rows.append({"arm": arm, "batch_size": batch_size, "learning_rate": group[0]["learning_rate"],
                     "epochs": group[0]["epochs"], "updates": group[0]["updates"], "seeds": len(group),
                     "diverged": len(group) - len(finished),
                     "test_accuracy": float(accuracy.mean()) if len(accuracy) else None,
                     "test_accuracy_spread": [float(accuracy.min()), float(accuracy.max())] if len(accuracy) else None})
    return rows


# --- precision, efficiency, donation --------------------------------------------------------


def precision_comparison(records: list[dict], device_name: str | None = None) -> list[dict]:
    """Per framework and batch size on one GPU: steady time and accuracy with
    float32 and TF32 matmuls, over the seeds measured with both (valid runs only)."""
    runs = [r for r in default_variant_runs(records) if r["device"]["kind"] == "gpu" and r["valid"]
            and r["steady_epoch_s"] is not None and (device_name is None or r["device"]["name"] == device_name)]
    rows = []
    for (framework, batch_size), group in group_by(runs, lambda r: (r["framework"], r["batch_size"])).items():
        by_precision = group_by(group, lambda r: r["precision"])
        if set(by_precision) < {"float32", "tf32"}:
            continue
        seeds = {r["seed"] for r in by_precision["float32"]} & {r["seed"] for r in by_precision["tf32"]}
        paired = {p: [r for r in rs if r["seed"] in seeds] for p, rs in by_precision.items()}
        if not seeds:
            continue
        median = {p: float(np.median([r["steady_epoch_s"] for r in rs])) for p, rs in paired.items()}
        compile_total = {p: float(np.median([r["compile_total_s"] for r in rs])) if rs[0]["compile_total_s"] is not None
                         else None
                     for p, rs in paired.items()}
        rows.append({"framework": framework, "batch_size": batch_size, "seeds": sorted(seeds),
                     "steady_s": median, "compile_total_s": compile_total,
                     "test_accuracy": {p: float(np.mean([r["test_accuracy"] for r in rs])) for p, rs in paired.items()},
                     "speedup": median["float32"] / median["tf32"]})
    return rows


def efficiency(records: list[dict]) -> list[dict]:
    """Per framework and batch size: steady epoch, achieved FLOP/s, fraction of peak."""
    keys = ("steady_epoch_s", "achieved_flops", "peak_matmul_flops", "fraction_of_peak", "physical_floor_s")
    return [{"framework": framework, "batch_size": batch_size,
             **{key: float(np.median([r[key] for r in runs])) for key in keys}}
            for (framework, batch_size), runs in by_framework_and_batch(records).items()]


def donation_effect(runs: list[dict]) -> list[dict]:
    """Per batch size: the donated JAX step (``jit``) against ``jit-no-donation``,
    paired by seed: steady epochs, their spreads, and XLA's memory analysis."""
    jax_runs = [r for r in runs if r["framework"] == "jax" and r["variant"] in ("jit", "jit-no-donation")
                and r["steady_epoch_s"] is not None]
    rows = []
    for batch_size, group in group_by(jax_runs, lambda r: r["batch_size"]).items():
        by_variant = group_by(group, lambda r: r["variant"])
        if set(by_variant) != {"jit", "jit-no-donation"}:
            continue
        seeds = sorted({r["seed"] for r in by_variant["jit"]} & {r["seed"] for r in by_variant["jit-no-donation"]})
        if not seeds:
            continue
        paired = {v: [r for r in rs if r["seed"] in seeds] for v, rs in by_variant.items()}
        epochs = {v: [t for r in rs for t in r["epoch_times_s"][1:]] for v, rs in paired.items()}
        rows.append({"batch_size": batch_size, "seeds": seeds,
                     "steady_s": {v: float(np.median([r["steady_epoch_s"] for r in rs])) for v, rs in paired.items()},
                     "epoch_range_s": {v: [min(ts), max(ts)] for v, ts in epochs.items()},
                     "compiled_memory": {v: rs[0].get("compiled_memory") for v, rs in paired.items()}})
    return rows
