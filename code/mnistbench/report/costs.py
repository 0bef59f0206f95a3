"""Where a step's time goes, from the cost-split records, and how long a run takes to an accuracy.

``fit_side``: per side, the step time t(b) = a + c b over the batch sizes (weighted least squares:
every point counts by its relative error, so the small batches' microseconds weigh as much as the
large batches' seconds), a the fixed cost of a step, c the cost per sample, b* = a / c the batch
size at which the two are equal, each with its interval; c beside the physical per-sample floor
(a sample's training FLOPs at the highest matmul peak the study probed). ``eager_split``: JAX
eager's step as transformation + dispatch + arithmetic. ``time_to_accuracy``: from the grid's runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..bench.compare import CONFIDENCE
from ..bench.selection import group_by

FIT_TOLERANCE = 0.15  # declared: the line fits a side where every size's mean step lies within 15% of it
TARGET_ACCURACY = 0.975  # declared before the runs it reads: the time-to-accuracy target (validation accuracy)


class Bounded(NamedTuple):
    """A fitted quantity and its interval (``CONFIDENCE``)."""
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class SideFit:
    """One side's line t(b) = a + c b: a the fixed cost of a step and c the cost per sample (seconds),
    b* = a / c (``crossing``), each with its interval; c over the physical floor per sample; each size's
    mean step and the line's relative residual there, and every process's own a and c."""
    variant: str
    a: Bounded
    c: Bounded
    crossing: Bounded
    points: int
    processes: int
    residuals: dict[int, float]
    fits: bool  # every size's mean within FIT_TOLERANCE of the line
    floor_per_sample_s: float | None
    over_floor: float | None
    step_s: dict[int, float]
    a_processes: list[float]
    c_processes: list[float]


def points(part: dict) -> list[tuple[int, float]]:
    """(batch size, mean step time) of every batch size of every process of one side whose clock
    never read below the physical floor."""
    return [point for process in part["processes"] for point in process_points(process)]


def process_points(process: dict) -> list[tuple[int, float]]:
    if process.get("floor_violations"):
        return []
    return [(row["batch_size"], float(np.mean(row["step_s"]))) for row in process["sizes"]]


def weighted_fit(b: np.ndarray, t: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """a, c of t = a + c b by least squares weighted by the relative error (1 / t²), with the
    weights and the normal equations' matrix (for the intervals)."""
    design = np.column_stack([np.ones_like(b), b])
    weights = 1 / t**2
    gram = design.T @ (design * weights[:, None])
    a, c = np.linalg.solve(gram, design.T @ (weights * t))
    return float(a), float(c), weights, gram


def process_fits(part: dict) -> list[tuple[float, float]]:
    """a, c of each process's own line: the process is the unit that repeats (its sizes share its
    machine state), so their spread, not the pooled fit's interval, says how well a and c are known."""
    found = []
    for process in part["processes"]:
        if len(own := process_points(process)) > 2:
            found.append(weighted_fit(*(np.array(values, dtype=float) for values in zip(*own)))[:2])
    return found


def fit_side(part: dict, floor_per_sample_s: float | None = None) -> SideFit:
    """The line t(b) = a + c b through one side's points, with intervals and its residuals."""
    b, t = (np.array(values, dtype=float) for values in zip(*points(part)))
    a, c, weights, gram = weighted_fit(b, t)
    df = len(t) - 2
    residual = t - (a + c * b)
    scale = float(np.sum(weights * residual**2) / df) if df > 0 else math.nan
    covariance = np.linalg.inv(gram) * scale
    q = stats.t.ppf(0.5 + CONFIDENCE / 2, df) if df > 0 else math.nan
    se_a, se_c = math.sqrt(covariance[0, 0]), math.sqrt(covariance[1, 1])
    crossing = a / c if c > 0 else math.nan  # b*: the delta method's interval, on the log scale
    se_log = math.sqrt(covariance[0, 0] / a**2 + covariance[1, 1] / c**2 - 2 * covariance[0, 1] / (a * c)) \
        if a > 0 and c > 0 else math.nan
    by_size = {int(size): float(np.mean([ti for bi, ti in zip(b, t) if bi == size])) for size in sorted(set(b))}
    residuals = {size: mean / (a + c * size) - 1 for size, mean in by_size.items()}
    own = process_fits(part)
    return SideFit(variant=part["variant"], a=Bounded(a, a - q * se_a, a + q * se_a),
                   c=Bounded(c, c - q * se_c, c + q * se_c),
                   crossing=Bounded(crossing, crossing * math.exp(-q * se_log), crossing * math.exp(q * se_log)),
                   points=len(t), processes=len(part["processes"]), residuals=residuals,
                   fits=all(abs(r) <= FIT_TOLERANCE for r in residuals.values()),
                   floor_per_sample_s=floor_per_sample_s,
                   over_floor=c / floor_per_sample_s if floor_per_sample_s else None, step_s=by_size,
                   a_processes=[a for a, _ in own], c_processes=[c for _, c in own])


def cost_split(data: dict) -> list[SideFit]:
    """Every side of a cost-split record, fitted, against the floor at the study's highest probed peak."""
    parts = data["parts"]
    peaks = [process["matmul_peak_flops"] for part in parts.values() for process in part["processes"]]
    per_sample = next(process["flops_per_sample"] for part in parts.values() for process in part["processes"])
    floor = per_sample / max(peaks) if peaks else None
    return [fit_side(part, floor) for part in parts.values()]


def newest_record(study, device_kind: str = "cpu") -> dict | None:
    """The newest cost-split record of a device kind (a study's current evidence)."""
    return max((r for r in study.evidence("cost-split") if r["device"]["kind"] == device_kind),
               key=lambda r: r["timestamp"], default=None)


def report_fits(study) -> list[SideFit]:
    """The report's figure's lines: the CPU's sides, fitted (none without a record)."""
    record = newest_record(study)
    return cost_split(record["data"]) if record else []


def peaks(data: dict) -> dict[str, float]:
    """Each framework's probed matmul peak (FLOP/s; the median over its processes)."""
    found: dict[str, list[float]] = {}
    for part in data["parts"].values():
        for process in part["processes"]:
            found.setdefault(part["variant"].split("-")[0], []).append(process["matmul_peak_flops"])
    return {framework: float(np.median(values)) for framework, values in found.items()}


def eager_split(data: dict) -> list[dict]:
    """JAX eager's step at each batch size: the transformation redone at every call, the operations'
    dispatch (calls x one call's cost), the arithmetic (the jitted step's time at that size), and
    what the three leave unexplained."""
    eager, jit = data["parts"].get("jax-eager"), data["parts"].get("jax-jit")
    if not eager or not jit:
        return []
    jitted = fit_side(jit).step_s
    rows = []
    for size, group in group_by([row for p in eager["processes"] for row in p["sizes"]],
                                lambda row: row["batch_size"]).items():
        step = float(np.mean([np.mean(row["step_s"]) for row in group]))
        transform = float(np.median([row["transform_s"] for row in group]))
        dispatch = float(np.median([row["eager_calls"] * row["call_s"] for row in group]))
        arithmetic = jitted.get(size)
        rows.append({"batch_size": size, "step_s": step, "transform_s": transform, "dispatch_s": dispatch,
                     "arithmetic_s": arithmetic, "calls": group[0]["eager_calls"],
                     "unexplained_s": step - transform - dispatch - (arithmetic or 0.0)})
    return rows


def fusions_by_size(data: dict) -> list[dict]:
    """The jitted step's optimized program at each batch size: what XLA fused, the update's loops."""
    jit = data["parts"].get("jax-jit")
    if not jit:
        return []
    rows = {row["batch_size"]: row["fusions"] for p in jit["processes"] for row in p["sizes"] if "fusions" in row}
    return [{"batch_size": size, **kinds} for size, kinds in sorted(rows.items())]


def since_training(run: dict) -> list[float]:
    """Seconds from the start of training (the first epoch's clock) to each epoch's validation done:
    compiles and validations in, the process's start-up out. The start-up is not the framework's own
    cost alone: a PyTorch process also imports JAX, which draws the twins' shared initial weights."""
    start_up = run["elapsed_s"][0] - run["epoch_times_s"][0] - run["val_times_s"][0]
    return [t - start_up for t in run["elapsed_s"]]


def time_to_accuracy(runs: list[dict], target: float) -> list[dict]:
    """Per framework and batch size, over seeds: the seconds from the start of training
    (``since_training``) to the end of the first epoch whose validation accuracy reached
    ``target``; a run that never did, or that did not record the time, is counted apart."""
    rows = []
    for (framework, batch_size), group in group_by([r for r in runs if r["cold_start"]],
                                                   lambda r: (r["framework"], r["batch_size"])).items():
        timed = [r for r in group if r.get("elapsed_s")]
        reached = [next((t for t, a in zip(since_training(r), r["val_accuracy"]) if a >= target), None) for r in timed]
        seconds = [s for s in reached if s is not None]
        rows.append({"framework": framework, "batch_size": batch_size, "target": target, "runs": len(timed),
                     "reached": len(seconds), "median_s": float(np.median(seconds)) if seconds else None,
                     "range_s": [min(seconds), max(seconds)] if seconds else None,
                     "start_up_s": float(np.median([r["elapsed_s"][0] - since_training(r)[0] for r in timed]))
                     if timed else None})
    return rows
