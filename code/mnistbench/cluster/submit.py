"""A device's campaign submitted to SLURM from the login node (submitit writes and submits the
sbatch script), and its status. One job runs one campaign, its steps one after another on a node it
has to itself unless asked otherwise, so no two timed steps share a GPU or a host; each GPU type is a
submission into a results folder of its own (a study of its own)."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import submitit
from submitit.core.utils import FailedJobError

from ..bench import campaign, estimates
from ..checks import check_not_a_file, check_writable
from ..errors import Error, UserError, last_line
from ..provenance import device_name
from .job import JOB_START_S, REPORT_DIR, SIGNAL_DELAY_S, SIGNAL_EARLY_S, CampaignJob, plan_status

LOG_DIR = "slurm"  # inside the results folder: the job's log, its sbatch script, submitit's files
JOBS_FILE = "jobs.jsonl"  # every submission into the folder: job id, time, command, device, size
MIN_MARGIN_S = SIGNAL_DELAY_S + SIGNAL_EARLY_S  # a clean stop must come before the signal can
STATES_STILL_QUEUED = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING",
                       "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT")


@dataclasses.dataclass(frozen=True)
class Request:
    """What the user names on the login node."""

    results_dir: Path
    time_min: int
    device: str = "gpu"
    quick: bool = False
    setup: tuple[str, ...] = ()  # shell lines run in the job before the campaign (activate the environment)
    margin_s: float | None = None  # None: default_margin_s(time_min)
    exclusive: bool = True
    sbatch: tuple[tuple[str, str], ...] = ()  # (name, value): partition, constraint (the GPU type), account, ...

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
    return next(minutes for minutes in itertools.count(1)
                if campaign_budget_s(minutes, default_margin_s(minutes) if margin_s is None else margin_s) >= step_s)


def longest_step(device: str, quick: bool, results_dir: Path) -> tuple[str, float]:
    """The longest step left to do and its estimate, from the records (a session's longest run, as
    the first of a process: a session stops between runs). Read as a login node without a GPU would."""
    history = campaign.load_history(results_dir, device, device_name(device), quick)
    planned = campaign.assess(campaign.plan(device, quick, results_dir), device, quick, results_dir,
                              visible=device == "cpu", history=history)
    left = [p for p in planned if p.state == campaign.TO_DO]
    steps = [(p.step.label, p.estimate_s) for p in left if p.step.kind != "session"]
    steps += [(f"{p.step.label}: {run.name}", estimates.run_time(run, history).seconds)
              for p in left if p.step.kind == "session" for run in p.todo]
    label, seconds = max(steps, key=lambda step: step[1], default=("none: the plan is done", 0.0))
    return " ".join(label.split()), seconds


def check_request(request: Request) -> None:
    """A request that could not work is a one-line error before anything is submitted."""
    missing = [tool for tool in ("sbatch", "squeue", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise UserError(f"{' and '.join(missing)} not on the PATH: submit from a SLURM login node "
                        "(or try it on this machine: scripts/local-slurm.sh install && scripts/local-slurm.sh start)")
    check_writable(request.results_dir)
    if request.margin < MIN_MARGIN_S:
        raise UserError(f"--margin {request.margin:g} is less than {MIN_MARGIN_S} s: the campaign must stop before "
                        f"SLURM's signal, {SIGNAL_DELAY_S} s before the limit (up to {SIGNAL_EARLY_S} s early)")
    budget = campaign_budget_s(request.time_min, request.margin)
    label, needed = longest_step(request.device, request.quick, request.results_dir)
    if needed > budget:
        left = f"about {budget:.0f} s" if budget > 0 else "no time"
        raise UserError(f"--time {request.time_min} leaves {left} per job for the campaign (after a "
                        f"{request.margin:.0f} s margin and {JOB_START_S} s to start); its longest step "
                        f"({label}) is estimated at {needed:.0f} s: ask for --time "
                        f"{minutes_for(needed, request.margin_s)} or more")
    running = queued(job_states([entry["job"] for entry in submissions(request.results_dir)]))
    if running:
        raise UserError(f"job {running[0]} is already running a campaign into {request.results_dir} (squeue -j "
                        f"{running[0]}); one campaign per folder: wait for it, or scancel it first")


def slurm_parameters(request: Request) -> dict:
    """submitit's: one task on one node, one GPU for a GPU campaign, the node to itself unless asked otherwise."""
    parameters = {"job_name": f"mnistbench-{request.device}-{request.results_dir.name}", "time": request.time_min,
                  "nodes": 1, "ntasks_per_node": 1, "signal_delay_s": SIGNAL_DELAY_S, "stderr_to_stdout": True,
                  "setup": list(request.setup), "gpus_per_node": 1 if request.device == "gpu" else None,
                  "exclusive": request.exclusive or None, "additional_parameters": dict(request.sbatch) or None}
    return {name: value for name, value in parameters.items() if value is not None}


def submit(request: Request, command: str) -> str:
    """Submit the campaign as one SLURM job; its id. ``command`` goes into the folder's jobs, for ``status``."""
    folder = request.results_dir / LOG_DIR
    steps = len(campaign.plan(request.device, request.quick, request.results_dir))
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=steps + 2)  # each start does a step, else stops
    executor.update_parameters(**slurm_parameters(request))
    try:
        job = executor.submit(CampaignJob(request.device, request.quick, str(request.results_dir), request.margin,
                                          request.time_min))
    except FailedJobError as error:
        raise Error(f"sbatch refused the job: {last_line(str(error))}") from None
    entry = {"job": job.job_id, "time": datetime.datetime.now().isoformat(timespec="seconds"), "command": command,
             "device": request.device, "quick": request.quick}
    with (folder / JOBS_FILE).open("a") as jobs:
        jobs.write(json.dumps(entry) + "\n")
    return job.job_id


def log_path(results_dir: Path, job_id: str) -> Path:
    return Path(results_dir) / LOG_DIR / f"{job_id}_0_log.out"


def submissions(results_dir: Path) -> list[dict]:
    """Every submission into ``results_dir`` (job, time, command, device, quick), oldest first."""
    path = Path(results_dir) / LOG_DIR / JOBS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def job_states(job_ids: list[str]) -> dict[str, str]:
    """The state of each job SLURM still knows (it forgets finished ones after a while), with its restarts."""
    try:
        shown = {job_id: subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                                        timeout=60).stdout for job_id in job_ids}
    except (OSError, subprocess.SubprocessError):  # no SLURM here: nothing known
        return {}
    found = {job_id: re.search(r"\bJobState=(\S+).*\bRestarts=(\d+)", text) for job_id, text in shown.items()}
    return {job_id: state[1] + (f", restarted {state[2]}x" if state[2] != "0" else "")
            for job_id, state in found.items() if state}


def queued(states: dict[str, str]) -> list[str]:
    """The jobs among ``states`` that are still pending or running."""
    return [job_id for job_id, state in states.items() if state.split(",")[0] in STATES_STILL_QUEUED]


def instructions(job_id: str, results_dir: Path) -> str:
    """What was submitted, where the log is, how to follow it and how to continue."""
    log = log_path(results_dir, job_id)
    return "\n".join([
        f"submitted job {job_id}: the campaign into {results_dir}, requeued until its plan is done",
        f"  log:       {log}  (it appears when the job starts)",
        f"  follow:    squeue -j {job_id}    tail -f {log}",
        f"  status:    python -m mnistbench cluster status --results-dir {results_dir}",
        f"  stop:      scancel {job_id}  (finished steps are kept; the step in progress is redone)",
        "  continue:  after a scancel or a failure, submit the same command again",
        f"  report:    {results_dir / REPORT_DIR}/report.pdf when the plan is done (where Quarto is installed)",
    ])


def status_text(results_dir: Path, tail: int = 8) -> str:
    """The folder's jobs and their states, the end of the newest log, the report, and how to continue."""
    check_not_a_file(results_dir, "results folder")
    jobs = submissions(results_dir)
    if not jobs:
        raise UserError(f"no job was submitted into {results_dir} (python -m mnistbench cluster submit ...)")
    states = job_states([entry["job"] for entry in jobs])
    lines = [f"results: {results_dir}"]
    lines += [f"  job {entry['job']} ({entry['time']}): {states.get(entry['job'], 'no longer known to SLURM')}"
              for entry in jobs]
    newest, report = log_path(results_dir, jobs[-1]["job"]), Path(results_dir) / REPORT_DIR / "report.pdf"
    last = newest.read_text(errors="replace").splitlines()[-tail:] if newest.exists() else []
    lines += [f"log: {newest}" + (", its last lines:" if newest.exists() else " (not yet: the job has not started)")]
    lines += ["  " + line for line in last]
    lines += [f"report: {report}" if report.exists() else "report: not rendered yet"]
    if plan_status(jobs[-1]["device"], jobs[-1]["quick"], str(results_dir))["to_do"] == 0:
        lines += ["the plan is done"]
    elif not queued(states):
        lines += [f"no job is queued and the plan is not done; to continue: {jobs[-1]['command']}"]
    return "\n".join(lines)
