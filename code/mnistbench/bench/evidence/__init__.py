"""The *why*: measurements that explain the timing differences, and their records.

Each item is either measured on a device (``measure``: every measurement in a
fresh child process) or derived from the run records of a study; either way
it becomes one record ``evidence-NAME-DEVICE.json``. The report and the
supplement read the records through the pure functions in ``analyze``.

Measured: ``equality`` (every variant against its framework's default),
``compile`` (compile time per program, batch size and setting, and the partial
batch), ``updates`` (accuracy at an equal number of updates, CPU), ``paired`` (every variant in
rounds of fresh processes, the sides of each declared comparison side by side: ``paired``
and ``compare``). Derived:
``amortization``, ``efficiency``. Calls, operations and kernels per step, and
host and device time per step, are measured by the runs themselves (their
``profile``); TF32 runs are runs (``grid --precision tf32``).

A measured item comes in parts (a framework, a program and batch size, a seed),
each a separate measurement saved as soon as it is done: ``data["parts"]`` maps
a part to its result and ``data["seconds"]`` to the time it took, so an
interrupted or budgeted campaign keeps every finished part and can continue
with the rest.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from ...errors import Error

MEASURED = ("equality", "compile", "updates", "paired")
DERIVED = ("amortization", "efficiency")
NAMES = MEASURED + DERIVED


def describe_device(device: str) -> dict:
    """The ``device``, ``platform`` and ``timestamp`` of an evidence record measured here; its
    code version covers the evidence modules too."""
    from ... import platform

    described = platform.describe("torch" if device == "gpu" else "jax", device)  # no JAX client on the GPU
    described["platform"]["code_version"] = platform.evidence_code_version()
    return described


def evidence_record(name: str, described: dict, data: dict) -> dict:
    """A measured item's record: it describes the device it ran on."""
    from ..results import SCHEMA_VERSION

    return {"schema_version": SCHEMA_VERSION, "kind": "evidence", "name": name, "data": data,
            "measure_wall_s": sum(data.get("seconds", {}).values()), **described}


def record_path(name: str, device: str, results_dir: Path) -> Path:
    return Path(results_dir) / f"evidence-{name}-{device}.json"


def current_data(name: str, device: str, quick: bool, results_dir: Path, described: dict | None) -> dict | None:
    """The data of the item's record in ``results_dir`` when it was measured by this
    code, with this size (quick or not), on this device with this software; else None.
    ``described`` None (the device is not on this machine): by this code and size only."""
    from ...platform import evidence_code_version
    from ..results import read_record, software_fingerprint

    path = record_path(name, device, results_dir)
    if not path.exists():
        return None
    record = read_record(path)
    version = described["platform"]["code_version"] if described else evidence_code_version()
    same = (record["platform"].get("code_version") == version
            and (described is None or (record["device"]["name"] == described["device"]["name"]
                                       and software_fingerprint(record) == software_fingerprint(described)))
            and record["data"].get("quick") == quick and "parts" in record["data"])
    return record["data"] if same else None


def parts(name: str, device: str, quick: bool) -> list[str]:
    from . import measure

    return measure.PARTS[name](device, quick)


def study_of(runs_dir: Path) -> list[dict]:
    """The report's study among the run records in ``runs_dir``."""
    from ..results import load_records, select_study

    study = select_study(load_records(runs_dir)) if Path(runs_dir).exists() else []
    if not study:
        raise Error(f"no valid run records in {runs_dir}; run the grid first")
    return study


def derived_record(name: str, study: list[dict], runs_dir: Path) -> dict:
    """A record computed from run records: it describes the study's device, not this machine."""
    from ...platform import git_state
    from ..results import SCHEMA_VERSION
    from . import analyze

    rows = {"amortization": analyze.amortization, "efficiency": analyze.efficiency}[name](study)
    return {"schema_version": SCHEMA_VERSION, "kind": "evidence", "name": name, "derived_from": str(runs_dir),
            "derived_by": git_state(),  # the code that derived it; "platform" is the runs' own
            "data": {"runs": len(study), "rows": rows},
            "device": study[0]["device"], "platform": study[0]["platform"],
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def run_evidence(name: str, device: str, quick: bool, results_dir: Path, runs_dir: Path | None = None,
                 only_parts: list[str] | None = None, log=lambda _: None) -> Path:
    """Measure (or derive) one item and save its record; returns the record's path.

    Without ``only_parts`` every part is measured afresh; with them, those parts
    are measured and added to the item's current record (one of this code, size
    and device), so a campaign can build a record step by step."""
    from ..results import save_record
    from . import measure

    if name in DERIVED:
        return save_record(derived_record(name, study_of(runs_dir), runs_dir), results_dir)
    if name not in MEASURED:
        raise Error(f"unknown evidence item {name!r}; choose from {', '.join(NAMES)}")
    described = describe_device(device)
    data = (only_parts and current_data(name, device, quick, results_dir, described)) or {
        "quick": quick, "parts": {}, "seconds": {}}
    path = None
    for part in only_parts or parts(name, device, quick):
        started = time.perf_counter()
        data["parts"][part] = measure.MEASURE_PART[name](part, device, quick, log=log)
        data["seconds"][part] = time.perf_counter() - started
        path = save_record(evidence_record(name, described, data), results_dir)  # keep every finished part
    return path
