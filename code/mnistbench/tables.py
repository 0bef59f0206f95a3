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
    if not bounds or bounds[0] == bounds[1]:
        return seconds(value)
    return f"{seconds(value)} ({seconds(bounds[0])}-{seconds(bounds[1])})"


def accuracy(mean: float, spread: float) -> str:
    return f"{100 * mean:.2f} ± {100 * spread:.2f} %" if spread else f"{100 * mean:.2f} %"


def summary_rows(records: list[dict]) -> list[dict]:
    """Display rows: per framework and batch size, formatted strings."""
    return [{
        "Framework": FRAMEWORK_NAMES.get(row["framework"], row["framework"]),
        "Batch": row["batch_size"],
        "First epoch": seconds_range(row["first_epoch_s"], row["first_epoch_range_s"]),
        "Steady epoch": seconds_range(row["steady_epoch_s"], row["steady_epoch_range_s"]),
        "JAX compile": seconds(row["compile_s"]),
        "Test accuracy": accuracy(row["test_accuracy"], row["test_accuracy_std"]),
        "Peak FLOP/s used": f"{100 * row['fraction_of_peak']:.1f} %",
        "Runs": row["repeats"] if row["valid_runs"] == row["repeats"]
        else f"{row['valid_runs']}/{row['repeats']} valid",
    } for row in summarize(records)]


def study_title(row: dict) -> str:
    return f"{row['device']} ({row['device_kind'].upper()}), {row['precision']} matmuls, {row['epochs']} epochs"


def summary_text(records: list[dict], fmt: str = "simple") -> str:
    """The results table(s), one per study, as text."""
    if not records:
        return "no result records"
    blocks = []
    rows = summarize(records)
    titles = list(dict.fromkeys(study_title(row) for row in rows))
    display = summary_rows(records)
    for title in titles:
        chosen = [d for d, row in zip(display, rows) if study_title(row) == title]
        blocks.append(title + "\n" + tabulate(chosen, headers="keys", tablefmt=fmt, disable_numparse=True))
    return "\n\n".join(blocks)
