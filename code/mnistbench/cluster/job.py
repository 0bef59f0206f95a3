"""What a SLURM job runs at each of its starts: the campaign within the time left, then
a requeue (steps are left) or the report (the plan is done).

``CampaignJob`` is the callable that submitit pickles and runs in the job. It runs
``python -m mnistbench campaign`` with a budget of the job's remaining time (as
SLURM says) less a margin; the campaign stops cleanly before a step that would not
fit. Steps left, and some done: the job raises submitit's requeue signal, and
submitit checkpoints the job and requeues it under the same id, exactly as when the
signal comes from SLURM before the time limit. No step done: it stops and says why
(no job would get further). Plan done: the report and the supplement are rendered
into the results folder where Quarto is installed. scancel and the time limit send
SIGTERM, which the campaign handles as Ctrl-C: finished steps stay, the step in
progress is done again at the next start.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import submitit

from ..errors import Error

REPORT_DIR = "report"  # the rendered PDFs, inside the results folder
SIGNAL_DELAY_S = 30  # submitit's requeue signal comes this long before the limit (the net under an overrun)
SIGNAL_EARLY_S = 60  # "the signal may be sent up to 60 seconds earlier than specified" (man sbatch)
DOCUMENTS = ("report.qmd", "supplement.qmd", "_quarto.yml", "references.bib", "scripts/render.sh")


class JobError(Error):
    """Something in the job that stops it (a dry run of the plan that fails)."""


def slurm_duration_s(text: str) -> float | None:
    """SLURM's [days-][hours:]minutes:seconds as seconds; None for UNLIMITED and the like."""
    found = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text.strip())
    if not found:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def seconds_left(job_id: str, time_min: int, started: float) -> tuple[float, str]:
    """The job's remaining time, as SLURM says (squeue %L), else from its limit."""
    try:
        done = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True,
                              timeout=30)
        left = slurm_duration_s(done.stdout.strip().splitlines()[0]) if done.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        left = None
    if left is not None:
        return left, "squeue"
    return time_min * 60 - (time.time() - started), "the time limit"


def campaign_command(device: str, quick: bool, results_dir: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mnistbench", "campaign", "--device", device, "--results-dir", results_dir,
            *(["--quick"] if quick else []), *extra]


def plan_status(device: str, quick: bool, results_dir: str) -> dict:
    """The plan's state as the campaign says it (``campaign --dry-run --json``): how many steps
    are done, to do and blocked."""
    done = subprocess.run(campaign_command(device, quick, results_dir, "--dry-run", "--json"), capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise JobError(f"the campaign's dry run failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout)


def ignore_requeue_signal() -> None:
    """In the campaign and its children: SLURM sends the requeue signal to every process
    of the job, and only the job's own process (submitit) is to act on it."""
    signal.signal(requeue_signal(), signal.SIG_IGN)


def requeue_signal() -> signal.Signals:
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


def run_campaign(command: list[str], log: Callable[[str], None]) -> int:
    """Run the campaign, its output into the job's log; its exit status."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=ignore_requeue_signal)
    for line in child.stdout:
        log(line.rstrip("\n"))
    return child.wait()


def project_dir() -> Path | None:
    """The project folder holding the documents (where this package was installed from)."""
    root = Path(__file__).resolve().parents[3]
    return root if all((root / name).exists() for name in DOCUMENTS) else None


def quarto_path() -> str | None:
    beside = Path(sys.executable).parent / "quarto"
    return shutil.which("quarto") or (str(beside) if beside.exists() else None)


def render_report(results_dir: Path, log: Callable[[str], None], timeout_s: float) -> Path | None:
    """Render the report and the supplement from ``results_dir`` into its ``report/``
    folder, in a copy of the documents (so the project's figures/ and freeze cache are
    not touched, and two studies can render at once). None, with a log line, when not."""
    later = f"render later where Quarto is: MNISTBENCH_RESULTS={results_dir} make report"
    project, quarto = project_dir(), quarto_path()
    if project is None or quarto is None:
        log(f"cluster: {'Quarto is not installed' if quarto is None else 'the documents are not here'} "
            f"on this node, the report is not rendered; {later}")
        return None
    with tempfile.TemporaryDirectory(prefix="mnistbench-render-") as scratch:
        for name in DOCUMENTS:
            (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / name, Path(scratch) / name)
        env = {**os.environ, "MNISTBENCH_RESULTS": str(results_dir), "PYTHON": sys.executable,
               "PATH": f"{Path(quarto).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        try:
            done = subprocess.run(["bash", "scripts/render.sh", "report.qmd", "supplement.qmd"], cwd=scratch,
                                  env=env, capture_output=True, text=True, timeout=max(timeout_s, 1))
        except subprocess.TimeoutExpired:
            log(f"cluster: rendering did not finish within the job's time; {later}")
            return None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            log(f"cluster: rendering failed ({last}); {later}")
            return None
        target = Path(results_dir) / REPORT_DIR
        target.mkdir(exist_ok=True)
        for pdf in ("report.pdf", "supplement.pdf"):
            shutil.copy2(Path(scratch) / pdf, target / pdf)
    log(f"cluster: report rendered: {target / 'report.pdf'} and {target / 'supplement.pdf'}")
    return target


@dataclasses.dataclass
class CampaignJob(submitit.helpers.Checkpointable):
    """What a job runs, at each start: the campaign within the time left, then a
    requeue (steps left), or the report (plan done). Its state is the results folder,
    so a requeue resubmits it unchanged (submitit's default checkpoint)."""

    device: str
    quick: bool
    results_dir: str
    margin_s: float
    time_min: int

    def __call__(self) -> str:
        outcome = run_job(self, lambda line: print(line, flush=True))
        if outcome in ("failed", "stalled"):
            sys.exit(1)  # SLURM shows the job FAILED; the log's last lines say why
        return outcome


def run_job(job: CampaignJob, log: Callable[[str], None], requeue: Callable[[], None] | None = None) -> str:
    """One start of the job; returns how it ended: "done", "failed", "interrupted" or "stalled"
    (or does not return: submitit requeues the job)."""
    started = time.time()
    job_id = os.environ.get("SLURM_JOB_ID", "?")
    run = int(os.environ.get("SLURM_RESTART_COUNT", "0")) + 1
    left, source = seconds_left(job_id, job.time_min, started)
    budget = left - job.margin_s
    log(f"cluster: job {job_id}, start {run}, on {socket.gethostname()}: {left:.0f} s left ({source}), "
        f"campaign budget {budget:.0f} s (margin {job.margin_s:.0f} s)")
    before = plan_status(job.device, job.quick, job.results_dir)["done"]
    status = run_campaign(
        campaign_command(job.device, job.quick, job.results_dir, "--max-seconds", f"{max(budget, 1):.0f}"), log)
    if status == 130:
        log("cluster: the campaign was stopped (scancel or the time limit); its finished steps are kept. "
            "Submit the same command again to continue")
        return "interrupted"
    if status not in (0, 1):
        log(f"cluster: the campaign failed (exit status {status}); see the lines above")
        return "failed"
    plan = plan_status(job.device, job.quick, job.results_dir)
    if plan["to_do"]:
        after = plan["done"]
        if after <= before:
            log(f"cluster: no step was done in {budget:.0f} s; the next one needs a longer job: submit again "
                "with a larger --time")
            return "stalled"
        log(f"cluster: {after - before} more steps done ({after} in all); requeueing job {job_id} for the rest")
        (requeue or (lambda: signal.raise_signal(requeue_signal())))()
        log("cluster: the job was not requeued (not running under submitit?); submit again to continue")
        return "stalled"
    log("cluster: the plan is done" + ("" if status == 0 else ", with failed steps (see above)"))
    render_report(Path(job.results_dir), log, timeout_s=seconds_left(job_id, job.time_min, started)[0]
                  - SIGNAL_DELAY_S - SIGNAL_EARLY_S)
    return "done" if status == 0 else "failed"
