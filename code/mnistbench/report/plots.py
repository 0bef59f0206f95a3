"""The documents' figures, drawn from run records (or an evidence record) and written as PDF, SVG and PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..bench.selection import default_variant_runs, group_by
from ..bench.session import FULL
from .tables import FRAMEWORK_NAMES, side_name

FIGURES_ENV = "MNISTBENCH_FIGURES"  # where figures go; default figures/ in the working directory
# a colour and a marker per batch size of the grid, so that the batch sizes are told apart in grey print too
BATCH_STYLES = dict(zip(FULL.batch_sizes, (("#1b9e77", "o"), ("#d95f02", "s"), ("#7570b3", "^"))))
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


def curves(records: list[dict], folder: Path | None = None, name: str = "curves"):
    """The report's figure: training loss and validation accuracy per epoch, mean over seeds; a panel per framework
    and quantity (the twins' curves coincide: they never share one), a colour per batch size throughout."""
    groups = group_by(default_variant_runs(records), lambda r: (r["framework"], r["batch_size"]))
    fig, axes = plt.subplots(1, 4, figsize=(7.0, 1.5))
    panels = [("train_loss", "jax"), ("train_loss", "torch"), ("val_accuracy", "jax"), ("val_accuracy", "torch")]
    for ax, (key, framework), letter in zip(axes, panels, "abcd"):
        for (fw, batch_size), runs in groups.items():
            if fw == framework:
                values = np.mean([r[key] for r in runs], axis=0) * (100 if key == "val_accuracy" else 1)
                color, marker = BATCH_STYLES.get(batch_size, ("#666666", "o"))
                ax.plot(np.arange(1, len(values) + 1), values, color=color, linewidth=1.3, marker=marker,
                        markersize=3, label=f"batch {batch_size}")
        ax.set_title(f"({letter}) {FRAMEWORK_NAMES[framework]}", loc="left")
        ax.set(xlabel="epoch", ylabel="training loss" if key == "train_loss" else "val. accuracy (%)")
        if key == "train_loss":  # tick labels as plain numbers (0.2), not powers (2x10^-1)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1,)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
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
    rows = [row for part in record["data"]["parts"].values() for row in part["rows"] if row["seed"] == 0]
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.0))
    for i, row in enumerate(rows):
        style = dict(color=plt.get_cmap("tab10")(i), linewidth=1.1, label=f"{row['arm']} (batch {row['batch_size']})")
        for ax, key in zip(axes, ("train_loss", "val_loss", "val_accuracy")):
            values = np.array([np.nan if v is None else v for v in row[key]], dtype=float)
            ax.plot(np.arange(1, len(values) + 1), 100 * values if key == "val_accuracy" else values, **style)
    for ax, label in zip(axes, ("training loss", "validation loss", "validation accuracy (%)")):
        ax.set(xlabel="epoch", ylabel=label, xscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    fig.legend(*axes[0].get_legend_handles_labels(), ncol=3, loc="lower center", bbox_to_anchor=(0.5, 0.97),
               frameon=False)
    fig.tight_layout()
    return save(fig, name, folder)


SIDE_STYLES = {"jax-eager": ("#1f77b4", "o", ":"), "jax-jit": ("#1f77b4", "s", "-"), "jax-scan": ("#1f77b4", "^", "--"),
               "torch-eager": ("#d62728", "o", ":"), "torch-compile": ("#d62728", "s", "-"),
               "torch-cudagraph": ("#d62728", "^", "--")}  # a colour per framework, a marker and line per variant
# the twins' accuracy curves coincide, so PyTorch's points are rings around JAX's dots
FRAMEWORK_LINES = {"jax": dict(linestyle="-", linewidth=1, markersize=2.5, zorder=3),
                   "torch": dict(linestyle="--", linewidth=1, markersize=6, markerfacecolor="none",
                                 markeredgewidth=0.8, zorder=2)}
PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # tick labels as plain numbers, not powers


def step_time_panel(ax, fits: list[dict]) -> None:
    """A step's time against the batch size: every side's measured means (markers; PyTorch's hollow,
    as the sides overlap at large batches) and its fitted line t = a + c b, beside the physical floor
    (a sample's FLOPs at the highest probed peak, times b)."""
    sizes = np.array(sorted({b for fit in fits for b in fit.step_s}), dtype=float)
    for fit in fits:
        color, marker, line = SIDE_STYLES.get(fit.variant, ("#666666", "o", "-"))
        face = "white" if fit.variant.startswith("torch") else color
        points = dict(marker=marker, color=color, markerfacecolor=face, markersize=3.5)
        measured = sorted(fit.step_s.items())
        ax.plot([b for b, _ in measured], [1e3 * t for _, t in measured], linestyle="", **points)
        ax.plot(sizes, 1e3 * (fit.a.value + fit.c.value * sizes), color=color, linestyle=line, linewidth=1)
        ax.plot([], [], linestyle=line, linewidth=1, label=side_name(fit.variant), **points)  # the legend's key
    if fits and fits[0].floor_per_sample_s:
        ax.plot(sizes, 1e3 * fits[0].floor_per_sample_s * sizes, color="black", linewidth=1.5, alpha=0.4,
                label="floor")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="time per step (ms)", xticks=(8, 64, 512, 4096))
    ax.xaxis.set_major_formatter(PLAIN)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(PLAIN)
    ax.set_title("(a) a step's time", loc="left")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, handletextpad=0.3, borderaxespad=0.2,
              labelspacing=0.25, handlelength=1.2)  # beside the panel, at the text's 8.5 pt
    ax.grid(alpha=0.3, which="major")


def per_epoch_panels(running, accuracy, loss, runs: list[dict], target: float) -> None:
    """Per epoch, a line per framework (``FRAMEWORK_LINES``) and batch size (a colour each), mean
    over seeds with their range shaded: the running seconds of training and validation (compiles
    inside), the validation accuracy against the target (dotted) and the training loss."""
    epochs = None
    for (framework, batch_size), group in group_by(default_variant_runs(runs),
                                                   lambda r: (r["framework"], r["batch_size"])).items():
        color, marker = BATCH_STYLES.get(batch_size, ("#666666", "o"))
        style = dict(color=color, marker=marker, **FRAMEWORK_LINES[framework])
        seconds = np.array([np.cumsum(np.add(r["epoch_times_s"], r["val_times_s"])) for r in group])
        percent = 100 * np.array([r["val_accuracy"] for r in group])
        train_loss = np.array([r["train_loss"] for r in group])
        epochs = np.arange(1, percent.shape[1] + 1)
        for ax, values in ((running, seconds), (accuracy, percent), (loss, train_loss)):
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=color, alpha=0.15, linewidth=0)
            ax.plot(epochs, values.mean(axis=0), **style)
    for framework, y in (("jax", 0.93), ("torch", 0.05)):  # JAX's lines lie together at the top, after its compiles
        running.text(0.97, y, FRAMEWORK_NAMES[framework], transform=running.transAxes, ha="right",
                     va="top" if framework == "jax" else "bottom")
    running.set(yscale="log", xlabel="epoch", ylabel="seconds")
    low, high = running.get_ylim()
    running.set_ylim(low, high * 2)  # room above JAX's lines, flat after the compiles of its first epoch
    running.yaxis.set_major_locator(LogLocator(subs=(1, 3)))
    running.yaxis.set_major_formatter(PLAIN)
    running.yaxis.set_minor_formatter(NullFormatter())
    running.set_title("(b) time so far", loc="left")
    accuracy.axhline(100 * target, color="black", linestyle=":", linewidth=1)
    accuracy.set(xlabel="epoch", ylabel="percent")
    accuracy.set_title("(c) val. accuracy", loc="left")
    loss.set(yscale="log", xlabel="epoch")
    loss.yaxis.set_major_locator(LogLocator(numticks=4))
    loss.yaxis.set_minor_formatter(NullFormatter())
    loss.set_title("(d) training loss", loc="left")
    for ax in (running, accuracy, loss):
        if epochs is not None:
            ax.set_xticks(epochs[::3])
        ax.grid(alpha=0.3, which="major")


def costs_and_accuracy(fits: list[dict], runs: list[dict], target: float, folder: Path | None = None,
                       name: str = "costs"):
    """The report's figure: (a) a CPU step's time against the batch size (``step_time_panel``);
    (b, c, d) the running time, validation accuracy and training loss per epoch of ``runs``, the study
    whose curves it draws (the report's GPU; ``per_epoch_panels``), with one legend for the three."""
    width, height = 7.0, 2.0  # inches; the panels placed by hand, (a)'s legend beside it, the others' below them
    fig = plt.figure(figsize=(width, height))
    box = [(0.42, 1.1), (3.12, 0.92), (4.47, 0.92), (5.88, 0.92)]  # (left, width) of panels a, b, c, d
    left, middle, right, last = (fig.add_axes((x / width, 0.66 / height, w / width, 1.08 / height)) for x, w in box)
    step_time_panel(left, fits)
    per_epoch_panels(middle, right, last, runs, target)
    keys = [Line2D([], [], color=color, marker=marker, markersize=3, linewidth=1, label=f"batch {b}")
            for b, (color, marker) in BATCH_STYLES.items()]
    keys += [Line2D([], [], color="black", marker="o", label=FRAMEWORK_NAMES[fw], **line)
             for fw, line in FRAMEWORK_LINES.items()]
    fig.legend(handles=keys, loc="lower left", bbox_to_anchor=(3.05 / width, -0.02), ncol=len(keys), frameon=False,
               handletextpad=0.3, columnspacing=1.0, handlelength=1.6)  # colour: batch; line: framework
    return save(fig, name, folder)
