"""The report's values about what a run costs besides its steady epochs, and what the
batch size does: compilation (cold, warm cache, TF32, autotuning off), amortization
and break-evens, donation, and accuracy at an equal number of updates.

Each function takes the ``studies.Study`` and returns formatted values by name
(see ``report.Facts``), with the device each was measured on.
"""

from __future__ import annotations

import numpy as np

from ..bench.evidence import analyze
from ..bench.results import group_by, started_process
from .formatting import break_even_words, fmt_mb, fmt_pct, fmt_s, fmt_vs, short_label
from .studies import Study, evidence_anywhere, short_name, variants_table


def span(values: list[float]) -> tuple[str, str]:
    return fmt_s(min(values)), fmt_s(max(values))


def first_epoch_facts(study: Study) -> dict:
    """JAX's cold first epoch against its steady one, and what the compilations took, over the
    main study's cold runs (every run, not medians: "at most" holds for each)."""
    cold = [r for r in study.main if started_process(r) and r["steady_epoch_s"] is not None]
    jax = [r for r in cold if r["framework"] == "jax"]
    small = min(r["batch_size"] for r in study.main)
    at_small = [r for r in jax if r["batch_size"] == small]
    facts = {"first_small": str(small), "jax_cold_runs": str(len(jax))}
    if not at_small:
        return facts
    facts["jax_first_small"] = fmt_s(float(np.median([r["first_epoch_s"] for r in at_small])))
    facts["jax_steady_small"] = fmt_s(float(np.median([r["steady_epoch_s"] for r in at_small])))
    facts["jax_compile_lo"], facts["jax_compile_hi"] = span([r["compile_s"] for r in jax])
    facts["eval_compile_lo"], facts["eval_compile_hi"] = span([analyze.evaluation_compile_s(r) for r in jax])
    return facts


def tf32_facts(study: Study) -> dict:
    """The step's compile time with TF32 against full float32, same device, seed and batch size
    (cold runs only)."""
    runs = [r for r in study.all_runs if study.same_setup(r) and r["framework"] == "jax" and r["valid"]
            and started_process(r) and r["compile_s"] is not None and r.get("variant", "jit") == "jit"]
    by_precision = group_by(runs, lambda r: r["precision"])
    pairs = []
    for tf32 in sorted(by_precision.get("tf32", []), key=lambda r: r["batch_size"]):
        partner = [r for r in by_precision.get("float32", []) if (r["seed"], r["batch_size"]) ==
                   (tf32["seed"], tf32["batch_size"])]
        if partner:
            pairs.append((tf32["batch_size"], tf32["compile_s"], partner[0]["compile_s"]))
    if not pairs:
        return {"tf32": False}
    batch, tf32_s, f32_s = pairs[0]  # the smallest batch size: the report's
    return {"tf32": True, "tf32_batch": str(batch), "tf32_first": fmt_s(tf32_s), "f32_first": fmt_s(f32_s)}


def cache_facts(study: Study) -> dict:
    """Cold and warm compile times at the smallest batch size, from the compile evidence (the
    study's own device when it has one), and XLA's autotuning share on a GPU."""
    record = evidence_anywhere(study, "compile")
    table = analyze.compile_table(record["data"]) if record else []
    if not table:
        return {"cache": False, "autotune_off": False}
    small = min(row["batch_size"] for row in table)
    cells = {(row["program"], setting): cell for row in table if row["batch_size"] == small
             for setting, cell in row["settings"].items() if cell["applies"]}
    facts = {"cache": ("jax step", "warm") in cells, "cache_device": short_name(study, record),
             "cache_batch": str(small), "autotune_off": ("jax step", "autotune-off") in cells}
    for program, key in (("jax step", "jax_step"), ("torch compile step", "torch_compile"),
                         ("jax evaluate", "jax_evaluate")):
        for setting in ("cold", "warm", "autotune-off"):
            if (program, setting) in cells:
                facts[f"{key}_{setting.replace('-', '_')}"] = fmt_s(cells[(program, setting)]["total_s"])
    facts["torch_compile_cache"] = ("torch compile step", "warm") in cells
    return facts


# --- amortization ------------------------------------------------------------------------------


def resolved(study: Study, batch_size: int) -> bool:
    """Whether JAX's and PyTorch's steady epochs are apart beyond the seeds' spread at this batch size."""
    steady = {fw: [r["steady_epoch_s"] for r in study.main if (r["framework"], r["batch_size"]) == (fw, batch_size)]
              for fw in ("jax", "torch")}
    return min(steady["torch"]) > max(steady["jax"]) or min(steady["jax"]) > max(steady["torch"])


def break_even_text(rows: dict[int, dict], resolved_at: dict[int, bool]) -> str:
    """Where JAX's total falls below PyTorch's, batch size by batch size, said once for all
    that are reached past the measured epochs."""
    said: dict[str, list[int]] = {}  # what is said -> the batch sizes it is said of
    extrapolated = []
    for b, row in rows.items():
        words = break_even_words(row)
        if not resolved_at[b] and not row["measured"]:
            said.setdefault("not resolved (the two frameworks' steady epochs overlap across seeds)", []).append(b)
        elif words.startswith("epoch") and row["break_even_epoch"] > FAR * len(row["cumulative_s"]["jax"]):
            said.setdefault(f"only beyond {FAR * len(row['cumulative_s']['jax'])} epochs", []).append(b)
        elif words.startswith("epoch"):
            said.setdefault(f"from {words.replace(' (extrapolated)', '')}", []).append(b)
            extrapolated.append(not row["measured"])
        else:
            said.setdefault(words, []).append(b)
    clauses = [f"{text} at batch {' and '.join(map(str, sizes))}" for text, sizes in said.items()]
    text = ", ".join(clauses[:-1]) + (" and " if len(clauses) > 1 else "") + clauses[-1]
    if extrapolated and all(extrapolated):
        text += " (past the measured epochs, at the steady rate)"
    return text


FAR = 3  # a break-even further than this many times the measured epochs is not given as a number


def amortization_facts(study: Study) -> dict:
    rows = {row["batch_size"]: row for row in analyze.amortization(study.main)}
    if not rows:
        return {"amortization": False}
    small, large = min(rows), max(rows)
    facts = {"amortization": True, "am_small": str(small), "am_large": str(large)}
    for label, b in (("small", small), ("large", large)):
        lead = rows[b]["steady_s"]["torch"] - rows[b]["steady_s"]["jax"]
        facts[f"epoch_lead_{label}"] = fmt_s(abs(lead))
        facts[f"epoch_lead_word_{label}"] = "saves" if lead > 0 else "loses"
    excess = {fw: rows[small]["cumulative_s"][fw][0] - rows[small]["steady_s"][fw] for fw in ("jax", "torch")}
    facts["jax_one_off_small"] = fmt_s(excess["jax"] - excess["torch"])  # net of PyTorch's own first-epoch excess
    facts["break_evens"] = break_even_text(rows, {b: resolved(study, b) for b in rows})
    leaders = {b: min(row["cumulative_s"], key=lambda fw: row["cumulative_s"][fw][-1]) for b, row in rows.items()}
    names = {"jax": "JAX", "torch": "PyTorch"}
    if len(set(leaders.values())) == 1:
        facts["first_to_finish"] = f"{names[leaders[small]]} had the lower total at every batch size"
    else:
        facts["first_to_finish"] = "; ".join(f"{names[fw]} was ahead at batch {b}" for b, fw in leaders.items())
    return facts


# --- donation and updates -------------------------------------------------------------------------


def donation_facts(study: Study) -> dict:
    """The donated step against the one without donation, paired by seed, in the variants study."""
    rows = analyze.donation_effect(study.variants_runs)
    if not rows:
        return {"donation": False}
    small, large = rows[0], rows[-1]
    steps = {r["batch_size"]: r["steps_per_epoch"] for r in study.variants_runs}

    def per_step(row):
        return (row["steady_s"]["jit-no-donation"] - row["steady_s"]["jit"]) / steps[row["batch_size"]]

    def inside(row):
        low, high = row["epoch_range_s"]["jit"]
        return low <= row["steady_s"]["jit-no-donation"] <= high

    memory = small["compiled_memory"]["jit"] or {}
    large_memory = {v: large["compiled_memory"][v] or {} for v in ("jit", "jit-no-donation")}
    copies = {r["variant"]: (r.get("hlo") or {}).get("after_optimization", {}).get("by_opcode", {}).get("copy", 0)
              for r in variants_table(study, (small["batch_size"],))
              if r["framework"] == "jax" and r["variant"] in ("jit", "jit-no-donation") and r.get("hlo")}
    extra = ({"donation_copies": str(copies["jit"] - copies["jit-no-donation"])}
             if len(copies) == 2 and copies["jit"] > copies["jit-no-donation"] else {})
    if "temp_size_in_bytes" in large_memory["jit"] and "temp_size_in_bytes" in large_memory["jit-no-donation"]:
        extra.update(donated_temps_large=fmt_mb(large_memory["jit"]["temp_size_in_bytes"]),
                     copied_temps_large=fmt_mb(large_memory["jit-no-donation"]["temp_size_in_bytes"]))
    return {**extra, "donation": True, "donation_device": short_label(study.variants_runs),
            "donation_small": str(small["batch_size"]), "donation_large": str(large["batch_size"]),
            "no_donation_vs_small": fmt_vs(small["steady_s"]["jit-no-donation"], small["steady_s"]["jit"]),
            "no_donation_step_small": fmt_s(abs(per_step(small))),
            "no_donation_word_small": "more" if per_step(small) > 0 else "less",
            "donation_large_inside": inside(large),
            "donation_large_place": "inside" if inside(large) else "outside",
            "no_donation_vs_large": fmt_vs(large["steady_s"]["jit-no-donation"], large["steady_s"]["jit"]),
            "donation_aliased": fmt_mb(memory.get("alias_size_in_bytes"))}


UPDATES_ARMS = {"equal epochs": "epochs", "equal updates": "updates", "linear learning rate": "linear",
                "square-root learning rate": "sqrt"}


def accuracy_text(row: dict) -> str:
    """The mean test accuracy over the seeds that finished, saying how many diverged."""
    if row["test_accuracy"] is None:
        return "diverged"
    diverged = f" ({row['diverged']} of {row['seeds']} seeds diverged)" if row.get("diverged") else ""
    return f"{100 * row['test_accuracy']:.2f}%{diverged}"


def points_behind(reference: dict, row: dict | None) -> float | None:
    if row is None or row["test_accuracy"] is None:
        return None
    return 100 * (reference["test_accuracy"] - row["test_accuracy"])


def updates_facts(study: Study) -> dict:
    """What sets the accuracy: the batch size, or the number of updates and the learning rate."""
    record = evidence_anywhere(study, "updates")
    rows = {(r["arm"], r["batch_size"]): r for r in analyze.updates_table(record["data"])} if record else {}
    reference = next((r for (arm, _), r in rows.items() if arm == "reference"), None)
    if reference is None:
        return {"updates": False, "linear_outcome": "is not in this results folder"}
    large = max(b for _, b in rows)
    arms = {key: rows.get((arm, large)) for arm, key in UPDATES_ARMS.items()}
    facts = {"updates": True, "updates_device": short_name(study, record), "updates_seeds": str(reference["seeds"]),
             "updates_small": str(reference["batch_size"]), "updates_large": str(large),
             "updates_ref_acc": accuracy_text(reference), "updates_epochs": str(reference["epochs"]),
             "updates_ratio": f"{large // reference['batch_size']}×"}
    for key, row in arms.items():
        if row:
            facts[f"updates_{key}_acc"] = accuracy_text(row)
    linear = arms.get("linear")
    facts["linear_outcome"] = ("diverged" if linear and linear["test_accuracy"] is None else
                               f"reached {accuracy_text(linear)}" if linear else "was not run")
    gap = points_behind(reference, arms.get("epochs"))
    if gap and gap > 0:
        facts["updates_gap"] = f"{gap:.2f}"
        for key in ("updates", "sqrt"):
            behind = points_behind(reference, arms.get(key))
            if behind is not None:
                facts[f"updates_{key}_closed"] = fmt_pct((gap - behind) / gap)
    return facts
