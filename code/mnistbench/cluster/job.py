"""What a SLURM job runs at each start: the campaign within the time left, then a requeue (steps are
left and some were done), a stop (none was done: no later start would get further), or the report.
Its state is the results folder. scancel and the time limit send SIGTERM, which the campaign handles
as Ctrl-C: finished steps stay, the step in progress is done again at the next start."""

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

from ..bench.results import RESULTS_ENV
from ..errors import INTERRUPTED_STATUS, Error, last_line

REPORT_DIR = "report"  # the rendered PDFs, inside the results folder
SIGNAL_DELAY_S = 30  # submitit's requeue signal comes this long before the limit (the net under an overrun)
SIGNAL_EARLY_S = 60  # "the signal may be sent up to 60 seconds earlier than specified" (man sbatch)
JOB_START_S = 20  # a start's time before the campaign's clock runs (Python, imports, dry runs), left out of budgets
REQUEUE_SIGNAL = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))  # submitit's
DOCUMENTS = ("report.qmd", "supplement.qmd", "_quarto.yml", "references.bib", "scripts/render.sh")


def slurm_duration_s(text: str) -> float | None:
    """SLURM's [days-][hours:]minutes:seconds as seconds; None for UNLIMITED and the like."""
    found = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)", text.strip())
    return sum(int(part or 0) * unit for part, unit in zip(found.groups(), (86400, 3600, 60, 1))) if found else None


def seconds_left(job_id: str, time_min: int, started: float) -> tuple[float, str]:
    """The job's remaining time, as SLURM says (squeue %L), else from its limit."""
    try:
        shown = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True,
                               timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        shown = ""
    left = slurm_duration_s(shown.split("\n")[0])
    return (left, "squeue") if left is not None else (time_min * 60 - (time.time() - started), "the time limit")


def campaign_command(device: str, quick: bool, results_dir: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mnistbench", "campaign", "--device", device, "--results-dir", results_dir,
            *(["--quick"] if quick else []), *extra]


def plan_status(device: str, quick: bool, results_dir: str) -> dict:
    """The plan's state as ``campaign --dry-run --json`` says it: how many steps are done, to do, blocked."""
    done = subprocess.run(campaign_command(device, quick, results_dir, "--dry-run", "--json"), capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise Error(f"the campaign's dry run failed: {last_line(done.stderr)}")
    return json.loads(done.stdout)


def run_campaign(command: list[str], log: Callable[[str], None]) -> int:
    """Run the campaign, its output into the job's log; its exit status. SLURM sends the requeue
    signal to every process of the job: only the job's own (submitit's) is to act on it."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"},
                             preexec_fn=lambda: signal.signal(REQUEUE_SIGNAL, signal.SIG_IGN))
    for line in child.stdout:
        log(line.rstrip("\n"))
    return child.wait()


def render_report(results_dir: Path, log: Callable[[str], None], timeout_s: float) -> Path | None:
    """Render the report and the supplement from ``results_dir`` into its ``report/``, in a copy of the
    documents (the project's figures/ and freeze cache stay untouched; two studies can render at once)."""
    later = f"render later where Quarto is: {RESULTS_ENV}={results_dir} make report"
    project = Path(__file__).resolve().parents[3]  # the clone the package runs from
    quarto = shutil.which("quarto", path=f"{os.environ.get('PATH', '')}{os.pathsep}{Path(sys.executable).parent}")
    # (where render.sh looks, given PYTHON: the PATH, then beside it)
    if quarto is None or not all((project / name).exists() for name in DOCUMENTS):
        log(f"cluster: {'Quarto is not installed' if quarto is None else 'the documents are not here'} "
            f"on this node, the report is not rendered; {later}")
        return None
    target = Path(results_dir) / REPORT_DIR
    with tempfile.TemporaryDirectory(prefix="mnistbench-render-") as scratch:
        for name in DOCUMENTS:
            (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / name, Path(scratch) / name)
        env = {**os.environ, RESULTS_ENV: str(results_dir), "PYTHON": sys.executable}
        try:
            done = subprocess.run(["bash", "scripts/render.sh", "report.qmd", "supplement.qmd"], cwd=scratch,
                                  env=env, capture_output=True, text=True, timeout=max(timeout_s, 1))
        except subprocess.TimeoutExpired:
            log(f"cluster: rendering did not finish within the job's time; {later}")
            return None
        if done.returncode != 0:
            log(f"cluster: rendering failed ({last_line(done.stderr)}); {later}")
            return None
        target.mkdir(exist_ok=True)
        for pdf in ("report.pdf", "supplement.pdf"):
            shutil.copy2(Path(scratch) / pdf, target / pdf)
    log(f"cluster: report rendered: {target / 'report.pdf'} and {target / 'supplement.pdf'}")
    return target


@dataclasses.dataclass
class CampaignJob(submitit.helpers.Checkpointable):
    """What a job runs, at each start (submitit's default checkpoint requeues it unchanged)."""

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
    """One start of the job; how it ended: done, failed, interrupted, stalled (or requeued: no return)."""
    started = time.time()
    job_id = os.environ.get("SLURM_JOB_ID", "?")
    before = plan_status(job.device, job.quick, job.results_dir)["done"]
    left, source = seconds_left(job_id, job.time_min, started)
    budget = min(left, job.time_min * 60 - JOB_START_S) - job.margin_s  # what submit checked, or less when late
    log(f"cluster: job {job_id}, start {int(os.environ.get('SLURM_RESTART_COUNT', '0')) + 1}, on "
        f"{socket.gethostname()}: {left:.0f} s left ({source}), campaign budget {budget:.0f} s "
        f"(margin {job.margin_s:.0f} s)")
    status = run_campaign(
        campaign_command(job.device, job.quick, job.results_dir, "--max-seconds", f"{max(budget, 1):.1f}"), log)
    if status == INTERRUPTED_STATUS:
        log("cluster: the campaign was stopped (scancel or the time limit); its finished steps are kept. "
            "Submit the same command again to continue")
        return "interrupted"
    if status not in (0, 1):
        log(f"cluster: the campaign failed (exit status {status}); see the lines above")
        return "failed"
    plan = plan_status(job.device, job.quick, job.results_dir)
    if plan["to_do"] and plan["done"] <= before:
        log(f"cluster: no step was done in {budget:.0f} s; the next one needs a longer job: submit again "
            "with a larger --time")
        return "stalled"
    if plan["to_do"]:
        log(f"cluster: {plan['done'] - before} more steps done ({plan['done']} in all); requeueing job {job_id} "
            "for the rest")
        (requeue or (lambda: signal.raise_signal(REQUEUE_SIGNAL)))()  # submitit requeues the job and exits
        return "requeued"
    log("cluster: the plan is done" + ("" if status == 0 else ", with failed steps (see above)"))
    render_report(Path(job.results_dir), log, timeout_s=seconds_left(job_id, job.time_min, started)[0]
                  - SIGNAL_DELAY_S - SIGNAL_EARLY_S)
    return "done" if status == 0 else "failed"
