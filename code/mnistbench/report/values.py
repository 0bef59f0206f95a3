"""The values the report quotes, computed from the records of a results folder.

``facts(study)`` returns a ``Facts``: every value a sentence of report.qmd
quotes, formatted, under a name, and the flags that choose between the
report's passages (``f.two_devices``, ``f.fair``, ...). A value that was not
measured is absent and asking for it fails loudly, so report.qmd asks only
for what its chosen passage needs. Nothing here writes a sentence; words that
follow the data (faster, never, from epoch 12) are values too.
"""

from __future__ import annotations

import numpy as np

from ..bench.evidence import analyze
from ..bench.results import group_by
from ..bench.variants import of_record as variants_of
from ..networks import equivalence
from ..networks.config import Config, parameter_count
from .formatting import code_note, cores, device_label, flops_text, fmt_e, fmt_pct, fmt_s, fmt_vs, fmt_x, short_label
from .studies import Study, device_peak, evidence_anywhere, short_name, variants_table


class Facts(dict):
    """Values by name, read as attributes (``f.layers``); a missing one is an error naming it."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the report asks for {name!r}, which these records do not hold") from None


class NoFacts(Facts):
    """What a report without any records reads: nothing (every passage is left out, every value
    is empty), so the document renders the message that says how to get results."""

    def __getattr__(self, name):
        return ""

    def __missing__(self, key):
        return ""


def median(values) -> float:
    return float(np.median(list(values)))


def steady_step_s(runs: list[dict], framework: str, batch_size: int) -> float:
    return median(r["steady_epoch_s"] / r["steps_per_epoch"] for r in runs
                  if r["framework"] == framework and r["batch_size"] == batch_size)


# --- setup and machines ----------------------------------------------------------------


def config_facts(study: Study) -> dict:
    config = Config.from_dict(study.first["config"])
    return {"layers": "–".join(str(n) for n in config.layer_sizes),
            "parameters": f"{parameter_count(config.layer_sizes):,}", "learning_rate": f"{config.learning_rate:g}",
            "momentum": f"{config.momentum:g}", "epochs": str(config.epochs),
            "output_scale": f"{config.output_init_scale:g}",
            "seeds": ", ".join(str(s) for s in sorted({r["seed"] for r in study.main})),
            "batch_sizes": ", ".join(str(b) for b in sorted({r["batch_size"] for r in study.main})),
            "n_train": f"{60_000 - config.validation_size:,}", "n_val": f"{config.validation_size:,}",
            "n_test": "10,000", "loss_rtol": fmt_e(equivalence.LOSS_RTOL), "params_tol": fmt_e(equivalence.PARAMS_TOL),
            "equivalence_steps": str(equivalence.STEPS)}


def commit_of(record: dict) -> str:
    return (record["platform"].get("git", {}).get("commit") or "unknown")[:7]


def software(record: dict) -> str:
    platform, device = record["platform"], record["device"]
    text = f"JAX {platform['jax']}, PyTorch {platform['torch']}"
    return text + (f", driver {device['driver']}" if device.get("driver") else "")


def machine_facts(study: Study) -> dict:
    gpu, cpu = study.study_of("gpu"), study.study_of("cpu")
    facts = {"two_devices": bool(gpu and cpu), "gpu": bool(gpu), "cpu": bool(cpu),
             "main_device": device_label(study.first), "main_code_note": code_note(study.first),
             "main_short": short_label(study.main), "main_is_gpu": study.on_gpu}
    for name, runs in (("gpu", gpu), ("cpu", cpu)):
        if runs:
            first = runs[0]
            facts.update({f"{name}_short": short_label(runs), f"{name}_label": device_label(first),
                          f"{name}_name": first["device"]["name"], f"{name}_cores": cores(runs) or "",
                          f"{name}_host": first["platform"].get("cpu", "unknown"),
                          f"{name}_versions": f"JAX {first['platform']['jax']}, PyTorch {first['platform']['torch']}",
                          f"{name}_software": software(first), f"{name}_date": first["timestamp"][:10],
                          f"{name}_older": bool(code_note(first)), f"{name}_commit": commit_of(first)})
    facts["main_peak"] = flops_text(device_peak(study.main))
    return facts


# --- what sets the speed --------------------------------------------------------------------


def share_facts(study: Study) -> dict:
    """Shares of the device's matmul peak, and on a GPU what a PyTorch eager step costs the host."""
    facts = {}
    for name in ("gpu", "cpu"):
        runs = study.study_of(name)
        if not runs:
            continue
        peak = device_peak(runs)
        small, large = min(r["batch_size"] for r in runs), max(r["batch_size"] for r in runs)
        shares = [r["achieved_flops"] / peak for r in runs]
        facts[f"{name}_share_lo"], facts[f"{name}_share_hi"] = fmt_pct(min(shares)), fmt_pct(max(shares))
        for framework in ("jax", "torch"):
            at_small = [r["achieved_flops"] / peak for r in runs if (r["framework"], r["batch_size"]) == (framework,
                                                                                                           small)]
            facts[f"{name}_share_{framework}_small"] = fmt_pct(median(at_small), 1)
        facts[f"{name}_small"], facts[f"{name}_large"] = str(small), str(large)
        torch_small, torch_large = steady_step_s(runs, "torch", small), steady_step_s(runs, "torch", large)
        facts[f"{name}_torch_step_small"] = fmt_s(torch_small)
        facts[f"{name}_torch_step_growth"] = fmt_x(torch_large / torch_small, 2)
        facts[f"{name}_batch_growth"] = fmt_x(large / small, 0)
    ops = gpu_eager_ops(study)
    if ops and "gpu_torch_step_small" in facts:
        count, source = ops
        per_op = steady_step_s(study.study_of("gpu"), "torch", int(facts["gpu_small"])) / count
        facts.update(gpu_torch_ops=f"{count:.0f}", gpu_torch_op_us=f"{per_op * 1e6:.0f} µs", gpu_ops_source=source)
    return facts


def gpu_eager_ops(study: Study) -> tuple[float, str] | None:
    """PyTorch eager's top-level operators per step on the GPU: from the current runs' profiles,
    else from an older-format fusion record; with where it comes from."""
    table = [r for r in variants_table(study) if r["framework"] == "torch" and r["variant"] == "eager"]
    if table and study.variants_runs[0]["device"]["kind"] == "gpu" and table[0]["ops_per_step"]:
        return table[0]["ops_per_step"], "profiler"
    old = [r for r in study.all_evidence if r["name"] == "fusion" and r["device"]["kind"] == "gpu"
           and "torch" in r["data"]]
    if old:
        return old[0]["data"]["torch"]["top_level_ops_per_step"], f"profiler, older code {commit_of(old[0])}"
    return None


def twin_facts(runs: list[dict]) -> dict:
    """How far apart the twins' test accuracies are, seed by seed (the same weights and batches)."""
    pairs = group_by(runs, lambda r: (r["batch_size"], r["seed"]))
    gaps = [abs(a["test_accuracy"] - b["test_accuracy"]) for pair in pairs.values() if len(pair) == 2
            for a, b in [pair]]
    return {"twin_gap": f"{100 * max(gaps):.2f}"} if gaps else {}


# --- tracing, fusion and the fair fight ------------------------------------------------------


def tracing_facts(study: Study) -> dict:
    facts = {}
    record = evidence_anywhere(study, "compile")
    programs = analyze.partial_batch_programs(record["data"]) if record else None
    if programs:
        facts.update(partial_kept=str(programs["kept"]), partial_dropped=str(programs["dropped"]),
                     partial_device=short_name(study, record))
    jit = next((r for r in variants_table(study) if (r["framework"], r["variant"]) == ("jax", "jit") and r["hlo"]),
               None)
    if jit:
        before, after = jit["hlo"]["before_optimization"], jit["hlo"]["after_optimization"]
        facts.update(hlo_before=str(before["operations"]), hlo_after=str(after["operations"]),
                     hlo_fusions=str(after["fusions"]), hlo_device=short_label(study.variants_runs))
    return facts


TORCH_ONE_CALL_PER_STEP = ("compile", "cudagraph")


def headline_split(steady: dict, batch_size: int, label: str) -> dict:
    """The headline ratio (PyTorch eager over JAX jit) as the product of a granularity part
    (PyTorch eager over PyTorch's fastest one-call-per-step variant) and a framework part at
    one call per step (that variant over JAX jit), each with two decimals."""
    times = {key: values.get(batch_size) for key, values in steady.items()}
    eager, jit = times.get(("torch", "eager")), times.get(("jax", "jit"))
    per_step = {name: times[("torch", name)] for name in TORCH_ONE_CALL_PER_STEP if times.get(("torch", name))}
    if not (eager and jit and per_step):
        return {}
    best = min(per_step, key=per_step.get)
    framework_part = per_step[best] / jit
    favours = "JAX's" if framework_part > 1 else "PyTorch's"
    return {f"headline_{label}": f"{eager / jit:.2f}×", f"granularity_part_{label}": f"{eager / per_step[best]:.2f}×",
            f"framework_part_{label}": f"{framework_part:.2f}×", f"framework_favours_{label}": favours,
            f"torch_step_variant_{label}": best}


def fair_facts(study: Study) -> dict:
    """The comparison at equal granularity, from the study that holds the variants."""
    runs = study.variants_runs
    table = variants_table(study)
    if not runs or not table:
        return {"fair": False}
    sizes = sorted({r["batch_size"] for r in runs})
    small, large = sizes[0], sizes[-1]
    facts = {"fair": True, "fair_device": device_label(runs[0]), "fair_short": short_label(runs),
             "fair_code_note": code_note(runs[0]), "fair_small": str(small), "fair_large": str(large),
             "fair_on_gpu": runs[0]["device"]["kind"] == "gpu",
             "kernels_meaning": "GPU kernels (profiler)" if runs[0]["device"]["kind"] == "gpu"
             else "on a CPU, the top-level operations of XLA's optimized program"}
    rows = {(r["framework"], r["variant"]): r for r in table}
    steady = {key: row["steady_s"] for key, row in rows.items()}

    def at(key, b=small):
        return steady.get(key, {}).get(b)

    pairs = {"op": (("jax", "eager"), ("torch", "eager")), "step": (("jax", "jit"), ("torch", "compile")),
             "epoch": (("jax", "scan"), ("jax", "jit"))}
    for name, (variant, against) in pairs.items():
        if at(variant) and at(against):
            facts[f"{name}_ratio"] = fmt_vs(at(variant), at(against))
    steps = {r["batch_size"]: r["steps_per_epoch"] for r in runs}
    for framework, compiled in (("jax", "jit"), ("torch", "compile")):
        calls = rows.get((framework, "eager"), {}).get("calls_per_step")
        if calls and at((framework, "eager")) and at((framework, compiled)):
            overhead = (at((framework, "eager")) - at((framework, compiled))) / steps[small] / calls
            facts[f"{framework}_eager_calls"] = f"{calls:.0f}"
            facts[f"{framework}_eager_op_s"] = overhead
            facts[f"{framework}_eager_op_us"] = f"{overhead * 1e6:.0f} µs"
    if "jax_eager_op_s" in facts and "torch_eager_op_s" in facts:
        facts["eager_overhead_ratio"] = fmt_x(facts.pop("jax_eager_op_s") / facts.pop("torch_eager_op_s"))
    defaults = [r for r in runs if variants_of(r).is_default]  # the main grid of the setup: every seed, every size
    probes = {fw: median(r["peak_matmul_flops"] for r in defaults if r["framework"] == fw) for fw in ("jax", "torch")}
    facts.update(jax_probe=flops_text(probes["jax"]), torch_probe=flops_text(probes["torch"]),
                 library_ratio=fmt_x(max(probes.values()) / min(probes.values()), 2),
                 library_faster="XLA's" if probes["jax"] > probes["torch"] else "PyTorch's")
    if at(("jax", "scan"), large) and at(("jax", "jit"), large):
        facts["epoch_ratio_large"] = fmt_vs(at(("jax", "scan"), large), at(("jax", "jit"), large))
    compile_runs = [r["steady_epoch_s"] for r in runs if (r["framework"], r.get("variant"), r["batch_size"]) ==
                    ("torch", "compile", small)]
    jit_range = [r["steady_epoch_s"] for r in defaults if (r["framework"], r["batch_size"]) == ("jax", small)]
    if compile_runs and jit_range:
        inside = min(jit_range) <= median(compile_runs) <= max(jit_range)
        facts["step_spread"] = ("inside the range of the jitted step's seeds" if inside else
                                "outside the range of the jitted step's seeds")
        facts["compile_runs"] = str(len(compile_runs))
    for label, size in (("small", small), ("large", large)):
        facts.update(headline_split(steady, size, label))
    if "framework_part_small" in facts:  # whom the framework part favours, and whom the faster matmul library
        jax_ahead = float(facts["framework_part_small"][:-1]) > 1
        facts["library_direction"] = "the same way" if jax_ahead == (probes["jax"] > probes["torch"]) else \
            "the other way"
    compiled = rows.get(("torch", "compile"), {})
    if compiled.get("ops_per_step"):
        facts["compile_host_ops"] = f"{compiled['ops_per_step']:.0f}"
    if rows.get(("jax", "jit"), {}).get("kernels_per_step"):
        facts["jit_kernels"] = f"{rows[('jax', 'jit')]['kernels_per_step']:.0f}"
    facts["cuda_graphs"] = ("torch", "cudagraph") in rows
    if facts["cuda_graphs"] and at(("torch", "cudagraph")) and at(("jax", "jit")):
        facts["graph_ratio"] = fmt_vs(at(("torch", "cudagraph")), at(("jax", "jit")))
    facts.update(older_gpu_scan(study))
    if not study.same_setup(runs[0]):  # the fair study is not the report's main one: its headline, for contrast
        main = {fw: steady_step_s(study.main, fw, min(r["batch_size"] for r in study.main)) for fw in ("jax", "torch")}
        facts["main_headline"] = fmt_x(main["torch"] / main["jax"])
    return facts


def older_gpu_scan(study: Study) -> dict:
    """The older-format GPU record of the variants: the scanned epoch against the jitted loop."""
    if study.variants_runs and study.variants_runs[0]["device"]["kind"] == "gpu":
        return {}
    for record in (r for r in study.all_evidence if r["name"] == "variants" and r["device"]["kind"] == "gpu"):
        rows = {row["variant"]: row for row in record["data"]["rows"] if row.get("steady_epoch_s")}
        if {"jax-scan", "jax-loop"} <= set(rows):
            scan, loop = rows["jax-scan"]["steady_epoch_s"], rows["jax-loop"]["steady_epoch_s"]
            return {"old_gpu_scan": fmt_s(scan), "old_gpu_loop": fmt_s(loop), "old_gpu_scan_ratio": fmt_vs(scan, loop),
                    "old_gpu_label": record["device"]["name"], "old_gpu_epochs": str(rows["jax-scan"]["epochs"])}
    return {}


def facts(study: Study) -> Facts:
    """Every value the report quotes, by name, and the flags that choose its passages."""
    from . import evidence_values as report_evidence

    values = {}
    for part in (config_facts, machine_facts, share_facts, tracing_facts, fair_facts,
                 report_evidence.first_epoch_facts, report_evidence.tf32_facts, report_evidence.cache_facts,
                 report_evidence.amortization_facts, report_evidence.donation_facts, report_evidence.updates_facts):
        values.update(part(study))
    values.update(twin_facts(study.main))
    return Facts(values)


def fair_table(study: Study) -> str:
    """Table 2 of the report: every variant at its granularity, on the variants study's device."""
    from .tables import granularity_markdown

    table = variants_table(study)
    if not table:
        return "*No variants measured yet:* python -m mnistbench campaign measures them."
    return granularity_markdown(table)
