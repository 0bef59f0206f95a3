"""The framework tax across devices: every device's study in a results folder, side by side.

For each device (the committed H100 study, this project's CPU, any GPU a cluster job
measured) ``compare`` takes its study of full-size, float32, cold runs and returns the
median steady time per step of each variant at batch 64 and 1024, named with the code
version and commit that measured it. No ratio of variants measured at different times is
formed here: the paired item compares variants. Nothing here measures.
"""

from __future__ import annotations

import dataclasses
import statistics

from ..bench import variants
from ..bench.results import group_by, setup_key, uses_compilation_cache
from .formatting import device_label

BATCH_SIZES = (64, 1024)
NAMES = {"jax": "JAX", "torch": "PyTorch"}


@dataclasses.dataclass(frozen=True)
class Device:
    """One device's study: who measured it, and its median steady time per step."""

    label: str  # 'NVIDIA H100 80GB HBM3 (GPU)', a CPU with its JAX and PyTorch versions
    kind: str  # "cpu" or "gpu"
    code_version: str | None
    commit: str | None
    epochs: int
    runs: int
    step_s: dict[tuple[str, str], dict[int, float]]  # (framework, variant) -> batch size -> seconds per step

    def step(self, key: tuple[str, str], batch_size: int) -> float | None:
        return self.step_s.get(key, {}).get(batch_size)


def eligible(record: dict) -> bool:
    """A valid, float32, cold, full-size run (not a smoke run on a subset of the images)."""
    return (record.get("kind", "run") == "run" and record.get("valid") is True
            and record.get("precision", "float32") == "float32" and not uses_compilation_cache(record)
            and not (record.get("config") or {}).get("train_subset") and record.get("steady_epoch_s") is not None)


def describe(runs: list[dict]) -> Device:
    """A device's study (its setup with most runs, then the newest) as a Device."""
    groups = group_by(runs, setup_key)
    study = groups[max(groups, key=lambda key: (len(groups[key]), max(r["timestamp"] for r in groups[key])))]
    first, step_s = study[0], {}
    by_variant = group_by(study, lambda r: (r["framework"], variants.of_record(r).name, r["batch_size"]))
    for (framework, name, batch_size), group in by_variant.items():
        if batch_size in BATCH_SIZES:
            step_s.setdefault((framework, name), {})[batch_size] = statistics.median(
                r["steady_epoch_s"] / r["steps_per_epoch"] for r in group)
    platform = first.get("platform", {})
    commit = (platform.get("git") or {}).get("commit")
    return Device(device_label(first), first["device"]["kind"], platform.get("code_version"),
                  commit[:7] if commit else None, max(r["epochs"] for r in study), len(study), step_s)


def compare(records: list[dict]) -> list[Device]:
    """Every device's study among ``records`` (any mix of folders and formats), GPUs first."""
    runs = [r for r in records if eligible(r)]
    by_device = group_by(runs, lambda r: (r["device"]["kind"] != "gpu", device_label(r)))
    return [d for d in (describe(group) for _, group in sorted(by_device.items())) if d.step_s]


def step_text(value: float | None) -> str:
    """A step time with three significant digits (steps take microseconds to tens of milliseconds)."""
    if value is None:
        return "-"
    return f"{value * 1e6:.3g} µs" if value < 1e-3 else f"{value * 1e3:.3g} ms"


def section_markdown(devices: list[Device]) -> str:
    """The supplement's section: who measured what, and the step times."""
    if not devices:
        return ("*No device has full-size float32 runs at batch 64 or 1024 in this folder:* "
                "`python -m mnistbench campaign --device gpu --results-dir results/mine` measures them.")
    lines = ["| Device | Code | Variant | " + " | ".join(f"Step, batch {b}" for b in BATCH_SIZES) + " |",
             "|---|---|---|" + "---:|" * len(BATCH_SIZES)]
    for device in devices:
        code = f"`{device.code_version}`" + (f" ({device.commit})" if device.commit else "")
        for key in sorted(device.step_s):
            lines.append(f"| {device.label} | {code} | {NAMES[key[0]]} {key[1]} | "
                         + " | ".join(step_text(device.step(key, b)) for b in BATCH_SIZES) + " |")
    text = "\n".join(lines)
    if len({d.code_version for d in devices}) > 1:
        text += ("\n\nThe devices' studies were measured by different versions of the measuring code: a "
                 "difference between devices may also be a difference between code versions.")
    if len(devices) == 1:
        text += (f"\n\nOnly {devices[0].label} has runs here: a comparison across devices needs a second study "
                 "(`python -m mnistbench cluster submit` runs one per GPU type).")
    return text
