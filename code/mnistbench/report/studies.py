"""The study a document shows, read once from a results folder with every other run and evidence
record there; an evidence record speaks only for the runs of its own device and software."""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from pathlib import Path

from ..bench import results, selection

RERUN_ENV = "MNISTBENCH_RERUN"


@dataclasses.dataclass
class Study:
    """Every run and evidence record of a results folder, and the study the report shows (``runs``)."""

    all_runs: list[dict]
    all_evidence: list[dict]

    @functools.cached_property
    def runs(self) -> list[dict]:
        return selection.select_study(self.all_runs)

    @property
    def first(self) -> dict:
        return self.runs[0]

    @functools.cached_property
    def main(self) -> list[dict]:
        """The main comparison: each framework's default variant."""
        return selection.default_variant_runs(self.runs)

    def same_setup(self, record: dict, reference: dict | None = None) -> bool:
        """Whether ``record`` was measured on the device, with the software, of ``reference`` (default: the study's)."""
        reference = reference or self.first
        return (record["device"]["kind"] == reference["device"]["kind"]
                and record["device"]["name"] == reference["device"]["name"]
                and results.software_fingerprint(record) == results.software_fingerprint(reference))

    @functools.cached_property
    def variants_runs(self) -> list[dict]:
        """The runs of the fair comparison: every variant (defaults included) on one setup (device,
        software, code, settings; any length): the main study's when it has variants, else the setup
        with the most variant runs, GPU first, then the newest."""
        def variants(runs):
            return sum(not selection.is_default(r) for r in runs)

        groups = selection.group_by([r for r in self.all_runs if r["valid"]], selection.setup_key)
        own = selection.setup_key(self.first)
        if variants(groups.get(own, [])):
            return groups[own]
        candidates = {key: runs for key, runs in groups.items() if variants(runs)}
        if not candidates:
            return []
        best = max(candidates, key=lambda k: (k.device_kind == "gpu", variants(candidates[k]),
                                               max(r["timestamp"] for r in candidates[k])))
        return candidates[best]

    def study_of(self, device_kind: str) -> list[dict]:
        """The main comparison of ``device_kind`` (the report's own when it is of that kind)."""
        if self.first["device"]["kind"] == device_kind:
            return self.runs
        return selection.select_study(self.all_runs, device_kind)

    def evidence(self, name: str) -> list[dict]:
        """Evidence records ``name`` measured in parts (the current format), not --quick; GPU first, then by date."""
        found = [r for r in self.all_evidence if r["name"] == name and "parts" in r["data"] and not r["data"]["quick"]]
        return sorted(found, key=lambda r: (r["device"]["kind"] != "gpu", r["timestamp"]))

    def older_evidence(self, name: str, device_kind: str = "gpu") -> dict | None:
        """The newest evidence record ``name`` of the older format (one process, no parts: the H100
        study's, by older code), or None. The documents quote it as an anecdote, its commit beside it."""
        return max((r for r in self.all_evidence if r["name"] == name and "parts" not in r["data"]
                    and r["device"]["kind"] == device_kind), key=lambda r: r["timestamp"], default=None)


def runs_of_setup(study: Study, record: dict) -> list[dict]:
    """The runs an evidence record speaks for: the main cold float32 study (one length, one code
    version; ``select_study``'s choice) measured with ``record``'s device and software."""
    return selection.select_study([r for r in study.all_runs if study.same_setup(r, record)
                                 and r["precision"] == "float32" and not results.uses_compilation_cache(r)])


def load_study(results_dir: Path | str | None = None, rerun: bool = False) -> Study | None:
    """The study to report (from ``results_dir``, else $MNISTBENCH_RESULTS, else results/); None
    without results. ``rerun`` (or $MNISTBENCH_RERUN) runs the whole study on this machine first."""
    results_dir = results.results_folder(results_dir)
    if rerun or os.environ.get(RERUN_ENV, "").lower() in ("1", "true", "yes"):
        import torch  # only here: a document that reads records needs no PyTorch

        device = "gpu" if torch.cuda.is_available() else "cpu"
        subprocess.run([sys.executable, "-m", "mnistbench", "campaign", "--device", device, "--results-dir",
                        str(results_dir / f"rerun-{device}")], check=False)  # resumable
    if not results_dir.exists():
        return None
    records = results.load_records(results_dir, kind=None)
    study = Study(all_runs=[r for r in records if r["kind"] == "run"],
                  all_evidence=[r for r in records if r["kind"] == "evidence"])
    return study if study.runs else None


def missing_results_message(results_dir: Path | str | None = None) -> str:
    return (f"No result records were found in `{results.results_folder(results_dir)}/`. Produce them with "
            "`python -m mnistbench campaign --device gpu --results-dir results/mine`, or render with "
            "`quarto render report.qmd -P rerun:true` to run the study first.")
