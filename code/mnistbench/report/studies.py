"""The study a document shows, read once from a results folder.

``load_study`` reads every record under a results folder once: the study the
report shows (a GPU study when there is one), the study that holds every
variant (the fair comparison; the same study once the GPU campaign has
measured the variants), and every evidence record, each usable only with the
runs of its own device and software.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from pathlib import Path

from ..bench.results import (
    default_variant_runs,
    group_by,
    is_default,
    load_records,
    results_folder,
    select_study,
    setup_key,
    software_fingerprint,
    uses_compilation_cache,
)

RERUN_ENV = "MNISTBENCH_RERUN"


@dataclasses.dataclass
class Study:
    """The runs the report shows, read once from a results folder together with
    every other run and evidence record there."""

    runs: list[dict]
    all_runs: list[dict]
    all_evidence: list[dict]
    results_dir: Path

    @property
    def first(self) -> dict:
        return self.runs[0]

    @functools.cached_property
    def main(self) -> list[dict]:
        """The main comparison: each framework's default variant."""
        return default_variant_runs(self.runs)

    def same_setup(self, record: dict, reference: dict | None = None) -> bool:
        """Whether ``record`` was measured on the device, with the software, of ``reference``
        (default: the study's)."""
        reference = reference or self.first
        return (record["device"]["kind"] == reference["device"]["kind"]
                and record["device"]["name"] == reference["device"]["name"]
                and software_fingerprint(record) == software_fingerprint(reference))

    @functools.cached_property
    def variants_runs(self) -> list[dict]:
        """The runs of the fair comparison: every variant (defaults included) on one setup
        (device, software, code, settings; any length): the main study's when it has
        variants, else the setup with the most variant runs, GPU first, then the newest."""
        def variants(runs):
            return sum(not is_default(r) for r in runs)

        groups = group_by([r for r in self.all_runs if r["valid"]], setup_key)
        own = setup_key(self.first)
        if variants(groups.get(own, [])):
            return groups[own]
        candidates = {key: runs for key, runs in groups.items() if variants(runs)}
        if not candidates:
            return []
        best = max(candidates, key=lambda k: (k[0] == "gpu", variants(candidates[k]),
                                               max(r["timestamp"] for r in candidates[k])))
        return candidates[best]

    def study_of(self, device_kind: str) -> list[dict]:
        """The main comparison of ``device_kind`` (the report's own when it is of that kind)."""
        return self.runs if self.first["device"]["kind"] == device_kind else select_study(self.all_runs, device_kind)


# evidence measured in parts (fusion and overhead: names of older records)
MEASURED_IN_PARTS = ("equality", "compile", "fusion", "overhead", "updates", "paired")


def is_full_current(record: dict) -> bool:
    """An evidence record of the current format (measured in parts) and of full size (not --quick)."""
    data = record["data"]
    return record["name"] not in MEASURED_IN_PARTS or ("parts" in data and not data.get("quick"))


def rerun_study(results_dir: Path) -> None:
    """Run the whole study on this machine's GPU (or CPU) before rendering (resumable)."""
    import torch

    device = "gpu" if torch.cuda.is_available() else "cpu"
    subprocess.run([sys.executable, "-m", "mnistbench", "campaign", "--device", device, "--results-dir",
                    str(Path(results_dir) / f"rerun-{device}")], check=False)


def load_study(results_dir: Path | str | None = None, rerun: bool = False) -> Study | None:
    """The study to report (from ``results_dir``, else $MNISTBENCH_RESULTS, else
    results/), or None when there are no results yet."""
    results_dir = results_folder(results_dir)
    if rerun or os.environ.get(RERUN_ENV, "").lower() in ("1", "true", "yes"):
        rerun_study(results_dir)
    if not results_dir.exists():
        return None
    records = load_records(results_dir, kind=None)
    all_runs = [r for r in records if r.get("kind", "run") == "run"]
    runs = select_study(all_runs)
    if not runs:
        return None
    return Study(runs=runs, all_runs=all_runs, results_dir=results_dir,
                 all_evidence=[r for r in records if r.get("kind") == "evidence"])


def missing_results_message(results_dir: Path | str | None = None) -> str:
    return (f"No result records were found in `{results_folder(results_dir)}/`. Produce them with "
            "`python -m mnistbench campaign --device gpu --results-dir results/mine`, or render with "
            "`quarto render report.qmd -P rerun:true` to run the study first.")


def runs_of_setup(study: Study, record: dict) -> list[dict]:
    """The runs an evidence record speaks for: the main cold float32 study (one length, one
    code version; ``select_study``'s choice) measured with ``record``'s device and software."""
    return select_study([r for r in study.all_runs if study.same_setup(r, record)
                         and r.get("precision", "float32") == "float32" and not uses_compilation_cache(r)])

