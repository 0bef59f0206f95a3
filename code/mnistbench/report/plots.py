"""Figures for the report, written to figures/ as PDF and PNG and returned.

Every function takes run records (or an evidence record) and draws only what
they hold; nothing here measures.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from ..bench.results import default_variant_runs
from .tables import FRAMEWORK_NAMES

FIGURES_ENV = "MNISTBENCH_FIGURES"  # where figures go; default figures/ in the working directory
BATCH_COLORS = {64: "#1b9e77", 256: "#d95f02", 1024: "#7570b3"}
BATCH_MARKERS = {64: "o", 256: "s", 1024: "^"}  # told apart in grey print too
plt.rcParams.update({"font.size": 8.5, "axes.titlesize": 8.5, "legend.fontsize": 8.5, "figure.dpi": 150,
                     "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "mnistbench"})


def figures_folder(folder: Path | None = None) -> Path:
    return Path(folder or os.environ.get(FIGURES_ENV, "figures"))


def save(fig, name: str, folder: Path | None = None):
    """Write ``fig`` as vector PDF and SVG (the report's) and as PNG, with no timestamps, so
    unchanged data gives unchanged files; return it."""
    folder = figures_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None})
    fig.savefig(folder / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    fig.savefig(folder / f"{name}.png", dpi=200, bbox_inches="tight")
    plt.close(fig)
    return fig


def figure_path(name: str) -> str:
    """Where a document finds figure ``name`` (SVG): relative to the project when the figures
    are in it (Typst reads files inside the project only)."""
    path = figures_folder() / f"{name}.svg"
    return str(path if path.is_absolute() else path.as_posix())


def _color(batch_size: int) -> str:
    return BATCH_COLORS.get(batch_size, "#666666")


def _mean_curves(records: list[dict], key: str) -> dict[tuple[str, int], np.ndarray]:
    groups: dict[tuple[str, int], list[list[float]]] = {}
    for r in records:
        groups.setdefault((r["framework"], r["batch_size"]), []).append(r[key])
    return {k: np.mean(v, axis=0) for k, v in sorted(groups.items())}


def plain_ticks(ax, subs=(1, 2, 5), which="xy"):
    """Tick labels as plain numbers (64, 0.2) instead of powers (2^6, 2x10^-1),
    with ``subs`` steps (1-2-5) on a logarithmic value axis; ``which`` axes only."""
    from matplotlib.ticker import LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    chosen = {"x": (ax.xaxis, ax.get_xscale()), "y": (ax.yaxis, ax.get_yscale())}
    for axis, scale in (chosen[letter] for letter in which):
        if scale == "log":  # a batch-size axis sets its own ticks afterwards
            axis.set_major_locator(LogLocator(subs=subs))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())


def curves(records: list[dict], folder: Path | None = None, name: str = "curves"):
    """The report's figure: per epoch, training loss and validation accuracy of each framework's
    default, mean over seeds; one panel per framework and quantity (the twins' curves coincide,
    so they never share a panel), one colour per batch size throughout."""
    records = default_variant_runs(records)
    fig, axes = plt.subplots(1, 4, figsize=(7.0, 1.5))
    panels = [("train_loss", "jax"), ("train_loss", "torch"), ("val_accuracy", "jax"), ("val_accuracy", "torch")]
    for ax, (key, framework), letter in zip(axes, panels, "abcd"):
        for (fw, batch_size), values in _mean_curves(records, key).items():
            if fw == framework:
                values = 100 * values if key == "val_accuracy" else values
                ax.plot(np.arange(1, len(values) + 1), values, color=_color(batch_size), linewidth=1.3,
                        marker=BATCH_MARKERS.get(batch_size, "o"), markersize=3, label=f"batch {batch_size}")
        quantity = "training loss" if key == "train_loss" else "val. accuracy (%)"
        ax.set_title(f"({letter}) {FRAMEWORK_NAMES[framework]}", loc="left")
        ax.set(xlabel="epoch", ylabel=quantity)
        if key == "train_loss":
            ax.set_yscale("log")
            plain_ticks(ax, subs=(1,), which="y")
        ax.grid(alpha=0.3, which="both")
    for pair in (axes[0:2], axes[2:4]):  # one scale per quantity
        low = min(ax.get_ylim()[0] for ax in pair)
        high = max(ax.get_ylim()[1] for ax in pair)
        for ax in pair:
            ax.set_ylim(low, high)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(labels), loc="lower center", bbox_to_anchor=(0.5, 0.97), frameon=False)
    fig.tight_layout(w_pad=0.8)
    return save(fig, name, folder)


def updates(record: dict, folder: Path | None = None, name: str = "updates"):
    """The updates experiment's arms of seed 0 per epoch: training and validation loss, validation accuracy."""
    rows = [row for part in record["data"]["parts"].values() for row in part["rows"] if row.get("seed", 0) == 0]
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.0))
    for i, row in enumerate(rows):
        style = dict(color=plt.get_cmap("tab10")(i), linewidth=1.1, label=f"{row['arm']} (batch {row['batch_size']})")
        for ax, key in zip(axes, ("train_loss", "val_loss", "val_accuracy")):
            values = np.array([np.nan if v is None else v for v in row.get(key, [])], dtype=float)
            ax.plot(np.arange(1, len(values) + 1), 100 * values if key == "val_accuracy" else values, **style)
    for ax, label in zip(axes, ("training loss", "validation loss", "validation accuracy (%)")):
        ax.set(xlabel="epoch", ylabel=label, xscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    fig.legend(*axes[0].get_legend_handles_labels(), ncol=3, loc="lower center", bbox_to_anchor=(0.5, 0.97),
               frameon=False)
    fig.tight_layout()
    return save(fig, name, folder)
