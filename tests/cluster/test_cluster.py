"""Submitting a campaign to SLURM: the checks, SIGTERM, and a real cluster (the job's decisions: test_job.py).

The tests marked ``slurm`` submit real jobs. They need ``sbatch``, ``squeue`` and
``scontrol`` on the PATH and a controller that answers (``scripts/local-slurm.sh
start`` makes a one-node cluster on this machine); without them they skip, saying
why, unless ``MNISTBENCH_REQUIRE_SLURM=1`` (CI), where that is a failure. Nothing
here names a step of the plan: what a campaign should do is read from its own
plan and dry run.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistbench.bench import campaign
from mnistbench.bench.evidence.items import describe_device, evidence_record
from mnistbench.bench.results import config_fingerprint, save_record
from mnistbench.cluster import job as cluster_job
from mnistbench.cluster import submit as cluster
from mnistbench.provenance import code_version
from tests.factories import run_record

FINAL_STATES = ("COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
                "BOOT_FAIL", "DEADLINE")
STARTED = re.compile(r"^\[\d+/\d+\] (?:tier \d+: )?(.*)$", re.M)  # the campaign's line as a step starts
SAVED = re.compile(r"^\s+saved (run-\S+\.json)$", re.M)  # the campaign's line as a run's record is saved


def mnistbench(*args, **options):
    return subprocess.run([sys.executable, "-m", "mnistbench", *args], capture_output=True, text=True, **options)


# --- the job's time and parameters -------------------------------------------------------------


def test_the_margin_leaves_the_clean_stop_before_slurms_signal():
    for minutes in (5, 30, 240, 2880):
        margin = cluster.default_margin_s(minutes)
        assert cluster.MIN_MARGIN_S <= margin <= 600 and margin <= max(0.1 * minutes * 60, 2 * cluster.MIN_MARGIN_S)
    assert cluster.MIN_MARGIN_S > cluster_job.SIGNAL_DELAY_S  # a clean stop comes before the net under an overrun


def test_slurm_parameters_ask_for_one_gpu_one_task_and_the_node_to_itself(tmp_path):
    gpu = cluster.slurm_parameters(cluster.Request(tmp_path / "a100", 240, setup=("source .venv/bin/activate",),
                                                   sbatch=(("constraint", "a100"), ("qos", "short"))))
    assert gpu["gpus_per_node"] == 1 and gpu["ntasks_per_node"] == 1 and gpu["nodes"] == 1
    assert gpu["exclusive"] is True and gpu["time"] == 240
    assert gpu["setup"] == ["source .venv/bin/activate"]
    assert gpu["additional_parameters"] == {"constraint": "a100", "qos": "short"}
    assert gpu["signal_delay_s"] == cluster_job.SIGNAL_DELAY_S and gpu["stderr_to_stdout"] is True
    cpu = cluster.slurm_parameters(cluster.Request(tmp_path / "cpu", 60, device="cpu", exclusive=False))
    assert "gpus_per_node" not in cpu and "exclusive" not in cpu and "additional_parameters" not in cpu


# --- the command line's checks: one line, exit status 2 -------------------------------------------


def test_no_sbatch_on_the_path_is_one_line(tmp_path):
    done = mnistbench("cluster", "submit", "--time", "60", "--results-dir", str(tmp_path / "r"), "--device", "cpu",
                      env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "sbatch" in done.stderr and "not on the PATH" in done.stderr and "Traceback" not in done.stderr


def fake_slurm(folder: Path) -> dict:
    """A PATH on which sbatch, squeue and scontrol exist but do nothing (the checks run before them)."""
    folder.mkdir()
    for tool in ("sbatch", "squeue", "scontrol"):
        (folder / tool).write_text("#!/bin/sh\nexit 1\n")
        (folder / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_time_limit_too_short_for_the_longest_step_left_is_one_line_that_offers_one(tmp_path, monkeypatch):
    env = fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", env["PATH"])
    results = tmp_path / "study"
    done = mnistbench("cluster", "submit", "--time", "1", "--results-dir", str(results), "--device", "cpu",
                      "--quick", env=env)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    enough = int(re.search(r"ask for --time (\d+) or more", done.stderr).group(1))
    label, seconds = cluster.longest_step("cpu", True, results)
    assert label in done.stderr and enough * 60 >= seconds + cluster.default_margin_s(enough)
    cluster.check_request(cluster.Request(results, enough, device="cpu", quick=True))  # the offer passes
    with pytest.raises(cluster.UserError, match="ask for --time"):  # and is the shortest that does
        cluster.check_request(cluster.Request(results, enough - 1, device="cpu", quick=True))
    for step_s in (100, 2000, 20000):  # where the default margin grows with the limit, too
        minutes = cluster.minutes_for(step_s, None)
        assert cluster.campaign_budget_s(minutes, cluster.default_margin_s(minutes)) >= step_s
        assert cluster.campaign_budget_s(minutes - 1, cluster.default_margin_s(minutes - 1)) < step_s
    record_all_but(results, [step.label for step in campaign.plan("cpu", True, results)][:1])
    assert cluster.longest_step("cpu", True, results)[1] < seconds  # a step done needs no time any more


def test_a_results_folder_that_is_a_file_is_one_line(tmp_path):
    env = fake_slurm(tmp_path / "bin")
    blocker = tmp_path / "file"
    blocker.write_text("")
    for action in (["submit", "--time", "60", "--device", "cpu"], ["status"]):
        done = mnistbench("cluster", *action, "--results-dir", str(blocker), env=env)
        assert done.returncode == 2
        assert done.stderr.strip() == f"mnistbench: error: results folder {blocker} is a file, not a folder"


def test_a_margin_below_slurms_signal_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_slurm(tmp_path / "bin")["PATH"])
    request = cluster.Request(tmp_path / "study", 60, device="cpu", margin_s=cluster_job.SIGNAL_DELAY_S)
    with pytest.raises(cluster.UserError, match="--margin"):
        cluster.check_request(request)


def test_status_of_a_folder_without_jobs_says_so(tmp_path):
    done = mnistbench("cluster", "status", "--results-dir", str(tmp_path))
    assert done.returncode == 2 and "no job was submitted into" in done.stderr


# --- a results folder with most of the plan done ---------------------------------------------------


def record_all_but(results: Path, left: list[str], wall_s: float = 10.0) -> None:
    """Records that the campaign counts as current (this code, size, machine and software) for every
    step of the quick CPU plan but those labelled ``left``, so that a test runs only those: each run
    took ``wall_s``, most of it starting its process (as a quick run on a 2-core machine does); an
    evidence part holds no data."""
    described = describe_device("cpu")
    platform = {**described["platform"], "code_version": code_version()}  # a run's, not an evidence item's
    parts = {}
    for step in campaign.plan("cpu", True, results):
        if step.label in left:
            continue
        for run in step.runs:
            c = run.config
            record = run_record(run.framework, c.batch_size, c.seed, (1.0,) + (0.3,) * (c.epochs - 1), "cpu",
                                steps=c.n_train // c.batch_size, variant=run.variant)
            record.update(config=c.to_dict(), config_fingerprint=config_fingerprint(c), wall_s=wall_s,
                          device=described["device"], platform=platform)
            save_record(record, step.folder)
        if step.kind == "evidence":
            parts.setdefault(step.evidence, {"quick": True, "parts": {}, "seconds": {}})["parts"][step.part] = {}
    for name, data in parts.items():
        save_record(evidence_record(name, described, data), results / "evidence")


def jax_sessions(results: Path) -> list[str]:
    """The quick plan's JAX sessions (each a cold start of 7 to 12 s on a 2-core machine), in its order."""
    return [step.label for step in campaign.plan("cpu", True, results)
            if step.kind == "session" and step.runs[0].framework == "jax"]


def plan_json(results: Path) -> dict:
    done = mnistbench("campaign", "--device", "cpu", "--quick", "--results-dir", str(results), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_records_written_for_a_test_count_as_done_and_leave_the_rest_to_do(tmp_path):
    results = tmp_path / "study"
    left = jax_sessions(results)
    record_all_but(results, left)
    plan = plan_json(results)
    assert [step["label"] for step in plan["steps"] if step["state"] != "done"] == left
    assert plan["to_do"] == len(left) and plan["blocked"] == 0


# --- SIGTERM, as scancel and a time limit send it -------------------------------------------------


def child_pids(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def label_of(line: str, planned: list) -> str:
    """The planned step a started line names (the longest label it begins with)."""
    found = [p.label for p in planned if line == p.label or line.startswith(p.label + " ")]
    assert found, f"no planned step starts {line!r}"
    return max(found, key=len)


def done_labels(results: Path) -> list[str]:
    return [p.step.label for p in campaign.assess(campaign.plan("cpu", True, results), "cpu", True, results)
            if p.state == "done"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the child process")
def test_sigterm_is_handled_like_ctrl_c_and_kills_the_step_in_progress(tmp_path):
    results = tmp_path / "study"
    record_all_but(results, jax_sessions(results)[:2])
    child = subprocess.Popen([sys.executable, "-m", "mnistbench", "campaign", "--device", "cpu", "--quick",
                              "--results-dir", str(results)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    started = []
    for line in child.stderr:
        started += STARTED.findall(line)
        if len(started) == 2:  # the first step is done, the second under way
            break
    time.sleep(1)
    grandchildren = child_pids(child.pid)
    assert grandchildren, "the step should run in a child process"
    child.send_signal(signal.SIGTERM)  # to the campaign only, as `kill` would
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip().splitlines()[-1] == ("mnistbench: interrupted: finished steps are saved in "
                                            f"{results}; run the same command to continue")
    assert "Traceback" not in err
    deadline = time.time() + 10  # SIGKILL is sent at once; the kernel may take a moment
    while any(alive(pid) for pid in grandchildren) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in grandchildren if alive(pid)], "the step's child was left running"
    done, planned = done_labels(results), campaign.plan("cpu", True, results)
    first, second = (label_of(line, planned) for line in started)
    assert first in done and second not in done  # finished kept, the one in progress to do again
    assert not list(results.rglob(".*.tmp"))


# --- a real SLURM -------------------------------------------------------------------------------


def slurm_missing() -> str | None:
    """Why no SLURM job can run here, or None."""
    missing = [tool for tool in ("sbatch", "squeue", "scontrol", "scancel", "sinfo") if shutil.which(tool) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} not on the PATH): scripts/local-slurm.sh install "
                "&& scripts/local-slurm.sh start")
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=60)
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return f"no SLURM controller answers (scontrol ping: {(ping.stdout + ping.stderr).strip()!r}): " \
               "scripts/local-slurm.sh start"
    nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=60).stdout.split()
    if not any(state.rstrip("*~#") in ("idle", "mixed", "allocated") for state in nodes):
        return f"no SLURM node is up (sinfo: {' '.join(nodes) or 'nothing'})"
    return None


@pytest.fixture
def slurm():
    """The ids of the jobs a test submits (through ``submit``); any still queued at its end is cancelled."""
    reason = slurm_missing()
    if reason and os.environ.get("MNISTBENCH_REQUIRE_SLURM") == "1":
        pytest.fail(f"MNISTBENCH_REQUIRE_SLURM=1 but {reason}")
    if reason:
        pytest.skip(reason)
    submitted = []
    yield submitted
    for job_id in submitted:
        if job_field(job_id, "JobState") not in FINAL_STATES:
            subprocess.run(["scancel", job_id])


def without_quarto() -> dict[str, str]:
    """This environment with no Quarto on its PATH: a job submitted from it ends with its one line
    instead of a 20 s render (the job's rendering is tested with a stand-in in test_job.py; the
    report's own render in tests/report)."""
    kept = [folder for folder in os.environ.get("PATH", "").split(os.pathsep)
            if folder and not (Path(folder) / "quarto").exists()]
    return {**os.environ, "PATH": os.pathsep.join(kept)}


def submit(slurm: list, results: Path, *options: str) -> str:
    done = mnistbench("cluster", "submit", "--device", "cpu", "--quick", "--results-dir", str(results), *options,
                      env=without_quarto())  # sbatch passes its environment on to the job
    assert done.returncode == 0, done.stderr
    assert "tail -f" in done.stdout and "squeue -j" in done.stdout  # how to follow it
    job_id = re.search(r"submitted job (\d+)", done.stdout).group(1)
    slurm.append(job_id)
    return job_id


def job_field(job_id: str, name: str) -> str:
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout
    found = re.search(rf"\b{name}=(\S+)", shown)
    return found.group(1) if found else ""


def wait_for(condition, timeout_s: float, what: str, log: Path | None = None):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"{what} did not happen within {timeout_s:.0f} s; log:\n{tail}")


def wait_for_end(job_id: str, log: Path, timeout_s: float) -> str:
    return wait_for(lambda: job_field(job_id, "JobState") in FINAL_STATES and job_field(job_id, "JobState"),
                    timeout_s, f"the end of job {job_id}", log)


def finished(results: Path) -> dict[tuple[str, str], object]:
    """Every finished thing in ``results``: each run record whole, each part of an evidence
    record (an item's record gains parts as its steps finish)."""
    found = {}
    for path in results.rglob("*.json"):
        record = json.loads(path.read_text())
        if record.get("kind") == "evidence":
            found.update({(path.name, part): value for part, value in record["data"]["parts"].items()})
        else:
            found[(path.name, "")] = record
    return found


@pytest.mark.slurm
def test_a_campaign_longer_than_its_job_is_requeued_until_every_step_is_done_once(slurm, tmp_path):
    results = tmp_path / "study"
    sessions = jax_sessions(results)
    left = [sessions[0], sessions[-1]]  # the records estimate them alike
    record_all_but(results, left)
    # The shortest time limit the code allows for the longest step left (and a second for the campaign to
    # reach it), with the widest margin: each start leaves the campaign what submit checked, one step's
    # estimate, so the first start does the first step and the second start the other. The margin costs no
    # time: the job is requeued as soon as the campaign stops.
    needed = cluster.longest_step("cpu", True, results)[1] + 1
    minutes = cluster.minutes_for(needed, cluster.MIN_MARGIN_S)
    margin = math.floor(cluster.campaign_budget_s(minutes, 0) - needed)
    partition = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout.split()[0]
    job_id = submit(slurm, results, "--time", str(minutes), "--margin", str(margin),
                    "--partition", partition.rstrip("*"))
    log = cluster.log_path(results, job_id)
    state = wait_for_end(job_id, log, timeout_s=300)
    text = log.read_text()
    assert state == "COMPLETED", text[-3000:]
    assert int(job_field(job_id, "Restarts")) >= 1
    starts = re.findall(rf"^cluster: job {job_id}, start (\d+)", text, re.M)
    assert len(starts) >= 2 and starts == [str(n) for n in range(1, len(starts) + 1)]
    assert text.count("requeueing job") == len(starts) - 1 and "the plan is done" in text
    assert "Traceback" not in text and "interrupted" not in text  # every start stopped cleanly
    # Each step left started once over all the starts, and each run trained once: none redone, none skipped
    planned = campaign.plan("cpu", True, results)
    assert sorted(label_of(line, planned) for line in STARTED.findall(text)) == sorted(left)
    saved = SAVED.findall(text)
    assert len(saved) == len(set(saved)) == len(left) and set(saved) <= {p.name for p in results.glob("run-*.json")}
    assert done_labels(results) == [step.label for step in planned]
    assert not list(results.rglob(".*.tmp"))
    assert "Quarto is not installed on this node" in text  # the job's last step, skipped with its line
    status = mnistbench("cluster", "status", "--results-dir", str(results))
    assert status.returncode == 0 and f"job {job_id}" in status.stdout and "COMPLETED" in status.stdout
    assert "the plan is done" in status.stdout


@pytest.mark.slurm
def test_a_cancelled_job_keeps_its_finished_steps_and_the_next_submission_goes_on(slurm, tmp_path):
    results = tmp_path / "study"
    left = jax_sessions(results)[:2]
    record_all_but(results, left)
    first = submit(slurm, results, "--time", "10")  # both steps fit in one start
    log = cluster.log_path(results, first)
    wait_for(lambda: log.exists() and len(STARTED.findall(log.read_text())) >= 2, 120,
             "the second step of the first job", log)
    time.sleep(1)  # the second step is under way
    subprocess.run(["scancel", first], check=True)
    assert wait_for_end(first, log, timeout_s=60) == "CANCELLED"
    wait_for(lambda: "cluster: the campaign was stopped" in log.read_text(), 30, "the job's last line", log)
    wait_for(lambda: subprocess.run(["pgrep", "-f", str(results)], capture_output=True).stdout == b"", 30,
             "the end of every process of the job", log)
    text = log.read_text()
    assert "mnistbench: interrupted: finished steps are saved in" in text and "Traceback" not in text
    status = mnistbench("cluster", "status", "--results-dir", str(results))
    assert "to continue: python -m mnistbench cluster submit --time 10" in status.stdout
    kept = finished(results)
    planned = campaign.plan("cpu", True, results)
    started = [label_of(line, planned) for line in STARTED.findall(text)]
    assert started == left and left[0] in done_labels(results) and left[1] not in done_labels(results)

    second = submit(slurm, results, "--time", "10")
    second_log = cluster.log_path(results, second)
    assert wait_for_end(second, second_log, timeout_s=120) == "COMPLETED"
    again = [label_of(line, planned) for line in STARTED.findall(second_log.read_text())]
    assert again == left[1:]  # the step cut short is done again, and nothing finished is
    assert done_labels(results) == [step.label for step in planned]
    now = finished(results)
    assert all(now.get(key) == value for key, value in kept.items())  # nothing finished lost, nor redone
