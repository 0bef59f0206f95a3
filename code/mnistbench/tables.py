"""Tables of results for the terminal (tabulate) and for the report."""

from __future__ import annotations

from tabulate import tabulate

from .results import summarize

FRAMEWORK_NAMES = {"jax": "JAX", "torch": "PyTorch"}


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def seconds_range(value: float | None, bounds: list[float] | None) -> str:
    """'1.23 s (1.20-1.30)': a median with its range over repeats."""
    if value is None:
        return "-"
    low, high = (seconds(b) for b in bounds) if bounds else (None, None)
    if low == high:
        return seconds(value)
    return f"{seconds(value)} ({low}–{high})"


def accuracy(mean: float, spread: float) -> str:
    return f"{100 * mean:.2f} ± {100 * spread:.2f} %" if spread else f"{100 * mean:.2f} %"


def summary_rows(records: list[dict]) -> list[dict]:
    """Display rows: per framework and batch size, formatted strings."""
    return [display_row(row) for row in summarize(records)]


def display_row(row: dict) -> dict:
    """One ``results.summarize`` row as formatted strings."""
    return {
        "Framework": FRAMEWORK_NAMES.get(row["framework"], row["framework"]),
        "Batch": row["batch_size"],
        "First epoch": seconds_range(row["first_epoch_s"], row["first_epoch_range_s"]),
        "Steady epoch": seconds_range(row["steady_epoch_s"], row["steady_epoch_range_s"]),
        "JAX compile": seconds(row["compile_s"]),
        "Test accuracy": accuracy(row["test_accuracy"], row["test_accuracy_std"]),
        "Share of peak": f"{100 * row['fraction_of_peak']:.1f} %",
        "Runs": row["repeats"] if row["valid_runs"] == row["repeats"]
        else f"{row['valid_runs']}/{row['repeats']} valid",
    }


def study_title(row: dict) -> str:
    return f"{row['device']} ({row['device_kind'].upper()}), {row['precision']} matmuls, {row['epochs']} epochs"


def summary_text(records: list[dict], fmt: str = "simple") -> str:
    """The results table(s), one per study, as text."""
    if not records:
        return "no result records"
    rows = summarize(records)
    display = [display_row(row) for row in rows]
    studies = list(dict.fromkeys(row["study"] for row in rows))
    titles = [study_title(next(r for r in rows if r["study"] == study)) for study in studies]
    blocks = []
    for study, title in zip(studies, titles):
        if titles.count(title) > 1:  # same device and length, other settings or code
            title += f" [settings {study[4]}, code {study[5]}]"
        chosen = [d for d, row in zip(display, rows) if row["study"] == study]
        title = f"**{title}**\n" if fmt == "pipe" else title  # Markdown needs a blank line before a table
        blocks.append(title + "\n" + tabulate(chosen, headers="keys", tablefmt=fmt, disable_numparse=True))
    return "\n\n".join(blocks)


def results_markdown(records: list[dict]) -> str:
    """The report's compact results table as a Markdown pipe table."""
    drop = ("Runs",)
    rows = [{k: v for k, v in row.items() if k not in drop} for row in summary_rows(records)]
    return tabulate(rows, headers="keys", tablefmt="pipe", disable_numparse=True,
                    colalign=("left",) + ("right",) * (len(rows[0]) - 1) if rows else ())


# --- the supplement's tables ---------------------------------------------------------


def markdown(rows: list[dict]) -> str:
    """A pipe table of already formatted rows (no number parsing)."""
    return tabulate(rows, headers="keys", tablefmt="pipe", disable_numparse=True) if rows else "(not measured)"


def breakdown_markdown(rows: list[dict]) -> str:
    """evidence.first_epoch_breakdown rows: where the first epoch's extra time goes."""
    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "First − steady": seconds(r["excess_s"]), "Trace": seconds(r["split_trace_s"]),
        "Lower": seconds(r["split_lower_s"]), "XLA compile": seconds(r["split_compile_s"]),
        "Unexplained": seconds(r["unexplained_s"]),
    } for r in rows])


def operations_markdown(rows: list[dict]) -> str:
    """evidence.operations_table rows: what one training step costs in launches."""
    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]],
        "Python dispatches / step": f"{r['dispatches_per_step']:.0f}",
        "Operations / step": f"{r['operations_per_step']:.0f}",
        "Kernels / step": "-" if r["kernels_per_step"] is None else f"{r['kernels_per_step']:.0f}",
        "Fusions": r["fusions"],
    } for r in rows])


def overhead_markdown(fits: dict[str, dict]) -> str:
    """Per framework: fitted fixed cost and per-sample cost of a step."""
    return markdown([{
        "Framework": FRAMEWORK_NAMES[framework], "Batch sizes": ", ".join(str(r["batch_size"]) for r in part["rows"]),
        "Fixed cost / step": seconds(part["fit"]["overhead_s"]) if part["fit"]["overhead_s"] >= 1e-3
        else f"{part['fit']['overhead_s'] * 1e6:.0f} µs",
        "Cost / sample": f"{part['fit']['per_sample_s'] * 1e6:.3f} µs", "R²": f"{part['fit']['r2']:.3f}",
    } for framework, part in fits.items()])


def amortization_markdown(rows: list[dict]) -> str:
    return markdown([{
        "Batch": r["batch_size"], "JAX steady": seconds(r["steady_s"]["jax"]),
        "PyTorch steady": seconds(r["steady_s"]["torch"]),
        "JAX total, last epoch": seconds(r["cumulative_s"]["jax"][-1]),
        "PyTorch total, last epoch": seconds(r["cumulative_s"]["torch"][-1]),
        "Break-even": (f"epoch {r['break_even_epoch']}" + ("" if r["measured"] else " (extrapolated)"))
        if r["break_even_epoch"] else f"not within {r['horizon']} epochs",
    } for r in rows])


def variants_markdown(record: dict) -> str:
    rows = []
    for r in record["data"]["rows"]:
        if "steady_epoch_s" not in r:
            rows.append({"Variant": r["variant"], "First epoch": "-", "Steady epoch": "-", "Compile": "-",
                         "Peak memory": "-", "Note": r.get("skipped") or r.get("failed", "")[:60]})
            continue
        memory = r["peak_memory_bytes"]
        rows.append({"Variant": r["variant"], "First epoch": seconds(r["first_epoch_s"]),
                     "Steady epoch": seconds_range(r["steady_epoch_s"], r["steady_epoch_range_s"]),
                     "Compile": seconds(r["compile_s"]),
                     "Peak memory": "-" if memory is None else f"{memory / 2**20:.1f} MiB", "Note": ""})
    return markdown(rows)


def precision_markdown(rows: list[dict]) -> str:
    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "Steady, float32": seconds(r["steady_s"]["float32"]), "Steady, TF32": seconds(r["steady_s"]["tf32"]),
        "Speed-up": f"{r['speedup']:.2f}×",
        "Compile, float32": seconds(r["compile_s"]["float32"]), "Compile, TF32": seconds(r["compile_s"]["tf32"]),
        "Seeds": ", ".join(str(seed) for seed in r["seeds"]),
        "Accuracy, float32": f"{100 * r['test_accuracy']['float32']:.2f} %",
        "Accuracy, TF32": f"{100 * r['test_accuracy']['tf32']:.2f} %",
    } for r in rows])


def efficiency_markdown(rows: list[dict]) -> str:
    return markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": r["batch_size"],
        "Steady epoch": seconds(r["steady_epoch_s"]), "Physical floor": seconds(r["physical_floor_s"]),
        "Achieved": f"{r['achieved_flops'] / 1e12:.2f} TFLOP/s",
        "Measured peak": f"{r['peak_matmul_flops'] / 1e12:.1f} TFLOP/s",
        "Share of peak": f"{100 * r['fraction_of_peak']:.1f} %",
    } for r in rows])
