"""The supplement's sections, one function per chunk of ``supplement.qmd``: each takes the
``studies.Study`` and returns Markdown whose every table names the device (and older code) it came from."""

from __future__ import annotations

from ..bench import compare
from . import analysis as analyze
from .formatting import break_even_words, code_note, count, device_label, flops_text, seconds
from .studies import Study, runs_of_setup
from .tables import FRAMEWORK_NAMES, interval_text, markdown, summary_text


def heading(record: dict) -> str:
    return f"**{device_label(record)}**{code_note(record)}"


def not_measured(what: str, device: str = "gpu") -> str:
    """The sentence that stands where a section's records are missing, with the command that measures them."""
    return (f"*{what[:1].upper() + what[1:]}: not measured on a {device.upper()} by the current code yet.* "
            f"`make gpu-study RESULTS=results/NAME` (or `python -m mnistbench campaign --device {device}`) "
            "measures it.")


def each_device(study: Study, name: str, what: str, render) -> str:
    """``render(record)`` under a heading per device; a line when no GPU has measured it."""
    found = study.evidence(name)
    blocks = [f"{heading(r)}\n\n{render(r)}" for r in found]
    if not any(r["device"]["kind"] == "gpu" for r in found):
        blocks.append(not_measured(what))
    return "\n\n".join(blocks)


def mebibytes(memory: dict | None, key: str) -> str:
    """A size from XLA's memory analysis of a compiled step ('-' where the record has none)."""
    return "-" if not memory or key not in memory else f"{memory[key] / 2**20:.1f} MiB"


def studies_section(study: Study) -> str:
    return summary_text(study.all_runs, fmt="pipe")


def equality_section(study: Study) -> str:
    """Every variant against its framework's default, per device: the steps compared and the largest differences."""
    def render(record: dict) -> str:  # a part per framework, holding each of its variants' comparisons
        return markdown([{"Variant": p["variant"], "Against": p["reference"], "Steps": p["steps"],
                          "Largest parameter difference": f"{p['max_abs_difference']:.1e}",
                          "Tolerance": f"{p['tolerance']:.0e}", "Passed": "yes" if p["passed"] else "NO"}
                         for part in record["data"]["parts"].values() for p in part.values()])
    return each_device(study, "equality", "the equality check", render)


def grid_pairs_section(study: Study) -> str:
    """The CPU grid's frameworks paired seed by seed (``compare.grid_pairs``): steady and first epochs."""
    runs = study.study_of("cpu")
    if not any(r["cold_start"] for r in runs):
        return "*Not measured yet:* a CPU campaign's grid (each run a cold start) pairs the frameworks."
    pairs = {key: compare.grid_pairs(runs, ("torch", "eager"), ("jax", "jit"), key) for key in ("steady", "first")}

    def cell(key: str, batch_size: int) -> str:  # a run of one epoch has a first epoch only
        return interval_text(pairs[key][batch_size].to_dict()) if batch_size in pairs[key] else "-"

    rows = [{"Batch": str(b), "Steady epoch, JAX / PyTorch": cell("steady", b), "First epoch, JAX / PyTorch":
             cell("first", b), "Pairs": str((pairs["steady"].get(b) or pairs["first"][b]).n)}
            for b in sorted(pairs["steady"].keys() | pairs["first"].keys())]
    return f"{heading(runs[0])}\n\n" + markdown(rows)


def breakdown_section(study: Study) -> str:
    """The first epoch's excess over a steady one per framework and batch size: JAX's trace, lower and XLA
compile, what is left unexplained, and the first validation's excess."""
    def part(row: dict, key: str) -> str:  # PyTorch eager compiles nothing: no parts to show
        return seconds(row[key]) if row["framework"] == "jax" else "none"

    return f"{heading(study.first)}\n\n" + markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "First − steady": seconds(r["excess_s"]), "Trace": part(r, "split_trace_s"),
        "Lower": part(r, "split_lower_s"), "XLA compile": part(r, "split_compile_s"),
        "Unexplained": seconds(r["unexplained_s"]), "First validation − later": seconds(r["evaluate_s"]),
    } for r in analyze.first_epoch_breakdown(study.main)])


def compile_section(study: Study) -> str:
    """The compile item: each program's trace, lower and compile per batch size and cache setting."""
    def cell(c: dict | None) -> str:  # total = trace + lower + compile [the first epoch]
        if c is None or not c["applies"]:
            return "-" if c is None else "n/a"
        split = c["split"]
        parts = (f" = {seconds(split['trace_s'])} + {seconds(split['lower_s'])} + {seconds(split['compile_s'])}"
                 if "trace_s" in split else "")
        return f"{seconds(c['total_s'])}{parts}" + (f" [{seconds(c['first_epoch_s'])}]" if "first_epoch_s" in c else "")

    def render(record: dict) -> str:
        text = markdown([{"Program": r["program"], "Batch": r["batch_size"],
                          **{s: cell(r["settings"].get(s)) for s in ("cold", "warm", "autotune-off")}}
                         for r in analyze.compile_table(record["data"])],
                        absent={"autotune-off": "XLA's GPU kernel autotuning switched off; it applies to a GPU only"})
        if programs := record["data"]["parts"].get("partial-batch", {}).get("programs"):
            text += (f"\n\nOne epoch of a step that takes batch arrays compiled {programs['dropped']} program(s) "
                     f"with the last partial batch dropped and {programs['kept']} with it kept: every new shape "
                     "is a new XLA program.")
        return text
    return each_device(study, "compile", "compile times with a cold and a warm cache", render)


def amortization_table(rows: list[dict]) -> str:
    """When JAX's running total passes PyTorch's, per cache setting and batch size."""
    return markdown([{
        "Cache": r["cache"], "Batch": r["batch_size"], "JAX steady + validation": seconds(r["steady_s"]["jax"]),
        "PyTorch steady + validation": seconds(r["steady_s"]["torch"]),
        "JAX total, last epoch": seconds(r["cumulative_s"]["jax"][-1]),
        "PyTorch total, last epoch": seconds(r["cumulative_s"]["torch"][-1]), "Break-even": break_even_words(r),
    } for r in rows])


def amortization_section(study: Study) -> str:
    """Cold break-evens of the main study, and cold against warm where the compile evidence allows."""
    blocks = [f"{heading(study.first)}, cold starts (the main study)\n\n"
              + amortization_table(analyze.amortization(study.main))]
    for record in study.evidence("compile"):
        runs = runs_of_setup(study, record)
        if warm := analyze.amortization(runs, warm=analyze.warm_cache_firsts(record["data"])):
            blocks.append(f"{heading(record)}, cold and warm compilation cache\n\n"
                          + amortization_table(analyze.amortization(runs) + warm))
    return "\n\n".join(blocks)


def granularity_section(study: Study) -> str:
    """The variants by dispatch granularity (a GPU campaign's variant runs): calls and operations per step,
steady epochs."""
    runs = study.variants_runs
    if not runs:
        return not_measured("the variants")
    table = analyze.granularity_table(runs)
    text = f"{heading(runs[0])}\n\n" + markdown([{
        "Python calls": f"one per {r['granularity']}", "Framework": FRAMEWORK_NAMES[r["framework"]],
        "Variant": r["variant"], "Calls": "1 per epoch" if r["granularity"] == "epoch" else count(r["calls_per_step"]),
        "Host ops": count(r["ops_per_step"]) if r["framework"] == "torch" else "-",
        "Kernels": count(r["kernels_per_step"]), **{f"Steady, batch {b}": seconds(s) for b, s in r["steady_s"].items()},
    } for r in table])
    if hlo := next((r["hlo"] for r in table if (r["framework"], r["variant"]) == ("jax", "jit") and r["hlo"]), None):
        before, after = hlo["before_optimization"]["by_opcode"], hlo["after_optimization"]["by_opcode"]
        text += ("\n\nThe jitted step's HLO opcodes before optimization (calls inlined): "
                 + ", ".join(f"{k} {v}" for k, v in before.items())
                 + ". After: " + ", ".join(f"{k} {v}" for k, v in after.items()) + ".")
    if runs[0]["device"]["kind"] != "gpu":
        text += "\n\n" + not_measured("the variants, their kernels and CUDA graphs")
    return text


def fusion_section(study: Study) -> str:
    """What XLA fused in JAX's jitted step, by kind: the optimized program the report quotes."""
    run = analyze.fusion_run(study.study_of("cpu"))
    if run is None:
        return "*Not measured yet:* a profiled JAX run (`python -m mnistbench campaign`)."
    before, after = run["profile"]["hlo"]["before_optimization"], run["profile"]["hlo"]["after_optimization"]
    kinds = after["fusion_kinds"]
    return (f"{heading(run)}, batch {run['batch_size']}: before optimization (calls inlined) "
            f"{before['operations']} operations ({', '.join(f'{k} {v}' for k, v in before['by_opcode'].items())}); "
            f"after, {after['operations']} ({', '.join(f'{k} {v}' for k, v in after['by_opcode'].items())}). "
            f"Fusions by kind: {kinds['with_matmul']} hold a matrix product (a dot with its bias, "
            f"activation or transpose), {kinds['without_matmul']} are element-wise or reductions only, "
            f"and {kinds['matmuls_outside_fusions']} matrix products stand alone (library calls).")


def older_gpu_section(study: Study) -> str:
    """The H100 study's older evidence records the report quotes: one process each, older code."""
    fusion, variants = study.older_evidence("fusion"), study.older_evidence("variants")
    if not (fusion or variants):
        return "*None:* no older GPU evidence records."
    blocks = []
    if fusion:
        data = fusion["data"]
        jax = data["jax"]["after_optimization"]
        blocks.append(f"{heading(fusion)}, batch {data['torch']['batch_size']}: PyTorch's profiler saw "
                      f"{data['torch']['gpu_kernels_per_step']:.0f} GPU kernels and "
                      f"{data['torch']['top_level_ops_per_step']:.0f} top-level operators a step (over "
                      f"{data['torch']['steps']} steps); JAX's optimized program ran {jax['operations']} operations "
                      f"({', '.join(f'{n} {op}' for op, n in sorted(jax['by_opcode'].items()))}).")
    if variants:
        blocks.append(f"{heading(variants)}, one process each, its epochs after the first:\n\n" + markdown([{
            "Variant": row["variant"], "Batch": str(row["batch_size"]),
            "Steady epochs": ", ".join(seconds(t) for t in row["epoch_times_s"][1:]),
            "First epoch": seconds(row["first_epoch_s"])} for row in variants["data"]["rows"]]))
    return "\n\n".join(blocks)


def overhead_section(study: Study) -> str:
    """Host and device time per step of the profiled runs, per variant and batch size."""
    rows = analyze.overhead_rows(study.variants_runs)
    if not rows:
        return not_measured("host and device time per step")
    text = f"{heading(study.variants_runs[0])}\n\n" + markdown([{
        "Variant": r["variant_key"], "Batch": r["batch_size"], "Host / step": seconds(r["host_s"]),
        "Device / step": seconds(r["device_s"]), "Measured / step": seconds(r["step_s"]),
        "Floor / step": seconds(r["floor_s"]), "Runs": r["runs"],
    } for r in rows], absent={"Device / step": "the kernels' summed durations, from a GPU profile"})
    if study.variants_runs[0]["device"]["kind"] != "gpu":
        text += "\n\n" + not_measured("host and device time per step")
    return text


def updates_section(study: Study) -> str:
    """The updates experiment: each arm's accuracy at equal epochs and at equal updates."""
    if not (found := study.evidence("updates")):
        return "*Not measured yet:* `python -m mnistbench evidence updates --device cpu`."
    return f"{heading(found[-1])}\n\n" + markdown([{
        "Arm": r["arm"], "Batch": r["batch_size"], "Learning rate": f"{r['learning_rate']:.3g}",
        "Epochs": r["epochs"], "Updates": f"{r['updates']:,}",
        "Test accuracy": "diverged" if r["test_accuracy"] is None else
        f"{100 * r['test_accuracy']:.2f} % ({100 * r['test_accuracy_spread'][0]:.2f}–"
        f"{100 * r['test_accuracy_spread'][1]:.2f})",
        "Seeds": r["seeds"] if not r["diverged"] else f"{r['seeds']} ({r['diverged']} diverged)",
    } for r in analyze.updates_table(found[-1]["data"])])


def donation_section(study: Study) -> str:
    """A GPU campaign's runs with and without donation; on the CPU the paired item's processes (its
    timing is a declared comparison above), each with XLA's memory analysis of its compiled step."""
    blocks = []
    if rows := analyze.donation_effect(study.variants_runs):
        blocks.append(f"{heading(study.variants_runs[0])}\n\n" + markdown([{
            "Batch": r["batch_size"], "Seeds": ", ".join(map(str, r["seeds"])),
            "Steady epoch": f"{seconds(r['steady_s']['jit'])} / {seconds(r['steady_s']['jit-no-donation'])}",
            "Single steady epochs": " / ".join("–".join(seconds(t) for t in r["epoch_range_s"][v])
                                               for v in ("jit", "jit-no-donation")),
            "Aliased": mebibytes(r["compiled_memory"]["jit"], "alias_size_in_bytes"),
            "Temporaries": " / ".join(mebibytes(r["compiled_memory"][v], "temp_size_in_bytes")
                                      for v in ("jit", "jit-no-donation")),
        } for r in rows]))
    sessions: dict[tuple[str, str], int] = {}  # (device heading, table): the sessions that compiled it so
    for record in study.evidence("paired"):
        memory = [{"Batch": name.removeprefix("bs"), "Step": side, "Aliased": mebibytes(m, "alias_size_in_bytes"),
                   "Temporaries": mebibytes(m, "temp_size_in_bytes")}
                  for name, part in record["data"]["parts"].items() if name.startswith("bs")
                  for side in ("jax-jit", "jax-jit-no-donation")
                  if (m := next((r[side]["record_fields"].get("compiled_memory") for r in part["rounds"]
                                 if compare.usable(part, r.get(side))), None))]
        if memory:
            key = (heading(record), markdown(memory))
            sessions[key] = sessions.get(key, 0) + 1
    for (title, table), held in sessions.items():
        same = f"{held} sessions, the same in each; " if held > 1 else ""
        blocks.append(f"{title}, the paired item's processes ({same}the timing: *JAX: donation* in the declared "
                      "comparisons)\n\n" + table)
    return "\n\n".join(blocks) or "*Not measured yet:* the jit-no-donation variant (`python -m mnistbench campaign`)."


def precision_section(study: Study) -> str:
    """TF32 against full float32 on the GPU: compile, steady epoch and accuracy."""
    if not (gpu := study.study_of("gpu")):
        return "*Not in this results folder:* TF32 is a matmul mode of NVIDIA GPUs; no GPU study is here."
    if not (rows := analyze.precision_comparison([r for r in study.all_runs if study.same_setup(r, gpu[0])])):
        return not_measured("TF32 against float32")
    return f"{heading(gpu[0])}\n\n" + markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "Steady, float32": seconds(r["steady_s"]["float32"]), "Steady, TF32": seconds(r["steady_s"]["tf32"]),
        "Speed-up": f"{r['speedup']:.2f}×", "Compile, float32": seconds(r["compile_total_s"]["float32"]),
        "Compile, TF32": seconds(r["compile_total_s"]["tf32"]), "Seeds": ", ".join(str(seed) for seed in r["seeds"]),
        "Accuracy, float32": f"{100 * r['test_accuracy']['float32']:.2f} %",
        "Accuracy, TF32": f"{100 * r['test_accuracy']['tf32']:.2f} %",
    } for r in rows])


def efficiency_section(study: Study) -> str:
    """Each default run's steady epoch beside its physical floor and its share of the probed peak."""
    return "\n\n".join(f"{heading(runs[0])}\n\n" + markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "Steady epoch": seconds(r["steady_epoch_s"]), "Physical floor": seconds(r["physical_floor_s"]),
        "Achieved": flops_text(r["achieved_flops"]), "Measured peak": flops_text(r["peak_matmul_flops"]),
        "Share of peak": f"{100 * r['fraction_of_peak']:.1f} %",
    } for r in analyze.efficiency(runs)]) for runs in (study.study_of("gpu"), study.study_of("cpu")) if runs)
