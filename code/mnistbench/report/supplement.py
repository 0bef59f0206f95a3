"""The supplement's sections as Markdown, one function per section.

Each takes the ``studies.Study`` and returns text (tables and the sentences
around them) for one chunk of ``supplement.qmd``; every number comes from a
record, and every table names the device it was measured on (and its code,
when that is older than the current measuring code).
"""

from __future__ import annotations

from ..bench import compare
from ..bench.evidence import paired
from . import analysis as analyze
from . import tables
from .formatting import code_note, device_label
from .studies import Study, is_full_current, runs_of_setup


def heading(record: dict) -> str:
    return f"**{device_label(record)}**{code_note(record)}"


def records(study: Study, name: str) -> list[dict]:
    """Evidence records ``name`` of the current format and full size, GPU first, then by date."""
    found = [r for r in study.all_evidence if r["name"] == name and is_full_current(r)]
    return sorted(found, key=lambda r: (r["device"]["kind"] != "gpu", r["timestamp"]))


def not_measured(what: str, device: str = "gpu") -> str:
    return (f"*{what[:1].upper() + what[1:]}: not measured on a {device.upper()} by the current code yet.* "
            f"`make gpu-study RESULTS=results/NAME` (or `python -m mnistbench campaign --device {device}`) "
            "measures it.")


def each_device(study: Study, name: str, what: str, render) -> str:
    """``render(record)`` under a heading per device; a line when no GPU has measured it."""
    found = records(study, name)
    blocks = [f"{heading(r)}\n\n{render(r)}" for r in found]
    if not any(r["device"]["kind"] == "gpu" for r in found):
        blocks.append(not_measured(what))
    return "\n\n".join(blocks)


def studies_section(study: Study) -> str:
    return tables.summary_text(study.all_runs, fmt="pipe")


def equality_section(study: Study) -> str:
    return each_device(study, "equality", "the equality check",
                       lambda r: tables.equality_markdown(analyze.equality_rows(r["data"])))


def breakdown_section(study: Study) -> str:
    return f"{heading(study.first)}\n\n" + tables.breakdown_markdown(analyze.first_epoch_breakdown(study.main))


def compile_section(study: Study) -> str:
    def render(record: dict) -> str:
        programs = analyze.partial_batch_programs(record["data"])
        text = tables.compile_markdown(analyze.compile_table(record["data"]))
        if programs:
            text += (f"\n\nOne epoch of a step that takes batch arrays compiled {programs['dropped']} program(s) "
                     f"with the last partial batch dropped and {programs['kept']} with it kept: every new shape "
                     "is a new XLA program.")
        return text
    return each_device(study, "compile", "compile times with a cold and a warm cache", render)


def amortization_section(study: Study) -> str:
    """Cold break-evens of the main study, and cold against warm where the compile evidence allows."""
    blocks = [f"{heading(study.first)}, cold starts (the main study)\n\n"
              + tables.amortization_markdown(analyze.amortization(study.main))]
    for record in records(study, "compile"):
        runs = runs_of_setup(study, record)
        warm = analyze.amortization(runs, warm=analyze.warm_cache_firsts(record["data"]))
        if warm:
            blocks.append(f"{heading(record)}, cold and warm compilation cache\n\n"
                          + tables.amortization_markdown(analyze.amortization(runs) + warm))
    return "\n\n".join(blocks)


def granularity_section(study: Study) -> str:
    runs = study.variants_runs
    if not runs:
        return not_measured("the variants")
    sizes = sorted({r["batch_size"] for r in runs})
    table = analyze.granularity_table(runs, (sizes[0], sizes[-1]))  # the smallest and largest batch measured
    text = f"{heading(runs[0])}\n\n" + tables.granularity_markdown(table)
    hlo = next((r["hlo"] for r in table if (r["framework"], r["variant"]) == ("jax", "jit") and r.get("hlo")), None)
    if hlo:
        before, after = hlo["before_optimization"]["by_opcode"], hlo["after_optimization"]["by_opcode"]
        text += ("\n\nThe jitted step's HLO opcodes before optimization (calls inlined): "
                 + ", ".join(f"{k} {v}" for k, v in before.items())
                 + ". After: " + ", ".join(f"{k} {v}" for k, v in after.items()) + ".")
    if runs[0]["device"]["kind"] != "gpu":
        text += "\n\n" + not_measured("the variants, their kernels and CUDA graphs")
    return text


def overhead_section(study: Study) -> str:
    rows = analyze.overhead_rows(study.variants_runs)
    if not rows:
        return not_measured("host and device time per step")
    text = f"{heading(study.variants_runs[0])}\n\n" + tables.overhead_markdown(rows)
    if study.variants_runs[0]["device"]["kind"] != "gpu":
        text += "\n\n" + not_measured("host and device time per step")
    return text


def updates_section(study: Study) -> str:
    found = records(study, "updates")
    if not found:
        return "*Not measured yet:* `python -m mnistbench evidence updates --device cpu`."
    record = found[-1]
    return f"{heading(record)}\n\n" + tables.updates_markdown(analyze.updates_table(record["data"]))


def donation_section(study: Study) -> str:
    """A GPU campaign's runs with and without donation; on the CPU the paired item's processes (its
    timing is a declared comparison above), each with XLA's memory analysis of its compiled step."""
    blocks = []
    rows = analyze.donation_effect(study.variants_runs)
    if rows:
        blocks.append(f"{heading(study.variants_runs[0])}\n\n" + tables.donation_markdown(rows))
    for record in records(study, "paired"):
        memory = [{"Batch": name.removeprefix("bs"), "Step": side, **{label: f"{m[key] / 2**20:.1f} MiB"
                   for label, key in (("Aliased", "alias_size_in_bytes"), ("Temporaries", "temp_size_in_bytes"))}}
                  for name, part in record["data"]["parts"].items() if name.startswith("bs")
                  for side in ("jax-jit", "jax-jit-no-donation")
                  if (m := next((r[side]["record_fields"].get("compiled_memory") for r in part["rounds"]
                                 if compare.usable(r.get(side))), None))]
        if memory:
            blocks.append(f"{heading(record)}, the paired item's processes (the timing: *JAX: donation* in the "
                          "declared comparisons)\n\n" + tables.markdown(memory))
    return "\n\n".join(blocks) or "*Not measured yet:* the jit-no-donation variant (`python -m mnistbench campaign`)."


def fusion_section(study: Study) -> str:
    """What XLA fused in JAX's jitted step, by kind, read from the optimized program of a CPU run."""
    runs = [r for r in study.study_of("cpu") + study.variants_runs if r["framework"] == "jax"
            and (r.get("profile") or {}).get("hlo")]
    if not runs:
        return "*Not measured yet:* a profiled JAX run (`python -m mnistbench campaign`)."
    hlo = runs[0]["profile"]["hlo"]
    before, after = hlo["before_optimization"], hlo["after_optimization"]
    kinds = after.get("fusion_kinds", {})
    return (f"{heading(runs[0])}, batch {runs[0]['batch_size']}: before optimization (calls inlined) "
            f"{before['operations']} operations ({', '.join(f'{k} {v}' for k, v in before['by_opcode'].items())}); "
            f"after, {after['operations']} ({', '.join(f'{k} {v}' for k, v in after['by_opcode'].items())}). "
            f"Fusions by kind: {kinds.get('with_matmul', 0)} hold a matrix product (a dot with its bias, "
            f"activation or transpose), {kinds.get('without_matmul', 0)} are element-wise or reductions only, "
            f"and {kinds.get('matmuls_outside_fusions', 0)} matrix products stand alone (library calls).")


def precision_section(study: Study) -> str:
    gpu = study.study_of("gpu")
    if not gpu:
        return "*Not in this results folder:* TF32 is a matmul mode of NVIDIA GPUs; no GPU study is here."
    rows = analyze.precision_comparison([r for r in study.all_runs if study.same_setup(r, gpu[0])])
    if not rows:
        return not_measured("TF32 against float32")
    return f"{heading(gpu[0])}\n\n" + tables.precision_markdown(rows)


def efficiency_section(study: Study) -> str:
    blocks = []
    for kind in ("gpu", "cpu"):
        runs = study.study_of(kind)
        if runs:
            blocks.append(f"{heading(runs[0])}\n\n" + tables.efficiency_markdown(analyze.efficiency(runs)))
    return "\n\n".join(blocks)


def paired_section(study: Study) -> str:
    """Each device's paired record: the A/A and δ, the declared family with its verdicts, the
    machine's state over every block, each side's share of peak, compile times and the cost of
    one call from Python."""
    if not records(study, "paired"):
        return "*Not measured yet:* `python -m mnistbench evidence paired --device cpu` (or the campaign)."
    return each_device(study, "paired", "the paired comparisons", _paired_text)


def _paired_text(record: dict) -> str:
    parts = record["data"]["parts"]
    result = compare.analysis(parts, paired.FAMILY + paired.DISPATCH_FAMILY, paired.AA)
    delta = result["delta"]
    training = [part for name, part in parts.items() if name.startswith("bs")]
    first = training[0] if training else next(iter(parts.values()))
    autocorrelation = f"{result['autocorrelation']:.2f}" if result["autocorrelation"] is not None else "n/a"
    texts = [
        f"{first['warmup_blocks']} warm-up block and {first['blocks']} measured blocks per process, a block an "
        f"epoch over {first['train_subset'] or 50_000:,} images; {len(first['rounds'])} rounds a part; "
        f"{result['processes']} processes in all, {result['invalid_processes']} left out (a clock below the "
        f"physical floor). Steady training blocks measured while other processes or the hypervisor took more "
        f"than a tenth of the machine: {result['interfered_blocks']} of {result['blocks']} "
        "(a dispatch block lasts a few clock ticks of `/proc/stat`, too short to tell). Median lag-1 "
        f"autocorrelation of a process's steady blocks: {autocorrelation}.",
        "**A/A**" + (f" (δ = {100 * delta:.1f}%, the farther end of the widest A/A of processes)"
                     if delta is not None else "") + "\n\n" + tables.aa_markdown(result["aa"]),
        "**The declared comparisons** (B's time over A's: below 1, B is faster)\n\n"
        + tables.paired_markdown(result["rows"])]
    per_side = [_side_row(name, part, side) for name, part in parts.items()
                for side in sorted({key for r in part["rounds"] for key in r})]
    texts.append("**Each side** (mean over processes, 95% interval): the steady block; the share of peak "
                 "(steady training FLOP/s over the matmul peak probed in the same process); the step's compile "
                 "(JAX: trace + lower + compile; torch.compile: its first call, one step included) and JAX's "
                 "`evaluate` compile; for the dispatch part, one call\n\n"
                 + tables.sides_markdown([row for row in per_side if row]))
    return "\n\n".join(texts)


def grid_pairs_section(study: Study) -> str:
    """The CPU grid's frameworks paired seed by seed (``compare.grid_pairs``)."""
    runs = study.study_of("cpu")
    if not any(r.get("cold_start") for r in runs):
        return "*Not measured yet:* a CPU campaign's grid (each run a cold start) pairs the frameworks."
    pairs = {key: compare.grid_pairs(runs, ("torch", "eager"), ("jax", "jit"), key) for key in ("steady", "first")}
    rows = [{"Batch": str(b), "Steady epoch, JAX / PyTorch": tables.interval_text(pairs["steady"][b].to_dict()),
             "First epoch, JAX / PyTorch": tables.interval_text(pairs["first"][b].to_dict()) if b in pairs["first"]
             else "-", "Pairs": str(pairs["steady"][b].n)} for b in sorted(pairs["steady"])]
    return f"{heading(runs[0])}\n\n" + tables.markdown(rows)


def _side_row(part_name: str, part: dict, side: str) -> dict | None:
    processes = [r[side] for r in part["rounds"] if compare.usable(r.get(side))]
    if not processes:
        return None
    steady = [compare.process_mean(p["blocks_s"]) for p in processes]
    calls = part.get("calls_per_block")
    return {"part": part_name, "side": side,
            "block": compare.spread(steady) if not calls else None,
            "call": compare.spread([s / calls for s in steady]) if calls else None,
            "share": compare.spread([s for p in processes if (s := compare.share_of_peak(p)) is not None]),
            "compile": compare.spread([sum(p["compile_split"].values()) for p in processes
                                       if p.get("compile_split")]),
            "evaluate_compile": compare.spread([sum(p["evaluate_compile_split"].values()) for p in processes
                                                if p.get("evaluate_compile_split")])}
