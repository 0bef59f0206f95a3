"""The numbers the report quotes, computed from the result records.

``facts`` turns a ``studies.Study`` into formatted values keyed by name; a
value measured on another device than the main study's comes with that
device's name. A fact that was not measured is simply absent: ``prose``
builds the sentences that need optional facts and leaves out (or says "not
measured yet") what is missing, and ``Facts`` answers "n/a" for the fixed text.
"""

from __future__ import annotations

import numpy as np

from . import equivalence
from .config import Config, parameter_count
from .evidence import analyze
from .formatting import count, device_label, fmt_e, fmt_mb, fmt_pct, fmt_s, fmt_vs, fmt_x
from .results import group_by
from .studies import Study, evidence_anywhere, runs_of_setup, variants_table

# --- the main study -------------------------------------------------------------------


def platform_facts(study: Study) -> dict:
    from .platform import code_version

    first = study.first
    device, platform = first["device"], first["platform"]
    torch_run = next((r for r in study.runs if r["framework"] == "torch"), first)
    jax_run = next((r for r in study.runs if r["framework"] == "jax"), first)
    commit = (platform["git"].get("commit") or "unknown")[:7]
    older = platform.get("code_version") != code_version()
    return {
        "device_kind": device["kind"].upper(), "device_name": device["name"], "main_device": device_label(first),
        "driver": device.get("driver"), "cuda": torch_run["device"].get("cuda"),
        "jax_cuda": jax_run["device"].get("cuda"), "cpu": platform["cpu"],
        "python": platform["python"], "jax": platform["jax"], "torch": platform["torch"],
        "code_note": (f"The runs come from commit {commit}, before this version's changes to the measuring "
                      "code." if older else "The runs come from this version of the measuring code."),
        "precision": ("TF32" if first["precision"] != "float32" else
                      "full float32 (TF32 off)" if device["kind"] == "gpu" else "float32"),
    }


def config_facts(study: Study) -> dict:
    config = Config.from_dict(study.first["config"])
    sizes = sorted({r["batch_size"] for r in study.main})
    return {
        "layers": "–".join(str(n) for n in config.layer_sizes),
        "parameters": f"{parameter_count(config.layer_sizes):,}",
        "learning_rate": f"{config.learning_rate:g}", "momentum": f"{config.momentum:g}",
        "epochs": str(config.epochs), "output_scale": f"{config.output_init_scale:g}",
        "seeds": ", ".join(str(s) for s in sorted({r["seed"] for r in study.main})),
        "batch_sizes": ", ".join(str(b) for b in sizes), "n_runs": str(len(study.main)),
        "n_train": f"{60_000 - config.validation_size:,}", "n_val": f"{config.validation_size:,}",
        "n_test": "10,000",
        "loss_rtol": fmt_e(equivalence.LOSS_RTOL), "grad_tol": fmt_e(equivalence.GRAD_TOL),
        "params_tol": fmt_e(equivalence.PARAMS_TOL), "equivalence_steps": str(equivalence.STEPS),
    }


def timing_facts(study: Study) -> dict:
    facts = {}
    sizes = sorted({r["batch_size"] for r in study.main})
    small, large = sizes[0], sizes[-1]
    facts["batch_small"], facts["batch_large"] = str(small), str(large)
    jax_small = study.row("jax", small)
    facts["jax_first_small"], facts["jax_steady_small"] = fmt_s(jax_small["first_epoch_s"]), fmt_s(
        jax_small["steady_epoch_s"])
    for framework in ("jax", "torch"):
        facts[f"{framework}_peak_frac_large"] = fmt_pct(study.row(framework, large)["fraction_of_peak"], 0)
    # ranges and bounds over single runs (not over per-batch medians), so "at least" holds for every run
    jax_runs = [r for r in study.main if r["framework"] == "jax" and r["steady_epoch_s"] is not None]
    torch_runs = [r for r in study.main if r["framework"] == "torch" and r["steady_epoch_s"] is not None]
    compile_values = [r["compile_s"] for r in jax_runs]
    facts["jax_compile_min"], facts["jax_compile_max"] = fmt_s(min(compile_values)), fmt_s(max(compile_values))
    parts = [analyze.first_epoch_parts(r) for r in jax_runs]
    shares = [p["compile_share"] for p in parts if not np.isnan(p["compile_share"])]
    if shares:
        facts["compile_share_min"] = fmt_pct(min(shares), 1)
    facts["trace_lower_max"] = fmt_s(max(p["split_trace_s"] + p["split_lower_s"] for p in parts))
    evaluation = [analyze.evaluation_compile_s(r) for r in jax_runs]
    facts["jax_eval_first_min"], facts["jax_eval_first_max"] = fmt_s(min(evaluation)), fmt_s(max(evaluation))
    if torch_runs:
        facts["torch_first_vs_steady"] = excess_text([analyze.first_epoch_parts(r)["excess_s"] for r in torch_runs])
    facts.update(twin_facts(study.main))
    facts["batch_growth"] = fmt_x(large / small)
    growth = {}  # how many times longer a step takes at the largest batch than at the smallest
    for framework in ("jax", "torch"):
        step = {b: study.row(framework, b)["steady_epoch_s"] / study.row(framework, b)["steps_per_epoch"]
                for b in (small, large)}
        growth[framework] = step[large] / step[small]
        facts[f"{framework}_step_growth"] = fmt_x(growth[framework], digits=2)
    facts["torch_step_growth_share"] = growth["torch"] / (large / small)
    amortized = analyze.amortization(study.main)
    facts["break_evens"] = amortized
    facts["epoch_leads"] = [(row["batch_size"], row["steady_s"]["torch"] - row["steady_s"]["jax"])
                            for row in amortized if row["batch_size"] in (small, large)]
    facts["first_to_finish"] = first_to_finish(amortized)
    peak = np.median([r["peak_matmul_flops"] for r in study.main])
    facts["peak_tflops"] = f"{peak / 1e12:.0f} TFLOP/s" if peak >= 1e12 else f"{peak / 1e9:.0f} GFLOP/s"
    facts["min_floor_margin"] = fmt_x(min(r["steady_epoch_s"] / r["physical_floor_s"] for r in jax_runs + torch_runs))
    return facts


def excess_text(excess: list[float]) -> str:
    """How much longer than the steady state a first epoch took, over runs, as a clause."""
    low, high = min(excess), max(excess)

    def span(a: float, b: float) -> str:
        return fmt_s(a) if fmt_s(a) == fmt_s(b) else f"{fmt_s(a)} to {fmt_s(b)}"

    if low >= 0:
        return f"took {span(low, high)} longer than a steady one"
    if high <= 0:
        return f"took {span(-high, -low)} less than a steady one"
    return f"took between {fmt_s(-low)} less and {fmt_s(high)} more than a steady one"


def twin_facts(runs: list[dict]) -> dict:
    """How far apart the twins' test accuracies are, seed by seed (the same weights and batches)."""
    pairs = group_by(runs, lambda r: (r["batch_size"], r["seed"]))
    gaps = [abs(a["test_accuracy"] - b["test_accuracy"]) for pair in pairs.values() if len(pair) == 2
            for a, b in [pair]]
    return {"twin_acc_gap_max": f"{100 * max(gaps):.2f}"} if gaps else {}


def first_to_finish(amortized: list[dict]) -> str:
    """Who has the lower total after the last measured epoch, as a clause."""
    leaders = {row["batch_size"]: min(row["cumulative_s"], key=lambda fw: row["cumulative_s"][fw][-1])
               for row in amortized}
    names = {"jax": "JAX", "torch": "PyTorch"}
    if len(set(leaders.values())) == 1 and leaders:
        return f"{names[next(iter(leaders.values()))]} is ahead at every batch size"
    by_leader = group_by(list(leaders.items()), lambda item: item[1])
    clauses = [f"{names[fw]}{' is ahead' if i == 0 else ''} at batch " + " and ".join(str(b) for b, _ in items)
               for i, (fw, items) in enumerate(by_leader.items())]
    return ", ".join(clauses)


# --- evidence: each fact from the study's device, else from the device that measured it ---------

FAIR_PAIRS = {  # name: (variant, against), each (framework, variant name)
    "framework_op": (("jax", "eager"), ("torch", "eager")),
    "framework_step": (("jax", "jit"), ("torch", "compile")),
    "framework_graph": (("jax", "jit"), ("torch", "cudagraph")),
    "jax_epoch": (("jax", "scan"), ("jax", "jit")),
}
TORCH_ONE_CALL_PER_STEP = ("compile", "cudagraph")


def fair_facts(study: Study) -> dict:
    """The comparison at equal granularity, from the study that holds the variants."""
    runs = study.variants_runs
    if not runs:
        return {}
    sizes = sorted({r["batch_size"] for r in runs})
    table = variants_table(study)
    facts = {"fair_device": device_label(runs[0]), "fair_small": str(sizes[0]), "fair_large": str(sizes[-1]),
             "fair_on_main_device": study.same_setup(runs[0])}
    steady = {(r["framework"], r["variant"]): r["steady_s"] for r in table}
    for name, (variant, against) in FAIR_PAIRS.items():
        pair = (steady.get(variant, {}).get(sizes[0]), steady.get(against, {}).get(sizes[0]))
        if all(pair):
            facts[f"fair_{name}_small"] = fmt_vs(*pair)
    for label, size in (("small", sizes[0]), ("large", sizes[-1])):
        facts.update(headline_split(steady, size, label))
    calls = {(r["framework"], r["variant"]): r["calls_per_step"] for r in table}
    if calls.get(("torch", "eager")):
        facts["calls_torch_eager"] = count(calls[("torch", "eager")])
    main = {fw: study.row(fw, sizes[0]) for fw in ("jax", "torch") if sizes[0] in {r["batch_size"] for r in study.main}}
    if len(main) == 2:
        facts["main_headline_ratio"] = fmt_x(main["torch"]["steady_epoch_s"] / main["jax"]["steady_epoch_s"])
    facts.update(fusion_facts(table, runs[0]))
    return facts


def headline_split(steady: dict, batch_size: int, label: str) -> dict:
    """The headline ratio (PyTorch eager over JAX jit) as the product of a granularity
    part (PyTorch eager over PyTorch's fastest one-call-per-step variant: the whole
    step compiled, or captured in a CUDA graph) and a framework part at one call per
    step (that variant over JAX jit)."""
    times = {key: values.get(batch_size) for key, values in steady.items()}
    eager, jit = times.get(("torch", "eager")), times.get(("jax", "jit"))
    per_step = {name: times[("torch", name)] for name in TORCH_ONE_CALL_PER_STEP if times.get(("torch", name))}
    if not (eager and jit and per_step):
        return {}
    best = min(per_step, key=per_step.get)
    framework_part = per_step[best] / jit
    favours = ("" if fmt_x(framework_part) == fmt_x(1.0) else
               " (in JAX's favour)" if framework_part > 1 else " (in PyTorch's favour)")
    return {f"fair_headline_ratio_{label}": fmt_x(eager / jit),
            f"fair_granularity_part_{label}": fmt_x(eager / per_step[best]),
            f"fair_framework_part_{label}": fmt_x(framework_part) + favours, f"fair_torch_step_{label}": best}


def fusion_facts(table: list[dict], record: dict) -> dict:
    jit = next((r["hlo"] for r in table if (r["framework"], r["variant"]) == ("jax", "jit") and r.get("hlo")), None)
    if not jit:
        return {}
    before, after = jit["before_optimization"], jit["after_optimization"]
    return {"hlo_ops_before": str(before["operations"]), "xla_ops_after": str(after["operations"]),
            "xla_fusions": str(after["fusions"]), "fusion_device": device_label(record),
            "hlo_shape_ops": str(sum(before["by_opcode"].get(op, 0) for op in ("broadcast", "reshape", "transpose")))}


def compile_facts(study: Study) -> dict:
    """Cold and warm compile times, and the break-evens both make, on the device that measured them."""
    record = evidence_anywhere(study, "compile")
    if not record:
        return {}
    table = analyze.compile_table(record["data"])
    small = min((row["batch_size"] for row in table), default=None)
    facts = {"compile_device": device_label(record), "compile_batch": str(small)}
    for row in table:
        key = row["program"].replace(" ", "_")
        for setting, cell in row["settings"].items():
            if cell["applies"] and row["batch_size"] == small:
                facts[f"{key}_{setting.replace('-', '_')}"] = fmt_s(cell["total_s"])
    if study.on_gpu and study.same_setup(record):
        facts["autotune_off"] = [(row["batch_size"], fmt_s(row["settings"]["autotune-off"]["total_s"]),
                                  fmt_s(row["settings"]["cold"]["total_s"])) for row in table
                                 if row["program"] == "jax step"
                                 and row["settings"].get("autotune-off", {}).get("applies")]
    runs = runs_of_setup(study, record)
    cold = {row["batch_size"]: row for row in analyze.amortization(runs)}
    warm_firsts = analyze.warm_cache_firsts(record["data"])
    warm = {row["batch_size"]: row for row in analyze.amortization(runs, warm=warm_firsts)}
    facts["break_even_changes"] = [(cold[b], warm[b]) for b in sorted(cold) if b in warm]
    return facts


def overhead_facts(study: Study) -> dict:
    record = evidence_anywhere(study, "overhead")
    if not record:
        return {}
    return {"overhead_device": device_label(record)}


UPDATES_ARMS = {"equal epochs": "epochs", "equal updates": "updates", "linear learning rate": "linear",
                "square-root learning rate": "sqrt"}


def updates_facts(study: Study) -> dict:
    """What sets the accuracy: the batch size, or the number of updates and the learning rate."""
    record = evidence_anywhere(study, "updates")
    rows = {(r["arm"], r["batch_size"]): r for r in analyze.updates_table(record["data"])} if record else {}
    reference = next((r for (arm, _), r in rows.items() if arm == "reference"), None)
    if reference is None:
        return {}
    large = max(b for _, b in rows)
    facts = {"updates_device": device_label(record), "updates_large": str(large),
             "updates_small": str(reference["batch_size"]),
             "updates_seeds": str(reference["seeds"]), "updates_n_reference": f"{reference['updates']:,}",
             "updates_epochs_reference": str(reference["epochs"]), "updates_acc_reference": accuracy_text(reference)}
    for arm, key in UPDATES_ARMS.items():
        row = rows.get((arm, large))
        if row:
            facts[f"updates_acc_{key}"] = accuracy_text(row)
            if key in ("epochs", "updates"):
                facts[f"updates_n_{key}"] = f"{row['updates']:,}"
            else:
                facts[f"updates_lr_{key}"] = f"{row['learning_rate']:.3g}"
    closed = {key: closed_share(reference, rows.get(("equal epochs", large)), rows.get((arm, large)))
              for arm, key in UPDATES_ARMS.items() if key != "epochs"}
    facts["updates_closed"] = {key: share for key, share in closed.items() if share is not None}
    gap = points_behind(reference, rows.get(("equal epochs", large)))
    if gap is not None:
        facts["updates_gap"] = f"{gap:.2f}"
        if facts["updates_closed"]:
            facts["updates_left"] = f"{gap * (1 - max(max(facts['updates_closed'].values()), 0)):.2f}"
    return facts


def points_behind(reference: dict, row: dict | None) -> float | None:
    """Accuracy points by which ``row`` falls short of ``reference``."""
    if row is None or row["test_accuracy"] is None:
        return None
    return 100 * (reference["test_accuracy"] - row["test_accuracy"])


def closed_share(reference: dict, same_epochs: dict | None, arm: dict | None) -> float | None:
    """The share of the equal-epochs gap to the reference that ``arm`` closes."""
    gap, left = points_behind(reference, same_epochs), points_behind(reference, arm)
    if gap is None or gap <= 0 or arm is None or arm["test_accuracy"] is None:
        return None
    return (gap - left) / gap


def accuracy_text(row: dict) -> str:
    """The mean test accuracy over the seeds that finished, saying how many diverged."""
    if row["test_accuracy"] is None:
        return "diverged"
    diverged = f" ({row['diverged']} of {row['seeds']} seeds diverged)" if row.get("diverged") else ""
    return f"{100 * row['test_accuracy']:.2f}%{diverged}"


def donation_facts(study: Study) -> dict:
    """The donated step against the one without donation, paired by seed, from the variants study."""
    rows = analyze.donation_effect(study.variants_runs)
    if not rows:
        return {}
    row = rows[0]
    donated, copied = row["steady_s"]["jit"], row["steady_s"]["jit-no-donation"]
    low, high = row["epoch_range_s"]["jit"]
    memory = row["compiled_memory"]
    return {"donation_device": device_label(study.variants_runs[0]), "donation_batch": str(row["batch_size"]),
            "donation_seeds": str(len(row["seeds"])), "donated_steady": fmt_s(donated),
            "no_donation_steady": fmt_s(copied), "no_donation_vs_donated": fmt_vs(copied, donated),
            "donation_in_spread": "inside" if low <= copied <= high else "outside",
            "donated_epoch_min": fmt_s(low), "donated_epoch_max": fmt_s(high),
            "donation_aliased": fmt_mb((memory["jit"] or {}).get("alias_size_in_bytes")),
            "donated_step_peak": fmt_mb((memory["jit"] or {}).get("peak_memory_in_bytes")),
            "copied_step_peak": fmt_mb((memory["jit-no-donation"] or {}).get("peak_memory_in_bytes"))}


def precision_facts(study: Study) -> dict:
    rows = [r for r in analyze.precision_comparison([r for r in study.all_runs if study.same_setup(r)])
            if r["framework"] == "jax"]
    if not rows:
        return {}
    return {"tf32_compile": [(r["batch_size"], fmt_s(r["compile_s"]["tf32"]), fmt_s(r["compile_s"]["float32"]))
                             for r in rows],
            "tf32_seeds": seeds_text(sorted({s for r in rows for s in r["seeds"]}))}


def seeds_text(seeds: list[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def facts(study: Study) -> Facts:
    """Every value the report quotes, keyed by name; what was not measured is absent."""
    values = {}
    for part in (platform_facts, config_facts, timing_facts, fair_facts, compile_facts, overhead_facts,
                 updates_facts, donation_facts, precision_facts):
        values.update(part(study))
    return Facts(values)


class Facts(dict):
    """A dict that answers 'n/a' for a fact that was not measured, so the fixed text
    of a document renders (and says so) instead of failing."""

    def __missing__(self, key):
        return "n/a"


def fair_table(study: Study) -> str:
    """Table 2 of the report: every variant at its granularity, on the variants study's device."""
    from .tables import granularity_markdown

    table = variants_table(study)
    if not table:
        return "*No variants measured yet:* python -m mnistbench campaign measures them."
    return granularity_markdown(table)
