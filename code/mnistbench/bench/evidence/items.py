"""The evidence items: which there are, how each is measured (in parts) or derived, and its record.

A measured item comes in parts (a framework, a program and batch size, a seed), each a separate
measurement saved as soon as it is done: ``data["parts"]`` maps a part to its result and
``data["seconds"]`` to the time it took, so an interrupted or budgeted campaign keeps every
finished part and can continue with the rest.
"""

from __future__ import annotations

import time
from pathlib import Path

from ... import provenance
from ...errors import Error
from ...provenance import evidence_code_version
from .. import compare
from ..results import SCHEMA_VERSION, evidence_filename, read_record, save_record, software_fingerprint
from . import measure, paired

NAMES = ("equality", "compile", "updates", "paired", "cost-split")


def describe_device(device: str) -> dict:
    """The ``device``, ``platform`` and ``timestamp`` of an evidence record measured here; its
    code version covers the evidence modules too."""
    described = provenance.describe("torch" if device == "gpu" else "jax", device)  # no JAX client on the GPU
    described["platform"]["code_version"] = provenance.evidence_code_version()
    return described


def evidence_record(name: str, described: dict, data: dict) -> dict:
    """A measured item's record: it describes the device it ran on."""
    return {"schema_version": SCHEMA_VERSION, "kind": "evidence", "name": name, "data": data,
            "measure_wall_s": sum(data.get("seconds", {}).values()), **described}


def record_path(name: str, device: str, results_dir: Path) -> Path:
    return Path(results_dir) / evidence_filename(name, device)


def current_data(name: str, device: str, quick: bool, results_dir: Path, described: dict | None) -> dict | None:
    """The data of the item's record in ``results_dir`` when it was measured by this
    code, with this size (quick or not), on this device with this software; else None.
    ``described`` None (the device is not on this machine): by this code and size only."""
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


def declared_design(name: str, quick: bool) -> dict:
    """What an item declared before measuring, kept in its record's data: for the paired item the
    smallest effect of interest (the equivalence margin), the family's comparisons per part with
    the family-wise rate and each comparison's level, and the power its rounds were planned for."""
    if name != "paired":
        return {}
    family = paired.family(quick)
    alpha = compare.family_level(family)[1]
    return {"design": {"margin": compare.MARGIN, "family_alpha": compare.FAMILY_ALPHA,
                       "level": 1 - alpha, "power_target": compare.POWER_TARGET,
                       "family": {part: [label for label, *_ in comparisons] for part, comparisons in family.items()}}}


def parts(name: str, device: str, quick: bool) -> list[str]:
    return measure.PARTS[name](device, quick)


def run_evidence(name: str, device: str, quick: bool, results_dir: Path, only_parts: list[str] | None = None,
                 log=lambda _: None) -> Path:
    """Measure one item and save its record; returns the record's path.

    Without ``only_parts`` every part is measured afresh; with them, those parts
    are measured and added to the item's current record (one of this code, size
    and device), so a campaign can build a record step by step."""
    if name not in NAMES:
        raise Error(f"unknown evidence item {name!r}; choose from {', '.join(NAMES)}")
    described = describe_device(device)
    data = (only_parts and current_data(name, device, quick, results_dir, described)) or {
        "quick": quick, "parts": {}, "seconds": {}}
    data.update(declared_design(name, quick))
    path = None
    for part in only_parts or parts(name, device, quick):
        started = time.perf_counter()
        data["parts"][part] = measure.MEASURE_PART[name](part, device, quick, log=log)
        data["seconds"][part] = time.perf_counter() - started
        path = save_record(evidence_record(name, described, data), results_dir)  # keep every finished part
    return path
