"""The hosted-GPU notebook: committed clean, and it runs end to end here in its CPU mode."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "run-on-a-hosted-gpu.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert any("parameters" in cell.metadata.get("tags", []) for cell in code)


def test_notebook_runs_the_campaign_in_cpu_mode(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    results = tmp_path / "results"
    parameters.source += (f"\nCPU_MODE = True\nPROJECT_DIR = {str(ROOT)!r}\nRESULTS_DIR = {str(results)!r}\n"
                          "MAX_SECONDS = 15\n")
    no_quarto = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                if not (Path(p) / "quarto").exists())
    monkeypatch.setenv("PATH", no_quarto)  # the render cell must skip cleanly without Quarto
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "--dry-run" in printed and "steps done or blocked" in printed
    assert "continue with: python -m mnistbench campaign --device cpu" in printed  # the budget stopped it
    assert list(results.rglob("*.json")), "the campaign wrote no record"
    assert "Quarto is not installed here: the PDFs are skipped" in printed
