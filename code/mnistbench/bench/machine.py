"""The machine's state around a timed block: was anything else running, did the hypervisor take time?

Read from Linux's ``/proc/stat`` (CPU time of the whole machine, by kind, in clock ticks) and
this process's own CPU time, before and after a block. Over the block:

- ``others``: the share of the machine's CPU time that other processes used (busy time less
  this process's own, over all cores' time);
- ``steal``: the share the hypervisor gave to other virtual machines;
- ``load1``: the one-minute load average at the block's end.

A block is flagged as measured under interference when ``others`` or ``steal`` passes
``INTERFERENCE``. "Idle" is checked from these numbers, never asserted. On a system without
``/proc/stat`` every figure is None.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

INTERFERENCE = 0.10  # a tenth of the machine's CPU time busy elsewhere, or stolen
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def snapshot() -> dict | None:
    """The machine's CPU ticks by kind and this process's CPU seconds, now."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    ticks = dict(zip(names, map(int, fields[1:1 + len(names)])))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"ticks": ticks, "own_s": usage.ru_utime + usage.ru_stime}


def between(before: dict | None, after: dict | None) -> dict:
    """What the machine did between two snapshots (see the module's docstring)."""
    if before is None or after is None:
        return {"others": None, "steal": None, "load1": None, "interference": None}
    delta = {kind: after["ticks"][kind] - before["ticks"][kind] for kind in before["ticks"]}
    total = sum(delta.values())
    if total <= 0:
        return {"others": None, "steal": None, "load1": None, "interference": None}
    busy = total - delta["idle"] - delta["iowait"] - delta["steal"]
    own = (after["own_s"] - before["own_s"]) * TICKS
    others = max(0.0, (busy - own) / total)
    steal = delta["steal"] / total
    return {"others": round(others, 4), "steal": round(steal, 4), "load1": round(os.getloadavg()[0], 2),
            "interference": others > INTERFERENCE or steal > INTERFERENCE}
