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

from .evidence import amortization, overhead_from_runs
from .tables import FRAMEWORK_NAMES

FIGURES_ENV = "MNISTBENCH_FIGURES"  # where figures go; default figures/ in the working directory
BATCH_COLORS = {64: "#1b9e77", 256: "#d95f02", 1024: "#7570b3"}
FRAMEWORK_STYLE = {"jax": {"linestyle": "-", "marker": "o"}, "torch": {"linestyle": "--", "marker": "s"}}
plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7, "figure.dpi": 150,
                     "axes.spines.top": False, "axes.spines.right": False})


def save(fig, name: str, folder: Path | None = None):
    """Write ``fig`` as vector PDF and PNG (no timestamps, so unchanged data
    gives unchanged files); return it."""
    folder = Path(folder or os.environ.get(FIGURES_ENV, "figures"))
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / f"{name}.pdf", bbox_inches="tight", metadata={"CreationDate": None})
    fig.savefig(folder / f"{name}.png", dpi=200, bbox_inches="tight")
    return fig


def _color(batch_size: int) -> str:
    return BATCH_COLORS.get(batch_size, "#666666")


def _mean_curves(records: list[dict], key: str) -> dict[tuple[str, int], np.ndarray]:
    groups: dict[tuple[str, int], list[list[float]]] = {}
    for r in records:
        groups.setdefault((r["framework"], r["batch_size"]), []).append(r[key])
    return {k: np.mean(v, axis=0) for k, v in sorted(groups.items())}


def _framework_handles():
    from matplotlib.lines import Line2D

    return [Line2D([], [], color="black", markersize=3, **FRAMEWORK_STYLE[f], label=FRAMEWORK_NAMES[f])
            for f in FRAMEWORK_STYLE]


def _batch_handles(sizes):
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=_color(b), linewidth=2, label=f"batch {b}") for b in sizes]


def _framework_legend(ax, loc):
    return ax.legend(handles=_framework_handles(), loc=loc, frameon=False)


def _batch_legend(ax, sizes, loc):
    return ax.legend(handles=_batch_handles(sizes), loc=loc, frameon=False)


def training_curves(records: list[dict], folder: Path | None = None, name: str = "training_curves"):
    """Validation accuracy and loss per epoch (mean over seeds), both frameworks."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(6.8, 2.0))
    accuracy, loss = _mean_curves(records, "val_accuracy"), _mean_curves(records, "val_loss")
    for (framework, batch_size), values in accuracy.items():
        epochs = np.arange(1, len(values) + 1)
        style = dict(color=_color(batch_size), markersize=3, linewidth=1.2, **FRAMEWORK_STYLE[framework])
        ax_acc.plot(epochs, 100 * values, **style)
        ax_loss.plot(epochs, loss[(framework, batch_size)], **style)
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)")
    ax_loss.set(xlabel="epoch", ylabel="validation loss (cross-entropy)")
    sizes = sorted({b for _, b in accuracy})
    ax_acc.add_artist(_batch_legend(ax_acc, sizes, "lower right"))
    _framework_legend(ax_loss, "upper right")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, name, folder)


def _draw_cumulative(ax, records):
    for row in amortization(records):
        for framework, curve in row["cumulative_s"].items():
            ax.plot(np.arange(1, len(curve) + 1), curve, color=_color(row["batch_size"]), markersize=3,
                    linewidth=1.2, **FRAMEWORK_STYLE[framework])
    ax.set_yscale("log")
    _plain_ticks(ax)
    ax.set(xlabel="epoch", ylabel="cumulative time (s)")
    ax.grid(alpha=0.3, which="both")


def _draw_step_fit(ax, fits: dict[str, dict], colors=None):
    """Measured step times (markers) and each framework's fitted line."""
    for framework, part in fits.items():
        sizes = np.array([r["batch_size"] for r in part["rows"]])
        times = np.array([r["step_s"] for r in part["rows"]]) * 1e3
        grid = np.geomspace(sizes.min(), sizes.max(), 50)
        fit = part["fit"]
        line_color = colors[framework] if colors else "#444444"
        ax.plot(grid, (fit["overhead_s"] + fit["per_sample_s"] * grid) * 1e3, color=line_color, linewidth=0.8,
                linestyle=FRAMEWORK_STYLE[framework]["linestyle"],
                label=f"{FRAMEWORK_NAMES[framework]}: {fit['overhead_s'] * 1e3:.2f} ms + "
                      f"{fit['per_sample_s'] * 1e6:.2f} µs/sample" if colors else None)
        for size, value in zip(sizes, times):
            ax.plot(size, value, color=colors[framework] if colors else _color(int(size)), markersize=5,
                    linestyle="none", marker=FRAMEWORK_STYLE[framework]["marker"])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_ticks(ax)
    ax.set_xticks(sorted({r["batch_size"] for part in fits.values() for r in part["rows"]}))
    ax.set(xlabel="batch size", ylabel="steady time per step (ms)")
    ax.grid(alpha=0.3, which="both")


def _plain_ticks(ax):
    """Tick labels as plain numbers (64, 0.2) instead of powers (2^6, 2x10^-1),
    with 1-2-5 steps on a logarithmic y axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    if ax.get_yscale() == "log":
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())


def timing(records: list[dict], folder: Path | None = None, name: str = "timing"):
    """(a) cumulative time per epoch; (b) steady time per step against batch
    size with the fitted line overhead + batch x per-sample cost."""
    fig, (ax_total, ax_step) = plt.subplots(1, 2, figsize=(6.8, 2.0))
    _draw_cumulative(ax_total, records)
    _draw_step_fit(ax_step, overhead_from_runs(records))
    ax_total.set_title("(a) training + validation, compilations included", loc="left")
    ax_step.set_title("(b) one training step, after warm-up", loc="left")
    sizes = sorted({r["batch_size"] for r in records})
    fig.legend(handles=_batch_handles(sizes) + _framework_handles(), ncol=5, loc="lower center",
               bbox_to_anchor=(0.5, 0.97), frameon=False)
    fig.tight_layout()
    return save(fig, name, folder)


def step_time_fit(record: dict, folder: Path | None = None, name: str = "step_time_fit"):
    """An overhead evidence record: steady step time against batch size with the fitted lines."""
    fig, ax = plt.subplots(figsize=(3.3, 2.4))
    fits = {framework: record["data"][framework] for framework in ("jax", "torch")}
    _draw_step_fit(ax, fits, colors={"jax": "#1f77b4", "torch": "#d62728"})
    ax.legend(frameon=False, loc="upper left")
    fig.tight_layout()
    return save(fig, name, folder)


VARIANT_LABELS = {"jax-loop": "JAX: Python loop of jitted steps", "jax-scan": "JAX: lax.scan epoch",
                  "jax-no-donation": "JAX: loop, no donation", "torch-eager": "PyTorch eager",
                  "torch-compile": "PyTorch torch.compile", "torch-cudagraphs": "PyTorch compile + CUDA graphs"}


def variants(record: dict, folder: Path | None = None, name: str = "variants"):
    """First and steady epoch of each variant (horizontal bars, log scale)."""
    rows = [r for r in record["data"]["rows"] if "steady_epoch_s" in r]
    fig, ax = plt.subplots(figsize=(4.5, 0.3 * len(rows) + 0.9))
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [r["first_epoch_s"] for r in rows], height=0.4, color="#bbbbbb", label="first epoch")
    ax.barh(y - 0.2, [r["steady_epoch_s"] for r in rows], height=0.4, color="#1f77b4", label="steady epoch")
    ax.set_yticks(y, [VARIANT_LABELS.get(r["variant"], r["variant"]) for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel(f"seconds per epoch (batch {record['data']['batch_size']})")
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.3, 1.0), ncol=2)
    ax.grid(alpha=0.3, axis="x", which="both")
    fig.tight_layout()
    return save(fig, name, folder)
