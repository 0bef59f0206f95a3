"""Result records: one JSON file per run, written atomically, read strictly.

A record is a plain dictionary (see ``experiment.run_one``). Files are
written to a temporary name and renamed, so an interrupted run leaves either
the old file or the new one, never half of one. A file that cannot be read,
or that holds another schema version, is an error naming the file; nothing
overwrites it.
"""

from __future__ import annotations

import hashlib
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
    """Whether ``path`` holds a valid run of this configuration by this code
    (an invalid run, one faster than its physical floor, is measured again)."""
    if not path.exists():
        return False
    record = read_record(path)
    return (record.get("valid", False) is True and record.get("config_fingerprint") == config_fingerprint
            and record.get("platform", {}).get("code_version") == code_version)


STUDY_VARIABLES = ("batch_size", "seed")  # what varies inside one study; everything else must match


def settings_fingerprint(record: dict) -> str:
    """Hash of the run's configuration without the study's own variables."""
    settings = {k: v for k, v in record.get("config", {}).items() if k not in STUDY_VARIABLES}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


SOFTWARE_KEYS = ("python", "numpy", "jax", "jaxlib", "torch", "cpu")  # of the record's platform
DEVICE_SOFTWARE_KEYS = ("driver", "count")  # of the record's device (its "cuda" differs by framework)


def software_fingerprint(record: dict) -> str:
    """Hash of the versions and host the run measured with: runs made with another
    JAX, PyTorch or driver are another study, even on a GPU of the same name."""
    platform, device = record.get("platform", {}), record.get("device", {})
    software = {**{k: platform.get(k) for k in SOFTWARE_KEYS}, **{k: device.get(k) for k in DEVICE_SOFTWARE_KEYS}}
    return hashlib.sha256(json.dumps(software, sort_keys=True).encode()).hexdigest()[:10]


def study_key(record: dict) -> tuple:
    """Records with the same key belong to one study: same device, precision, length,
    other settings, measuring code and software; only framework, batch size and seed vary."""
    return (record["device"]["kind"], record["device"]["name"], record.get("precision", "float32"),
            record["epochs"], settings_fingerprint(record), record.get("platform", {}).get("code_version"),
            software_fingerprint(record))


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


def select_study(records: list[dict]) -> list[dict]:
    """The valid runs the report shows: a GPU study if there is one, then the
    one with most runs, then the longest, then the newest."""
    groups = group_by([r for r in records if r["valid"]], study_key)
    if not groups:
        return []
    newest = {key: max(str(r.get("timestamp", "")) for r in runs) for key, runs in groups.items()}
    best = max(groups, key=lambda key: (key[0] == "gpu", len(groups[key]), key[3], newest[key]))
    return groups[best]


def summarize(records: list[dict]) -> list[dict]:
    """One row per (study, framework, batch size): medians and spreads over repeats."""
    rows = []
    groups = group_by(records, lambda r: (study_key(r), r["framework"], r["batch_size"]))
    for (study, framework, batch_size), runs in groups.items():
        steady = [r["steady_epoch_s"] for r in runs if r["steady_epoch_s"] is not None]
        compiles = [r["compile_s"] for r in runs if r["compile_s"] is not None]
        firsts = [r["first_epoch_s"] for r in runs]
        accuracy = np.array([r["test_accuracy"] for r in runs])
        rows.append({
            "study": study, "device_kind": study[0], "device": study[1], "precision": study[2], "epochs": study[3],
            "framework": framework, "batch_size": batch_size, "repeats": len(runs),
            "valid_runs": sum(bool(r["valid"]) for r in runs),
            "first_epoch_s": float(np.median(firsts)), "first_epoch_range_s": [min(firsts), max(firsts)],
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
