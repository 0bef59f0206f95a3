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

from ..bench.evidence.analyze import amortization
from ..bench.results import default_variant_runs
from .tables import FRAMEWORK_NAMES

FIGURES_ENV = "MNISTBENCH_FIGURES"  # where figures go; default figures/ in the working directory
BATCH_COLORS = {64: "#1b9e77", 256: "#d95f02", 1024: "#7570b3"}
FRAMEWORK_STYLE = {"jax": {"linestyle": "-", "marker": "o"}, "torch": {"linestyle": "--", "marker": "o"}}
plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7, "figure.dpi": 150,
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


def _framework_handles():
    from matplotlib.lines import Line2D

    return [Line2D([], [], color="black", linewidth=1.2, label="JAX"),
            Line2D([], [], color="black", marker="o", markerfacecolor="none", linestyle="none", markersize=3.5,
                   label="PyTorch (a, b)"),
            Line2D([], [], color="black", linestyle="--", linewidth=0.9, label="PyTorch (c, d)"),
            Line2D([], [], color="black", marker="*", linestyle="none", markersize=7, label="break-even")]


def _batch_handles(sizes):
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=_color(b), linewidth=2, label=f"batch {b}") for b in sizes]


def _draw_curves(ax_acc, ax_loss, records):
    """Validation accuracy and loss per epoch, mean over seeds: JAX as lines, PyTorch as open
    markers on them (the twins agree up to float32 rounding, so two lines would hide each other)."""
    accuracy, loss = _mean_curves(records, "val_accuracy"), _mean_curves(records, "val_loss")
    for (framework, batch_size), values in accuracy.items():
        epochs = np.arange(1, len(values) + 1)
        style = (dict(linestyle="-", linewidth=1.2) if framework == "jax" else
                 dict(linestyle="none", marker="o", markersize=3.5, markerfacecolor="none", markeredgewidth=0.8))
        ax_acc.plot(epochs, 100 * values, color=_color(batch_size), **style)
        ax_loss.plot(epochs, loss[(framework, batch_size)], color=_color(batch_size), **style)
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)")
    ax_loss.set(xlabel="epoch", ylabel="validation loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)


CUMULATIVE_EPOCHS = 30  # panel (c) continues the measured totals at the steady rate up to here


def _draw_cumulative(ax, records):
    """Training plus validation time summed over epochs: measured (solid), then at the steady
    rate (dotted); a break-even within the panel is marked where it happens."""
    for row in amortization(records):
        color = _color(row["batch_size"])
        for framework, curve in row["cumulative_s"].items():
            measured = np.arange(1, len(curve) + 1)
            ahead = np.arange(len(curve), CUMULATIVE_EPOCHS + 1)
            rest = curve[-1] + row["steady_s"][framework] * (ahead - len(curve))
            style = dict(color=color, linewidth=1.2 if framework == "jax" else 0.9,
                         linestyle="-" if framework == "jax" else "--")
            ax.plot(measured, curve, **style)
            ax.plot(ahead, rest, **{**style, "linestyle": ":"})
        epoch = row["break_even_epoch"]
        if epoch and epoch <= CUMULATIVE_EPOCHS:
            n = len(row["cumulative_s"]["jax"])
            jax = row["cumulative_s"]["jax"]
            total = jax[epoch - 1] if epoch <= n else jax[-1] + row["steady_s"]["jax"] * (epoch - n)
            ax.plot([epoch], [total], marker="*", markersize=8, color=color, markeredgecolor="black",
                    markeredgewidth=0.5, linestyle="none")
    ax.set_yscale("log")
    plain_ticks(ax, which="y")
    ax.set_xlim(1, CUMULATIVE_EPOCHS)
    ax.set(xlabel="epoch", ylabel="total time (s)")
    ax.grid(alpha=0.3, which="both")


def _draw_step_times(ax, records):
    """Steady time per step (median over seeds) against batch size, beside each
    batch size's physical floor (its FLOPs at the measured matmul peak)."""
    by_key: dict = {}
    for r in records:
        by_key.setdefault((r["framework"], r["batch_size"]), []).append(r)
    sizes = sorted({b for _, b in by_key})
    for framework in FRAMEWORK_STYLE:
        points = [(b, 1e3 * np.median([r["steady_epoch_s"] / r["steps_per_epoch"] for r in by_key[(framework, b)]]))
                  for b in sizes if (framework, b) in by_key]
        if points:
            ax.plot(*zip(*points), color="black", markersize=3, linewidth=1.0, **FRAMEWORK_STYLE[framework])
    floors = [1e3 * np.median([r["physical_floor_s"] / r["steps_per_epoch"] for rs in by_key.values() for r in rs
                               if r["batch_size"] == b]) for b in sizes]
    ax.plot(sizes, floors, color="#999999", linestyle=":", linewidth=1.0, label="physical floor")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    plain_ticks(ax)
    ax.set_xticks(sizes)
    ax.set(xlabel="batch size", ylabel="steady time per step (ms)")
    ax.legend(frameon=False, loc="lower right")
    ax.grid(alpha=0.3, which="both")


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


def overview(records: list[dict], folder: Path | None = None, name: str = "overview"):
    """The report's one figure, each framework's default variant: (a) validation accuracy and
    (b) loss per epoch, (c) cumulative time, (d) steady time per step beside the physical floor."""
    records = default_variant_runs(records)
    fig, axes = plt.subplots(1, 4, figsize=(7.0, 1.6))
    _draw_curves(axes[0], axes[1], records)
    _draw_cumulative(axes[2], records)
    _draw_step_times(axes[3], records)
    for ax, letter in zip(axes, "abcd"):
        ax.set_title(f"({letter})", loc="left")
    sizes = sorted({r["batch_size"] for r in records})
    fig.legend(handles=_batch_handles(sizes) + _framework_handles(), ncol=7, loc="lower center",
               bbox_to_anchor=(0.5, 0.96), frameon=False)
    fig.tight_layout(w_pad=0.6)
    return save(fig, name, folder)


OVERHEAD_COLORS = {"host_s": "#1f77b4", "device_s": "#d62728", "step_s": "#333333"}
OVERHEAD_LABELS = {"host_s": "host: issuing a step", "device_s": "device: running it", "step_s": "measured step"}


def overhead(rows: list[dict], folder: Path | None = None, name: str = "overhead"):
    """Per variant (``analyze.overhead_rows``): host, device and measured time per step against
    batch size, with the floor."""
    keys = list(dict.fromkeys(r["variant_key"] for r in rows))
    fig, axes = plt.subplots(1, len(keys), figsize=(1.4 * len(keys), 2.3), sharey=True, squeeze=False)
    for ax, key in zip(axes[0], keys):
        mine = sorted((r for r in rows if r["variant_key"] == key), key=lambda r: r["batch_size"])
        sizes = [r["batch_size"] for r in mine]
        for part, color in OVERHEAD_COLORS.items():
            values = [1e3 * r[part] if r[part] is not None else np.nan for r in mine]
            ax.plot(sizes, values, color=color, marker="o", markersize=2.5, linewidth=1.0,
                    linestyle="--" if part == "device_s" else "-", label=OVERHEAD_LABELS[part])
        ax.plot(sizes, [1e3 * r["floor_s"] for r in mine], color="#999999", linestyle=":", label="physical floor")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        plain_ticks(ax, subs=(1,))
        ax.set_xticks(sizes, [str(s) for s in sizes], fontsize=6)
        ax.set_title(key, loc="left")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("milliseconds per step")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 0.97), frameon=False)
    fig.tight_layout()
    return save(fig, name, folder)


GRANULARITY_COLORS = {"operation": "#d95f02", "step": "#1b9e77", "epoch": "#7570b3"}


def granularity(table: list[dict], folder: Path | None = None, name: str = "granularity"):
    """Steady epoch of every variant at the table's batch sizes, colored by how often Python dispatches."""
    batch_sizes = tuple(table[0]["steady_s"])
    fig, axes = plt.subplots(1, len(batch_sizes), figsize=(6.8, 0.25 * len(table) + 0.9), sharey=True)
    y = np.arange(len(table))
    labels = [f"{FRAMEWORK_NAMES[r['framework']]} {r['variant']}" for r in table]
    for ax, batch_size in zip(np.atleast_1d(axes), batch_sizes):  # bars from zero: a linear axis
        values = [r["steady_s"].get(batch_size) or np.nan for r in table]
        ax.barh(y, values, color=[GRANULARITY_COLORS[r["granularity"]] for r in table], height=0.6)
        ax.set_xlabel(f"steady epoch (s), batch {batch_size}")
        ax.grid(alpha=0.3, axis="x")
    first = np.atleast_1d(axes)[0]
    first.set_yticks(y, labels)
    first.invert_yaxis()  # the axes share y: invert once, so the table's order reads top down
    first.set_ylabel("variant")
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=c, label=f"one call per {g}") for g, c in GRANULARITY_COLORS.items()],
               ncol=3, loc="lower center", bbox_to_anchor=(0.5, 0.97), frameon=False)
    fig.tight_layout()
    return save(fig, name, folder)
