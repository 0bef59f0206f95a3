"""Numbers as text: seconds, ratios, shares and sizes, for prose and for tables.

Prose (``fmt_*``) keeps two or three significant digits; tables (``seconds``,
``seconds_range``, ``accuracy``) keep one more. Missing values read "n/a" in
prose and "-" in tables.
"""

from __future__ import annotations

import numpy as np


def fmt_s(seconds: float | None) -> str:
    """Seconds for prose, one decimal fewer than the tables: '125 ms', '10.8 s'."""
    if seconds is None or not np.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.1f} s"


def fmt_x(ratio: float | None, digits: int = 1) -> str:
    return "n/a" if ratio is None else (f"{ratio:.{digits}f}×" if ratio < 10 else f"{ratio:.0f}×")


def fmt_vs(seconds: float | None, reference_s: float | None) -> str:
    """A time against a reference as '2.5× faster' or '1.4× slower' (the word from the data)."""
    if not seconds or not reference_s:
        return "n/a"
    if seconds <= reference_s:
        return f"{fmt_x(reference_s / seconds)} faster"
    return f"{fmt_x(seconds / reference_s)} slower"


def fmt_pct(fraction: float | None, digits: int = 0) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.{digits}f}%"


def fmt_e(value: float) -> str:
    """A tolerance as '1e-5'."""
    return f"{value:.0e}".replace("e-0", "e-")


def fmt_mb(n_bytes: float | None) -> str:
    return "n/a" if n_bytes is None else f"{n_bytes / 2**20:.0f} MiB"


def device_label(record: dict) -> str:
    """'NVIDIA H100 80GB HBM3 (GPU)'; a CPU with its JAX and PyTorch versions, so that two
    machines with the same CPU name (a GPU host's and a CPU study's) can be told apart."""
    device, platform = record["device"], record.get("platform", {})
    if device["kind"] == "gpu":
        return f"{device['name']} (GPU)"
    versions = ", ".join(f"{name} {platform[key]}" for name, key in (("JAX", "jax"), ("PyTorch", "torch"))
                         if platform.get(key))
    return f"{device['name']} (CPU{'; ' + versions if versions else ''})"


def break_even_words(row: dict) -> str:
    """An amortization row's break-even: 'epoch 3', 'epoch 40 (extrapolated)',
    'not within 1000 epochs' or 'never' (JAX's steady epoch is not the faster)."""
    if row["never"]:
        return "never"
    if row["break_even_epoch"] is None:
        return f"not within {row['horizon']} epochs"
    return f"epoch {row['break_even_epoch']}" + ("" if row["measured"] else " (extrapolated)")


# --- tables ---------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0:  # a difference that came out negative (noise): the sign in front
        return "−" + seconds(-value)
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def seconds_range(value: float | None, bounds: list[float] | None) -> str:
    """'1.23 s (1.20 s–1.30 s)': a median with its range over repeats."""
    if value is None:
        return "-"
    low, high = (seconds(b) for b in bounds) if bounds else (None, None)
    if low == high:
        return seconds(value)
    return f"{seconds(value)} ({low}–{high})"


def accuracy(mean: float, spread: float) -> str:
    return f"{100 * mean:.2f} ± {100 * spread:.2f} %" if spread else f"{100 * mean:.2f} %"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def count(value: float | None) -> str:
    """A count per step: whole numbers as such, fractions (one call per epoch) with two digits."""
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"
