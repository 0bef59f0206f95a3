"""Paired comparisons across processes, declared before anything is measured.

The design (the supplement prints it from here and from ``evidence.paired``, whose ``FAMILY`` is
the declared family):

- **The process is the unit.** A *round* runs one fresh process of every side of a part, in a
  balanced order. A process trains blocks of equal work; its one number is the mean of its blocks
  after its side's warm-up. Per round, log(B / A); the estimand is the geometric mean over rounds
  of B / A; the interval is a t interval over rounds (blocks of one process are not independent).
- **The smallest effect of interest**, ``MARGIN``, fixed before the data: 10%. A tenth of a
  training run's time is the smallest difference a user would act on (the choice of a framework,
  a variant), and about what one framework's own epochs vary between processes of a shared machine;
  a smaller claim would be about the machine more than the code.
- **The family** is the comparisons the report states, and only those, ``k`` of them. Its error
  rate is ``FAMILY_ALPHA``; each comparison is tested at ``FAMILY_ALPHA / k`` (Bonferroni), and
  its printed interval carries that correction, so a verdict and its interval always agree:
  *faster* or *slower* when the (1 - alpha / k) interval excludes 1; *equivalent* (within the
  margin) by two one-sided tests at alpha / k, when the (1 - 2 alpha / k) interval lies inside
  [1 / (1 + MARGIN), 1 + MARGIN]; both can hold; anything else is *not resolved*.
- **A/A**: one per part (a side run twice a round). It calibrates the instrument: its interval
  must cover 1, and its spread is printed beside the family's.
- **Interference**: a process with a steady block during which other processes or the hypervisor
  took more than a tenth of the machine (``machine.INTERFERENCE``) is flagged; every verdict is
  given with and without the flagged processes.
- **Drift**: what is left of a process's log time after its side's and its round's effects,
  against the minutes since its round began (the balanced order cancels it; its slope is printed).
- **Sessions**: the study is planned as at least two sessions (other days or machines), each a whole
  replicate; a verdict comes from every session's rounds together, stands only where the sessions
  agree (an F test of the log ratios by session, at the corrected level), and each session's own
  verdict is printed beside it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from scipy import stats

MARGIN = 0.10  # the smallest effect of interest, and the equivalence margin (see the module's text)
FAMILY_ALPHA = 0.05  # the family-wise error rate
POWER_TARGET = 0.80  # rounds are planned for this power at MARGIN
CONFIDENCE = 0.95  # of a single quantity's interval (a compile time, a fitted cost)
UNRESOLVED, DISAGREE = "not resolved", "sessions disagree"  # the verdicts that are neither a direction nor the margin


@dataclasses.dataclass(frozen=True)
class Interval:
    """A ratio B / A (the geometric mean over rounds of each round's ratio) with its interval."""

    ratio: float
    low: float
    high: float
    n: int  # rounds
    confidence: float  # of [low, high]
    p_value: float  # two-sided, of "no difference" (a one-sample t test on the log ratios)

    @property
    def excludes_one(self) -> bool:
        return self.high < 1 or self.low > 1

    def within(self, margin: float = MARGIN) -> bool:
        return 1 / (1 + margin) <= self.low and self.high <= 1 + margin

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def log_ratio_interval(log_ratios: list[float], confidence: float = CONFIDENCE) -> Interval | None:
    """The t interval of the mean log ratio, as a ratio; None with fewer than two rounds or a value
    that is not a number (an interval of NaN would print, and its p-value read as 0)."""
    x = np.asarray(log_ratios, dtype=float)
    n = len(x)
    if n < 2 or not np.isfinite(x).all():
        return None
    mean, spread = float(x.mean()), float(x.std(ddof=1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * spread / math.sqrt(n)
    p_value = float(stats.ttest_1samp(x, 0.0).pvalue) if spread > 0 else float(mean == 0)
    return Interval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, confidence, p_value)


def paired_interval(a_means: list[float], b_means: list[float], confidence: float = CONFIDENCE) -> Interval | None:
    """B against A from one process mean of each side per round (the rounds in the same order)."""
    if len(a_means) != len(b_means):
        raise ValueError("each round needs one process of each side")
    return log_ratio_interval([math.log(b / a) for a, b in zip(a_means, b_means)], confidence)


def direction(interval: Interval) -> str | None:
    """'faster' (B took less time than A) or 'slower' where the interval excludes 1; else None."""
    return ("faster" if interval.high < 1 else "slower") if interval.excludes_one else None


def verdict_text(towards: str | None, within: bool, margin: float = MARGIN) -> str:
    """A verdict as printed: 'faster', 'slower', 'within ±10%', 'faster, within ±10%' or 'not resolved'."""
    words = [towards] if towards else []
    if within:
        words.append(f"within ±{100 * margin:.0f}%")
    return ", ".join(words) or UNRESOLVED


def judged(log_ratios: list[float], alpha: float, margin: float = MARGIN) -> dict | None:
    """A comparison's verdict at the per-comparison level ``alpha``, with the intervals that decide
    it: ``difference`` (1 - alpha) and ``equivalence`` (1 - 2 alpha, two one-sided tests); the
    verdict both as its parts (``direction``, ``within``) and as text."""
    difference = log_ratio_interval(log_ratios, 1 - alpha)
    equivalence = log_ratio_interval(log_ratios, 1 - 2 * alpha)
    if difference is None:
        return None
    towards, within = direction(difference), equivalence.within(margin)
    return {"difference": difference.to_dict(), "equivalence": equivalence.to_dict(), "direction": towards,
            "within": within, "verdict": verdict_text(towards, within, margin)}


# --- planning: rounds from a power calculation ---------------------------------------------------


def power(sigma: float, rounds: int, alpha: float, effect: float = MARGIN) -> float:
    """Power of the two-sided t test at level ``alpha`` over ``rounds`` log ratios of spread
    ``sigma`` to find a true ratio of 1 + ``effect``."""
    df, shift = rounds - 1, math.log(1 + effect) / (sigma / math.sqrt(rounds))
    critical = stats.t.ppf(1 - alpha / 2, df)
    found = float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))
    if not math.isfinite(found):  # scipy's noncentral t fails far in its tail: the normal limit, there near 1
        found = float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))
    return found


def equivalence_power(sigma: float, rounds: int, alpha: float, margin: float = MARGIN) -> float:
    """Power of the two one-sided tests at ``alpha`` to find equivalence when the sides are equal:
    the share of studies whose (1 - 2 alpha) interval lies inside the margin (simulated, seeded)."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, sigma, (20_000, rounds))
    half = stats.t.ppf(1 - alpha, rounds - 1) * x.std(axis=1, ddof=1) / math.sqrt(rounds)
    return float(np.mean(np.abs(x.mean(axis=1)) + half < math.log(1 + margin)))


def rounds_needed(sigma: float, alpha: float, most: int = 1000) -> int | None:
    """All sessions' rounds that would give ``POWER_TARGET`` at ``MARGIN`` for a spread ``sigma``
    (a session's observed one, read after it: how far the study is from resolving; None past ``most``)."""
    low, high = 2, most
    if power(sigma, high, alpha) < POWER_TARGET:
        return None
    while low < high:  # power grows with the rounds
        middle = (low + high) // 2
        low, high = (middle + 1, high) if power(sigma, middle, alpha) < POWER_TARGET else (low, middle)
    return low


def rounds_for(sigma: float, alpha: float, sessions: int, least: int = 3, most: int = 12) -> int:
    """Rounds per session so that the study of ``sessions`` sessions has ``POWER_TARGET`` at
    ``MARGIN`` (at most ``most``: the budget's bound, said beside the power it leaves)."""
    for rounds in range(least, most + 1):
        if power(sigma, rounds * sessions, alpha) >= POWER_TARGET:
            return rounds
    return most


# --- a paired record's parts (``evidence.paired``) ------------------------------------------------


def warmup_of(part: dict, process: dict) -> int:
    """A process's warm-up blocks: its own (declared per side), else its part's (older records)."""
    return process.get("warmup_blocks", part.get("warmup_blocks", 1))


def usable(part: dict, process: dict | None) -> bool:
    """A process that finished, whose clock never read below the physical floor."""
    return bool(process) and not process.get("floor_violations") and len(process["blocks_s"]) > warmup_of(part,
                                                                                                          process)


def interfered(part: dict, process: dict) -> bool:
    """Whether any of the process's steady blocks ran under interference (``machine``)."""
    return any(state.get("interference") for state in process.get("machine", [])[warmup_of(part, process):])


def process_mean(part: dict, process: dict) -> float:
    """One number per process: the mean time of its blocks after its warm-up."""
    return float(np.mean(process["blocks_s"][warmup_of(part, process):]))


def log_ratios(part: dict, a: str, b: str, clean: bool = False) -> list[float]:
    """Per round where both sides have a usable process (and, with ``clean``, none interfered), log(B / A)."""
    logs = []
    for r in part["rounds"]:
        pa, pb = r.get(a), r.get(b)
        if usable(part, pa) and usable(part, pb) and not (clean and (interfered(part, pa) or interfered(part, pb))):
            logs.append(math.log(process_mean(part, pb) / process_mean(part, pa)))
    return logs


class Cell(NamedTuple):
    """One process of a paired part, as the drift's regression reads it."""

    round: int
    side: str
    started_s: float  # when the process started, seconds on the part's clock
    log_time: float  # the log of its one number (the mean of its steady blocks)


def drift(part: dict) -> dict | None:
    """The slope (per minute) of a process's log time against the minutes since its round began,
    after its side's and its round's effects, with its interval; None without start times."""
    cells = [Cell(i, side, p["started_s"], math.log(process_mean(part, p))) for i, r in enumerate(part["rounds"])
             for side, p in r.items() if usable(part, p) and "started_s" in p]
    if len(cells) < 4:
        return None
    rounds, sides = sorted({c.round for c in cells}), sorted({c.side for c in cells})
    columns = [[c.round == i for c in cells] for i in rounds] + [[c.side == s for c in cells] for s in sides[1:]]
    starts = {i: min(c.started_s for c in cells if c.round == i) for i in rounds}
    minutes = [(c.started_s - starts[c.round]) / 60 for c in cells]
    design = np.column_stack([np.asarray(columns, dtype=float).T, minutes])
    y = np.array([c.log_time for c in cells])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - design.shape[1]
    if df < 1:
        return None
    residual = y - design @ coef
    covariance = np.linalg.pinv(design.T @ design) * float(residual @ residual) / df
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(covariance[-1, -1])
    slope = float(coef[-1])
    return {"per_minute": math.expm1(slope), "low": math.expm1(slope - half), "high": math.expm1(slope + half),
            "processes": len(y)}


def comparison_row(held: list[dict], label: str, a: str, b: str, alpha: float) -> dict | None:
    """One declared comparison over the sessions that measured its part (``held``): its verdict from
    every round together, with and without the processes under interference, each session's own,
    whether the sessions agree (an F test of the log ratios by session at the same level), and the
    interval with the sessions as the unit (``by_session``)."""
    each = [log_ratios(part, a, b) for part in held]
    pooled = judged([x for logs in each for x in logs], alpha)
    if pooled is None:
        return None
    clean = judged([x for part in held for x in log_ratios(part, a, b, clean=True)], alpha)
    spread_between = [logs for logs in each if len(logs) > 1]
    heterogeneity = float(stats.f_oneway(*spread_between).pvalue) if len(spread_between) > 1 else None
    agree = heterogeneity is None or not heterogeneity < alpha
    sd = float(np.std([x for logs in each for x in logs], ddof=1))
    # the sessions as the unit (each its mean log ratio): what a session effect, if any, would leave
    by_session = log_ratio_interval([float(np.mean(logs)) for logs in each if logs], 1 - alpha)
    return {**pooled, "agree": agree, "verdict": pooled["verdict"] if agree else DISAGREE,
            "by_session": by_session.to_dict() if by_session else None,
            "without_interference": clean["verdict"] if clean else UNRESOLVED,
            "sessions": [judged(logs, alpha) for logs in each], "heterogeneity_p": heterogeneity,
            "sd": sd, "power": power(sd, pooled["difference"]["n"], alpha), "rounds_needed": rounds_needed(sd, alpha)}


def aa_rows(sessions: list[dict[str, dict]], aa: dict) -> list[dict]:
    """Each session's A/A comparisons (the instrument): the interval, whether it covers 1, the spread."""
    rows = []
    for number, parts in enumerate(sessions):
        for name, part in parts.items():
            for label, a, b in aa.get(name, ()):
                logs = log_ratios(part, a, b)
                if (interval := log_ratio_interval(logs)) is not None:
                    rows.append({"session": number, "part": name, "comparison": label, **interval.to_dict(),
                                 "covers_one": not interval.excludes_one, "sd": float(np.std(logs, ddof=1))})
    return rows


def family_level(family: dict) -> tuple[int, float]:
    """The family's size k (every declared comparison, measured or not) and each comparison's level
    alpha / k (Bonferroni)."""
    k = sum(len(comparisons) for comparisons in family.values())
    return k, FAMILY_ALPHA / max(k, 1)


def analysis(sessions: list[dict[str, dict]], family: dict, aa: dict) -> dict:
    """Every declared comparison over every session (each a paired record's parts), at the family's
    corrected level (``comparison_row``: where the sessions do not agree, no verdict stands); each
    part's A/A and drift, per session; how many processes were left out or under interference."""
    names = list(dict.fromkeys(name for parts in sessions for name in parts))
    k, alpha = family_level(family)
    rows = []
    for name in names:
        held = [parts[name] for parts in sessions if name in parts]
        for label, a, b, meaning in family.get(name, ()):
            if (row := comparison_row(held, label, a, b, alpha)) is not None:
                rows.append({"part": name, "comparison": label, "a": a, "b": b, "meaning": meaning, **row})
    processes = [(part, p) for parts in sessions for part in parts.values() for r in part["rounds"] for p in r.values()]
    training = [(part, p) for part, p in processes if part.get("calls_per_block") is None]
    return {"k": k, "alpha": alpha, "margin": MARGIN, "sessions": len(sessions), "rows": rows,
            "aa": aa_rows(sessions, aa), "drift": [{name: drift(part) for name, part in parts.items()}
                                                    for parts in sessions],
            "processes": len(processes), "invalid_processes": sum(not usable(part, p) for part, p in processes),
            "interfered_processes": sum(interfered(part, p) for part, p in training), "training_processes":
            len(training)}


def share_of_peak(part: dict, process: dict) -> float | None:
    """Steady training FLOP/s over the matmul peak probed in the same process: the one definition."""
    if not usable(part, process) or "flops_per_block" not in process:
        return None
    return process["flops_per_block"] / process_mean(part, process) / process["matmul_peak_flops"]


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
