"""Paired comparisons across processes: one number per process, intervals across rounds, and
what an interval resolves.

The method, declared before measuring (the supplement prints it, ``DESIGN``):

- **The process is the unit.** Each side of a comparison runs in fresh processes of its own,
  one framework per process. A *round* runs one process of every side in a shuffled order, so
  the two sides of a comparison are measured in nearby processes, minutes apart at most.
- **Blocks of equal work** inside a process (one epoch over the same images); the first
  ``WARMUP_EPOCHS`` are left out (the first holds the compilation), the rest are averaged:
  one number per process, its mean block time. The estimand is the ratio of mean steady block
  times, B over A: what a user waits, in proportion.
- **The interval comes from the rounds**: per round, log(B / A); a t interval over rounds
  (n - 1 degrees of freedom). Blocks of one process are not independent (the machine drifts
  within minutes), so they never count as separate samples.
- **A/A**: the same side twice in a round. The farthest end of its interval from 1 is the
  study's resolution, the equivalence margin δ.
- **Verdicts**: an interval that excludes 1 is a difference (faster or slower); one inside
  [1/(1 + δ), 1 + δ] is "no difference beyond δ"; anything else is "not resolved". Over the
  declared family a difference is claimed only if Holm's adjusted p-value is below 1 - CONFIDENCE.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats

from .timing import WARMUP_EPOCHS

CONFIDENCE = 0.95
VERDICTS = ("faster", "slower", "no difference beyond δ", "not resolved")


@dataclasses.dataclass(frozen=True)
class Interval:
    """A ratio B / A (the geometric mean over rounds of each round's ratio) with its interval."""

    ratio: float
    low: float
    high: float
    n: int  # rounds
    p_value: float  # two-sided, of "no difference" (a one-sample t test on the log ratios)

    @property
    def excludes_one(self) -> bool:
        return self.high < 1 or self.low > 1

    def within(self, delta: float) -> bool:
        return 1 / (1 + delta) <= self.low and self.high <= 1 + delta

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def process_mean(block_times: list[float], warmup: int = WARMUP_EPOCHS) -> float:
    """One number per process: the mean time of its blocks after the warm-up."""
    steady = block_times[warmup:]
    if not steady:
        raise ValueError(f"a process needs more than {warmup} blocks")
    return float(np.mean(steady))


def log_ratio_interval(log_ratios: list[float], confidence: float = CONFIDENCE) -> Interval | None:
    """The t interval of the mean log ratio, as a ratio; None with fewer than two rounds or a
    value that is not a number (an interval of NaN would print, and its p-value read as 0)."""
    x = np.asarray(log_ratios, dtype=float)
    n = len(x)
    if n < 2 or not np.isfinite(x).all():
        return None
    mean, spread = float(x.mean()), float(x.std(ddof=1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * spread / math.sqrt(n)
    p_value = float(stats.ttest_1samp(x, 0.0).pvalue) if spread > 0 else float(mean == 0)
    return Interval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, p_value)


def paired_interval(a_means: list[float], b_means: list[float], confidence: float = CONFIDENCE) -> Interval | None:
    """B against A from one process mean of each side per round (the rounds in the same order)."""
    if len(a_means) != len(b_means):
        raise ValueError("each round needs one process of each side")
    return log_ratio_interval([math.log(b / a) for a, b in zip(a_means, b_means)], confidence)


def margin(aa: Interval) -> float:
    """δ from an A/A interval: how far from 1 its farther end lies (0.04 for 0.97 to 1.04)."""
    return max(aa.high, 1 / aa.low) - 1


def verdict(interval: Interval | None, delta: float, adjusted_p: float | None = None) -> str:
    """What the interval resolves about B against A: 'faster' or 'slower' (B's time is lower or
    higher), 'no difference beyond δ', or 'not resolved'. With ``adjusted_p`` (Holm's, over the
    family the documents claim) a difference also needs that below 1 - CONFIDENCE."""
    if interval is None:
        return "not resolved"
    significant = adjusted_p is None or adjusted_p < 1 - CONFIDENCE
    if interval.excludes_one and significant:
        return "faster" if interval.high < 1 else "slower"
    if interval.within(delta):
        return "no difference beyond δ"
    return "not resolved"


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (each at most 1, never below an earlier one's)."""
    ordered = sorted(p_values, key=p_values.get)
    adjusted, running = {}, 0.0
    for rank, name in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p_values[name]))
        adjusted[name] = running
    return adjusted


def lag1_autocorrelation(values: list[float]) -> float | None:
    """The correlation of each block time with the next: near 0 for independent blocks,
    high when the machine drifts through a process (a hump)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 3 or x.std() == 0:
        return None
    x = x - x.mean()
    return float(np.dot(x[:-1], x[1:]) / np.dot(x, x))


# --- a paired record's parts (``evidence.paired``): process means, the family, the A/A ----------------


def usable(process: dict | None) -> bool:
    """A process that finished, whose clock never read below the physical floor."""
    return bool(process) and not process.get("floor_violations") and len(process["blocks_s"]) > WARMUP_EPOCHS


def side_means(part: dict, key: str) -> list[float | None]:
    """Per round, the process mean of side ``key`` (None where it is missing or invalid)."""
    return [process_mean(r[key]["blocks_s"]) if usable(r.get(key)) else None for r in part["rounds"]]


def sides_interval(part: dict, a: str, b: str) -> Interval | None:
    """B against A over the rounds where both sides have a usable process."""
    pairs = [(x, y) for x, y in zip(side_means(part, a), side_means(part, b)) if x is not None and y is not None]
    return paired_interval([x for x, _ in pairs], [y for _, y in pairs]) if pairs else None


def blocks_aa(part: dict, key: str) -> Interval | None:
    """The A/A inside processes: per process of ``key``, its odd steady blocks against its even
    ones; the interval across processes."""
    logs = []
    for r in part["rounds"]:
        if usable(r.get(key)):
            steady = r[key]["blocks_s"][WARMUP_EPOCHS:]
            if len(steady) >= 2:
                logs.append(math.log(np.mean(steady[1::2]) / np.mean(steady[0::2])))
    return log_ratio_interval(logs)


def analysis(parts: dict[str, dict], family, aa) -> dict:
    """Every declared comparison in every part: its interval, p-value, Holm-adjusted p-value and
    verdict; δ from the widest A/A of processes; the A/A of blocks; and how many steady training
    blocks ran under interference, with the block times' autocorrelation (median over processes)."""
    aa_rows = [{"part": name, "comparison": label, "level": "processes", **interval.to_dict()}
               for name, part in parts.items() for label, a, b, _ in aa
               if (interval := sides_interval(part, a, b)) is not None]
    aa_rows += [{"part": name, "comparison": f"A/A: blocks of {a}", "level": "blocks", **interval.to_dict()}
                for name, part in parts.items() for _, a, _, _ in aa if (interval := blocks_aa(part, a)) is not None]
    process_aa = [row for row in aa_rows if row["level"] == "processes"]
    delta = max((margin(Interval(**_fields(row))) for row in process_aa), default=None)
    rows = [{"part": name, "comparison": label, "a": a, "b": b, "meaning": meaning, **interval.to_dict()}
            for name, part in parts.items() for label, a, b, meaning in family
            if (interval := sides_interval(part, a, b)) is not None]
    adjusted = holm({i: row["p_value"] for i, row in enumerate(rows)})
    for i, row in enumerate(rows):
        row["holm_p"] = adjusted[i]
        row["verdict"] = verdict(Interval(**_fields(row)), delta if delta is not None else 0.0, adjusted[i])
    processes = [p for part in parts.values() for r in part["rounds"] for p in r.values()]
    # the machine around every steady block of training (a dispatch block lasts a few of /proc/stat's ticks)
    blocks = [state for part in parts.values() if part.get("calls_per_block") is None for r in part["rounds"]
              for p in r.values() for state in p.get("machine", [])[WARMUP_EPOCHS:]]
    correlations = [c for p in processes if (c := lag1_autocorrelation(p["blocks_s"][WARMUP_EPOCHS:])) is not None]
    return {"delta": delta, "aa": aa_rows, "rows": rows, "processes": len(processes),
            "invalid_processes": sum(not usable(p) for p in processes),
            "blocks": len(blocks), "interfered_blocks": sum(bool(s.get("interference")) for s in blocks),
            "autocorrelation": float(np.median(correlations)) if correlations else None}


def _fields(row: dict) -> dict:
    return {name: row[name] for name in ("ratio", "low", "high", "n", "p_value")}


def share_of_peak(process: dict) -> float | None:
    """Steady training FLOP/s over the matmul peak probed in the same process: the one definition."""
    if not usable(process) or "flops_per_block" not in process:
        return None
    return process["flops_per_block"] / process_mean(process["blocks_s"]) / process["matmul_peak_flops"]


def spread(values: list[float]) -> dict | None:
    """Mean and t interval of one side's per-process values (a compile time, a call's cost)."""
    if not values:
        return None
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": len(values)}


# --- the main grid as pairs of processes: the frameworks' defaults, seed by seed --------------------


def grid_pairs(runs: list[dict], a: tuple[str, str], b: tuple[str, str], key: str = "steady") -> dict:
    """Per batch size, B's runs against A's (``(framework, variant)``), paired by seed: each run
    a cold start in its own process, the two of a seed adjacent. ``key``: "steady" compares the
    steady epochs (``timing.steady_epoch``), "first" the first epochs. Invalid runs, and runs
    without the value (a run of one epoch has no steady epoch), are left out with their pair."""
    field = "first_epoch_s" if key == "first" else "steady_epoch_s"

    def cell(side: tuple[str, str], batch: int) -> dict[int, float]:
        return {r["seed"]: r[field] for r in runs if (r["framework"], r["variant"]) == side
                and r["batch_size"] == batch and r["valid"] and r["cold_start"] and r[field] is not None}

    out = {}
    for batch in sorted({r["batch_size"] for r in runs}):
        a_cell, b_cell = cell(a, batch), cell(b, batch)
        seeds = sorted(set(a_cell) & set(b_cell))
        interval = paired_interval([a_cell[s] for s in seeds], [b_cell[s] for s in seeds]) if seeds else None
        if interval is not None:
            out[batch] = interval
    return out
