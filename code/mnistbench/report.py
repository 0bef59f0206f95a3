"""What the report says, computed from the result records.

``facts`` turns a ``studies.Study`` into the numbers the prose quotes, already
formatted; the documents hold no logic and no typed numbers. A fact measured
on another device than the main study's comes with that device's name.
"""

from __future__ import annotations

import numpy as np

from . import equivalence
from .config import Config, parameter_count
from .evidence import analyze
from .formatting import break_even_text, count, device_label, fmt_e, fmt_mb, fmt_pct, fmt_s, fmt_vs, fmt_x
from .results import group_by
from .studies import Study, is_full_current

# --- facts --------------------------------------------------------------------------


def platform_facts(study: Study) -> dict:
    from .platform import code_version

    first = study.first
    device, platform = first["device"], first["platform"]
    torch_run = next((r for r in study.runs if r["framework"] == "torch"), first)
    jax_run = next((r for r in study.runs if r["framework"] == "jax"), first)
    commit = (platform["git"].get("commit") or "unknown")[:7]
    older = platform.get("code_version") != code_version()
    return {
        "device_kind": device["kind"].upper(), "device_name": device["name"],
        "driver": device.get("driver") or "n/a", "cuda": torch_run["device"].get("cuda") or "n/a",
        "jax_cuda": jax_run["device"].get("cuda") or "n/a", "cpu": platform["cpu"],
        "python": platform["python"], "jax": platform["jax"], "jaxlib": platform["jaxlib"],
        "torch": platform["torch"], "torchvision": platform["torchvision"], "numpy": platform["numpy"],
        "commit": commit, "date": first["timestamp"][:10],
        "code_note": (f"The runs come from commit {commit}, before this version's changes to the measuring "
                      "code." if older else "The runs come from this version of the measuring code."),
        "precision": "full float32 (TF32 off)" if first["precision"] == "float32" else "TF32",
    }


def config_facts(study: Study) -> dict:
    config = Config.from_dict(study.first["config"])
    sizes = sorted({r["batch_size"] for r in study.main})
    params = parameter_count(config.layer_sizes)
    return {
        "layers": "–".join(str(n) for n in config.layer_sizes),
        "parameters": f"{params:,}", "state_mib": f"{2 * 4 * params / 2**20:.0f} MiB",  # weights + velocity
        "learning_rate": f"{config.learning_rate:g}", "momentum": f"{config.momentum:g}",
        "epochs": str(config.epochs), "output_scale": f"{config.output_init_scale:g}",
        "repeats": str(max(sum(1 for r in study.main if r["framework"] == "jax" and r["batch_size"] == b)
                           for b in sizes)),
        "seeds": ", ".join(str(s) for s in sorted({r["seed"] for r in study.main})),
        "batch_sizes": ", ".join(str(b) for b in sizes), "n_batch_sizes": str(len(sizes)),
        "n_runs": str(len(study.main)),
        "n_train": f"{60_000 - config.validation_size:,}", "n_val": f"{config.validation_size:,}",
        "n_test": "10,000",
        "loss_rtol": fmt_e(equivalence.LOSS_RTOL), "grad_tol": fmt_e(equivalence.GRAD_TOL),
        "params_tol": fmt_e(equivalence.PARAMS_TOL), "equivalence_steps": str(equivalence.STEPS),
    }


def timing_facts(study: Study) -> dict:
    facts = {}
    sizes = sorted({r["batch_size"] for r in study.main})
    for b in sizes:
        jax_row, torch_row = study.row("jax", b), study.row("torch", b)
        facts[f"jax_first_{b}"] = fmt_s(jax_row["first_epoch_s"])
        facts[f"jax_steady_{b}"] = fmt_s(jax_row["steady_epoch_s"])
        facts[f"jax_compile_{b}"] = fmt_s(jax_row["compile_s"])
        facts[f"torch_first_{b}"] = fmt_s(torch_row["first_epoch_s"])
        facts[f"torch_steady_{b}"] = fmt_s(torch_row["steady_epoch_s"])
        facts[f"jax_vs_torch_steady_{b}"] = fmt_vs(jax_row["steady_epoch_s"], torch_row["steady_epoch_s"])
        facts[f"jax_acc_{b}"] = fmt_pct(jax_row["test_accuracy"], 2)
        facts[f"torch_acc_{b}"] = fmt_pct(torch_row["test_accuracy"], 2)
        facts[f"jax_peak_frac_{b}"] = fmt_pct(jax_row["fraction_of_peak"], 0)
        facts[f"torch_peak_frac_{b}"] = fmt_pct(torch_row["fraction_of_peak"], 0)
    # ranges and bounds over single runs (not over per-batch medians), so "at least" holds for every run
    jax_runs = [r for r in study.main if r["framework"] == "jax" and r["steady_epoch_s"] is not None]
    torch_runs = [r for r in study.main if r["framework"] == "torch" and r["steady_epoch_s"] is not None]
    if jax_runs:
        compile_values = [r["compile_s"] for r in jax_runs]
        facts["jax_compile_min"], facts["jax_compile_max"] = fmt_s(min(compile_values)), fmt_s(max(compile_values))
        parts = [analyze.first_epoch_parts(r) for r in jax_runs]
        shares = [p["compile_share"] for p in parts if not np.isnan(p["compile_share"])]
        facts["compile_share_min"] = fmt_pct(min(shares), 1) if shares else "n/a"
        facts["trace_lower_max"] = fmt_s(max(p["split_trace_s"] + p["split_lower_s"] for p in parts))
        evaluation = [analyze.evaluation_compile_s(r) for r in jax_runs]
        facts["jax_eval_first_min"], facts["jax_eval_first_max"] = fmt_s(min(evaluation)), fmt_s(max(evaluation))
    if torch_runs:
        facts["torch_first_vs_steady"] = excess_text([analyze.first_epoch_parts(r)["excess_s"] for r in torch_runs])
    faster = {b: study.row("jax", b)["steady_epoch_s"] < study.row("torch", b)["steady_epoch_s"] for b in sizes}
    facts["steady_clause"] = ("then each of its epochs is faster" if all(faster.values()) else
                              "and its epochs are not faster at every batch size")
    facts.update(twin_facts(study.main))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        facts["batch_small"], facts["batch_large"] = str(small), str(large)
        facts["batch_growth"] = fmt_x(large / small)
        for framework in ("jax", "torch"):
            step = {b: study.row(framework, b)["steady_epoch_s"] / study.row(framework, b)["steps_per_epoch"]
                    for b in (small, large)}
            facts[f"{framework}_step_growth"] = fmt_x(step[large] / step[small], digits=2)
            facts[f"{framework}_step_{small}"] = fmt_s(step[small])
    amortized = analyze.amortization(study.main)
    for row in amortized:
        facts[f"break_even_{row['batch_size']}"] = break_even_text(row)
    facts["first_to_finish"] = first_to_finish(amortized)
    peak = np.median([r["peak_matmul_flops"] for r in study.main])
    facts["peak_tflops"] = f"{peak / 1e12:.0f} TFLOP/s" if peak >= 1e12 else f"{peak / 1e9:.0f} GFLOP/s"
    steady_runs = [r for r in study.main if r["steady_epoch_s"]]
    if steady_runs:
        facts["min_floor_margin"] = fmt_x(min(r["steady_epoch_s"] / r["physical_floor_s"] for r in steady_runs))
    return facts


def excess_text(excess: list[float]) -> str:
    """How much longer than the steady state a first epoch took, over runs, as a clause."""
    low, high = min(excess), max(excess)
    if low >= 0:
        return f"took {fmt_s(low)} to {fmt_s(high)} longer than a steady one"
    if high <= 0:
        return f"took {fmt_s(-high)} to {fmt_s(-low)} less than a steady one"
    return f"took between {fmt_s(-low)} less and {fmt_s(high)} more than a steady one"


def twin_facts(runs: list[dict]) -> dict:
    """How far apart the twins' test accuracies are, seed by seed (the same weights and batches)."""
    pairs = group_by(runs, lambda r: (r["batch_size"], r["seed"]))
    gaps = [abs(a["test_accuracy"] - b["test_accuracy"]) for pair in pairs.values() if len(pair) == 2
            for a, b in [pair]]
    return {"twin_acc_gap_max": f"{100 * max(gaps):.2f}" if gaps else "n/a", "twin_pairs": str(len(gaps))}


def first_to_finish(amortized: list[dict]) -> str:
    """Who has the lower total after the last measured epoch, as a clause."""
    leaders = {row["batch_size"]: min(row["cumulative_s"], key=lambda fw: row["cumulative_s"][fw][-1])
               for row in amortized}
    names = {"jax": "JAX", "torch": "PyTorch"}
    if len(set(leaders.values())) == 1 and leaders:
        return f"{names[next(iter(leaders.values()))]} finishes first at every batch size"
    return "; ".join(f"{names[fw]} finishes first at batch {b}" for b, fw in leaders.items())


# --- evidence: each fact from the study's device, else from the device that measured it ---------


def evidence_anywhere(study: Study, name: str) -> dict | None:
    """The evidence record ``name`` of the study's own device and software, else of
    the variants study's, else the newest of any device (the prose names it)."""
    own = study.evidence(name)
    if own:
        return own
    if study.variants_runs:
        found = study.evidence(name, study.variants_runs[0])
        if found:
            return found
    current = [r for r in study.all_evidence if r["name"] == name and is_full_current(r)]
    return max(current, key=lambda r: r["timestamp"]) if current else None


def runs_of_setup(study: Study, record: dict) -> list[dict]:
    """The cold float32 study measured with ``record``'s device and software (the newest
    one, when older code measured there too): the runs an evidence record speaks for."""
    runs = [r for r in study.all_runs if r["valid"] and study.same_setup(r, record)
            and r.get("precision", "float32") == "float32" and not (r.get("compilation_cache") or {}).get("dir")]
    if not runs:
        return []
    newest = max(runs, key=lambda r: r["timestamp"])["platform"].get("code_version")
    return [r for r in runs if r["platform"].get("code_version") == newest]


FAIR_PAIRS = {  # name: (variant, against), each (framework, variant name)
    "framework_op": (("jax", "eager"), ("torch", "eager")),
    "framework_step": (("jax", "jit"), ("torch", "compile")),
    "framework_epoch": (("jax", "scan"), ("torch", "cudagraph-epoch")),
    "jax_granularity": (("jax", "jit"), ("jax", "eager")),
    "torch_granularity": (("torch", "compile"), ("torch", "eager")),
    "jax_epoch": (("jax", "scan"), ("jax", "jit")),
    "torch_cudagraph": (("torch", "cudagraph"), ("torch", "eager")),
    "headline": (("jax", "jit"), ("torch", "eager")),
}


def fair_facts(study: Study) -> dict:
    """The comparison at equal granularity, from the study that holds the variants."""
    runs = study.variants_runs
    if not runs:
        return {}
    fusion = study.evidence("fusion", runs[0])
    table = analyze.granularity_table(runs, fusion["data"] if fusion else None)
    sizes = sorted({r["batch_size"] for r in runs})
    facts = {"fair_device": device_label(runs[0]), "fair_small": str(sizes[0]), "fair_large": str(sizes[-1]),
             "fair_same_device": "the same device" if study.same_setup(runs[0]) else
             f"the {device_label(runs[0])}, where every variant has been measured so far"}
    steady = {(r["framework"], r["variant"]): r["steady_s"] for r in analyze.granularity_table(runs, None, sizes)}
    for name, (variant, against) in FAIR_PAIRS.items():
        for label, size in (("small", sizes[0]), ("large", sizes[-1])):
            if variant in steady and against in steady:
                facts[f"fair_{name}_{label}"] = fmt_vs(steady[variant].get(size), steady[against].get(size))
    for label, size in (("small", sizes[0]), ("large", sizes[-1])):
        facts.update(headline_split(steady, size, label))
    for row in table:
        key = f"{row['framework']}_{row['variant'].replace('-', '_')}"
        facts[f"calls_{key}"] = count(row["calls_per_step"])
        facts[f"kernels_{key}"] = count(row["kernels_per_step"])
    facts.update(fusion_facts(fusion))
    return facts


TORCH_ONE_CALL_PER_STEP = ("compile", "cudagraph")


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
    return {f"fair_headline_ratio_{label}": fmt_x(eager / jit),
            f"fair_granularity_part_{label}": fmt_x(eager / per_step[best]),
            f"fair_framework_part_{label}": fmt_x(per_step[best] / jit), f"fair_torch_step_{label}": best}


def fusion_facts(fusion: dict | None) -> dict:
    rows = analyze.dispatch_rows(fusion["data"] if fusion else None)
    jit = rows.get("jax-jit", {}).get("hlo")
    if not jit:
        return {}
    before, after = jit["before_optimization"], jit["after_optimization"]
    calls = after["library_calls"]
    return {"hlo_ops_before": str(before["operations"]), "xla_ops_after": str(after["operations"]),
            "xla_fusions": str(after["fusions"]), "xla_library_calls": f"{calls} library call{'s' * (calls != 1)}",
            "hlo_shape_ops": str(sum(before["by_opcode"].get(op, 0) for op in ("broadcast", "reshape", "transpose"))),
            "fusion_device": device_label(fusion)}


def compile_facts(study: Study) -> dict:
    """Cold and warm compile times, and the break-evens both make, on the device that measured them."""
    record = evidence_anywhere(study, "compile")
    if not record:
        return {}
    facts = {"compile_device": device_label(record),
             "compile_same_device": "this study's device" if study.same_setup(record) else device_label(record)}
    for row in analyze.compile_table(record["data"]):
        key = row["program"].replace(" ", "_")
        for setting, cell in row["settings"].items():
            if cell["applies"]:
                facts[f"{key}_{setting.replace('-', '_')}_{row['batch_size']}"] = fmt_s(cell["total_s"])
    cells = {(row["program"], row["batch_size"]): row["settings"] for row in analyze.compile_table(record["data"])}
    facts["autotune_text"] = autotune_text(cells, study.same_setup(record))
    runs = runs_of_setup(study, record)
    warm = analyze.warm_cache_firsts(record["data"])
    for cache, rows in (("cold", analyze.amortization(runs)), ("warm", analyze.amortization(runs, warm=warm))):
        for row in rows:
            facts[f"{cache}_break_even_{row['batch_size']}"] = break_even_text(row)
    return facts


UPDATES_ARMS = {"equal epochs": "epochs", "equal updates": "updates", "linear learning rate": "linear",
                "square-root learning rate": "sqrt"}


def overhead_facts(study: Study) -> dict:
    record = evidence_anywhere(study, "overhead")
    if not record:
        return {}
    return {"overhead_where": "this study's device" if study.same_setup(record) else
            f"the {device_label(record)} so far"}


def autotune_text(cells: dict, same_device: bool) -> str:
    """What switching XLA's GPU autotuning off did to the step's compile, as a clause."""
    rows = [(b, settings) for (program, b), settings in sorted(cells.items())
            if program == "jax step" and settings.get("autotune-off", {}).get("applies")]
    if not rows or not same_device:
        return "how much of the rest is XLA autotuning its GPU kernels has not been measured on this GPU yet"
    parts = [f"{fmt_s(s['autotune-off']['total_s'])} instead of {fmt_s(s['cold']['total_s'])} at batch {b}"
             for b, s in rows]
    return "with XLA's autotuning of GPU kernels switched off the step compiled in " + ", ".join(parts)


def updates_facts(study: Study) -> dict:
    """What sets the accuracy: the batch size, or the number of updates and the learning rate."""
    record = evidence_anywhere(study, "updates")
    if not record:
        return {}
    rows = {(r["arm"], r["batch_size"]): r for r in analyze.updates_table(record["data"])}
    reference = next((r for (arm, _), r in rows.items() if arm == "reference"), None)
    if reference is None:
        return {}
    large = max(b for _, b in rows)
    facts = {"updates_device": device_label(record), "updates_large": str(large),
             "updates_seeds": str(reference["seeds"]), "updates_reference": f"{reference['updates']:,}",
             "updates_acc_reference": accuracy_text(reference)}
    for arm, key in UPDATES_ARMS.items():
        row = rows.get((arm, large))
        if row:
            facts[f"updates_acc_{key}"] = accuracy_text(row)
            facts[f"updates_n_{key}"] = f"{row['updates']:,}"
            facts[f"updates_lr_{key}"] = f"{row['learning_rate']:.3g}"
    linear = rows.get(("linear learning rate", large))
    if linear:
        facts["updates_linear_outcome"] = ("diverged" if linear["test_accuracy"] is None else
                                           f"reached {accuracy_text(linear)}")
    epochs_gap, updates_gap = (gap(reference, rows.get((arm, large))) for arm in ("equal epochs", "equal updates"))
    if epochs_gap is not None and updates_gap is not None:
        facts["updates_gap_epochs"], facts["updates_gap_updates"] = f"{epochs_gap:.2f}", f"{updates_gap:.2f}"
        facts["updates_verdict"] = updates_verdict(epochs_gap, updates_gap)
    return facts


def updates_verdict(epochs_gap: float, updates_gap: float) -> str:
    """What sets the accuracy, from the gaps (in points) to batch 64 at equal epochs and equal updates."""
    if epochs_gap <= 0:
        return "the large batch is not behind even at equal epochs"
    closed = (epochs_gap - updates_gap) / epochs_gap
    return (f"as many updates close {fmt_pct(closed)} of the gap ({epochs_gap:.2f} → {updates_gap:.2f} points), "
            "the batch size itself the rest" if 0 < closed < 1 else
            f"the gap is {epochs_gap:.2f} points at equal epochs and {updates_gap:.2f} at equal updates")


def gap(reference: dict, row: dict | None) -> float | None:
    """Accuracy points by which ``row`` falls short of ``reference``."""
    if row is None or row["test_accuracy"] is None:
        return None
    return 100 * (reference["test_accuracy"] - row["test_accuracy"])


def accuracy_text(row: dict) -> str:
    return "diverged" if row["test_accuracy"] is None else f"{100 * row['test_accuracy']:.2f}%"


def donation_facts(study: Study) -> dict:
    """The donated step against the one without donation, paired by seed, from the variants study."""
    rows = analyze.donation_effect(study.variants_runs)
    if not rows:
        return {}
    row = rows[0]
    donated, copied = row["steady_s"]["jit"], row["steady_s"]["jit-no-donation"]
    low, high = row["epoch_range_s"]["jit"]
    memory = row["compiled_memory"]
    return {"donation_batch": str(row["batch_size"]), "donation_seeds": str(len(row["seeds"])),
            "donated_steady": fmt_s(donated), "no_donation_steady": fmt_s(copied),
            "no_donation_vs_donated": fmt_vs(copied, donated),
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
    return {"tf32_compile": ", ".join(f"{fmt_s(r['compile_s']['tf32'])} (batch {r['batch_size']})" for r in rows),
            "tf32_vs_f32_compile": ", ".join(fmt_s(r["compile_s"]["float32"]) for r in rows),
            "tf32_seeds": ", ".join(str(s) for s in sorted({s for r in rows for s in r["seeds"]}))}


def facts(study: Study) -> dict[str, str]:
    """Every number the report's prose quotes, formatted, keyed by name."""
    values = {}
    for part in (platform_facts, config_facts, timing_facts, fair_facts, compile_facts, overhead_facts,
                 updates_facts, donation_facts, precision_facts):
        values.update(part(study))
    return Facts(values)


class Facts(dict):
    """A dict that answers 'n/a' for a fact that was not measured, so a study
    without some evidence still renders (and says so) instead of failing."""

    def __missing__(self, key):
        return "n/a"


def fair_table(study: Study) -> str:
    """Table 2 of the report: every variant at its granularity, on the variants study's device."""
    from .tables import granularity_markdown

    runs = study.variants_runs
    if not runs:
        return "*No variants measured yet:* `python -m mnistbench grid --variants all` measures them."
    fusion = study.evidence("fusion", runs[0])
    sizes = sorted({r["batch_size"] for r in runs})
    table = analyze.granularity_table(runs, fusion["data"] if fusion else None, (sizes[0], sizes[-1]))
    return granularity_markdown(table, (sizes[0], sizes[-1]))
