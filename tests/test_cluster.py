"""SIGTERM, as scancel and a SLURM time limit send it, is handled as Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistbench import campaign

STARTED = re.compile(r"^\[\d+/\d+\] (.*)$", re.M)  # the campaign's line as a step starts


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
