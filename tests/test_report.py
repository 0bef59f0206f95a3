"""The report and the supplement: execute every code cell in a real Jupyter kernel
against the committed results, then (where Quarto is installed) render the PDF."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHUNK = re.compile(r"```\{python\}\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"(?<!`)`\{python\} ([^`\n]+)`")  # not the ```{python} of a chunk


def notebook_from_qmd(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """Code cells of a .qmd in order, plus a last cell evaluating every inline expression."""
    text = path.read_text()
    cells = [nbformat.v4.new_code_cell(source) for source in CHUNK.findall(text)]
    inline = INLINE.findall(text)
    cells.append(nbformat.v4.new_code_cell(  # an inline Markdown(...) renders its text: evaluate to that
        "_inline = [" + ", ".join(f"str(getattr({expr}, 'data', {expr}))" for expr in inline) + "]\n"
        "print(repr(_inline))"))
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernelspec})
    return notebook, inline


def execute(path: Path, tmp_path: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("MNISTBENCH_FIGURES", str(tmp_path / "figures"))  # keep figures/ as committed
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    notebook, _ = notebook_from_qmd(path)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return notebook


def outputs(cell, mime):
    return [o for o in cell.get("outputs", []) if mime in o.get("data", {})]


def figure_count(notebook) -> int:
    return sum(bool(outputs(c, "image/png") or outputs(c, "image/svg+xml")) for c in notebook.cells)


def inline_values(notebook) -> list[str]:
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.get("name") == "stdout")
    return eval(text)  # a printed list of strings


def test_report_cells_execute_against_committed_results(tmp_path, monkeypatch):
    notebook = execute(ROOT / "report.qmd", tmp_path, monkeypatch)
    table = next(c for c in notebook.cells if "tbl-results" in c.source)
    markdown = outputs(table, "text/markdown")[0]["data"]["text/markdown"]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()[2:]]
    assert {(row[0], row[1]) for row in cells} == {(f, b) for f in ("JAX", "PyTorch") for b in ("64", "256", "1024")}
    assert figure_count(notebook) >= 1
    values = inline_values(notebook)
    assert values and all(v for v in values)
    missing = [expr for expr, v in zip(INLINE.findall((ROOT / "report.qmd").read_text()), values) if v == "n/a"]
    assert not missing, f"facts the committed results do not hold: {missing}"
    assert (tmp_path / "figures" / "overview.pdf").exists()


def rendered_values(tmp_path, monkeypatch, results_dir) -> list[str]:
    monkeypatch.setenv("MNISTBENCH_RESULTS", str(results_dir))
    return inline_values(execute(ROOT / "report.qmd", tmp_path, monkeypatch))


def test_the_report_of_a_cpu_study_alone_has_every_fact(tmp_path, monkeypatch):
    values = rendered_values(tmp_path, monkeypatch, ROOT / "results" / "cpu")
    assert not [v for v in values if "n/a" in v]
    text = " ".join(values)
    assert "GPU" not in text.replace("CUDA-graph", "")  # a CPU study says nothing about a GPU it did not use


def test_the_report_of_a_bare_gpu_grid_says_what_is_not_measured(tmp_path, monkeypatch):
    from mnistbench.results import save_record

    from .factories import run_record

    for framework in ("jax", "torch"):
        for batch_size in (64, 256, 1024):
            for seed in (0, 1, 2):
                record = run_record(framework, batch_size, seed=seed, steps=50_000 // batch_size,
                                    epoch_times=(12.0 if framework == "jax" else 1.5, 1.0, 1.1),
                                    val_times=(10.0 if framework == "jax" else 0.3, 0.2, 0.2))
                record["config_fingerprint"] = f"{framework}{batch_size}{seed}"
                save_record(record, tmp_path / "gpu")
    values = rendered_values(tmp_path, monkeypatch, tmp_path / "gpu")
    assert not [v for v in values if "n/a" in v]
    text = " ".join(values)
    assert "has not been measured yet" in text and "not been measured on this GPU yet" in text


def test_supplement_cells_execute_against_committed_results(tmp_path, monkeypatch):
    notebook = execute(ROOT / "supplement.qmd", tmp_path, monkeypatch)
    assert figure_count(notebook) >= 2
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_report_without_results_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTBENCH_RESULTS", str(tmp_path / "empty"))  # the folder the documents read
    notebook = execute(ROOT / "report.qmd", tmp_path, monkeypatch)
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "No result records were found" in printed and "mnistbench campaign" in printed


@pytest.mark.skipif(shutil.which("quarto") is None, reason="needs Quarto on the PATH")
def test_report_renders_to_at_most_two_pages(tmp_path):
    from pypdf import PdfReader

    env = {**os.environ, "QUARTO_PYTHON": os.environ.get("QUARTO_PYTHON", sys.executable),  # the kernel's Python
           "MNISTBENCH_FIGURES": str(tmp_path / "figures")}  # keep figures/ as committed
    subprocess.run(["quarto", "render", "report.qmd", "--output-dir", str(tmp_path)], cwd=ROOT, check=True,
                   timeout=600, env=env)
    assert 1 <= len(PdfReader(tmp_path / "report.pdf").pages) <= 2


def test_study_uses_evidence_only_from_its_own_device_and_software():
    import copy

    from mnistbench.studies import Study

    from .factories import run_record

    runs = [run_record(fw, 64, seed=s) for fw in ("jax", "torch") for s in (0, 1)]
    same = {"kind": "evidence", "name": "fusion", "device": runs[0]["device"], "platform": runs[0]["platform"],
            "data": {"parts": {}}, "timestamp": "2026-01-01"}
    other = copy.deepcopy(same)
    other["platform"]["torch"] = "9.9"
    older_format = {**copy.deepcopy(same), "data": {"jax": {}, "torch": {}}}
    study = Study(runs=runs, all_runs=runs, all_evidence=[other, same, older_format], results_dir=Path("results"))
    assert study.evidence("fusion") is same
    assert Study(runs=runs, all_runs=runs, all_evidence=[other, older_format], results_dir=Path(".")).evidence(
        "fusion") is None


def test_direction_words_come_from_the_numbers():
    from mnistbench.formatting import fmt_vs

    assert fmt_vs(1.0, 2.5) == "2.5× faster" and fmt_vs(1.4, 1.0) == "1.4× slower" and fmt_vs(None, 1.0) == "n/a"


def test_bounds_in_the_prose_hold_for_every_run_not_only_for_medians():
    from mnistbench import report
    from mnistbench.studies import Study

    from .factories import run_record

    # batch 64: compile explains 9 of 9.5 s excess in two runs but only 6 of 9 s in the third
    jax = [run_record("jax", 64, seed=0, epoch_times=(10.5, 1.0, 1.0), compile_s=9.0),
           run_record("jax", 64, seed=1, epoch_times=(10.5, 1.0, 1.0), compile_s=9.0),
           run_record("jax", 64, seed=2, epoch_times=(10.0, 1.0, 1.0), compile_s=6.0)]
    jax += [run_record("jax", 256, seed=s, epoch_times=(9.5, 0.5, 0.5), compile_s=9.0, steps=195) for s in range(3)]
    torch = [run_record("torch", b, seed=s, epoch_times=(4.0, 3.0, 3.0), steps=steps)
             for b, steps in ((64, 781), (256, 195)) for s in range(3)]
    runs = jax + torch
    facts = report.timing_facts(Study(runs=runs, all_runs=runs, all_evidence=[], results_dir=Path(".")))
    assert facts["compile_share_min"] == "66.7%"  # 6 / 9 in seed 2, not the median 94.7%
    assert (facts["jax_compile_min"], facts["jax_compile_max"]) == ("6.0 s", "9.0 s")
    assert facts["batch_growth"] == "4.0×" and facts["torch_first_vs_steady"] == "took 1.0 s longer than a steady one"
    assert facts["torch_step_growth"] == f"{(3.0 / 195) / (3.0 / 781):.2f}×"


def test_the_fair_comparison_comes_from_the_study_that_holds_the_variants():
    from mnistbench import report
    from mnistbench.results import select_study
    from mnistbench.studies import Study

    from .factories import run_record

    gpu = [run_record(fw, b, seed=s) for fw in ("jax", "torch") for b in (64, 1024) for s in (0, 1, 2)]
    cpu = [run_record(fw, b, device_kind="cpu", variant=v, epoch_times=(9, t, t))
           for fw, v, t in (("jax", "jit", 1.0), ("jax", "eager", 4.0), ("jax", "scan", 0.5),
                            ("torch", "eager", 6.0), ("torch", "compile", 2.0)) for b in (64, 1024)]
    study = Study(runs=select_study(gpu + cpu), all_runs=gpu + cpu, all_evidence=[], results_dir=Path("."))
    assert study.on_gpu and len(study.main) == len(gpu)
    assert {r["device"]["kind"] for r in study.variants_runs} == {"cpu"} and len(study.variants_runs) == 10
    facts = report.fair_facts(study)
    assert facts["fair_device"] == "Test CPU (CPU; JAX 0, PyTorch 0)" and facts["fair_on_main_device"] is False
    from mnistbench import prose

    text = prose.fair({**report.facts(study), **facts})
    assert "On the Test GPU (GPU) the same ratio is" in text and "needs the variants measured" in text
    assert facts["fair_headline_ratio_small"] == "6.0×" and facts["fair_granularity_part_small"] == "3.0×"
    assert facts["fair_framework_op_small"] == "1.5× faster" and facts["fair_jax_epoch_small"] == "2.0× faster"
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in report.fair_table(study).splitlines()[2:]]
    assert cells[0][:3] == ["one per operation", "JAX", "eager"] and cells[-1][:3] == ["one per epoch", "JAX", "scan"]


def test_every_committed_time_is_above_its_physical_floor():
    """A time below the floor means the clock missed work: no committed record may hold one."""
    from mnistbench.evidence import analyze
    from mnistbench.results import load_records

    records = load_records(ROOT / "results", kind=None)
    runs = [r for r in records if r.get("kind", "run") == "run"]
    assert runs and all(r["valid"] for r in runs)
    for run in runs:
        floor = run["physical_floor_s"] / 1.5  # the slack the run's own check allows (timing.PEAK_SLACK)
        assert min(run["epoch_times_s"]) >= floor, run["_path"]
    overhead = [r for r in records if r.get("kind") == "evidence" and r["name"] == "overhead" and "parts" in r["data"]]
    assert overhead and not analyze.below_floor([row for r in overhead for row in analyze.overhead_rows(r["data"])])
