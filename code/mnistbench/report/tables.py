"""Tables of results for the terminal (tabulate) and for the report and supplement.

Every function takes records or rows from ``bench.results`` or ``analysis`` and
returns text; nothing here computes a result.
"""

from __future__ import annotations

from tabulate import tabulate

from ..bench.results import default_variant_runs, study_key, summarize
from ..bench.variants import DEFAULT_VARIANT
from .formatting import (
    accuracy,
    break_even_words,
    code_note,
    commit_of,
    count,
    flops_text,
    plural,
    seconds,
    seconds_range,
)

FRAMEWORK_NAMES = {"jax": "JAX", "torch": "PyTorch"}
LEGEND = ("Times: median over seeds, (range) over seeds; accuracy: mean ± standard deviation over seeds; "
          "epochs exclude validation.")


def display_row(row: dict, with_variant: bool = False) -> dict:
    """One ``results.summarize`` row as formatted strings; the share of peak over the matmul peak
    probed in the run's own process (the one definition)."""
    share = row["fraction_of_peak"]
    shown = {"Framework": FRAMEWORK_NAMES.get(row["framework"], row["framework"])}
    if with_variant:
        shown["Variant"] = row["variant"]
    return {
        **shown,
        "Batch": row["batch_size"],
        "First epoch": seconds_range(row["first_epoch_s"], row["first_epoch_range_s"]),
        "Steady epoch": seconds_range(row["steady_epoch_s"], row["steady_epoch_range_s"]),
        "Compile": seconds(row["compile_total_s"]),
        "Test accuracy": accuracy(row["test_accuracy"], row["test_accuracy_std"]),
        "Share of peak": f"{100 * share:.1f} %" if row["steady_epoch_s"] is not None else "-",  # steady epochs only
        "Runs": row["repeats"] if row["valid_runs"] == row["repeats"]
        else f"{row['valid_runs']}/{row['repeats']} valid",
    }


def study_title(row: dict) -> str:
    title = (f"{row['device']} ({row['device_kind'].upper()}; {row['software']}), {row['precision']} matmuls, "
             f"{plural(row['epochs'], 'epoch')}")
    if row["train_subset"]:
        title += f", first {row['train_subset']} training images only (smoke run)"
    if row["compilation_cache"]:
        title += ", with a persistent compilation cache"
    return title


def summary_text(records: list[dict], fmt: str = "simple") -> str:
    """The results table(s), one per study, as text, with what the numbers mean."""
    if not records:
        return "no result records"
    rows = summarize(records)
    studies = list(dict.fromkeys(row["study"] for row in rows))
    firsts = {study_key(r): r for r in reversed(records)}  # a record of each study, to name its code
    titles = [study_title(next(r for r in rows if r["study"] == study)) + (
        code_note(firsts[study]) or f", measured by the current code (commit {commit_of(firsts[study])})")
        for study in studies]
    blocks = []
    for study, title in zip(studies, titles):
        if titles.count(title) > 1:  # same device and length, other settings, code or software
            title += f" [settings {study[4]}, code {study[5]}, software {study[6]}]"
        chosen = [row for row in rows if row["study"] == study]
        with_variant = any(row["variant"] != DEFAULT_VARIANT[row["framework"]] for row in chosen)
        title = f"**{title}**\n" if fmt == "pipe" else title  # Markdown needs a blank line before a table
        blocks.append(title + "\n" + tabulate([display_row(row, with_variant) for row in chosen], headers="keys",
                                              tablefmt=fmt, disable_numparse=True))
    return "\n\n".join(blocks) + "\n\n" + LEGEND


def results_markdown(records: list[dict]) -> str:
    """The report's compact results table (each framework's default variant) as a Markdown pipe
    table; the share of peak: steady FLOP/s over the matmul peak probed in the same process."""
    runs = default_variant_runs(records)
    rows = [{k: v for k, v in display_row(row).items() if k != "Runs"} for row in summarize(runs)]
    return tabulate(rows, headers="keys", tablefmt="pipe", disable_numparse=True,
                    colalign=("left",) + ("right",) * (len(rows[0]) - 1) if rows else ())


def platforms_markdown(study) -> str:
    """The machines of the report's records, the GPU study's and the CPU study's: the device and
    its host, the software, and the measuring code and date."""
    rows = []
    for kind in ("gpu", "cpu"):
        runs = study.study_of(kind)
        if runs:
            device, platform = runs[0]["device"], runs[0]["platform"]
            host = platform.get("cpu", "").replace("(R)", "").replace(" Processor", "")
            rows.append({"Device": device["name"] if kind == "gpu" else f"{host} (CPU)",
                         "Host": host if kind == "gpu" else "-",
                         "Python, JAX, PyTorch": f"{platform['python']}, {platform['jax']}, {platform['torch']}",
                         "Driver, JAX CUDA plugin": (f"{device['driver']}, {device.get('cuda', '')}"
                                                     if device.get("driver") else "-"),
                         "Code, date": f"{commit_of(runs[0])}, {runs[0]['timestamp'][:10]}"})
    return tabulate(rows, headers="keys", tablefmt="pipe", disable_numparse=True)  # its caption follows it


# --- the supplement's tables ---------------------------------------------------------


NOT_MEASURED = ("n/a", "-")


def markdown(rows: list[dict], absent: dict[str, str] | None = None) -> str:
    """A pipe table of already formatted rows (no number parsing). A column that holds nothing
    in any row (only "n/a" or "-") is left out, and ``absent[column]`` (what it would hold, and
    why it does not) is said below the table instead."""
    if not rows:
        return "(not measured)"
    empty = [key for key in rows[0] if all(row[key] in NOT_MEASURED for row in rows)]
    table = tabulate([{k: v for k, v in row.items() if k not in empty} for row in rows], headers="keys",
                     tablefmt="pipe", disable_numparse=True)
    notes = [f"*{key}*: {(absent or {}).get(key, 'not measured')}." for key in empty]
    return table + ("\n\n" + " ".join(notes) if notes else "")


def granularity_markdown(rows: list[dict]) -> str:
    """``analyze.granularity_table``: every variant at its dispatch granularity, with the
    steady epochs at the batch sizes the table holds."""
    batch_sizes = tuple(rows[0]["steady_s"]) if rows else ()
    return markdown([{
        "Python calls": f"one per {r['granularity']}", "Framework": FRAMEWORK_NAMES[r["framework"]],
        "Variant": r["variant"],
        "Calls": "1 per epoch" if r["granularity"] == "epoch" else count(r["calls_per_step"]),
        "Host ops": count(r["ops_per_step"]) if r["framework"] == "torch" else "-",
        "Kernels": count(r["kernels_per_step"]),
        **{f"Steady, batch {b}": seconds(r["steady_s"].get(b)) for b in batch_sizes},
    } for r in rows])


def breakdown_markdown(rows: list[dict]) -> str:
    """``analyze.first_epoch_breakdown`` rows: where the first epoch's extra time goes."""
    def part(row: dict, key: str) -> str:  # PyTorch eager compiles nothing: no parts to show
        return seconds(row[key]) if row["framework"] == "jax" else "none"

    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "First − steady": seconds(r["excess_s"]), "Trace": part(r, "split_trace_s"),
        "Lower": part(r, "split_lower_s"), "XLA compile": part(r, "split_compile_s"),
        "Unexplained": seconds(r["unexplained_s"]), "First validation − later": seconds(r["evaluate_s"]),
    } for r in rows])


def compile_markdown(rows: list[dict], settings=("cold", "warm", "autotune-off")) -> str:
    """analyze.compile_table rows: compile time (trace + lower + compile) per setting, first epoch in brackets."""
    def cell(c: dict | None) -> str:
        if c is None:
            return "-"
        if not c["applies"]:
            return "n/a"
        split = c["split"]
        parts = (f" = {seconds(split['trace_s'])} + {seconds(split['lower_s'])} + {seconds(split['compile_s'])}"
                 if "trace_s" in split else "")
        first = f" [{seconds(c['first_epoch_s'])}]" if "first_epoch_s" in c else ""
        return f"{seconds(c['total_s'])}{parts}{first}"

    return markdown([{"Program": r["program"], "Batch": r["batch_size"],
                      **{s: cell(r["settings"].get(s)) for s in settings}} for r in rows],
                    absent={"autotune-off": "XLA's GPU kernel autotuning switched off; it applies to a GPU only",
                            "tf32": "TF32 matmuls, a mode of NVIDIA GPUs; TF32 compile times come from TF32 runs"})


def overhead_markdown(rows: list[dict]) -> str:
    """analyze.overhead_rows: host, device and measured time per step, beside the floor."""
    return markdown([{
        "Variant": r["variant_key"], "Batch": r["batch_size"], "Host / step": seconds(r["host_s"]),
        "Device / step": seconds(r["device_s"]), "Measured / step": seconds(r["step_s"]),
        "Floor / step": seconds(r["floor_s"]), "Runs": r["runs"],
    } for r in rows], absent={"Device / step": "the kernels' summed durations, from a GPU profile"})


def amortization_markdown(rows: list[dict]) -> str:
    return markdown([{
        "Cache": r["cache"], "Batch": r["batch_size"], "JAX steady + validation": seconds(r["steady_s"]["jax"]),
        "PyTorch steady + validation": seconds(r["steady_s"]["torch"]),
        "JAX total, last epoch": seconds(r["cumulative_s"]["jax"][-1]),
        "PyTorch total, last epoch": seconds(r["cumulative_s"]["torch"][-1]),
        "Break-even": break_even_words(r),
    } for r in rows])


def updates_markdown(rows: list[dict]) -> str:
    """analyze.updates_table: accuracy against the number of updates and the learning rate."""
    return markdown([{
        "Arm": r["arm"], "Batch": r["batch_size"], "Learning rate": f"{r['learning_rate']:.3g}",
        "Epochs": r["epochs"], "Updates": f"{r['updates']:,}",
        "Test accuracy": "diverged" if r["test_accuracy"] is None else
        f"{100 * r['test_accuracy']:.2f} % ({100 * r['test_accuracy_spread'][0]:.2f}–"
        f"{100 * r['test_accuracy_spread'][1]:.2f})",
        "Seeds": r["seeds"] if not r["diverged"] else f"{r['seeds']} ({r['diverged']} diverged)",
    } for r in rows])


def equality_markdown(parts: list[dict]) -> str:
    return markdown([{
        "Variant": p["variant"], "Against": p["reference"], "Steps": p["steps"],
        "Largest parameter difference": f"{p['max_abs_difference']:.1e}", "Tolerance": f"{p['tolerance']:.0e}",
        "Passed": "yes" if p["passed"] else "NO",
    } for p in parts])


def donation_markdown(rows: list[dict]) -> str:
    def memory(m: dict | None, key: str) -> str:
        return "-" if not m or key not in m else f"{m[key] / 2**20:.1f} MiB"

    def both(donated: str, not_donated: str) -> str:
        return f"{donated} / {not_donated}"

    return markdown([{
        "Batch": r["batch_size"], "Seeds": ", ".join(map(str, r["seeds"])),
        "Steady epoch": both(seconds(r["steady_s"]["jit"]), seconds(r["steady_s"]["jit-no-donation"])),
        "Single steady epochs": both(*("–".join(seconds(t) for t in r["epoch_range_s"][v])
                                       for v in ("jit", "jit-no-donation"))),
        "Aliased": memory(r["compiled_memory"]["jit"], "alias_size_in_bytes"),
        "Temporaries": both(memory(r["compiled_memory"]["jit"], "temp_size_in_bytes"),
                            memory(r["compiled_memory"]["jit-no-donation"], "temp_size_in_bytes")),
    } for r in rows])


def precision_markdown(rows: list[dict]) -> str:
    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "Steady, float32": seconds(r["steady_s"]["float32"]), "Steady, TF32": seconds(r["steady_s"]["tf32"]),
        "Speed-up": f"{r['speedup']:.2f}×",
        "Compile, float32": seconds(r["compile_total_s"]["float32"]),
        "Compile, TF32": seconds(r["compile_total_s"]["tf32"]),
        "Seeds": ", ".join(str(seed) for seed in r["seeds"]),
        "Accuracy, float32": f"{100 * r['test_accuracy']['float32']:.2f} %",
        "Accuracy, TF32": f"{100 * r['test_accuracy']['tf32']:.2f} %",
    } for r in rows])


def efficiency_markdown(rows: list[dict]) -> str:
    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "Steady epoch": seconds(r["steady_epoch_s"]), "Physical floor": seconds(r["physical_floor_s"]),
        "Achieved": flops_text(r["achieved_flops"], 3), "Measured peak": flops_text(r["peak_matmul_flops"], 3),
        "Share of peak": f"{100 * r['fraction_of_peak']:.1f} %",
    } for r in rows])


def interval_text(row: dict) -> str:
    """'0.82× [0.78, 0.86]': a paired ratio and its interval."""
    return f"{row['ratio']:.2f}× [{row['low']:.2f}, {row['high']:.2f}]"


def p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def paired_markdown(rows: list[dict]) -> str:
    """The declared comparisons: B against A per batch size, with the interval across rounds,
    the p-values (raw and Holm's over the family) and what the interval resolves."""
    return markdown([{"Batch": row["part"].removeprefix("bs"), "Comparison": row["comparison"],
                      "B / A": f"{row['b']} / {row['a']}", "Ratio [95% interval]": interval_text(row),
                      "Rounds": str(row["n"]), "p": p_text(row["p_value"]), "Holm p": p_text(row["holm_p"]),
                      "Verdict": row["verdict"]} for row in rows])


def aa_markdown(rows: list[dict]) -> str:
    return markdown([{"Batch": row["part"].removeprefix("bs"), "A/A": row["comparison"], "Level": row["level"],
                      "Ratio [95% interval]": interval_text(row), "Samples": str(row["n"])} for row in rows])


def spread_text(values: dict | None, scale: float = 1.0, digits: int = 2) -> str:
    """'3.41 [3.30–3.52]': a mean over processes and its 95% interval ('-' when not measured)."""
    if not values:
        return "-"
    mean = f"{values['mean'] * scale:.{digits}f}"
    if values["low"] is None:
        return mean
    return f"{mean} [{values['low'] * scale:.{digits}f}–{values['high'] * scale:.{digits}f}]"


def sides_markdown(rows: list[dict]) -> str:
    return markdown([{"Part": row["part"].removeprefix("bs"), "Side": row["side"],
                      "Steady block, s": spread_text(row["block"]),
                      "Share of peak, %": spread_text(row["share"], 100, 1),
                      "Compile, s": spread_text(row["compile"], digits=1),
                      "Evaluate compile, s": spread_text(row["evaluate_compile"]),
                      "One call, µs": spread_text(row["call"], 1e6, 1), "Processes": str(
                          max((v["n"] for v in (row["block"], row["call"]) if v), default=0))} for row in rows],
                    absent={"Compile, s": "no compiled side", "Evaluate compile, s": "no JAX side",
                            "One call, µs": "no dispatch part", "Steady block, s": "no training part",
                            "Share of peak, %": "no training part"})
