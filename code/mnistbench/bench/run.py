"""One training run, timed, turned into a record; sessions of runs; the grid of runs.

``run_one`` trains in *this* process and returns a record. ``run_session_in_fresh_process``
starts ``python -m mnistbench session`` and trains a list of runs in that one
new process. Its first run is a *cold start* (JAX traces and compiles from
nothing, PyTorch initializes its kernels and allocator from nothing); the
later ones share the process (loaded data, compiled programs, the matmul peak)
and are marked so: they are used for what does not depend on a cold start
(steady epochs, accuracy, kernel counts), never for a first epoch.
``grid`` runs every run as a session of one, each a cold start.

What the clock covers, per epoch: uploading the epoch's permutation, every
training step, and the wait until the device has finished them. Validation
runs after the clock stops and is timed on its own. In epoch 1 the clock
also covers compiling the step (JAX's trace, lowering and compilation,
torch.compile's first call, a CUDA graph's capture; each also timed apart
as ``compile_split``), because that is what a user waits for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import PROCESS_STARTED
from ..networks import data as mnist
from ..networks.config import Config, training_flops_per_sample
from . import variants
from .process import (
    RunError,
    compilation_cache_counts,
    compilation_cache_use,
    prepare_process,
    resolve_device,
    use_compilation_cache,
)

FRAMEWORKS = ("jax", "torch")
GRID_BATCH_SIZES = (64, 256, 1024)  # the assignment's batch sizes
GRID_SEEDS = (0, 1, 2)


def train_and_time(trainer, config: Config, on_epoch: Callable[[int, dict], None] | None = None,
                   count_compiles: Callable[[], int] = lambda: 0) -> dict:
    """Train for ``config.epochs`` epochs, timing each between synchronized points.

    ``count_compiles`` reads a running count of compilations; the difference
    across each timed epoch is kept, so validation's own compilation is not
    charged to training.
    """
    from . import machine
    from .profiling import timed_epoch

    keys = ("epoch_times_s", "host_epoch_times_s", "compiles", "train_loss", "val_loss", "val_accuracy",
            "val_times_s", "machine_per_epoch")
    history = {key: [] for key in keys}
    for epoch in range(1, config.epochs + 1):
        compiles_before = count_compiles()
        before = machine.snapshot()
        issued_s, epoch_s = timed_epoch(trainer, config.seed, epoch)  # issued: the loop returned
        history["machine_per_epoch"].append(machine.between(before, machine.snapshot()))
        history["host_epoch_times_s"].append(issued_s)
        history["epoch_times_s"].append(epoch_s)
        history["compiles"].append(count_compiles() - compiles_before)

        train_loss = trainer.epoch_loss()
        if not np.isfinite(train_loss):
            raise RunError(f"epoch {epoch}: training loss is {train_loss}; the run diverged")
        start = time.perf_counter()
        val_loss, val_accuracy = trainer.evaluate("val")
        history["val_times_s"].append(time.perf_counter() - start)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(val_accuracy)
        if on_epoch:
            on_epoch(epoch, {k: v[-1] for k, v in history.items()})
    history["test_loss"], history["test_accuracy"] = trainer.evaluate("test")
    return history


def steady_state(epoch_times_s: list[float]) -> tuple[float | None, list[float] | None]:
    """Median and [min, max] of epochs 2..N (None with a single epoch)."""
    later = epoch_times_s[1:]
    if not later:
        return None, None
    return statistics.median(later), [min(later), max(later)]


_LOADED: dict[tuple, mnist.MNIST] = {}  # one load (and content check) of MNIST per process and split


def load_training_data(config: Config, data_dir: Path | None, log=print) -> mnist.MNIST:
    key = (str(data_dir), config.validation_size, config.split_seed)
    if key not in _LOADED:
        _LOADED[key] = mnist.load_mnist(data_dir, config.validation_size, config.split_seed, log=log)
    data = mnist.first_training_images(_LOADED[key], config.train_subset)
    if config.batch_size > len(data.x_train):
        raise RunError(f"batch size {config.batch_size} is larger than the {len(data.x_train)} training images")
    return data


# What this process has trained so far: later runs of a session share it and say so.
_PROCESS = {"runs": 0, "cache": None, "last_end": PROCESS_STARTED}


def run_one(framework: str, config: Config, device: str = "auto", data_dir: Path | None = None,
            on_epoch=None, log=print, variant: str | None = None, compilation_cache: Path | None = None,
            on_start: Callable[[], None] = lambda: None, profile: bool = False) -> dict:
    """Train once in this process and return the complete result record; ``on_start``
    is called when the data are checked and the trainer is built, just before epoch 1.

    Only the process's first run, without a compilation cache, is a cold start; later
    runs of the process keep its compilation caches. ``profile`` adds a few profiled
    steps after the timed epochs (``profiling``)."""
    record, trainer = train_run(framework, config, device, data_dir, on_epoch, log, variant, compilation_cache,
                                on_start)
    return add_profile(record, trainer) if profile else record


def add_profile(record: dict, trainer) -> dict:
    """A few more steps of a trained run under the profiler (``profiling``), into its record.
    No run may be timed after a profile in the same process: a profiler can stay attached
    (PyTorch's keeps CUPTI after a trace of CUDA graphs), so a session profiles at its end."""
    from . import profiling

    started = time.perf_counter()
    record["profile"] = profiling.profile_steps(trainer, record["framework"], record["granularity"],
                                                record["device"]["kind"])
    now = time.perf_counter()
    record["wall_s"] += now - started  # the run's share of the process includes its profile
    _PROCESS["last_end"] = now
    return record


def train_run(framework: str, config: Config, device: str = "auto", data_dir: Path | None = None,
              on_epoch=None, log=print, variant: str | None = None, compilation_cache: Path | None = None,
              on_start: Callable[[], None] = lambda: None) -> tuple[dict, object]:
    """``run_one`` without the profile: the record (its ``profile`` None) and the trained trainer."""
    from .. import platform
    from . import timing
    from .results import SCHEMA_VERSION, config_fingerprint

    chosen = variants.get(framework, variant)
    first_run = _PROCESS["runs"] == 0
    prepare_process(framework, device)
    if first_run or compilation_cache != _PROCESS["cache"]:
        use_compilation_cache(compilation_cache)
        _PROCESS["cache"] = compilation_cache
    device = resolve_device(framework, device)
    variants.check_runs_on(chosen, device)
    counter = timing.JaxCompileCounter.shared() if framework == "jax" else None
    started = time.perf_counter()
    data = load_training_data(config, data_dir, log)
    trainer = chosen.build(config, data, device)
    # this run's own: the cache's answers from here; the peak memory where it can be reset (PyTorch),
    # else only in the process's first run (XLA's peak is the process's)
    cache_before = compilation_cache_counts(framework, counter)
    own_peak = trainer.reset_peak_memory() or first_run
    on_start()
    history = train_and_time(trainer, config, on_epoch, (lambda: counter.count) if counter else (lambda: 0))

    peak_memory = trainer.peak_memory_bytes() if own_peak else None  # before the matmul probe's buffers
    peak_flops = timing.matmul_peak(framework, device, config.matmul_precision)  # after training, once a process
    flops_per_epoch = training_flops_per_sample(config.layer_sizes) * config.batch_size * trainer.n_batches
    steady_s, steady_range = steady_state(history["epoch_times_s"])
    reference_s = steady_s if steady_s is not None else history["epoch_times_s"][0]
    violations = timing.floor_violations(history["epoch_times_s"], flops_per_epoch, peak_flops)
    compile_split = trainer.compile_split
    record = {
        "schema_version": SCHEMA_VERSION,
        "kind": "run",
        "framework": framework,
        "variant": chosen.name,
        "granularity": chosen.granularity,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "epochs": config.epochs,
        "precision": config.matmul_precision,
        "config": config.to_dict(),
        "config_fingerprint": config_fingerprint(config),
        "epoch_times_s": history["epoch_times_s"],
        "host_epoch_times_s": history["host_epoch_times_s"],
        "machine_per_epoch": history["machine_per_epoch"],  # other processes' and the hypervisor's share
        "first_epoch_s": history["epoch_times_s"][0],
        "steady_epoch_s": steady_s,
        "steady_epoch_range_s": steady_range,
        "val_times_s": history["val_times_s"],
        "train_loss": history["train_loss"],
        "val_loss": history["val_loss"],
        "val_accuracy": history["val_accuracy"],
        "test_loss": history["test_loss"],
        "test_accuracy": history["test_accuracy"],
        "compile_s": sum(compile_split.values()) if compile_split else None,
        "compile_split": compile_split,
        "compile_count": sum(history["compiles"]) if counter else None,
        "compile_count_per_epoch": history["compiles"] if counter else None,
        "compilation_cache": compilation_cache_use(framework, compilation_cache, counter, cache_before),
        **trainer.record_fields(),
        "steps_per_epoch": trainer.n_batches,
        "flops_per_epoch": flops_per_epoch,
        "achieved_flops": flops_per_epoch / reference_s,
        "peak_matmul_flops": peak_flops,
        "fraction_of_peak": flops_per_epoch / reference_s / peak_flops,
        "physical_floor_s": timing.physical_floor_s(flops_per_epoch, peak_flops),
        "peak_memory_bytes": peak_memory,
        "valid": not violations,
        "invalid_reasons": violations,
        "profile": None,
        "run_wall_s": time.perf_counter() - started,
        # a cold start: the process's first run, without a compilation cache; only its first epoch is quoted
        "cold_start": first_run and compilation_cache is None,
        "runs_before_in_process": _PROCESS["runs"],
        "process_id": os.getpid(),
        **platform.describe(framework, device),
    }
    _PROCESS["runs"] += 1
    now = time.perf_counter()
    record["wall_s"] = now - _PROCESS["last_end"]  # this run's share of the process: its imports, for the first
    _PROCESS["last_end"] = now
    return record, trainer


# --- sessions: runs in one new process -------------------------------------------

PROGRESS_PREFIX = "@"


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
    from ..errors import check_writable
    from .results import check_destination, config_fingerprint, run_filename, save_record

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


def session_command(runs: list[Run], device: str, results_dir: Path, compilation_cache: Path | None = None,
                    data_dir: Path | None = None) -> list[str]:
    """The command line that trains ``runs`` in one new Python process."""
    spec = {"device": device, "results_dir": str(results_dir), "runs": [run.to_dict() for run in runs],
            "compilation_cache": str(compilation_cache) if compilation_cache else None,
            "data_dir": str(data_dir) if data_dir else None}
    return [sys.executable, "-m", "mnistbench", "session", json.dumps(spec)]


def run_session_in_fresh_process(runs: list[Run], device: str, results_dir: Path,
                                 on_epoch: Callable[[int, float], None] | None = None,
                                 on_record: Callable[[Path], None] = lambda _: None,
                                 compilation_cache: Path | None = None, data_dir: Path | None = None) -> list[Path]:
    """Train ``runs`` in one child process; returns the paths of their records.

    The child reports each finished epoch on stdout (``@epoch i n acc``) and each
    record's path as it is saved (``@record path``). Its stderr goes to a temporary
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
                if words[:1] == [PROGRESS_PREFIX + "epoch"] and on_epoch:
                    on_epoch(int(words[1]), float(words[3]))
                elif words[:1] == [PROGRESS_PREFIX + "record"]:
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
