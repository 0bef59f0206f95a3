"""What a job decides at the end of each start, without SLURM: requeue, stop, or render the report.

The campaign is faked at the process boundary (``sys.executable`` is a script that answers as
``python -m mnistbench campaign`` would), so these tests hold whatever the job's functions are
called: the job reads the plan's state from the dry run's JSON and nothing from the words the
campaign prints.
"""

import json
import os
import sys
from pathlib import Path

import pytest

from mnistbench.cluster import job as cluster_job

FAKE_CAMPAIGN = """
import json, sys
from pathlib import Path

state_path = Path(sys.argv[sys.argv.index("--results-dir") + 1]) / "fake-campaign.json"
state = json.loads(state_path.read_text())
if "--json" in sys.argv:
    print(json.dumps({"steps": [], "done": state["done"], "to_do": state["steps"] - state["done"] - state["blocked"],
                      "blocked": state["blocked"]}))
elif "--dry-run" in sys.argv:  # the plan as a person reads it
    print(f"{state['done']} of {state['steps']} steps finished")
else:
    print("\\n".join(state["prints"]))
    state["budgets"].append(float(sys.argv[sys.argv.index("--max-seconds") + 1]))
    state["done"] += state["does"]
    state_path.write_text(json.dumps(state))
    sys.exit(state["exit"])
"""
MARGIN_S, LIMIT_MIN = 120.0, 10
# run_campaign forks (to ignore the requeue signal in the child); JAX, which other tests load into this
# process, warns of that. A job's process loads neither framework.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")


class FakeCampaign:
    """The campaign as a job starts it, with a plan of ``steps`` of which ``done`` are done; one start
    does ``does`` more, prints ``prints`` and exits with ``exit``."""

    def __init__(self, folder, monkeypatch):
        self.folder, self.requeued, self.rendered = folder, 0, 0
        script = folder / "python"
        script.write_text(f"#!{sys.executable}\n{FAKE_CAMPAIGN}")
        script.chmod(0o755)
        monkeypatch.setattr(sys, "executable", str(script))
        self.left_s = LIMIT_MIN * 60 - 5.0  # as squeue says it, 5 s after the job started
        monkeypatch.setattr(cluster_job, "seconds_left", lambda *_: (self.left_s, "squeue"))
        monkeypatch.setattr(cluster_job, "render_report", lambda *_, **__: setattr(self, "rendered", self.rendered + 1))

    def start(self, done, steps, does, blocked=0, exit=0, prints=("campaign: finished",)):
        state = {"done": done, "steps": steps, "does": does, "blocked": blocked, "exit": exit, "prints": prints,
                 "budgets": []}
        (self.folder / "fake-campaign.json").write_text(json.dumps(state))
        self.lines = []
        job = cluster_job.CampaignJob("cpu", True, str(self.folder), MARGIN_S, LIMIT_MIN)
        outcome = cluster_job.run_job(job, self.lines.append, lambda: setattr(self, "requeued", self.requeued + 1))
        self.budgets = json.loads((self.folder / "fake-campaign.json").read_text())["budgets"]
        return outcome


@pytest.fixture
def campaign(tmp_path, monkeypatch):
    return FakeCampaign(tmp_path, monkeypatch)


def test_a_job_with_steps_left_and_progress_is_requeued(campaign):
    campaign.start(done=3, steps=9, does=4)
    assert campaign.requeued == 1 and not campaign.rendered
    assert "4 more steps done (7 in all)" in campaign.lines[-1]


def test_the_campaigns_budget_is_what_submit_checked_or_the_time_left_less_the_margin_when_less(campaign):
    campaign.start(done=3, steps=9, does=1)  # a start on time: its own start-up is within JOB_START_S
    assert campaign.budgets == [LIMIT_MIN * 60 - cluster_job.JOB_START_S - MARGIN_S]
    campaign.left_s = 300.0  # a start that began late, or was slow to start
    campaign.start(done=4, steps=9, does=1)
    assert campaign.budgets == [300.0 - MARGIN_S]


def test_a_job_that_did_no_step_stops_instead_of_requeueing_forever(campaign):
    assert campaign.start(done=3, steps=9, does=0) == "stalled"
    assert campaign.requeued == 0 and not campaign.rendered and "larger --time" in campaign.lines[-1]


def test_a_finished_plan_renders_and_a_stopped_or_broken_campaign_does_not(campaign):
    assert campaign.start(done=8, steps=9, does=1) == "done"
    assert campaign.rendered == 1 and not campaign.requeued
    assert campaign.start(done=3, steps=9, does=1, exit=130) == "interrupted"
    assert campaign.start(done=3, steps=9, does=1, exit=2) == "failed"
    assert campaign.rendered == 1 and not campaign.requeued


def test_a_campaign_that_words_its_output_differently_is_requeued_while_its_json_says_steps_are_left(campaign):
    """Fault: the job read the campaign's printed text (``[done]`` lines of the dry run, a "continue
    with:" line) and took a rewording for a finished plan."""
    campaign.start(done=3, steps=9, does=2, prints=("2 steps done, 4 left", "to go on, run: python -m ..."))
    assert campaign.requeued == 1 and not campaign.rendered


def test_a_plan_whose_json_says_nothing_is_left_to_do_ends_done_whatever_the_campaign_printed(campaign):
    """The other side of the fault: the printed words say to continue, the plan has nothing left
    that a job could do (one step done now, one blocked)."""
    outcome = campaign.start(done=7, steps=9, does=1, blocked=1, prints=("continue with: python -m ...",))
    assert outcome == "done" and campaign.rendered == 1 and not campaign.requeued


def test_without_quarto_the_report_is_skipped_with_a_line(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster_job.shutil, "which", lambda *_, **__: None)
    lines = []
    assert cluster_job.render_report(tmp_path, lines.append, 100) is None
    assert len(lines) == 1 and "Quarto is not installed" in lines[0] and "make report" in lines[0]


FAKE_QUARTO = """#!/usr/bin/env bash
# quarto render DOC: a PDF that says where it was made and from which results
printf '%s\\n%s\\n' "$PWD" "$MNISTBENCH_RESULTS" > "${2%.qmd}.pdf"
"""


def test_with_quarto_the_report_and_supplement_are_rendered_from_a_copy_into_the_results(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "quarto").write_text(FAKE_QUARTO)
    (bin_dir / "quarto").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    results = tmp_path / "study"
    results.mkdir()
    lines = []
    target = cluster_job.render_report(results, lines.append, 100)
    assert target == results / cluster_job.REPORT_DIR and lines == [
        f"cluster: report rendered: {target / 'report.pdf'} and {target / 'supplement.pdf'}"]
    for pdf in ("report.pdf", "supplement.pdf"):
        made_in, read_from = (target / pdf).read_text().splitlines()
        assert read_from == str(results)  # the documents read this study's records
        assert Path(made_in).name.startswith("mnistbench-render-") and not Path(made_in).exists()  # in a copy


def test_a_failing_render_is_one_line_that_says_how_to_render_later(monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "quarto").write_text("#!/usr/bin/env bash\necho 'ERROR: no kernel' >&2\nexit 1\n")
    (bin_dir / "quarto").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    lines = []
    assert cluster_job.render_report(tmp_path, lines.append, 100) is None
    assert lines == [f"cluster: rendering failed (ERROR: no kernel); render later where Quarto is: "
                     f"MNISTBENCH_RESULTS={tmp_path} make report"]
    assert not (tmp_path / cluster_job.REPORT_DIR).exists()


@pytest.mark.parametrize("text, seconds", [("1:30", 90), ("2:03:04", 7384), ("1-00:00:05", 86405),
                                           ("0:00", 0), ("UNLIMITED", None), ("INVALID", None), ("", None)])
def test_slurm_durations_are_read_as_squeue_writes_them(text, seconds):
    assert cluster_job.slurm_duration_s(text) == seconds
