"""Result records: one JSON file per run, written atomically, read strictly.

A record is a plain dictionary (see ``experiment.run_one``). Files are
written to a temporary name and renamed, so an interrupted run leaves either
the old file or the new one, never half of one. A file that cannot be read,
or that holds another schema version, is an error naming the file; nothing
overwrites it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
RUN_KEYS = (
    "framework", "batch_size", "seed", "epochs", "epoch_times_s", "first_epoch_s", "steady_epoch_s",
    "val_accuracy", "test_accuracy", "compile_s", "compile_count", "valid", "device", "schema_version",
)


class ResultsError(RuntimeError):
    """A results file that is unreadable, of another schema, or incomplete."""


def run_filename(framework: str, batch_size: int, seed: int, device_kind: str, config_fingerprint: str) -> str:
    return f"run-{framework}-bs{batch_size}-seed{seed}-{device_kind}-{config_fingerprint}.json"


def record_filename(record: dict) -> str:
    """Where a record lives inside its results folder."""
    if record.get("kind", "run") == "run":
        return run_filename(record["framework"], record["batch_size"], record["seed"],
                            record["device"]["kind"], record["config_fingerprint"])
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", record["name"])
    return f"evidence-{slug}-{record['device']['kind']}.json"


def check_record(record: dict, source: Path | str) -> dict:
    if not isinstance(record, dict):
        raise ResultsError(f"{source}: not a result record (top level is not an object)")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{source}: schema version {record.get('schema_version')!r}, this code reads {SCHEMA_VERSION}; "
            "move the file away or re-run with a matching version"
        )
    if record.get("kind", "run") == "run":
        missing = [key for key in RUN_KEYS if key not in record]
        if missing:
            raise ResultsError(f"{source}: incomplete record, missing {', '.join(missing)}")
    return record


def read_record(path: Path) -> dict:
    """One checked record from ``path``."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: unreadable result file ({error})") from None
    return check_record(record, path)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_record(record: dict, results_dir: Path) -> Path:
    """Write a checked record into ``results_dir``; refuses to replace a file it cannot read."""
    check_record(record, "new record")
    path = Path(results_dir) / record_filename(record)
    if path.exists():
        read_record(path)  # raises on an unreadable or foreign file instead of overwriting it
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def load_records(results_dir: Path, kind: str | None = "run") -> list[dict]:
    """Every record under ``results_dir`` (recursively), sorted by file name;
    ``kind`` keeps only runs ("run"), or one evidence name, or all (None)."""
    records = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        record = read_record(path)
        record["_path"] = str(path)
        if kind is None or record.get("kind", "run") == kind:
            records.append(record)
    return records


def is_current(path: Path, config_fingerprint: str, code_version: str) -> bool:
    """Whether ``path`` holds a run of this configuration by this code."""
    if not path.exists():
        return False
    record = read_record(path)
    return (record.get("config_fingerprint") == config_fingerprint
            and record.get("platform", {}).get("code_version") == code_version)


def study_key(record: dict) -> tuple:
    """Records with the same key belong to one study (same device, precision, length)."""
    return (record["device"]["kind"], record["device"]["name"], record.get("precision", "float32"),
            record["epochs"])


def select_study(records: list[dict]) -> list[dict]:
    """The runs the report shows: a GPU study if there is one, then the largest,
    then the longest; only valid runs of one device, precision and length."""
    if not records:
        return []
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(study_key(record), []).append(record)
    best = max(groups, key=lambda key: (key[0] == "gpu", len(groups[key]), key[3]))
    return [r for r in groups[best] if r["valid"]]


def summarize(records: list[dict]) -> list[dict]:
    """One row per (study, framework, batch size): medians and spreads over repeats."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault((*study_key(record), record["framework"], record["batch_size"]), []).append(record)
    rows = []
    for key in sorted(groups, key=lambda k: (k[:4], k[4], k[5])):
        runs = groups[key]
        steady = [r["steady_epoch_s"] for r in runs if r["steady_epoch_s"] is not None]
        compiles = [r["compile_s"] for r in runs if r["compile_s"] is not None]
        accuracy = np.array([r["test_accuracy"] for r in runs])
        rows.append({
            "device_kind": key[0], "device": key[1], "precision": key[2], "epochs": key[3],
            "framework": key[4], "batch_size": key[5], "repeats": len(runs),
            "valid_runs": sum(bool(r["valid"]) for r in runs),
            "first_epoch_s": float(np.median([r["first_epoch_s"] for r in runs])),
            "first_epoch_range_s": [min(r["first_epoch_s"] for r in runs), max(r["first_epoch_s"] for r in runs)],
            "steady_epoch_s": float(np.median(steady)) if steady else None,
            "steady_epoch_range_s": [min(steady), max(steady)] if steady else None,
            "compile_s": float(np.median(compiles)) if compiles else None,
            "compile_count": max((r["compile_count"] for r in runs if r["compile_count"] is not None), default=None),
            "test_accuracy": float(accuracy.mean()),
            "test_accuracy_std": float(accuracy.std(ddof=1)) if len(runs) > 1 else 0.0,
            "fraction_of_peak": float(np.median([r["fraction_of_peak"] for r in runs])),
            "peak_matmul_flops": float(np.median([r["peak_matmul_flops"] for r in runs])),
        })
    return rows
