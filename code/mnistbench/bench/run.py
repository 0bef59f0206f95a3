"""One training run in this process, timed, turned into a record.

What the clock covers, per epoch: uploading the epoch's permutation, every training step, and the
wait until the device has finished them (``timing.timed_epoch``). Validation runs after the clock
stops and is timed on its own. In epoch 1 the clock also covers compiling the step (JAX's trace,
lowering and compilation, torch.compile's first call, a CUDA graph's capture; each also timed apart
as ``compile_split``), because that is what a user waits for. ``session`` runs runs in fresh
processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import PROCESS_STARTED, devices, provenance
from ..networks import data as mnist
from ..networks.config import Config, training_flops_per_sample
from . import machine, profiling, timing, variants
from .process import RunError, compilation_cache_counts, compilation_cache_use, prepare_process, use_compilation_cache
from .results import SCHEMA_VERSION, config_fingerprint


def train_and_time(trainer, config: Config, on_epoch: Callable[[int, dict], None] | None = None,
                   count_compiles: Callable[[], int] = lambda: 0) -> dict:
    """Train for ``config.epochs`` epochs, timing each between synchronized points.

    ``count_compiles`` reads a running count of compilations; the difference
    across each timed epoch is kept, so validation's own compilation is not
    charged to training.
    """
    keys = ("epoch_times_s", "host_epoch_times_s", "compiles", "train_loss", "val_loss", "val_accuracy",
            "val_times_s", "elapsed_s", "machine_per_epoch")
    history = {key: [] for key in keys}
    for epoch in range(1, config.epochs + 1):
        compiles_before = count_compiles()
        before = machine.snapshot()
        issued_s, epoch_s = timing.timed_epoch(trainer, config.seed, epoch)  # issued: the loop returned
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
        history["elapsed_s"].append(time.perf_counter() - PROCESS_STARTED)  # since the process began: time to accuracy
        if on_epoch:
            on_epoch(epoch, {k: v[-1] for k, v in history.items()})
    history["test_loss"], history["test_accuracy"] = trainer.evaluate("test")
    return history


_LOADED: dict[tuple, mnist.MNIST] = {}  # one load (and content check) of MNIST per process and split


def training_data(config: Config, data_dir: Path | None, log=print) -> mnist.MNIST:
    """MNIST as ``config`` trains on it (its first ``train_subset`` training images), loaded once a process."""
    key = (str(data_dir), config.validation_size, config.split_seed)
    if key not in _LOADED:
        _LOADED[key] = mnist.load_mnist(data_dir, config.validation_size, config.split_seed, log=log)
    return mnist.first_training_images(_LOADED[key], config.train_subset)


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

    chosen = variants.get(framework, variant)
    first_run = _PROCESS["runs"] == 0
    prepare_process(framework, device)
    if first_run or compilation_cache != _PROCESS["cache"]:
        use_compilation_cache(compilation_cache)
        _PROCESS["cache"] = compilation_cache
    device = devices.resolve(device, (framework,), in_this_process=True)
    variants.check_runs_on(chosen, device)
    counter = timing.JaxCompileCounter.shared() if framework == "jax" else None
    started = time.perf_counter()
    data = training_data(config, data_dir, log)
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
    steady_s, steady_range = timing.steady_epoch(history["epoch_times_s"])
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
        "elapsed_s": history["elapsed_s"],  # from the process's start to each epoch's validation done
        "train_loss": history["train_loss"],
        "val_loss": history["val_loss"],
        "val_accuracy": history["val_accuracy"],
        "test_loss": history["test_loss"],
        "test_accuracy": history["test_accuracy"],
        "compile_total_s": sum(compile_split.values()) if compile_split else None,
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
        **provenance.describe(framework, device),
    }
    _PROCESS["runs"] += 1
    now = time.perf_counter()
    record["wall_s"] = now - _PROCESS["last_end"]  # this run's share of the process: its imports, for the first
    _PROCESS["last_end"] = now
    return record, trainer
