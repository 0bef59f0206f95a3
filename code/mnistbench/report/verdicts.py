"""The paired study's verdicts, as the supplement prints them and the report quotes them: the design
declared before measuring, the sessions of the CPU's paired records, each side's costs."""

from __future__ import annotations

from ..bench import compare
from ..bench.evidence import paired
from .formatting import device_label
from .studies import Study
from .tables import interval_text, markdown

LEVEL = f"{100 * compare.CONFIDENCE:.0f}%"  # of a single quantity's interval (the family's level is its own)


def paired_sessions(study: Study) -> list[dict]:
    """The CPU's paired records that form one study: those of the newest evidence code, each a session
    (another day or machine), oldest first."""
    found = [r for r in study.evidence("paired") if r["device"]["kind"] == "cpu"]
    if not found:
        return []
    newest = max(found, key=lambda r: r["timestamp"])["platform"]["code_version"]
    return sorted((r for r in found if r["platform"]["code_version"] == newest), key=lambda r: r["timestamp"])


def paired_analysis(records: list[dict]) -> dict:
    return compare.analysis([r["data"]["parts"] for r in records], paired.family(quick=False), paired.aa(quick=False))


def level_text(alpha: float) -> str:
    """A comparison's corrected level as printed: '99.6%' for alpha = 0.05 / 12."""
    return f"{100 * (1 - alpha):.1f}%"


def design_section(study: Study) -> str:
    """What was declared before anything was measured (``compare``, ``evidence.paired``): the margin,
    the family and its level, the rounds from the pilot's spread and the power they give."""
    k, alpha = compare.family_level(paired.family(quick=False))
    rows = []
    for part, comparisons in paired.family(quick=False).items():
        pilot = paired.PILOT_SD[paired.role(part, False)]
        rounds = paired.rounds(part, False)
        for label, a, b, meaning in comparisons:
            sd = pilot[label]
            rows.append({"Part": part, "Comparison": label, "B / A": f"{b} / {a}", "Says": meaning,
                         "Pilot s.d.": f"{sd:.3f}", "Rounds a session": str(rounds),
                         "Power, all sessions": f"{compare.power(sd, paired.SESSIONS * rounds, alpha):.2f}",
                         "Power, 1 session": f"{compare.power(sd, rounds, alpha):.2f}",
                         "Equivalence power": f"{compare.equivalence_power(sd, paired.SESSIONS * rounds, alpha):.2f}"})
    warmups = ", ".join(f"{side} {n} ({role})" for role, sides in paired.WARMUP.items() for side, n in sides.items())
    return "\n\n".join([
        f"Smallest effect of interest and equivalence margin: **±{100 * compare.MARGIN:.0f}%**, fixed before any "
        f"data (a ratio within it lies in [1/{1 + compare.MARGIN:g}, {1 + compare.MARGIN:g}], the same size of "
        f"effect either way). Family: the **{k} comparisons the report states** (below); family-wise error "
        f"{compare.FAMILY_ALPHA:.0%}, each comparison at {alpha:.4f} (Bonferroni), so every interval printed beside "
        f"a verdict is a {level_text(alpha)} interval (the equivalence test's, {level_text(2 * alpha)}). "
        "Rounds a session from the pilot's spread of each comparison's per-round log ratio, for "
        f"{compare.POWER_TARGET:.0%} power at the margin over {paired.SESSIONS} sessions; every side takes every "
        "position once in a Williams square, its rows and places drawn anew for each part of each campaign (the "
        f"seed is in the record); the training seed is {paired.SEED} in every process. Warm-up blocks: 1, but "
        f"{warmups} (the pilot's blocks more than 2% above the last two). A process with a steady block under "
        "interference (other processes or the hypervisor over a tenth of the machine) is flagged, and every verdict "
        "is given without the flagged processes too.",
        markdown(rows)])


def family_table(result: dict) -> str:
    """The declared comparisons, every session's rounds together: intervals, verdict, power."""
    level = level_text(result["alpha"])
    return markdown([{
        "Part": row["part"], "Comparison": row["comparison"], "B / A": f"{row['b']} / {row['a']}",
        f"Ratio [{level}]": interval_text(row["difference"]),
        f"[{level_text(2 * result['alpha'])}]": interval_text(row["equivalence"]).split(" ", 1)[1],
        "Rounds": str(row["difference"]["n"]), "Verdict": row["verdict"],
        "Power at its s.d.": f"{row['power']:.2f}",
        f"Rounds for {compare.POWER_TARGET:.0%}": str(row["rounds_needed"] or ">1000"),
        "Without interference": row["without_interference"]} for row in result["rows"]])


def comparison_name(part: str, label: str) -> str:
    """A declared comparison as one name: 'bs64: JAX: donation', 'dispatch: one operation'."""
    return label if label.startswith(part) else f"{part}: {label}"


def sessions_table(result: dict) -> str:
    """Each comparison session by session, with the F test of the sessions' difference."""
    level = level_text(result["alpha"])
    return markdown([{"Comparison": comparison_name(row["part"], row["comparison"]),
                      **{f"Session {n + 1} [{level}]": session_cell(s) for n, s in enumerate(row["sessions"])},
                      "Sessions differ, p": "-" if row["heterogeneity_p"] is None else f"{row['heterogeneity_p']:.3f}",
                      f"Sessions as units [{level}]": by_session_cell(row["by_session"])}
                     for row in result["rows"]])


def verdicts_as_sessions_joined(records: list[dict]) -> dict[tuple[str, str], list[str | None]]:
    """Each declared comparison's verdict from the first k sessions' rounds, for k = 1 to all: how each
    look at the data read (None: not measured by then)."""
    looks = {}
    for k in range(1, len(records) + 1):
        for row in paired_analysis(records[:k])["rows"]:
            looks.setdefault((row["part"], row["comparison"]), [None] * len(records))[k - 1] = row["verdict"]
    return looks


def over_looks(records: list[dict]) -> dict:
    """The verdicts against the looks taken at them (the planned analysis, then one per added session):
    ``late`` maps each comparison ((part, label)) whose verdict was first reached, and kept, after the
    planned sessions to the number of sessions that reached it; ``weaker`` lists the verdicts that do
    not hold with the family's level split over the looks (Bonferroni again: what guards the verdicts
    against the added looks)."""
    looks = max(len(records) - paired.SESSIONS + 1, 1)
    joined, result = verdicts_as_sessions_joined(records), paired_analysis(records)
    late, weaker = {}, []
    for row in result["rows"]:
        key = (row["part"], row["comparison"])
        if row["verdict"] in (compare.UNRESOLVED, compare.DISAGREE):
            continue
        since = len(records)  # the fewest sessions from which this verdict stood at every look
        while since > 1 and joined[key][since - 2] == row["verdict"]:
            since -= 1
        if since > paired.SESSIONS:
            late[key] = since
        pooled = [x for r in records if row["part"] in r["data"]["parts"]
                  for x in compare.log_ratios(r["data"]["parts"][row["part"]], row["a"], row["b"])]
        if compare.judged(pooled, result["alpha"] / looks)["verdict"] != row["verdict"]:
            weaker.append(key)
    return {"looks": looks, "late": late, "weaker": weaker}


def looks_text(records: list[dict]) -> str:
    """The verdicts as the sessions joined: those reached only at an added look, and whether every
    verdict holds with the level split over the looks."""
    found = over_looks(records)
    late = "; ".join(f"{comparison_name(*key)} (session {since})" for key, since in found["late"].items())
    held = ("every verdict holds" if not found["weaker"] else
            "these do not hold: " + "; ".join(comparison_name(*key) for key in found["weaker"]))
    return (f"**As the sessions joined** (each comparison's verdict from the first sessions' rounds: the study was "
            f"planned as {paired.SESSIONS} sessions, and every session beyond them is another look at the data that "
            "the family's level does not count, so a verdict reached only at a later look is weaker than its "
            f"interval says). Reached only after the planned sessions: {late or 'none'}. With the family's level "
            f"split over the {found['looks']} looks (the planned analysis, then one per added session), "
            f"{held}.\n\n{looks_table(records)}")


def looks_table(records: list[dict]) -> str:
    """The verdicts as the sessions joined, a column per look."""
    return markdown([{"Comparison": comparison_name(part, label),
                      **{"Session 1" if k == 0 else f"Sessions 1-{k + 1}": verdict or "-"
                         for k, verdict in enumerate(looks)}}
                     for (part, label), looks in verdicts_as_sessions_joined(records).items()])


def aa_table(result: dict) -> str:
    """Each session's A/A comparisons: the instrument's interval and spread."""
    return markdown([{"Session": str(row["session"] + 1), "Part": row["part"], f"A/A [{LEVEL}]": interval_text(row),
                      "Covers 1": "yes" if row["covers_one"] else "NO", "s.d. of log ratio": f"{row['sd']:.3f}",
                      "Rounds": str(row["n"])} for row in result["aa"]])


def drift_table(result: dict) -> str:
    """Each session's and part's drift a minute, with its interval."""
    return markdown([{"Session": str(number + 1), "Part": name, f"Drift a minute [{LEVEL}]":
                      f"{100 * d['per_minute']:+.2f}% [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]",
                      "Processes": str(d["processes"])}
                     for number, parts in enumerate(result["drift"]) for name, d in parts.items() if d])


def sides_table(record: dict) -> str:
    """Each side of one paired record (the newest session) over its usable processes."""
    parts = record["data"]["parts"]
    return markdown([row for name, part in parts.items() for side in sorted({key for r in part["rounds"] for key in r})
                     if (row := _side_row(name, part, side))],
                    absent={"Compile, s": "no compiled side", "Evaluate compile, s": "no JAX side",
                            "One call, µs": "no dispatch part", "Steady block, s": "no training part",
                            "Share of peak, %": "no training part"})


def paired_section(study: Study) -> str:
    """The CPU's paired sessions: each session's A/A and drift, the family's verdicts (all sessions
    together, each session's beside them), and each side's costs."""
    records = paired_sessions(study)
    if not records:
        return "*Not measured yet:* `python -m mnistbench campaign --device cpu` (its paired item)."
    result = paired_analysis(records)
    sessions = "; ".join(f"session {n + 1}: {r['timestamp'][:16].replace('T', ' ')} UTC, {device_label(r)}"
                         for n, r in enumerate(records))
    level = level_text(result["alpha"])
    return "\n\n".join([
        f"{len(records)} session{'s' * (len(records) > 1)} ({sessions}); {result['processes']} processes, "
        f"{result['invalid_processes']} left out (a clock below the physical floor); "
        f"{result['interfered_processes']} of {result['training_processes']} training processes had a steady block "
        "under interference.",
        f"**The declared comparisons** (B's time over A's: below 1, B is faster; every session's rounds together, "
        f"the {level} interval the verdict reads, and the equivalence test's; the power those rounds had at "
        f"±{100 * compare.MARGIN:.0f}% with the spread they met, and the rounds, all sessions together, that would "
        f"give {compare.POWER_TARGET:.0%}: a comparison not resolved at low power says nothing of its "
        f"effect)\n\n{family_table(result)}",
        f"**Each session apart** (its own rounds, the same {level} interval, and its verdict where that session "
        "alone resolves the comparison, *within* meaning within the margin; the F test of the log ratios by "
        "session: a verdict above stands only where the sessions do not differ at the family's level; last, the "
        "sessions as the unit, each its mean log ratio: the interval a session effect would call for, which the "
        "declared analysis, pooling rounds, does not use)\n\n"
        f"{sessions_table(result)}",
        *[looks_text(records)] * (len(records) > 1),
        f"**A/A** (the instrument: its interval should cover 1; its spread beside the family's)\n\n{aa_table(result)}",
        "**Drift** (a process's log time against the minutes since its round began, after its side's and its "
        f"round's effects; the balanced order cancels it)\n\n{drift_table(result)}",
        f"**Each side**, the newest session (mean over processes, {LEVEL} interval): the steady block; the share of "
        "peak (steady training FLOP/s over the matmul peak probed in the same process); the step's compile (JAX: "
        "trace + lower + compile; torch.compile: its first call, one step included) and JAX's `evaluate` compile; "
        "for the dispatch part, one call\n\n" + sides_table(records[-1])])


def by_session_cell(interval: dict | None) -> str:
    """The interval over the sessions' means, and its direction where it excludes 1."""
    if not interval:
        return "-"
    towards = compare.direction(compare.Interval(**interval))
    return interval_text(interval) + (f", {towards}" if towards else "")


def session_cell(estimate: dict | None) -> str:
    """One session's estimate of a comparison: its interval, and its verdict where it reaches one
    ("within" for within the margin: the columns stay narrow enough for four sessions)."""
    if not estimate:
        return "-"
    interval = interval_text(estimate["difference"])
    words = [estimate["direction"]] * bool(estimate["direction"]) + ["within"] * estimate["within"]
    return ", ".join([interval, *words])


def _side_row(part_name: str, part: dict, side: str) -> dict | None:
    """One side of a paired part over its usable processes (None: it has none), as a row of the sides' table."""
    processes = [r[side] for r in part["rounds"] if compare.usable(part, r.get(side))]
    if not processes:
        return None
    steady = [compare.process_mean(part, p) for p in processes]
    calls = part["calls_per_block"]  # a dispatch part times calls, not training blocks
    compiles = {key: [sum(p[key].values()) for p in processes if p.get(key)]
                for key in ("compile_split", "evaluate_compile_split")}
    return {"Part": part_name.removeprefix("bs"), "Side": side,
            "Steady block, s": spread_text(None if calls else steady),
            "Share of peak, %": spread_text([s for p in processes if (s := compare.share_of_peak(part, p)) is not None],
                                            100, 1),
            "Compile, s": spread_text(compiles["compile_split"], digits=1),
            "Evaluate compile, s": spread_text(compiles["evaluate_compile_split"]),
            "One call, µs": spread_text([s / calls for s in steady] if calls else None, 1e6, 1),
            "Processes": str(len(processes))}


def spread_text(values: list[float] | None, scale: float = 1.0, digits: int = 2) -> str:
    """'3.41 [3.30–3.52]': the mean of per-process values and its interval ('-' when none)."""
    if not (spread := compare.spread(values or [])):
        return "-"
    mean = f"{spread['mean'] * scale:.{digits}f}"
    if spread["low"] is None:
        return mean
    return f"{mean} [{spread['low'] * scale:.{digits}f}–{spread['high'] * scale:.{digits}f}]"
