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

ROOT = Path(__file__).resolve().parents[2]
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


def printed(notebook) -> str:
    """What the chunks printed as Markdown (the asis passages, tables and captions)."""
    return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def captions(text: str) -> list[str]:
    """Table captions (': ... {#tbl-') and figure captions ('![...](...){#fig-')."""
    tables = [line for line in text.splitlines() if line.startswith(": ") and "{#tbl-" in line]
    figures = re.findall(r"!\[(.*?)\]\([^)]*\)\{#fig-", text, re.DOTALL)
    return tables + figures


FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]+`")
NUMBER = re.compile(r"(?<![A-Za-z\d])\d+(?:[.,]\d+)*")  # not a model's name (H100)


def prose_of(source: str, values: list[str]) -> str:
    """report.qmd's text as the PDF shows it, its chunks left out: every inline value in place,
    citations and cross-references out, other code spans (code names) out."""
    text = CHUNK.sub("", FRONT_MATTER.sub("", source)).replace("```{python}", "")
    values = iter(values)
    text = INLINE.sub(lambda _: next(values), text)
    text = re.sub(r"\[@[^\]]+\]|@(?:tbl|fig)-[\w-]+", "", text)
    return CODE_SPAN.sub("", text)


def chunk_lines(text: str) -> list[str]:
    """What the chunks printed, other than tables, captions and figures: lines of prose."""
    def table_caption_or_figure(line: str) -> bool:  # '*Column*: not measured.' is a table's note
        return line.startswith(("|", ": ", "![", "['")) or (line.startswith("*") and not line.startswith("**"))

    return [line for line in text.splitlines() if line.strip() and not table_caption_or_figure(line)]


def check_document(notebook) -> str:
    """The shared checks of an executed document: values present, no 'n/a', no empty sentence, every
    caption names its device."""
    values = inline_values(notebook)
    text = printed(notebook)
    assert values and all(v.strip() for v in values)
    assert "n/a" not in text and not [v for v in values if "n/a" in v]
    found = captions(text)
    assert len(found) >= 2 and all("GPU" in c or "CPU" in c for c in found), found
    return text


def test_report_cells_run_in_strict_mode_on_the_committed_results(tmp_path, monkeypatch):
    """Every data-dependent claim of report.qmd holds on the committed records (a contradiction
    would raise), its text is report.qmd's (the chunks print only tables, captions and the
    figure), and its prose quotes at most 60 numbers."""
    from mnistbench.report.values import NOT_MEASURED, STRICT_ENV

    monkeypatch.setenv(STRICT_ENV, "1")
    source = (ROOT / "report.qmd").read_text()
    notebook = execute(ROOT / "report.qmd", tmp_path, monkeypatch)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    text = check_document(notebook)
    assert not chunk_lines(text), chunk_lines(text)  # no sentence written by Python, no flag
    values = inline_values(notebook)
    assert NOT_MEASURED not in values, [e for e, v in zip(notebook_from_qmd(ROOT / "report.qmd")[1], values)
                                        if v == NOT_MEASURED]
    prose = prose_of(source, values)
    assert len(NUMBER.findall(prose)) <= 60, NUMBER.findall(prose)
    prose_words = len(re.findall(r"[A-Za-z]{2,}", prose))
    printed_words = len(re.findall(r"[A-Za-z]{2,}", text))
    assert prose_words / (prose_words + printed_words) >= 0.75
    table = [line for line in text.split("{#tbl-results}")[0].split("{#tbl-platforms}")[-1].splitlines()
             if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table[2:]]
    assert {(row[0], row[1]) for row in cells} == {(f, b) for f in ("JAX", "PyTorch") for b in ("64", "256", "1024")}
    assert (tmp_path / "figures" / "costs.svg").exists()
    headings = ("# Setup", "**Network and data.**", "**Platforms and setup.**", "**How time is measured.**",
                "# Results", "**Two paradigms.**", "**`grad` and `jit`.**", "*Compilation overhead.*",
                "*Functional style and immutability.*", "*Graph optimizations and kernel fusion.*",
                "*Batch size and amortization.*", "# Reflection", "# AI tool usage")
    places = [source.index(heading) for heading in headings]
    assert places == sorted(places)  # the rubric's questions, in its order
    assert "must replace" not in source and "placeholder" not in source.lower()


def rendered(tmp_path, monkeypatch, results_dir):
    monkeypatch.setenv("MNISTBENCH_RESULTS", str(results_dir))
    notebook = execute(ROOT / "report.qmd", tmp_path, monkeypatch)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    return printed(notebook), inline_values(notebook)


def test_a_cpu_study_alone_renders_and_flags_the_gpu_claims_it_cannot_support(tmp_path, monkeypatch):
    from mnistbench.report.values import STRICT_ENV

    monkeypatch.delenv(STRICT_ENV, raising=False)
    text, values = rendered(tmp_path, monkeypatch, ROOT / "results" / "cpu")
    assert "**[Claim not supported: on the GPU PyTorch eager's steady epoch is slower" in text
    assert "(not measured)" in values


def test_a_re_run_that_contradicts_a_claim_shows_a_flag_at_it(tmp_path, monkeypatch):
    """A GPU grid whose JAX epochs are slower than PyTorch's: the claim that JAX's steady epoch
    wins is flagged where it stands."""
    from mnistbench.bench.results import save_record
    from tests.factories import run_record

    for framework in ("jax", "torch"):
        for batch_size in (64, 256, 1024):
            for seed in (0, 1, 2):
                jax_epochs = (12.0, 2.0 + 0.1 * seed, 2.0)  # slower than PyTorch's steady epochs
                record = run_record(framework, batch_size, seed=seed, steps=50_000 // batch_size,
                                    epoch_times=jax_epochs if framework == "jax" else (1.5, 1.0, 1.1),
                                    val_times=(10.0 if framework == "jax" else 0.3, 0.2, 0.2))
                record["config_fingerprint"] = f"{framework}{batch_size}{seed}"
                save_record(record, tmp_path / "gpu")
    text, _ = rendered(tmp_path, monkeypatch, tmp_path / "gpu")
    assert ("**[Claim not supported: on the GPU PyTorch eager's steady epoch is slower than JAX's at batch 64 "
            "(the records contradict it).]**") in text


def test_supplement_cells_execute_against_committed_results(tmp_path, monkeypatch):
    notebook = execute(ROOT / "supplement.qmd", tmp_path, monkeypatch)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = printed(notebook) + "".join(o["data"].get("text/markdown", "") for c in notebook.cells
                                       for o in c.get("outputs", []) if "data" in o)
    assert (tmp_path / "figures" / "updates.svg").exists()  # the variants' figures need a GPU campaign's runs
    for section in ("**A/A**", "Steady epoch, JAX / PyTorch", "Fusions by kind", "the paired item's processes"):
        assert section in text, section  # the paired record's A/A, the grid's pairs, fusion, donation's memory
    assert "| n/a" not in text and "n/a |" not in text  # a column empty throughout is a line, not a column


def test_report_without_results_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MNISTBENCH_RESULTS", str(tmp_path / "empty"))  # the folder the documents read
    notebook = execute(ROOT / "report.qmd", tmp_path, monkeypatch)
    assert "No result records were found" in printed(notebook) and "mnistbench campaign" in printed(notebook)


def font_sizes(reader) -> dict[float, int]:
    """Characters of a PDF by the size they are printed at (points)."""
    sizes: dict[float, int] = {}

    def visit(text, cm, tm, font, size):
        if text.strip():
            shown = round(size * tm[0] * cm[0], 1)
            sizes[shown] = sizes.get(shown, 0) + len(text)

    for page in reader.pages:
        page.extract_text(visitor_text=visit)
    return sizes


@pytest.mark.skipif(shutil.which("quarto") is None, reason="needs Quarto on the PATH")
def test_report_renders_to_at_most_two_pages(tmp_path):
    from pypdf import PdfReader

    # the figures go to figures/ (Typst reads files inside the project only); the committed results give the
    # committed figures byte for byte (no timestamps), so the tree stays as it was
    env = {**os.environ, "QUARTO_PYTHON": os.environ.get("QUARTO_PYTHON", sys.executable)}  # the kernel's Python
    env.pop("MNISTBENCH_FIGURES", None)
    env.pop("MNISTBENCH_RESULTS", None)
    for document, pages in (("report", 2), ("supplement", 8)):
        subprocess.run(["quarto", "render", f"{document}.qmd", "--output-dir", str(tmp_path)], cwd=ROOT, check=True,
                       timeout=600, env=env)
        reader = PdfReader(tmp_path / f"{document}.pdf")
        assert 1 <= len(reader.pages) <= pages, document
        if document == "report":  # body at 10 pt, nothing below 8.5 pt (tables, captions, code, references)
            sizes = font_sizes(reader)
            assert min(sizes) >= 8.5 and max(sizes, key=sizes.get) == 10.0, sizes
        last = reader.pages[-1].extract_text()
        assert len(last.split()) > 60, f"{document}: a near-empty last page"


def test_the_fair_comparison_sets_variants_beside_the_main_grid_of_their_setup():
    """The variants train fewer epochs than the main grid: another study, the same setup."""
    from mnistbench.report.studies import Study
    from tests.factories import run_record

    gpu = [run_record(fw, b, seed=s) for fw in ("jax", "torch") for b in (64, 1024) for s in (0, 1, 2)]
    cpu_grid = [run_record(fw, b, seed=s, device_kind="cpu", epoch_times=(9, 1, 1, 1)) for fw in ("jax", "torch")
                for b in (64, 1024) for s in (0, 1)]
    cpu_variants = [run_record(fw, b, device_kind="cpu", variant=v, epoch_times=(9, t, t))
                    for fw, v, t in (("jax", "eager", 4.0), ("jax", "scan", 0.5), ("torch", "compile", 2.0))
                    for b in (64, 1024)]
    runs = gpu + cpu_grid + cpu_variants
    study = Study(all_runs=runs, all_evidence=[])
    assert study.first["device"]["kind"] == "gpu" and study.main == study.runs
    assert {r["device"]["kind"] for r in study.variants_runs} == {"cpu"}
    assert len(study.variants_runs) == len(cpu_grid) + len(cpu_variants)  # the defaults come from the grid
    assert study.study_of("cpu") == cpu_grid and study.study_of("gpu") == study.runs


def test_every_committed_time_is_above_its_physical_floor():
    """A time below the floor means the clock missed work: no committed record may hold one."""
    from mnistbench.bench.results import load_records
    from mnistbench.report import analysis as analyze

    records = load_records(ROOT / "results", kind=None)
    runs = [r for r in records if r["kind"] == "run"]
    assert runs and all(r["valid"] for r in runs)
    for run in runs:
        floor = run["physical_floor_s"] / 1.5  # the slack the run's own check allows (timing.PEAK_SLACK)
        assert min(run["epoch_times_s"]) >= floor, run["_path"]
    rows = analyze.overhead_rows(runs)
    assert rows and all(row["step_s"] >= row["floor_s"] for row in rows)


def test_a_shorter_study_beside_the_main_one_leaves_the_supplement_whole():
    """A quick grid (3 epochs) on the machine of the committed CPU study: the break-evens with a warm
    cache come from the main study's runs alone (curves of one length), not from both."""
    import copy

    from mnistbench.report import studies, supplement

    study = studies.load_study(Path(__file__).resolve().parents[2] / "results")
    cpu = study.study_of("cpu")
    quick = []
    for run in cpu[:4]:
        short = copy.deepcopy(run)
        short.update(epochs=3, epoch_times_s=run["epoch_times_s"][:3], val_times_s=run["val_times_s"][:3],
                     timestamp="2099-01-01T00:00:00+00:00")
        short["config"] = {**run["config"], "epochs": 3}
        quick.append(short)
    study.all_runs += quick
    assert studies.runs_of_setup(study, cpu[0]) == cpu
    assert "cold and warm compilation cache" in supplement.amortization_section(study)
