"""Runs in fresh processes: a *session* trains a list of runs in one new Python process, the grid
is a session of one per run, and the study's sizes (the full grid, and the quick one) live here.

A session's first run is a *cold start* (JAX traces and compiles from nothing, PyTorch initializes
its kernels and allocator from nothing); the later ones share the process (loaded data, compiled
programs, the matmul peak) and are marked so: they are used for what does not depend on a cold
start (steady epochs, accuracy, kernel counts), never for a first epoch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..checks import check_writable
from ..errors import Error
from ..networks.config import Config
from . import variants
from .process import RunError
from .results import check_destination, config_fingerprint, run_filename, save_record
from .run import add_profile, train_run


@dataclasses.dataclass(frozen=True)
class Size:
    """How big a study is: the grid's epochs, seeds and batch sizes, the images it trains on (None:
    all), and the epochs of a variant that only feeds the steady state."""

    epochs: int
    seeds: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    train_subset: int | None
    variant_epochs: int


FULL = Size(epochs=Config().epochs, seeds=(0, 1, 2), batch_sizes=(64, 256, 1024), train_subset=None,
            variant_epochs=3)  # the assignment's batch sizes
QUICK = Size(epochs=2, seeds=(0, 1), batch_sizes=(64, 256), train_subset=4096, variant_epochs=2)  # a smoke study


def size(quick: bool) -> Size:
    return QUICK if quick else FULL


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a session: a variant of a framework, its configuration, and whether
    to profile a few steps after its timed epochs."""

    framework: str
    variant: str
    config: Config
    profile: bool = False

    def to_dict(self) -> dict:
        return {"framework": self.framework, "variant": self.variant, "config": self.config.to_dict(),
                "profile": self.profile}

    @classmethod
    def from_dict(cls, values: dict) -> Run:
        return cls(values["framework"], values["variant"], Config.from_dict(values["config"]), values["profile"])

    @property
    def name(self) -> str:
        return f"{self.framework} {self.variant} batch {self.config.batch_size} seed {self.config.seed}"


def run_session(runs: list[Run], device: str, results_dir: Path, data_dir: Path | None = None,
                compilation_cache: Path | None = None, on_epoch=None, on_record=lambda _: None) -> list[Path]:
    """Train ``runs`` one after another in this process, saving each record as soon as
    its run is done (a failed or interrupted session keeps the runs before it). The runs
    to profile are profiled after the last run's timed epochs, and their records saved
    again with the profile: nothing is timed after a profiler ran."""

    if len({run.framework for run in runs}) > 1:
        raise RunError("a session trains one framework (a JAX GPU client would take the GPU from PyTorch)")
    check_writable(results_dir)  # before any training: a folder that went away is said now
    for run in runs if device != "auto" else []:  # a damaged file where a record would go, too
        c = run.config
        check_destination(Path(results_dir) / run_filename(run.framework, run.variant, c.batch_size, c.seed, device,
                                                           config_fingerprint(c), compilation_cache is not None))
    paths, to_profile = [], []
    for run in runs:
        record, trainer = train_run(run.framework, run.config, device, data_dir, on_epoch, log=lambda _: None,
                                    variant=run.variant, compilation_cache=compilation_cache)
        paths.append(save_record(record, results_dir))
        on_record(paths[-1])
        if run.profile:
            to_profile.append((record, trainer))
    for record, trainer in to_profile:
        save_record(add_profile(record, trainer), results_dir)
    return paths


# The child's lines to its parent on stdout: "@epoch EPOCH VALIDATION_ACCURACY" and "@record PATH".
EPOCH_LINE, RECORD_LINE = "@epoch", "@record"


def session_command(runs: list[Run], device: str, results_dir: Path, compilation_cache: Path | None = None,
                    data_dir: Path | None = None) -> list[str]:
    """The command line that trains ``runs`` in one new Python process (``main`` below)."""
    spec = {"device": device, "results_dir": str(results_dir), "runs": [run.to_dict() for run in runs],
            "compilation_cache": str(compilation_cache) if compilation_cache else None,
            "data_dir": str(data_dir) if data_dir else None}
    return [sys.executable, "-m", __name__, json.dumps(spec)]


def main(spec_text: str) -> int:
    """The child: train the runs of a JSON spec, one record each, with its lines to the parent; an
    error is one line on stderr (the parent quotes it), exit status 2."""

    spec = json.loads(spec_text)
    cache, data_dir = spec["compilation_cache"], spec["data_dir"]
    try:
        run_session([Run.from_dict(run) for run in spec["runs"]], spec["device"], Path(spec["results_dir"]),
                    Path(data_dir) if data_dir else None, Path(cache) if cache else None,
                    on_epoch=lambda epoch, info: print(f"{EPOCH_LINE} {epoch} {info['val_accuracy']:.6f}", flush=True),
                    on_record=lambda path: print(f"{RECORD_LINE} {path}", flush=True))
    except Error as error:
        print(f"mnistbench: error: {error}", file=sys.stderr)
        return 2
    return 0


def run_session_in_fresh_process(runs: list[Run], device: str, results_dir: Path,
                                 on_epoch: Callable[[int, float], None] | None = None,
                                 on_record: Callable[[Path], None] = lambda _: None,
                                 compilation_cache: Path | None = None, data_dir: Path | None = None) -> list[Path]:
    """Train ``runs`` in one child process; returns the paths of their records.

    The child reports each finished epoch and each record's path as it is saved (``EPOCH_LINE``,
    ``RECORD_LINE``). Its stderr goes to a temporary
    file, so no amount of warnings can fill a pipe and stall it. A failure names the
    first run without a record; the records before it are kept.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = session_command(runs, device, results_dir, compilation_cache, data_dir)
    paths: list[Path] = []
    with tempfile.TemporaryFile(mode="w+") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            for line in child.stdout:
                words = line.split()
                if words[:1] == [EPOCH_LINE] and on_epoch:
                    on_epoch(int(words[1]), float(words[2]))
                elif words[:1] == [RECORD_LINE]:
                    paths.append(Path(line.split(None, 1)[1].strip()))
                    on_record(paths[-1])
            status = child.wait()
        except BaseException:  # Ctrl-C or SIGTERM: the child got it too; do not leave it running
            child.kill()
            child.wait()
            raise
        stderr.seek(0)
        last = [line for line in stderr.read().strip().splitlines() if line.strip()][-1:] or ["no output"]
    if status != 0 or len(paths) < len(runs):
        raise RunError(f"{runs[len(paths)].name if len(paths) < len(runs) else 'session'} failed: {last[0]}")
    return paths


def run_in_fresh_process(framework: str, config: Config, device: str, results_dir: Path,
                         on_epoch: Callable[[int, float], None] | None = None, variant: str | None = None,
                         compilation_cache: Path | None = None, data_dir: Path | None = None) -> Path:
    """Train one run, a cold start, in a child process; returns the path of its record."""
    run = Run(framework, variants.get(framework, variant).name, config)
    [path] = run_session_in_fresh_process([run], device, results_dir, on_epoch, compilation_cache=compilation_cache,
                                          data_dir=data_dir)
    return path


def grid_configs(base: Config, frameworks, batch_sizes, seeds, variant_names=None) -> list[tuple[str, str, Config]]:
    """The study's runs as (framework, variant, config), seed by seed, so a cut-short
    grid is still balanced. ``variant_names`` None means each framework's default;
    otherwise every named variant of every framework that has it."""
    plan = []
    for seed in seeds:
        for batch_size in batch_sizes:
            for framework in frameworks:
                names = [variants.DEFAULT_VARIANT[framework]] if variant_names is None else [
                    name for name in variant_names if name in variants.names(framework)]
                plan += [(framework, name, base.replace(batch_size=batch_size, seed=seed)) for name in names]
    return plan


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
