"""What the report and the supplement say, computed from the result records.

``load_study`` gathers the run records of one study (a GPU study when there
is one) and the evidence records of the same device; ``facts`` turns them
into the numbers the prose quotes, already formatted. The documents hold no
logic and no typed numbers: every value they print comes from here.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import equivalence
from . import evidence as ev
from .config import Config, parameter_count
from .results import load_records, select_study, software_fingerprint, summarize

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

    @property
    def on_gpu(self) -> bool:
        return self.first["device"]["kind"] == "gpu"

    def same_setup(self, record: dict) -> bool:
        """Whether ``record`` was measured on the study's device with its software."""
        device = self.first["device"]
        return (record["device"]["kind"] == device["kind"] and record["device"]["name"] == device["name"]
                and software_fingerprint(record) == software_fingerprint(self.first))

    @functools.cached_property
    def evidence(self) -> dict[str, dict]:
        """Evidence records measured with the study's own device and software, by item name."""
        return {r["name"]: r for r in self.all_evidence if self.same_setup(r)}

    @functools.cached_property
    def rows(self) -> list[dict]:
        return summarize(self.runs)

    def row(self, framework: str, batch_size: int) -> dict:
        return next(r for r in self.rows if r["framework"] == framework and r["batch_size"] == batch_size)


def rerun_requested(parameter: bool = False) -> bool:
    return parameter or os.environ.get(RERUN_ENV, "").lower() in ("1", "true", "yes")


def rerun_study(results_dir: Path) -> None:
    """Run the whole study (resumable; progress on stderr) before rendering."""
    subprocess.run([sys.executable, "-m", "mnistbench", "grid", "--results-dir", str(results_dir)], check=True)
    subprocess.run([sys.executable, "-m", "mnistbench", "evidence", "all", "--results-dir",
                    str(Path(results_dir) / "evidence"), "--runs-dir", str(results_dir)], check=False)


def load_study(results_dir: Path | str = "results", rerun: bool = False) -> Study | None:
    """The study to report, or None when there are no results yet."""
    results_dir = Path(results_dir)
    if rerun_requested(rerun):
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


def missing_results_message(results_dir: Path | str = "results") -> str:
    return (f"No result records were found in `{results_dir}/`. Produce them with "
            "`python -m mnistbench grid`, or render with "
            "`quarto render report.qmd -P rerun:true` to run the study first.")


# --- formatting -------------------------------------------------------------------


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


# --- facts --------------------------------------------------------------------------


def platform_facts(study: Study) -> dict:
    first = study.first
    device, platform = first["device"], first["platform"]
    torch_run = next((r for r in study.runs if r["framework"] == "torch"), first)
    jax_run = next((r for r in study.runs if r["framework"] == "jax"), first)
    return {
        "device_kind": device["kind"].upper(), "device_name": device["name"],
        "driver": device.get("driver") or "n/a", "cuda": torch_run["device"].get("cuda") or "n/a",
        "jax_cuda": jax_run["device"].get("cuda") or "n/a", "cpu": platform["cpu"],
        "python": platform["python"], "jax": platform["jax"], "jaxlib": platform["jaxlib"],
        "torch": platform["torch"], "torchvision": platform["torchvision"], "numpy": platform["numpy"],
        "commit": (platform["git"].get("commit") or "unknown")[:7], "date": first["timestamp"][:10],
        "precision": "full float32 (TF32 off)" if first["precision"] == "float32" else "TF32",
    }


def config_facts(study: Study) -> dict:
    config = Config.from_dict(study.first["config"])
    sizes = sorted({r["batch_size"] for r in study.runs})
    params = parameter_count(config.layer_sizes)
    return {
        "layers": "–".join(str(n) for n in config.layer_sizes),
        "parameters": f"{params:,}", "state_mib": f"{2 * 4 * params / 2**20:.0f} MiB",  # weights + velocity
        "learning_rate": f"{config.learning_rate:g}", "momentum": f"{config.momentum:g}",
        "epochs": str(config.epochs), "output_scale": f"{config.output_init_scale:g}",
        "repeats": str(max(sum(1 for r in study.runs if r["framework"] == "jax" and r["batch_size"] == b)
                           for b in sizes)),
        "seeds": ", ".join(str(s) for s in sorted({r["seed"] for r in study.runs})),
        "batch_sizes": ", ".join(str(b) for b in sizes), "n_batch_sizes": str(len(sizes)),
        "n_runs": str(len(study.runs)),
        "n_train": f"{60_000 - config.validation_size:,}", "n_val": f"{config.validation_size:,}",
        "n_test": "10,000",
        "loss_rtol": fmt_e(equivalence.LOSS_RTOL), "grad_tol": fmt_e(equivalence.GRAD_TOL),
        "params_tol": fmt_e(equivalence.PARAMS_TOL), "equivalence_steps": str(equivalence.STEPS),
    }


def timing_facts(study: Study) -> dict:
    facts = {}
    sizes = sorted({r["batch_size"] for r in study.runs})
    for b in sizes:
        jax_row, torch_row = study.row("jax", b), study.row("torch", b)
        facts[f"jax_first_{b}"] = fmt_s(jax_row["first_epoch_s"])
        facts[f"jax_steady_{b}"] = fmt_s(jax_row["steady_epoch_s"])
        facts[f"jax_compile_{b}"] = fmt_s(jax_row["compile_s"])
        facts[f"torch_first_{b}"] = fmt_s(torch_row["first_epoch_s"])
        facts[f"torch_steady_{b}"] = fmt_s(torch_row["steady_epoch_s"])
        if jax_row["steady_epoch_s"] and torch_row["steady_epoch_s"]:
            facts[f"jax_vs_torch_steady_{b}"] = fmt_vs(jax_row["steady_epoch_s"], torch_row["steady_epoch_s"])
        facts[f"jax_acc_{b}"] = fmt_pct(jax_row["test_accuracy"], 2)
        facts[f"torch_acc_{b}"] = fmt_pct(torch_row["test_accuracy"], 2)
        facts[f"jax_peak_frac_{b}"] = fmt_pct(jax_row["fraction_of_peak"], 0)
        facts[f"torch_peak_frac_{b}"] = fmt_pct(torch_row["fraction_of_peak"], 0)
    # ranges and bounds over single runs (not over per-batch medians), so "at least" holds for every run
    jax_runs = [r for r in study.runs if r["framework"] == "jax" and r["steady_epoch_s"] is not None]
    torch_runs = [r for r in study.runs if r["framework"] == "torch" and r["steady_epoch_s"] is not None]
    if jax_runs:
        compile_values = [r["compile_s"] for r in jax_runs]
        facts["jax_compile_min"], facts["jax_compile_max"] = fmt_s(min(compile_values)), fmt_s(max(compile_values))
        parts = [ev.first_epoch_parts(r) for r in jax_runs]
        shares = [p["compile_share"] for p in parts if not np.isnan(p["compile_share"])]
        facts["compile_share_min"] = fmt_pct(min(shares), 1) if shares else "n/a"
        facts["trace_lower_max"] = fmt_s(max(p["split_trace_s"] + p["split_lower_s"] for p in parts))
        evaluation = [ev.evaluation_compile_s(r) for r in jax_runs]
        facts["jax_eval_first_min"], facts["jax_eval_first_max"] = fmt_s(min(evaluation)), fmt_s(max(evaluation))
    if torch_runs:
        excess = [ev.first_epoch_parts(r)["excess_s"] for r in torch_runs]
        facts["torch_excess_min"], facts["torch_excess_max"] = fmt_s(min(excess)), fmt_s(max(excess))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        facts["batch_small"], facts["batch_large"] = str(small), str(large)
        facts["batch_growth"] = fmt_x(large / small)
        for framework in ("jax", "torch"):
            step = {b: study.row(framework, b)["steady_epoch_s"] / steps_per_epoch(study, framework, b)
                    for b in (small, large)}
            facts[f"{framework}_step_growth"] = fmt_x(step[large] / step[small], digits=2)
    amortized = ev.amortization(study.runs)
    for row in amortized:
        epoch = row["break_even_epoch"]
        facts[f"break_even_{row['batch_size']}"] = (f"epoch {epoch}" if epoch else
                                                    f"not within {row['horizon']} epochs")
    facts["first_to_finish"] = first_to_finish(amortized)
    peak = np.median([r["peak_matmul_flops"] for r in study.runs])
    facts["peak_tflops"] = f"{peak / 1e12:.0f} TFLOP/s" if peak >= 1e12 else f"{peak / 1e9:.0f} GFLOP/s"
    steady_runs = [r for r in study.runs if r["steady_epoch_s"]]
    if steady_runs:
        facts["min_floor_margin"] = fmt_x(min(r["steady_epoch_s"] / r["physical_floor_s"] for r in steady_runs))
    for framework, part in ev.overhead_from_runs(study.runs).items():
        facts[f"{framework}_overhead"] = fmt_s(part["fit"]["overhead_s"])
        facts[f"{framework}_per_sample"] = f"{part['fit']['per_sample_s'] * 1e6:.2f} µs"
    return facts


def steps_per_epoch(study: Study, framework: str, batch_size: int) -> int:
    return next(r["steps_per_epoch"] for r in study.runs
                if r["framework"] == framework and r["batch_size"] == batch_size)


def first_to_finish(amortized: list[dict]) -> str:
    """Who has the lower total after the last measured epoch, as a clause."""
    leaders = {row["batch_size"]: min(row["cumulative_s"], key=lambda fw: row["cumulative_s"][fw][-1])
               for row in amortized}
    names = {"jax": "JAX", "torch": "PyTorch"}
    if len(set(leaders.values())) == 1 and leaders:
        return f"{names[next(iter(leaders.values()))]} finishes first at every batch size"
    return "; ".join(f"{names[fw]} finishes first at batch {b}" for b, fw in leaders.items())


def donation_facts(study: Study, variants: dict, rows: dict[str, dict]) -> dict:
    """The donation comparison, set against the epoch-to-epoch spread of the same
    (donated) step in the main study: one short run cannot show less than that."""
    effect = ev.donation_effect(variants)
    batch_size = variants["data"]["batch_size"]
    steady_epochs = [t for r in study.runs if r["framework"] == "jax" and r["batch_size"] == batch_size
                     for t in r["epoch_times_s"][1:]]
    not_donated = effect["steady_s"]["not_donated"]
    facts = {"donation_memory_saved": fmt_mb(effect["memory_saved_bytes"]),
             "donated_peak": fmt_mb(effect["peak_memory_bytes"]["donated"]),
             "no_donation_steady": fmt_s(not_donated), "donated_steady": fmt_s(effect["steady_s"]["donated"]),
             "no_donation_vs_donated": fmt_vs(not_donated, effect["steady_s"]["donated"]),
             "variant_epochs": str(rows["jax-loop"]["epochs"])}
    if steady_epochs:
        low, high = min(steady_epochs), max(steady_epochs)
        facts.update(grid_epoch_min=fmt_s(low), grid_epoch_max=fmt_s(high),
                     donation_in_spread="inside" if low <= not_donated <= high else "outside")
    return facts


def evidence_facts(study: Study) -> dict:
    facts = {}
    fusion = study.evidence.get("fusion")
    if fusion:
        jax_part, torch_part = fusion["data"]["jax"], fusion["data"]["torch"]
        facts["hlo_ops_before"] = str(jax_part["before_optimization"]["operations"])
        facts["xla_kernels"] = str(jax_part["after_optimization"]["operations"])
        facts["xla_fusions"] = str(jax_part["after_optimization"]["fusions"])
        calls = jax_part["after_optimization"]["library_calls"]
        facts["xla_library_calls"] = f"{calls} library call{'' if calls == 1 else 's'}"
        facts["xla_copies"] = str(jax_part["after_optimization"]["by_opcode"].get("copy", 0))
        before = jax_part["before_optimization"]["by_opcode"]
        facts["hlo_shape_ops"] = str(sum(before.get(op, 0) for op in ("broadcast", "reshape", "transpose")))
        facts["torch_ops"] = f"{torch_part['top_level_ops_per_step']:.0f}"
        kernels = torch_part["gpu_kernels_per_step"]
        facts["torch_kernels"] = f"{kernels:.0f}" if kernels is not None else "n/a"
    variants = study.evidence.get("variants")
    if variants:
        rows = {r["variant"]: r for r in variants["data"]["rows"] if "steady_epoch_s" in r}
        for name, row in rows.items():
            key = name.replace("-", "_")
            facts[f"{key}_steady"] = fmt_s(row["steady_epoch_s"])
            facts[f"{key}_first"] = fmt_s(row["first_epoch_s"])
        if {"jax-loop", "jax-scan"} <= set(rows):
            loop, scan = rows["jax-loop"]["steady_epoch_s"], rows["jax-scan"]["steady_epoch_s"]
            facts["scan_vs_loop"] = fmt_vs(scan, loop)
            facts["dispatch_share"] = fmt_pct(1 - scan / loop) if scan < loop else "none"
        if "torch-eager" in rows:
            eager = rows["torch-eager"]["steady_epoch_s"]
            for name in ("torch-compile", "torch-cudagraphs"):
                if name in rows:
                    facts[f"{name.replace('-', '_')}_vs_eager"] = fmt_vs(rows[name]["steady_epoch_s"], eager)
        if {"jax-loop", "jax-no-donation"} <= set(rows):
            facts.update(donation_facts(study, variants, rows))
        facts["variants_batch"] = str(variants["data"]["batch_size"])
    precision_rows = ev.precision_comparison([r for r in study.all_runs if study.same_setup(r)])
    for row in precision_rows:
        facts[f"tf32_speedup_{row['framework']}_{row['batch_size']}"] = fmt_x(row["speedup"])
    jax_rows = [r for r in precision_rows if r["framework"] == "jax"]
    if jax_rows:
        facts["tf32_compile"] = ", ".join(f"{fmt_s(r['compile_s']['tf32'])} (batch {r['batch_size']})"
                                          for r in jax_rows)
        facts["tf32_vs_f32_compile"] = ", ".join(f"{fmt_s(r['compile_s']['float32'])}" for r in jax_rows)
        facts["tf32_seeds"] = ", ".join(str(s) for s in sorted({s for r in jax_rows for s in r["seeds"]}))
    return facts


def facts(study: Study) -> dict[str, str]:
    """Every number the report's prose quotes, formatted, keyed by name."""
    values = {**platform_facts(study), **config_facts(study), **timing_facts(study), **evidence_facts(study)}
    return _Facts(values)


class _Facts(dict):
    """A dict that answers 'n/a' for a fact that was not measured, so a study
    without some evidence still renders (and says so) instead of failing."""

    def __missing__(self, key):
        return "n/a"


def evidence_records(records: list[dict]) -> dict[str, list[dict]]:
    """Evidence records by item name, GPU records first."""
    by_name: dict[str, list[dict]] = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
    for named in by_name.values():
        named.sort(key=lambda r: r["device"]["kind"] != "gpu")
    return by_name


def step_memory_text(step_memory: dict) -> str:
    """XLA's static memory analysis of the step with and without donation, as a sentence."""
    donated, copied = step_memory.get("donated"), step_memory.get("not_donated")
    if not donated or not copied:
        return ("XLA's memory analysis of the compiled step is not in this record (records from "
                "`evidence variants` carry it from now on).")
    return (f"XLA's memory analysis of the compiled step: with donation {fmt_mb(donated['alias_size_in_bytes'])} "
            f"of its outputs are written into its inputs (without: {fmt_mb(copied['alias_size_in_bytes'])}), "
            f"and the step's peak (its arguments, the training set among them, plus temporaries) is "
            f"{fmt_mb(donated.get('peak_memory_in_bytes'))} against {fmt_mb(copied.get('peak_memory_in_bytes'))}.")


def device_label(record: dict) -> str:
    return f"{record['device']['name']} ({record['device']['kind'].upper()})"


def not_measured(name: str, device: str = "gpu") -> str:
    return (f"*Not measured on the {device.upper()} yet:* run `python -m mnistbench evidence {name} "
            f"--device {device}` on a machine with one.")
