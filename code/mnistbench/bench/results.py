"""Result records: one JSON file per run or evidence item, written atomically, read strictly.

A run's record is a plain dictionary (see ``run.train_run``), an evidence item's too
(``evidence.items.evidence_record``). Files are
written to a temporary name and renamed, so an interrupted run leaves either
the old file or the new one, never half of one. Reading checks the type and
range of every field the code uses; a file that fails, or that holds another
schema version, is an error naming the file and the field, and nothing
overwrites it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path

from ..errors import Error
from ..networks.config import PRECISIONS
from .variants import DEFAULT_VARIANT, FRAMEWORKS

SCHEMA_VERSION = 1
RESULTS_ENV = "MNISTBENCH_RESULTS"  # the folder the documents (and a campaign's reminders) read; default results/


def fingerprint(data: dict) -> str:
    """A short stable hash of plain data (its JSON with sorted keys): part of record file names, so fixed."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def config_fingerprint(config) -> str:
    """Short stable hash of every setting of a ``Config``, used to name and match records."""
    return fingerprint(config.to_dict())


def results_folder(results_dir: Path | str | None = None) -> Path:
    """``results_dir``, else $MNISTBENCH_RESULTS, else results/."""
    return Path(results_dir or os.environ.get(RESULTS_ENV) or "results")


class ResultsError(Error):
    """A results file that is unreadable, of another schema, or damaged."""


# --- the schema: what every field the code reads must hold -------------------------


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _between(low: float, high: float = math.inf):
    return lambda v: _real(v) and low <= v <= high


def _positive(v) -> bool:
    return _real(v) and v > 0


def _optional(check):
    return lambda v: v is None or check(v)


def _list_of(check):
    return lambda v: isinstance(v, list) and len(v) > 0 and all(check(x) for x in v)


def _kind(*types):
    return lambda v: isinstance(v, types)


RUN_SCHEMA = {  # field: (check, what it must be)
    "framework": (lambda v: v in FRAMEWORKS, " or ".join(map(repr, FRAMEWORKS))),
    "variant": (_kind(str), "a variant name"),
    "batch_size": (_whole(1), "a whole number of at least 1"),
    "seed": (_whole(0), "a whole number of at least 0"),
    "epochs": (_whole(1), "a whole number of at least 1"),
    "precision": (lambda v: v in PRECISIONS, " or ".join(map(repr, PRECISIONS))),
    "config": (_kind(dict), "an object"),
    "config_fingerprint": (_kind(str), "a string"),
    "epoch_times_s": (_list_of(_positive), "a list of positive seconds"),
    "first_epoch_s": (_positive, "positive seconds"),
    "steady_epoch_s": (_optional(_positive), "positive seconds or null"),
    "steady_epoch_range_s": (_optional(_list_of(_positive)), "a list of positive seconds or null"),
    "val_times_s": (_list_of(_between(0)), "a list of seconds"),
    "val_loss": (_list_of(_between(0)), "a list of losses"),
    "val_accuracy": (_list_of(_between(0, 1)), "a list of fractions between 0 and 1"),
    "test_accuracy": (_between(0, 1), "a fraction between 0 and 1"),
    "compile_total_s": (_optional(_between(0)), "seconds or null"),
    "compile_split": (_optional(lambda v: isinstance(v, dict) and all(_between(0)(x) for x in v.values())),
                      "an object of seconds or null"),
    "compile_count": (_optional(_whole(0)), "a whole number or null"),
    "valid": (_kind(bool), "true or false"),
    "steps_per_epoch": (_whole(1), "a whole number of at least 1"),
    "fraction_of_peak": (_positive, "a positive number"),
    "peak_matmul_flops": (_positive, "a positive number"),
    "achieved_flops": (_positive, "a positive number"),
    "physical_floor_s": (_positive, "positive seconds"),
    "device": (lambda v: isinstance(v, dict) and v.get("kind") in ("cpu", "gpu") and isinstance(v.get("name"), str),
               "an object with kind 'cpu' or 'gpu' and a name"),
    "platform": (lambda v: isinstance(v, dict) and isinstance(v.get("code_version"), str),
                 "an object with a code_version"),
    "timestamp": (_kind(str), "a date string"),
}
EVIDENCE_SCHEMA = {
    "name": (_kind(str), "a string"),
    "data": (_kind(dict), "an object"),
    "device": RUN_SCHEMA["device"],
    "platform": (_kind(dict), "an object"),
    "timestamp": (_kind(str), "a date string"),
}


def upgrade(record: dict) -> dict:
    """A record written by older code, in the current layout: the one place where older records
    are read differently. Before the variants every run was its framework's default, in a process
    of its own (a cold start); the total compile time was called ``compile_s`` (now only XLA's
    phase of it is); configurations named their (ReLU) activation."""
    if not isinstance(record, dict) or record.get("kind", "run") != "run":
        return {"kind": "evidence", **record} if isinstance(record, dict) else record
    record = {"kind": "run", "runs_before_in_process": 0, **record}
    record.setdefault("variant", DEFAULT_VARIANT.get(record.get("framework")))
    record.setdefault("cold_start", record["runs_before_in_process"] == 0 and not uses_compilation_cache(record))
    if "compile_s" in record:
        record["compile_total_s"] = record.pop("compile_s")
    if isinstance(record.get("config"), dict) and record["config"].get("activation", "relu") == "relu":
        record["config"] = {k: v for k, v in record["config"].items() if k != "activation"}
    return record


def check_record(record: dict, source: Path | str) -> dict:
    """``record`` if it is a readable record of this schema; else a ResultsError naming
    ``source`` and the first field that is wrong, and what to do."""
    if not isinstance(record, dict):
        raise ResultsError(f"{source}: not a result record (top level is not an object)")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        hint = "update mnistbench to read it" if newer else "move the file away or re-run with a matching version"
        raise ResultsError(f"{source}: schema version {version!r}, this code reads {SCHEMA_VERSION}; {hint}")
    kind = record.get("kind")
    if kind not in ("run", "evidence"):
        raise ResultsError(f"{source}: unknown record kind {kind!r}")
    schema = RUN_SCHEMA if kind == "run" else EVIDENCE_SCHEMA
    missing = [key for key in schema if key not in record]
    if missing:
        raise ResultsError(f"{source}: incomplete record, missing {', '.join(missing)}; move the file away")
    for key, (check, expected) in schema.items():
        if key in record and not check(record[key]):
            raise ResultsError(f"{source}: field {key!r} is {_short(record[key])}, expected {expected}; "
                               "move the file away")
    if kind == "run" and len(record["epoch_times_s"]) != record["epochs"]:
        raise ResultsError(f"{source}: {len(record['epoch_times_s'])} epoch times for {record['epochs']} epochs; "
                           "move the file away")
    return record


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- files ------------------------------------------------------------------------


def run_filename(framework: str, variant: str, batch_size: int, seed: int, device_kind: str,
                 config_fingerprint: str, cached: bool = False) -> str:
    """A run's file name; a run with a compilation cache is a study of its own, so it
    gets a file of its own beside the cold run of the same configuration."""
    cache = "-cache" if cached else ""
    return f"run-{framework}-{variant}-bs{batch_size}-seed{seed}-{device_kind}-{config_fingerprint}{cache}.json"


def run_path(folder: Path | str, framework: str, variant: str, config, device_kind: str, cached: bool = False) -> Path:
    """Where the run of ``config`` (a ``Config``) is recorded in ``folder``."""
    return Path(folder) / run_filename(framework, variant, config.batch_size, config.seed, device_kind,
                                       config_fingerprint(config), cached)


def is_recorded(folder: Path | str, framework: str, variant: str, config, device_kind: str, code_version: str,
                software: str | None = None, cached: bool = False) -> bool:
    """Whether ``folder`` holds a current record of this run (this code, configuration, machine)."""
    return is_current(run_path(folder, framework, variant, config, device_kind, cached), config_fingerprint(config),
                      code_version, software, cached)


def evidence_filename(name: str, device_kind: str) -> str:
    """An evidence item's file name (odd characters in the name made dashes)."""
    return f"evidence-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{device_kind}.json"


def record_filename(record: dict) -> str:
    """Where a record lives inside its results folder."""
    if record["kind"] == "run":
        return run_filename(record["framework"], record["variant"], record["batch_size"], record["seed"],
                            record["device"]["kind"], record["config_fingerprint"], uses_compilation_cache(record))
    return evidence_filename(record["name"], record["device"]["kind"])


def read_record(path: Path) -> dict:
    """One checked record from ``path``."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: unreadable result file ({error}); move the file away") from None
    return check_record(upgrade(record), path)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename; the file
    gets the usual permissions (0644 under the common umask), not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_destination(path: Path) -> None:
    """Refuse, before any work, to later replace a file that is not a readable record."""
    if path.exists():
        try:
            read_record(path)
        except ResultsError as error:
            raise ResultsError(f"{error} (a new record would be saved there)") from None


def save_record(record: dict, results_dir: Path) -> Path:
    """Write a checked record into ``results_dir``; refuses to replace a file it cannot read."""
    check_record(record, "new record")
    path = Path(results_dir) / record_filename(record)
    check_destination(path)
    write_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def load_records(results_dir: Path, kind: str | None = "run") -> list[dict]:
    """Every record under ``results_dir`` (recursively), sorted by file name;
    ``kind`` keeps only runs ("run"), or evidence ("evidence"), or all (None)."""
    records = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        record = read_record(path)
        record["_path"] = str(path)
        if kind is None or record["kind"] == kind:
            records.append(record)
    return records


def is_current(path: Path, config_fingerprint: str, code_version: str, software: str | None = None,
               cached: bool = False) -> bool:
    """Whether ``path`` holds a valid run of this configuration by this code (and,
    given ``software``, with this software and host: a run from another machine would
    form another study). An invalid run, one faster than its physical floor, is measured again."""
    if not path.exists():
        return False
    record = read_record(path)
    return (record.get("valid", False) is True and record.get("config_fingerprint") == config_fingerprint
            and record.get("platform", {}).get("code_version") == code_version
            and software in (None, software_fingerprint(record)) and uses_compilation_cache(record) == cached)


# --- studies ----------------------------------------------------------------------

STUDY_VARIABLES = ("batch_size", "seed")  # what varies inside one study; everything else must match


def settings_fingerprint(record: dict, also_varying: tuple[str, ...] = ()) -> str:
    """Hash of the run's configuration without the study's own variables (and ``also_varying``)."""
    settings = {k: v for k, v in record.get("config", {}).items() if k not in STUDY_VARIABLES + also_varying}
    return fingerprint(settings)


SOFTWARE_KEYS = ("python", "numpy", "jax", "jaxlib", "torch", "cpu")  # of the record's platform
DEVICE_SOFTWARE_KEYS = ("driver", "count")  # of the record's device (its "cuda" differs by framework)


def software_fingerprint(record: dict) -> str:
    """Hash of the versions and host the run measured with: runs made with another
    JAX, PyTorch or driver are another study, even on a GPU of the same name."""
    platform, device = record.get("platform", {}), record.get("device", {})
    software = {**{k: platform.get(k) for k in SOFTWARE_KEYS}, **{k: device.get(k) for k in DEVICE_SOFTWARE_KEYS}}
    return fingerprint(software)


def uses_compilation_cache(record: dict) -> bool:
    return (record.get("compilation_cache") or {}).get("dir") is not None


def started_process(record: dict) -> bool:
    """Whether the run was the first of its process: its first epoch paid for starting the
    framework and compiling (a cold start, or a warm one with a compilation cache). A later
    run of a session is not, and its first epoch is never quoted."""
    return record["runs_before_in_process"] == 0
