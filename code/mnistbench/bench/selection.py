"""Which run records form one study, the study a document shows, and a study's summary rows.

A study is the runs that differ only in framework, variant, batch size and seed (``StudyKey``);
``select_study`` picks the one the report shows and ``summarize`` gives its medians per cell.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..provenance import code_version
from .results import settings_fingerprint, software_fingerprint, started_process, uses_compilation_cache
from .variants import DEFAULT_VARIANT


class StudyKey(NamedTuple):
    """What the runs of one study share; only framework, variant, batch size and seed vary within it."""

    device_kind: str
    device: str
    precision: str
    epochs: int | None  # None in a setup's key (``setup_key``)
    settings: str  # the fingerprint of every other setting
    code_version: str | None  # of the measuring code
    software: str  # the fingerprint of the packages' versions
    cached: bool  # whether a persistent compilation cache was used


def study_key(record: dict) -> StudyKey:
    """Records with the same key belong to one study: same device, precision, length,
    other settings, measuring code, software and compilation-cache use."""
    return StudyKey(record["device"]["kind"], record["device"]["name"], record["precision"], record["epochs"],
                    settings_fingerprint(record), record.get("platform", {}).get("code_version"),
                    software_fingerprint(record), uses_compilation_cache(record))


def setup_key(record: dict) -> StudyKey:
    """A study's key without its length: runs whose steady epochs may be set side by side
    (the variants train fewer epochs than the main grid, on the same setup)."""
    return study_key(record)._replace(epochs=None, settings=settings_fingerprint(record, ("epochs",)))


def group_by(records: list[dict], key) -> dict:
    """Records grouped by ``key(record)``, groups in sorted key order."""
    groups: dict = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return dict(sorted(groups.items(), key=lambda item: _sortable(item[0])))


def _sortable(key) -> tuple:
    """A key that sorts numbers as numbers and anything else (None included) as text."""
    parts = key if isinstance(key, tuple) else (key,)
    return tuple((0, part, "") if isinstance(part, (int, float)) else (1, 0, str(part)) for part in parts)


def newest(records: list[dict]) -> str:
    return max(str(r.get("timestamp", "")) for r in records)


def select_study(records: list[dict], device_kind: str | None = None) -> list[dict]:
    """The valid runs of the main comparison (each framework's default) the report shows: a
    GPU study if there is one (or the study of ``device_kind``), one made by the current
    measuring code before an older one even when smaller, then the one with most runs, then
    the longest, then the newest."""
    current = code_version()
    chosen = [r for r in records if r["valid"] and device_kind in (None, r["device"]["kind"])
              and is_default(r)]
    groups = group_by(chosen, study_key)
    if not groups:
        return []
    best = max(groups, key=lambda key: (key.device_kind == "gpu", key.code_version == current, len(groups[key]),
                                        key.epochs, newest(groups[key])))
    return groups[best]


def is_default(record: dict) -> bool:
    """Whether a run record is of its framework's default variant (the main comparison)."""
    return record["variant"] == DEFAULT_VARIANT[record["framework"]]


def default_variant_runs(records: list[dict]) -> list[dict]:
    """The main comparison: each framework's default variant."""
    return [r for r in records if is_default(r)]


def summarize(records: list[dict]) -> list[dict]:
    """One row per (study, framework, variant, batch size): medians and spreads over repeats."""
    rows = []
    groups = group_by(records, lambda r: (study_key(r), r["framework"], r["variant"], r["batch_size"]))
    for (study, framework, variant, batch_size), runs in groups.items():
        steady = [r["steady_epoch_s"] for r in runs if r["steady_epoch_s"] is not None]
        starts = [r for r in runs if started_process(r)]  # first epochs and compile times: these runs only
        compiles = [r["compile_total_s"] for r in starts if r["compile_total_s"] is not None]
        firsts = [r["first_epoch_s"] for r in starts]
        accuracy = np.array([r["test_accuracy"] for r in runs])
        rows.append({
            "study": study, "device_kind": study.device_kind, "device": study.device, "precision": study.precision,
            "epochs": study.epochs,
            "software": ", ".join(f"{name} {runs[0].get('platform', {}).get(key)}" for name, key in
                                  (("JAX", "jax"), ("PyTorch", "torch")) if runs[0].get("platform", {}).get(key)),
            "train_subset": runs[0].get("config", {}).get("train_subset"), "compilation_cache": study.cached,
            "framework": framework, "variant": variant, "batch_size": batch_size, "repeats": len(runs),
            "valid_runs": sum(bool(r["valid"]) for r in runs),
            "first_epoch_s": float(np.median(firsts)) if firsts else None,
            "first_epoch_range_s": [min(firsts), max(firsts)] if firsts else None, "first_epoch_runs": len(firsts),
            "steady_epoch_s": float(np.median(steady)) if steady else None,
            "steady_epoch_range_s": [min(steady), max(steady)] if steady else None,
            "steps_per_epoch": runs[0]["steps_per_epoch"],
            "compile_total_s": float(np.median(compiles)) if compiles else None,
            "compile_count": max((r["compile_count"] for r in runs if r["compile_count"] is not None), default=None),
            "test_accuracy": float(accuracy.mean()),
            "test_accuracy_std": float(accuracy.std(ddof=1)) if len(runs) > 1 else 0.0,
            "fraction_of_peak": float(np.median([r["fraction_of_peak"] for r in runs])),
            "achieved_flops": float(np.median([r["achieved_flops"] for r in runs])),
            "peak_matmul_flops": float(np.median([r["peak_matmul_flops"] for r in runs])),
        })
    return rows
