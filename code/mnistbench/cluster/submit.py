"""A device's campaign submitted to SLURM, on the login node: checks, submission, status.

submitit does the SLURM work: it writes the sbatch script and submits it, and, when
the job gets its signal (USR2, ``SIGNAL_DELAY_S`` before the time limit, or on
preemption), checkpoints the job and requeues it under the same id. What runs in the
job is ``job.CampaignJob``: the campaign within the time left, requeued until
its plan is done, then the report.

One job runs one campaign, its steps one after another on one GPU of a node the
job has to itself (``--exclusive`` unless asked otherwise), so no two timed steps
share a GPU or a host. Several GPU types are several submissions, each into its
own results folder: each is a study of its own.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import submitit

from ..errors import Error, UserError
from .job import REPORT_DIR, SIGNAL_DELAY_S, SIGNAL_EARLY_S, CampaignJob, plan_status

LOG_DIR = "slurm"  # inside the results folder: the job's log, its sbatch script, submitit's files
JOBS_FILE = "jobs.jsonl"  # every submission into the folder: job id, time, command, device, size
MIN_MARGIN_S = SIGNAL_DELAY_S + SIGNAL_EARLY_S  # a clean stop must come before the signal can
JOB_START_S = 20  # in a job, before the campaign's clock starts: Python, imports, a dry run of the plan
STATES_STILL_QUEUED = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                       "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT")


class ClusterError(Error):
    """SLURM refused or failed something the user asked for."""


@dataclasses.dataclass(frozen=True)
class Request:
    """What the user names on the login node."""

    results_dir: Path
    time_min: int
    device: str = "gpu"
    quick: bool = False
    partition: str | None = None
    constraint: str | None = None  # a GPU type, as the cluster names it (a100, h100, ...)
    account: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run in the job before the campaign (activate the environment)
    margin_s: float | None = None  # None: default_margin_s(time_min)
    exclusive: bool = True
    sbatch: tuple[tuple[str, str], ...] = ()  # any other sbatch option, as (name, value)

    @property
    def margin(self) -> float:
        return self.margin_s if self.margin_s is not None else default_margin_s(self.time_min)


def default_margin_s(time_min: int) -> float:
    """A tenth of the job's time, at least ``2 * MIN_MARGIN_S``, at most 10 minutes."""
    return float(min(600, max(2 * MIN_MARGIN_S, 6 * time_min)))


def campaign_budget_s(time_min: int, margin_s: float) -> float:
    """Seconds a job of ``time_min`` minutes leaves the campaign's steps."""
    return time_min * 60 - margin_s - JOB_START_S


def minutes_for(step_s: float, margin_s: float | None) -> int:
    """The shortest job (whole minutes, SLURM's unit) that leaves ``step_s`` to the campaign."""
    minutes = 1
    while campaign_budget_s(minutes, margin_s if margin_s is not None else default_margin_s(minutes)) < step_s:
        minutes += 1
    return minutes


# --- on the login node: checks ------------------------------------------------------


def check_slurm() -> None:
    missing = [tool for tool in ("sbatch", "squeue", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise UserError(f"{' and '.join(missing)} not on the PATH: submit from a SLURM login node "
                        "(or try it on this machine: scripts/local-slurm.sh install && scripts/local-slurm.sh start)")


def longest_step(device: str, quick: bool, results_dir: Path) -> tuple[str, float]:
    """The plan's longest step and its estimate (from this folder's records, else the
    campaign's stated defaults). Read without a GPU: the login node has none."""
    from ..bench import campaign
    from ..bench import estimates as model
    from ..provenance import device_name

    history = campaign.load_history(results_dir, device, device_name(device), quick)
    estimates = []
    for step in campaign.plan(device, quick, results_dir):
        if step.kind == "session":  # a session stops between runs: its longest run, as the first of a process
            run = max(step.runs, key=lambda r: model.cold_run(r, history).seconds)
            estimates.append((f"{step.label}: {run.name}", model.cold_run(run, history).seconds))
        else:
            estimates.append((step.label, campaign.estimate(step, (), history).seconds))
    label, seconds = max(estimates, key=lambda item: item[1])
    return " ".join(label.split()), seconds


def check_request(request: Request) -> None:
    """A request that could not work is a one-line error before anything is submitted."""
    from ..checks import check_writable

    check_writable(request.results_dir)
    if request.margin < MIN_MARGIN_S:
        raise UserError(f"--margin {request.margin:g} is less than {MIN_MARGIN_S} s: the campaign must stop "
                        f"before SLURM's signal, which comes {SIGNAL_DELAY_S} s before the limit (up to "
                        f"{SIGNAL_EARLY_S} s early)")
    budget = campaign_budget_s(request.time_min, request.margin)
    label, needed = longest_step(request.device, request.quick, request.results_dir)
    if needed > budget:
        enough = minutes_for(needed, request.margin_s)
        left = f"about {budget:.0f} s" if budget > 0 else "no time"
        raise UserError(f"--time {request.time_min} leaves {left} per job for the campaign (after a "
                        f"{request.margin:.0f} s margin and {JOB_START_S} s to start); its longest step "
                        f"({label}) is estimated at {needed:.0f} s: ask for --time {enough} or more")
    queued = queued_jobs(request.results_dir)
    if queued:
        raise UserError(f"job {queued[0]} is already running a campaign into {request.results_dir} (squeue -j "
                        f"{queued[0]}); one campaign per folder: wait for it, or scancel it first")


# --- on the login node: submission --------------------------------------------------


def slurm_parameters(request: Request) -> dict:
    """submitit's SlurmExecutor parameters for the request: one task on one node, one
    GPU (for a GPU campaign), the node to itself unless asked otherwise, one log."""
    parameters = {
        "job_name": f"mnistbench-{request.device}-{request.results_dir.name}",
        "time": request.time_min,
        "nodes": 1,
        "ntasks_per_node": 1,
        "signal_delay_s": SIGNAL_DELAY_S,
        "stderr_to_stdout": True,
        "setup": list(request.setup),
    }
    if request.device == "gpu":
        parameters["gpus_per_node"] = 1
    if request.exclusive:
        parameters["exclusive"] = True
    for name in ("partition", "constraint", "account"):
        if getattr(request, name):
            parameters[name] = getattr(request, name)
    if request.sbatch:
        parameters["additional_parameters"] = dict(request.sbatch)
    return parameters


@dataclasses.dataclass(frozen=True)
class Submitted:
    job_id: str
    results_dir: Path
    log: Path


def submit(request: Request, command: str) -> Submitted:
    """Submit the campaign as one SLURM job; ``command`` (what the user typed) is kept
    in the folder's list of jobs, so ``status`` can say how to continue."""
    from submitit.core.utils import FailedJobError

    folder = request.results_dir / LOG_DIR
    # Every start does at least one step (else it stops), so the plan bounds the requeues.
    from ..bench import campaign

    steps = len(campaign.plan(request.device, request.quick, request.results_dir))
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=steps + 2)
    executor.update_parameters(**slurm_parameters(request))
    job_spec = CampaignJob(request.device, request.quick, str(request.results_dir), request.margin,
                           request.time_min)
    try:
        job = executor.submit(job_spec)
    except FailedJobError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        raise ClusterError(f"sbatch refused the job: {lines[-1] if lines else error}") from None
    entry = {"job": job.job_id, "time": datetime.datetime.now().isoformat(timespec="seconds"), "command": command,
             "device": request.device, "quick": request.quick}
    with (folder / JOBS_FILE).open("a") as jobs:
        jobs.write(json.dumps(entry) + "\n")
    return Submitted(job.job_id, request.results_dir, log_path(request.results_dir, job.job_id))


def log_path(results_dir: Path, job_id: str) -> Path:
    return Path(results_dir) / LOG_DIR / f"{job_id}_0_log.out"


def submissions(results_dir: Path) -> list[dict]:
    """Every submission into ``results_dir`` (job, time, command, device, quick), oldest first."""
    path = Path(results_dir) / LOG_DIR / JOBS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def job_states(job_ids: list[str]) -> dict[str, str]:
    """The state of each job SLURM still knows (scontrol keeps finished jobs a while)."""
    states = {}
    for job_id in job_ids:
        try:
            done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                                  timeout=60)
        except (OSError, subprocess.SubprocessError):  # no SLURM here: nothing known
            return {}
        found = re.search(r"\bJobState=(\S+)", done.stdout)
        restarts = re.search(r"\bRestarts=(\d+)", done.stdout)
        if done.returncode == 0 and found:
            states[job_id] = found.group(1) + (f", restarted {restarts.group(1)}x" if restarts and
                                               restarts.group(1) != "0" else "")
    return states


def queued_jobs(results_dir: Path) -> list[str]:
    """Jobs of this folder that are still pending or running."""
    ids = [entry["job"] for entry in submissions(results_dir)]
    return [job_id for job_id, state in job_states(ids).items() if state.split(",")[0] in STATES_STILL_QUEUED]


# --- what the user reads ---------------------------------------------------------------


def instructions(submitted: Submitted) -> str:
    """What was submitted, where the log is, how to follow it and how to continue."""
    results, log = submitted.results_dir, submitted.log
    return "\n".join([
        f"submitted job {submitted.job_id}: the campaign into {results}, requeued until its plan is done",
        f"  log:       {log}  (it appears when the job starts)",
        f"  follow:    squeue -j {submitted.job_id}    tail -f {log}",
        f"  status:    python -m mnistbench cluster status --results-dir {results}",
        f"  stop:      scancel {submitted.job_id}  (finished steps are kept; the step in progress is redone)",
        "  continue:  after a scancel or a failure, submit the same command again",
        f"  report:    {results / REPORT_DIR}/report.pdf when the plan is done (where Quarto is installed)",
    ])


def status_text(results_dir: Path, tail: int = 8) -> str:
    """The folder's jobs, their states, the end of the newest log, and the report."""
    from ..checks import check_not_a_file

    check_not_a_file(results_dir, "results folder")
    jobs = submissions(results_dir)
    if not jobs:
        raise UserError(f"no job was submitted into {results_dir} (python -m mnistbench cluster submit ...)")
    states = job_states([entry["job"] for entry in jobs])
    lines = [f"results: {results_dir}"]
    lines += [f"  job {entry['job']} ({entry['time']}): {states.get(entry['job'], 'no longer known to SLURM')}"
              for entry in jobs]
    newest = log_path(results_dir, jobs[-1]["job"])
    text = newest.read_text(errors="replace") if newest.exists() else ""
    if newest.exists():
        lines.append(f"log: {newest}, its last lines:")
        lines += ["  " + line for line in text.splitlines()[-tail:]]
    else:
        lines.append(f"log: {newest} (not there yet: the job has not started)")
    report = Path(results_dir) / REPORT_DIR / "report.pdf"
    lines.append(f"report: {report}" if report.exists() else "report: not rendered yet")
    if plan_status(jobs[-1]["device"], jobs[-1]["quick"], str(results_dir))["to_do"] == 0:
        lines.append("the plan is done")
    elif not any(states.get(entry["job"], "").split(",")[0] in STATES_STILL_QUEUED for entry in jobs):
        lines.append(f"no job is queued and the plan is not done; to continue: {jobs[-1]['command']}")
    return "\n".join(lines)


