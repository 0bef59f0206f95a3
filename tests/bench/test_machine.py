"""The machine's state around a block: another process's work is seen, this process's is not."""

import subprocess
import sys
import time

from mnistbench.bench import machine

BUSY = "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass"


def test_another_process_is_seen_and_this_ones_own_work_is_not():
    before = machine.snapshot()
    end = time.time() + 1.0
    while time.time() < end:  # this process busy: not "others"
        pass
    own = machine.between(before, machine.snapshot())
    before = machine.snapshot()
    subprocess.run([sys.executable, "-c", BUSY], check=True)  # another process busy for a second
    other = machine.between(before, machine.snapshot())
    assert other["others"] > own["others"] + 0.2
    assert other["interference"] and set(other) == {"others", "steal", "load1", "interference"}


def test_without_snapshots_nothing_is_claimed():
    assert machine.between(None, machine.snapshot()) == {"others": None, "steal": None, "load1": None,
                                                         "interference": None}
