"""How long a campaign's steps take, from what the records measured.

The rule, whole: a step takes what the records say the same thing took, scaled to its size. A run
takes the wall time of its closest record (same framework, batch size and precision; the same
variant where one is recorded, else the framework's default), with its steady steps and
validations rescaled to the run's epochs and steps; a later run of a session leaves out the
record's process start and keeps only its first epoch's excess (its compile), where the process
has not compiled its program yet. An evidence part takes its recorded seconds, scaled by the
processes it starts now against then; unrecorded, each of its processes is taken as the cold start
of a session like it (``measure.part_processes``). Records of this device come first, else those of the
device of the same kind with the most records; where no record holds anything alike, a run is put
at ``UNMEASURED_S``.
"""

from __future__ import annotations

import dataclasses
import statistics

from . import variants
from .evidence import measure
from .results import started_process

UNMEASURED_S = 60.0  # a step no record resembles (the only number here that no record measured)


@dataclasses.dataclass
class Estimate:
    """Seconds, and the devices whose records gave them; estimates add up and scale."""
    seconds: float
    sources: set[str]  # devices whose records the estimate used; "no record" where UNMEASURED_S stood in

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.seconds + other.seconds, self.sources | other.sources)

    def __mul__(self, factor: float) -> Estimate:
        return Estimate(self.seconds * factor, self.sources)

    @property
    def source(self) -> str:
        """Whose records the estimate read: 'AMD EPYC records', '... + no record', or 'no record'."""
        parts = [f"{name} records" for name in sorted(self.sources - {"no record"})]
        if "no record" in self.sources or not parts:
            parts.append("no record")
        return " + ".join(parts)


def unmeasured(seconds: float = UNMEASURED_S) -> Estimate:
    return Estimate(seconds, {"no record"})


class History:
    """The records a plan is estimated from: this device's first, else another of its kind."""

    def __init__(self, runs: list[dict], evidence: list[dict], device: str, device_name: str, quick: bool):
        self.device, self.name, self.quick = device, device_name, quick
        self.runs = [r for r in runs if r["device"]["kind"] == device and r["valid"] and started_process(r)]
        self.evidence = [r for r in evidence if r["device"]["kind"] == device and r["data"].get("quick") == quick
                         and "seconds" in r["data"]]

    def ranked(self, records: list[dict]) -> tuple[list[dict], str]:
        """Records of this device, else of the other device of this kind with the most records."""
        names = [r["device"]["name"] for r in records]
        if not names:
            return [], ""
        best = self.name if self.name in names else max(set(names), key=names.count)
        return [r for r in records if r["device"]["name"] == best], best

    def closest_run(self, run) -> tuple[dict | None, str]:
        """The newest cold record most like ``run``: its variant, else the framework's default; its
        batch size, else the nearest; its precision, else float32."""
        c = run.config
        mine = [r for r in self.runs if r["framework"] == run.framework]
        for variant in dict.fromkeys((run.variant, variants.DEFAULT_VARIANT[run.framework])):
            for precision in dict.fromkeys((c.matmul_precision, "float32")):
                found = [r for r in mine if r["variant"] == variant and r["precision"] == precision]
                records, source = self.ranked(found)
                if records:
                    nearest = min({r["batch_size"] for r in records}, key=lambda b: abs(b - c.batch_size))
                    same = [r for r in records if r["batch_size"] == nearest]
                    return max(same, key=lambda r: r["timestamp"]), source
        return None, ""


def run_time(run, history: History, later: bool = False, compiles: bool = True) -> Estimate:
    """One run, as its closest record took it (see the module's rule): a process's first run, or a
    ``later`` one, which ``compiles`` its program or finds it compiled."""
    record, source = history.closest_run(run)
    if record is None:
        return unmeasured()
    steady = record["steady_epoch_s"] or record["epoch_times_s"][0]
    validation = statistics.median(record["val_times_s"][1:] or record["val_times_s"])
    per_epoch = steady / record["steps_per_epoch"] * (run.config.n_train // run.config.batch_size) + validation
    if not later:
        fixed = record.get("wall_s", record["run_wall_s"]) - record["epochs"] * (steady + validation)
    else:
        fixed = record["epoch_times_s"][0] - steady if compiles else 0.0
    return Estimate(fixed + run.config.epochs * per_epoch, {source})


def session(runs: list, history: History) -> Estimate:
    """A session of runs in one new process: the first is a cold start, the rest share it."""
    def program(run) -> tuple:
        return run.framework, run.variant, run.config.batch_size, run.config.matmul_precision

    total, compiled = run_time(runs[0], history), {program(runs[0])}
    for run in runs[1:]:
        new = variants.get(run.framework, run.variant).compiles and program(run) not in compiled
        total = total + run_time(run, history, later=True, compiles=new)
        compiled.add(program(run))
    return total


# --- evidence ------------------------------------------------------------------------------


def evidence_part(name: str, part: str, history: History) -> Estimate:
    """An evidence part's recorded seconds (the newest record's), scaled by its processes now
    against then; unrecorded, the processes like it that it starts."""
    records, source = history.ranked([r for r in history.evidence if r["name"] == name
                                      and part in r["data"]["seconds"]])
    now = measure.process_count(name, part, history.device, history.quick)
    if records:
        newest = max(records, key=lambda r: r["timestamp"])
        then = measure.recorded_process_count(name, newest["data"]["parts"][part])
        return Estimate(newest["data"]["seconds"][part] * now / then, {source})
    kinds = measure.part_processes(name, part, history.device, history.quick)
    return sum((session(runs, history) for runs in kinds), Estimate(0.0, set())) * (now / len(kinds))

