"""The framework tax across devices: every device's study in a results folder, side by side.

For each device (the committed H100 study, this project's CPU, any GPU a cluster job
measured) ``compare`` takes its study of full-size, float32, cold runs and returns the
steady time per step of each variant (grouped by dispatch granularity) at batch 64
and 1024, and the headline ratio, PyTorch eager over JAX jit, split into a granularity
part (PyTorch eager over PyTorch's fastest variant with one call per step) and a
framework part (that variant over JAX jit). Each device is named with the code version
and commit that measured it. A variant measured on one device only is listed, not
plotted: a comparison needs two. Nothing here measures.
"""

from __future__ import annotations

import dataclasses
import statistics

from ..bench import variants
from ..bench.results import group_by, setup_key, uses_compilation_cache
from .formatting import device_label, fmt_x

BATCH_SIZES = (64, 1024)
HEADLINE = (("torch", "eager"), ("jax", "jit"))  # the report's headline: PyTorch's default over JAX's
NAMES = {"jax": "JAX", "torch": "PyTorch"}


@dataclasses.dataclass(frozen=True)
class Device:
    """One device's study: who measured it, and its median steady time per step."""

    label: str  # 'NVIDIA H100 80GB HBM3 (GPU)', a CPU with its JAX and PyTorch versions
    name: str  # 'NVIDIA H100 80GB HBM3 (GPU)', 'Intel(R) Xeon(R) Processor (CPU)': for tables
    kind: str  # "cpu" or "gpu"
    code_version: str | None
    commit: str | None
    epochs: int
    runs: int
    step_s: dict[tuple[str, str], dict[int, float]]  # (framework, variant) -> batch size -> seconds per step

    def step(self, key: tuple[str, str], batch_size: int) -> float | None:
        return self.step_s.get(key, {}).get(batch_size)

    def split(self, batch_size: int) -> dict | None:
        """The headline ratio at ``batch_size`` and, where PyTorch has a one-call-per-step
        variant here, its granularity and framework parts (their product); None without
        both defaults."""
        eager, jit = (self.step(key, batch_size) for key in HEADLINE)
        if not (eager and jit):
            return None
        per_step = {name: s for (framework, name), by_batch in self.step_s.items()
                    if framework == "torch" and variants.get(framework, name).granularity == "step"
                    and (s := by_batch.get(batch_size))}
        if not per_step:
            return {"headline": eager / jit, "granularity": None, "framework": None, "torch_step": None}
        best = min(per_step, key=per_step.get)
        return {"headline": eager / jit, "granularity": eager / per_step[best],
                "framework": per_step[best] / jit, "torch_step": best}


@dataclasses.dataclass(frozen=True)
class Comparison:
    devices: list[Device]

    def variant_keys(self) -> list[tuple[str, str]]:
        """Every (framework, variant) measured at one of the batch sizes, by granularity."""
        order = {g: i for i, g in enumerate(variants.GRANULARITIES)}
        found = {key for d in self.devices for key in d.step_s}
        return sorted(found, key=lambda k: (order[variants.get(*k).granularity], k))

    def measured_on(self, key: tuple[str, str], batch_size: int) -> list[Device]:
        return [d for d in self.devices if d.step(key, batch_size)]

    def shared(self, batch_size: int) -> list[tuple[str, str]]:
        """The variants that two or more devices measured at ``batch_size``: the ones to plot."""
        return [key for key in self.variant_keys() if len(self.measured_on(key, batch_size)) >= 2]


def eligible(record: dict) -> bool:
    """A valid, float32, cold, full-size run (not a smoke run on a subset of the images)."""
    return (record.get("kind", "run") == "run" and record.get("valid") is True
            and record.get("precision", "float32") == "float32" and not uses_compilation_cache(record)
            and not (record.get("config") or {}).get("train_subset") and record.get("steady_epoch_s") is not None)


def device_study(runs: list[dict]) -> list[dict]:
    """A device's study: its main grid with the variants measured on the same setup (they train
    fewer epochs, for their steady state only); the setup with most runs, then the newest."""
    groups = group_by(runs, setup_key)
    best = max(groups, key=lambda key: (len(groups[key]), max(r["timestamp"] for r in groups[key])))
    return groups[best]


def describe(study: list[dict]) -> Device:
    first = study[0]
    platform = first.get("platform", {})
    step_s: dict[tuple[str, str], dict[int, float]] = {}
    by_variant = group_by(study, lambda r: (r["framework"], variants.of_record(r).name, r["batch_size"]))
    for (framework, name, batch_size), group in by_variant.items():
        if batch_size in BATCH_SIZES:
            step_s.setdefault((framework, name), {})[batch_size] = statistics.median(
                r["steady_epoch_s"] / r["steps_per_epoch"] for r in group)
    commit = (platform.get("git") or {}).get("commit")
    return Device(device_label(first), f"{first['device']['name']} ({first['device']['kind'].upper()})",
                  first["device"]["kind"], platform.get("code_version"),
                  commit[:7] if commit else None, max(r["epochs"] for r in study), len(study), step_s)


def compare(records: list[dict]) -> Comparison:
    """Every device's study among ``records`` (any mix of folders and formats), GPUs first."""
    runs = [r for r in records if eligible(r)]
    by_device = group_by(runs, lambda r: (r["device"]["kind"] != "gpu", device_label(r)))
    found = [describe(device_study(group)) for group in by_device.values()]
    found = [d for d in found if d.step_s]
    names = [d.name for d in found]  # two machines with one CPU name keep their full labels
    return Comparison([d if names.count(d.name) == 1 else dataclasses.replace(d, name=d.label) for d in found])


# --- the supplement's section ----------------------------------------------------------------


def step_text(value: float | None) -> str:
    """A step time with three significant digits (steps take microseconds to tens of milliseconds)."""
    if value is None:
        return "-"
    return f"{value * 1e6:.3g} µs" if value < 1e-3 else f"{value * 1e3:.3g} ms"


def variant_words(key: tuple[str, str]) -> str:
    return f"{NAMES[key[0]]} {key[1]}"


def who_measured(device: Device) -> str:
    return (f"{device.label}: code version `{device.code_version}`"
            + (f" (commit `{device.commit}`)" if device.commit else "") + f", {device.runs} runs of "
            f"{device.epochs} epochs")


def steps_markdown(comparison: Comparison) -> str:
    lines = ["| Device | Granularity | Variant | " + " | ".join(f"Step, batch {b}" for b in BATCH_SIZES) + " |",
             "|---|---|---|" + "---:|" * len(BATCH_SIZES)]
    for device in comparison.devices:
        for key in [k for k in comparison.variant_keys() if k in device.step_s]:
            cells = [step_text(device.step(key, b)) for b in BATCH_SIZES]
            lines.append(f"| {device.name} | {variants.get(*key).granularity} | {variant_words(key)} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def split_markdown(comparison: Comparison) -> str:
    lines = ["| Device | Batch | PyTorch eager / JAX jit | Granularity part | Framework part |",
             "|---|---:|---:|---:|---:|"]
    for device in comparison.devices:
        for batch_size in BATCH_SIZES:
            split = device.split(batch_size)
            if split is None:
                continue
            parts = ([f"{fmt_x(split['granularity'], 2)} (eager / {split['torch_step']})",
                      f"{fmt_x(split['framework'], 2)} ({split['torch_step']} / JAX jit)"]
                     if split["torch_step"] else ["not measured", "not measured"])
            lines.append(f"| {device.name} | {batch_size} | {fmt_x(split['headline'], 2)} | " + " | ".join(parts)
                         + " |")
    return "\n".join(lines)


def notes(comparison: Comparison) -> list[str]:
    """What the tables cannot say, in sentences."""
    said = []
    for device in comparison.devices:
        if all((device.split(b) or {}).get("torch_step") is None for b in BATCH_SIZES):
            said.append(f"{device.name} has no PyTorch variant with one call per step (only the frameworks' "
                        "defaults), so its headline ratio cannot be split into granularity and framework.")
    alone: dict[str, dict[str, list[int]]] = {}  # device -> variant -> batch sizes only it measured
    for batch_size in BATCH_SIZES:
        for key in comparison.variant_keys():
            measured = comparison.measured_on(key, batch_size)
            if len(measured) == 1:
                alone.setdefault(measured[0].name, {}).setdefault(variant_words(key), []).append(batch_size)
    for label, found in alone.items():
        listed = ", ".join(f"{name} (batch {' and '.join(map(str, sizes))})" for name, sizes in found.items())
        said.append(f"Only {label} measured {listed}: listed above, not plotted.")
    versions = {d.code_version for d in comparison.devices}
    if len(versions) > 1:
        said.append("The devices' studies were measured by different versions of the measuring code ("
                    + ", ".join(f"`{v}`" for v in sorted(versions, key=str)) + "): a difference between devices "
                    "may also be a difference between code versions.")
    return said


def section_markdown(comparison: Comparison) -> str:
    """The supplement's section: who measured what, the step times, the split, and what is missing."""
    if not comparison.devices:
        return ("*No device has full-size float32 runs at batch 64 or 1024 in this folder:* "
                "`python -m mnistbench campaign --device gpu --results-dir results/mine` measures them.")
    blocks = ["Measured by: " + "; ".join(who_measured(d) for d in comparison.devices) + ".",
              "Steady time per step (median over seeds of the steady epoch over its steps):\n\n"
              + steps_markdown(comparison),
              "The headline ratio and its two parts (granularity × framework = headline):\n\n"
              + split_markdown(comparison)]
    if len(comparison.devices) == 1:
        blocks.append(f"Only {comparison.devices[0].label} has runs here: a comparison across devices needs a "
                      "second study (`python -m mnistbench cluster submit` runs one per GPU type).")
    blocks += notes(comparison)
    return "\n\n".join(blocks)


# --- the figure ----------------------------------------------------------------------------


def figure(comparison: Comparison, name: str = "devices", folder=None):
    """Step time of every variant that two or more devices measured, per batch size, and
    the headline ratio per device; written to figures/ and returned. None (nothing is
    drawn) unless two devices measured something in common."""
    sizes = [b for b in BATCH_SIZES if comparison.shared(b)]
    if not sizes:
        return None
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import plain_ticks, save

    devices = [d for d in comparison.devices if any(d.step(k, b) for b in sizes for k in comparison.shared(b))]
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(2.4 * (len(sizes) + 1), 2.4))
    offsets = np.linspace(-0.2, 0.2, len(devices))
    for ax, batch_size in zip(axes, sizes):
        keys = comparison.shared(batch_size)
        for i, device in enumerate(devices):
            values = [device.step(k, batch_size) or np.nan for k in keys]
            ax.plot(np.arange(len(keys)) + offsets[i], np.array(values) * 1e3, "o", color=colors(i),
                    label=f"{device.label}, code {device.code_version}")
        ax.set_xticks(np.arange(len(keys)), [variant_words(k) for k in keys], rotation=20, ha="right")
        ax.set_xlim(-0.6, len(keys) - 0.4)
        ax.set_yscale("log")
        plain_ticks(ax, which="y")  # 1-2-5 ticks as plain numbers, no crowded minor labels
        ax.set_ylabel("steady time per step (ms)")
        ax.set_title(f"batch {batch_size}")
    ratio_ax, width = axes[-1], 0.8 / len(devices)
    for i, device in enumerate(devices):
        values = [(device.split(b) or {}).get("headline", np.nan) for b in sizes]
        ratio_ax.bar(np.arange(len(sizes)) + (i - (len(devices) - 1) / 2) * width, values, width, color=colors(i))
    ratio_ax.axhline(1.0, color="black", linewidth=0.6)
    ratio_ax.set_xticks(np.arange(len(sizes)), [f"batch {b}" for b in sizes])
    ratio_ax.set_ylabel("PyTorch eager / JAX jit")
    ratio_ax.set_title("headline ratio")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=1, bbox_to_anchor=(0.5, 1.0),
               frameon=False)
    fig.tight_layout()
    return save(fig, name, folder)
