"""Provenance: what a record says about the code that made it."""

import subprocess

from mnistbench import provenance


def test_written_results_do_not_make_the_code_dirty(tmp_path, monkeypatch):
    monkeypatch.delenv("MNISTBENCH_GIT_COMMIT", raising=False)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "run.json").write_text("{}")
    (tmp_path / "model.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    assert provenance.git_state(tmp_path)["dirty"] is False
    (tmp_path / "results" / "run.json").write_text('{"new": 1}')
    assert provenance.git_state(tmp_path)["dirty"] is False
    (tmp_path / "model.py").write_text("x = 2\n")
    state = provenance.git_state(tmp_path)
    assert state["dirty"] is True and len(state["commit"]) == 40


def test_a_shipped_tree_states_its_commit(monkeypatch):
    monkeypatch.setenv("MNISTBENCH_GIT_COMMIT", "a" * 40)
    monkeypatch.setenv("MNISTBENCH_GIT_DIRTY", "0")
    assert provenance.git_state() == {"commit": "a" * 40, "dirty": False}
