"""Numbers as text. Prose (``fmt_s``) reads "n/a" for a missing value, tables (``seconds``) "-";
the two differ only where a table keeps more: two decimals of a second from 1 s up, a whole millisecond
below 10 ms where prose keeps one decimal. (``bench.campaign.format_seconds`` says how long a campaign
takes, in minutes and hours: another quantity.)"""

from __future__ import annotations

import re

import numpy as np

from ..provenance import code_version, evidence_code_version


def fmt_s(seconds: float | None) -> str:
    """Seconds for prose: '125 ms', '5.3 ms', '10.8 s'."""
    if seconds is None or not np.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.1f} s"


def device_label(record: dict) -> str:
    """'NVIDIA H100 80GB HBM3 (GPU)'; a CPU with its JAX and PyTorch versions, so that two machines
    with the same CPU name (a GPU host's and a CPU study's) can be told apart."""
    device, platform = record["device"], record["platform"]
    if device["kind"] == "gpu":
        return f"{device['name']} (GPU)"
    return f"{device['name']} (CPU; JAX {platform['jax']}, PyTorch {platform['torch']})"


def short_label(runs: list[dict]) -> str:
    """A device as the prose names it after its full name: the GPU's model ('H100', else its whole name), or 'CPU'."""
    device = runs[0]["device"]
    if device["kind"] != "gpu":
        return "CPU"
    model = re.search(r"\b((?:RTX|GTX) \d{4}\w*|[A-Z]{1,4}\d{1,4}[A-Za-z]*)\b", device["name"])
    return model.group(1) if model else device["name"]


def code_note(record: dict) -> str:
    """', measured by older code (commit e0102aa)' for a record of another code version, else ''
    (a measured evidence record is set against the version of the evidence code)."""
    current = evidence_code_version() if record["kind"] == "evidence" else code_version()
    if record["platform"]["code_version"] == current:
        return ""
    return f", measured by older code (commit {commit_of(record)})"


def commit_of(record: dict) -> str:
    """The short commit of the code that made a record ('unknown': made outside a git checkout)."""
    return (record["platform"]["git"]["commit"] or "unknown")[:7]


def flops_text(flops: float) -> str:
    """'51.2 TFLOP/s', '195 GFLOP/s', '0.442 TFLOP/s': three significant digits at least."""
    unit, scale = ("TFLOP/s", 1e12) if flops >= 1e12 else ("GFLOP/s", 1e9)
    value = flops / scale
    return f"{value:.{max(0, 3 - len(str(int(value))))}f} {unit}"


def ratio_text(ratio: float, low: float, high: float) -> str:
    """'0.82× [0.78, 0.86]': a ratio of times and its interval; one digit where a bound passes 10, and
    three where a bound would otherwise print as 1.00 (0.997 and 1.003 say on which side of 1 it lies)."""
    digits = 1 if high >= 10 else 2  # a small ratio keeps two: 0.27× [0.09, 0.78], not 0.3× [0.1, 0.8]
    if 1 in (round(low, digits), round(high, digits)) and 1 not in (low, high):
        digits = 3
    return f"{ratio:.{digits}f}× [{low:.{digits}f}, {high:.{digits}f}]"


def break_even_words(row: dict) -> str:
    """'epoch 3', 'about epoch 540 (extrapolated)', 'not within 1000 epochs' or 'never' (JAX's steady
    epoch is slower)."""
    if row["never"]:
        return "never"
    if row["break_even_epoch"] is None:
        return f"not within {row['horizon']} epochs"
    if row["measured"]:
        return f"epoch {row['break_even_epoch']}"
    epoch = row["break_even_epoch"]  # a line through two steady rates: two significant digits are all it holds
    return f"about epoch {int(float(f'{epoch:.2g}'))} (extrapolated)"


def seconds(value: float | None) -> str:
    """Seconds for tables: '125 ms', '5 ms', '10.81 s', '-' for none, a negative difference signed."""
    if value is None:
        return "-"
    if value < 0:  # a difference that came out negative (noise): the sign in front
        return "−" + seconds(-value)
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def seconds_range(value: float | None, bounds: list[float] | None) -> str:
    """'1.23 (1.20–1.30) s': a median with its range over repeats, in the median's unit where the
    range shares it ('125 ms (98 ms–1.02 s)' where it does not); a digit more where the range would
    round to one number ('17.2 (16.9–17.2) ms'), none where the repeats are one."""
    if value is None:
        return "-"
    low, high = (seconds(b) for b in bounds) if bounds else (None, None)
    if low == high and bounds and bounds[0] != bounds[1] and 1e-3 <= value < 1:
        return f"{value * 1e3:.1f} ({bounds[0] * 1e3:.1f}–{bounds[1] * 1e3:.1f}) ms"
    if low == high:
        return seconds(value)
    number, unit = seconds(value).split(" ")
    if low.endswith(" " + unit) and high.endswith(" " + unit):
        return f"{number} ({low.split(' ')[0]}–{high.split(' ')[0]}) {unit}"
    return f"{seconds(value)} ({low}–{high})"


def accuracy(mean: float, spread: float) -> str:
    return f"{100 * mean:.2f} ± {100 * spread:.2f} %" if spread else f"{100 * mean:.2f} %"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def count(value: float | None) -> str:
    """A count per step (an average over profiled steps): whole from 5 up, small fractions with two digits."""
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 5 or value == int(value) else f"{value:.2g}"
