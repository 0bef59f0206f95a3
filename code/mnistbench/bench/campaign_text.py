"""What a campaign prints: its plan by tier with each step's state and estimate, the plan as plain
data for programs (the cluster job), and what a run of it did and what is left (``campaign``
plans and runs it)."""

from __future__ import annotations

import math
from collections.abc import Callable

from .campaign import BLOCKED, DONE, TIERS, TO_DO, Outcome, Planned, format_seconds


def outcome_text(outcome: Outcome, max_seconds: float | None, continue_command: Callable) -> str:
    """What a campaign did and what is left, with the command that continues; a budget
    too small for the next step alone is said, and the command offers one that fits."""
    lines = [f"campaign: {len(outcome.done)} steps done in {format_seconds(outcome.seconds)}, "
             f"{len(outcome.failed)} failed, {len(outcome.blocked)} blocked, {len(outcome.left)} left"]
    lines += [f"  failed: {item.step.label}: {error}" for item, error in outcome.failed]
    lines += [f"  {reason}" for _, reason in outcome.blocked]  # each names its run or step
    if outcome.left:
        lines.append(f"left (about {format_seconds(sum(p.estimate_s for p in outcome.left))}): "
                     + "; ".join(p.step.label for p in outcome.left[:4]) + (" ..." if len(outcome.left) > 4 else ""))
        needed = outcome.left[0].estimate_s
        budget = None
        if not outcome.done and not outcome.failed and max_seconds and needed > max_seconds:
            budget = math.ceil(needed * 1.5)  # the same budget again would do nothing again
            lines.append(f"the next step alone is estimated at {format_seconds(needed)}, more than "
                         f"--max-seconds {max_seconds:g}")
        lines.append(f"continue with: {continue_command(budget)}")
    return "\n".join(lines)


def plan_text(planned: list[Planned], recorded: tuple[float, int] | None = None) -> str:
    """The plan by tier, one step per line with its state and estimate, and the totals."""
    lines = []
    for tier, what in TIERS.items():
        mine = [p for p in planned if p.step.tier == tier]
        if not mine:
            continue
        whole = sum(p.estimate_s for p in mine)
        lines.append(f"tier {tier} ({what}): {len(mine)} steps, about {format_seconds(whole)} in all")
        for p in mine:
            left = (f" ({len(p.todo)} of {len(p.step.runs)} runs left)"
                    if p.step.kind == "session" and p.todo and len(p.todo) < len(p.step.runs) else "")
            lines.append(f"{planned.index(p) + 1:3}. [{p.state}] {p.step.label}{left}  "
                         f"~{format_seconds(p.estimate_s)} ({p.estimate_from})")
    todo = [p for p in planned if p.state == TO_DO]
    sources = sorted({p.estimate_from for p in todo})
    lines.append(f"whole plan about {format_seconds(sum(p.estimate_s for p in planned))}; "
                 f"{len(planned) - len(todo)} of {len(planned)} steps done or blocked; {len(todo)} to do, about "
                 f"{format_seconds(sum(p.estimate_s for p in todo))} (estimates from: {'; '.join(sources) or '-'})")
    if recorded:
        lines.append(f"recorded so far: {format_seconds(recorded[0])} in {recorded[1]} records (their own walls)")
    return "\n".join(lines)


def plan_json(planned: list[Planned]) -> dict:
    """The plan as plain data, for programs (the cluster job): every step's label, tier, state and
    estimate, and how many steps are done, to do and blocked."""
    states = [p.state for p in planned]
    return {"steps": [{"label": p.step.label, "tier": p.step.tier, "state": p.state, "estimate_s": p.estimate_s}
                      for p in planned],
            "done": states.count(DONE), "to_do": states.count(TO_DO),
            "blocked": sum(state.startswith(BLOCKED) for state in states)}
