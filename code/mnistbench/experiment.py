"""One training run, timed, turned into a record; and the grid of runs.

``run_one`` trains in *this* process and returns a record. ``run_in_fresh_process``
starts ``python -m mnistbench run`` so every run is a cold start: JAX traces and
compiles from nothing, PyTorch initializes its kernels and allocator from
nothing, and no run warms up the next. ``grid`` runs the study that way.

What the clock covers, per epoch: uploading the epoch's permutation, every
training step, and the wait until the device has finished them. Validation
runs after the clock stops and is timed on its own. In epoch 1 the clock
also covers JAX's trace, lowering and compilation of the step (measured
apart as ``compile_split``), because that is what a user waits for.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import data as mnist
from .config import Config, training_flops_per_sample


class RunError(RuntimeError):
    """A run that cannot go on (no such device, a diverging loss, ...)."""


def gpu_available(framework: str) -> bool:
    """Whether ``framework`` can see a GPU, without claiming its memory."""
    if framework == "torch":
        import torch

        return torch.cuda.is_available()
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def resolve_device(framework: str, requested: str) -> str:
    """'auto' -> 'gpu' when the framework sees one, else 'cpu'."""
    if requested == "cpu":
        return "cpu"
    has_gpu = gpu_available(framework)
    if requested == "gpu" and not has_gpu:
        raise RunError(f"--device gpu: {framework} sees no GPU on this machine")
    return "gpu" if has_gpu else "cpu"


def prepare_process(framework: str, device: str) -> None:
    """Keep JAX on the CPU where it is not the framework on the GPU.

    A PyTorch run still imports JAX (the shared initial weights come from a
    JAX PRNG key), and a JAX GPU client would reserve most of the GPU's memory.
    Must run before JAX initializes a backend.
    """
    if framework == "torch" or device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    if "jax" in sys.modules:
        import jax

        jax.config.update("jax_platforms", os.environ.get("JAX_PLATFORMS"))


def make_trainer(framework: str, config: Config, data: mnist.MNIST, device: str, **options):
    if framework == "jax":
        from .jax_mlp import JaxTrainer

        return JaxTrainer(config, data, device, **options)
    if framework == "torch":
        from .torch_mlp import TorchTrainer

        return TorchTrainer(config, data, device, **options)
    raise RunError(f"unknown framework {framework!r}; choose jax or torch")


def train_and_time(trainer, config: Config, on_epoch: Callable[[int, dict], None] | None = None,
                   count_compiles: Callable[[], int] = lambda: 0) -> dict:
    """Train for ``config.epochs`` epochs, timing each between synchronized points.

    ``count_compiles`` reads a running count of compilations; the difference
    across each timed epoch is kept, so validation's own compilation is not
    charged to training.
    """
    keys = ("epoch_times_s", "compiles", "train_loss", "val_loss", "val_accuracy", "val_times_s")
    history = {key: [] for key in keys}
    for epoch in range(1, config.epochs + 1):
        order = mnist.epoch_permutation(config.seed, epoch, trainer.n_train)
        compiles_before = count_compiles()
        start = time.perf_counter()
        trainer.start_epoch(order)
        trainer.run_epoch()
        trainer.sync()
        history["epoch_times_s"].append(time.perf_counter() - start)
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


def run_one(framework: str, config: Config, device: str = "auto", data_dir: Path | None = None,
            on_epoch=None, log=print) -> dict:
    """Train once in this process and return the complete result record."""
    from . import platform, timing
    from .results import SCHEMA_VERSION

    prepare_process(framework, device)
    device = resolve_device(framework, device)
    started = time.perf_counter()
    data = mnist.load_mnist(data_dir, config.validation_size, config.split_seed, log=log)
    data = mnist.first_training_images(data, config.train_subset)
    if config.batch_size > len(data.x_train):
        raise RunError(f"batch size {config.batch_size} is larger than the {len(data.x_train)} training images")
    trainer = make_trainer(framework, config, data, device)
    counter = timing.JaxCompileCounter.shared() if framework == "jax" else None
    history = train_and_time(trainer, config, on_epoch, (lambda: counter.count) if counter else (lambda: 0))

    peak_memory = trainer.peak_memory_bytes()  # read before the matmul probe adds its own buffers
    peak_flops = timing.matmul_peak(framework, device)  # after training: must not warm the first epoch
    flops_per_epoch = training_flops_per_sample(config.layer_sizes) * config.batch_size * trainer.n_batches
    steady_s, steady_range = steady_state(history["epoch_times_s"])
    reference_s = steady_s if steady_s is not None else history["epoch_times_s"][0]
    violations = timing.floor_violations(history["epoch_times_s"], flops_per_epoch, peak_flops)
    compile_split = getattr(trainer, "compile_split", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "run",
        "framework": framework,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "epochs": config.epochs,
        "precision": config.matmul_precision,
        "config": config.to_dict(),
        "config_fingerprint": config.fingerprint(),
        "epoch_times_s": history["epoch_times_s"],
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
        "persistent_compilation_cache": _persistent_cache_setting(framework),
        "steps_per_epoch": trainer.n_batches,
        "flops_per_epoch": flops_per_epoch,
        "achieved_flops": flops_per_epoch / reference_s,
        "peak_matmul_flops": peak_flops,
        "fraction_of_peak": flops_per_epoch / reference_s / peak_flops,
        "physical_floor_s": timing.physical_floor_s(flops_per_epoch, peak_flops),
        "peak_memory_bytes": peak_memory,
        "valid": not violations,
        "invalid_reasons": violations,
        "run_wall_s": time.perf_counter() - started,
        "process_id": os.getpid(),
        **platform.describe(framework, device),
    }


def _persistent_cache_setting(framework: str) -> str | None:
    """JAX's persistent compilation cache folder, if one is configured (default: none)."""
    if framework != "jax":
        return None
    import jax

    return jax.config.jax_compilation_cache_dir


# --- one run per process ----------------------------------------------------

PROGRESS_PREFIX = "@"


def run_command(framework: str, config: Config, device: str, results_dir: Path) -> list[str]:
    """The command line that trains one run in a new Python process."""
    return [
        sys.executable, "-m", "mnistbench", "run", "--quiet", "--progress-lines",
        "--framework", framework, "--batch-size", str(config.batch_size), "--epochs", str(config.epochs),
        "--seed", str(config.seed), "--precision", config.matmul_precision, "--device", device,
        "--learning-rate", repr(config.learning_rate), "--momentum", repr(config.momentum),
        "--results-dir", str(results_dir),
        *(["--train-subset", str(config.train_subset)] if config.train_subset else []),
    ]


def run_in_fresh_process(framework: str, config: Config, device: str, results_dir: Path,
                         on_epoch: Callable[[int, float], None] | None = None) -> Path:
    """Train one run in a child process; returns the path of its record.

    The child reports each finished epoch on stdout (``@epoch i n acc``) and
    the record's path at the end (``@record path``).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(run_command(framework, config, device, results_dir), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    record_path = None
    for line in child.stdout:
        words = line.split()
        if words[:1] == [PROGRESS_PREFIX + "epoch"] and on_epoch:
            on_epoch(int(words[1]), float(words[3]))
        elif words[:1] == [PROGRESS_PREFIX + "record"]:
            record_path = Path(line.split(None, 1)[1].strip())
    stderr = child.stderr.read()
    if child.wait() != 0 or record_path is None:
        last = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        raise RunError(f"{framework} batch {config.batch_size} seed {config.seed} failed: {last[0]}")
    return record_path


def grid_configs(base: Config, frameworks, batch_sizes, seeds) -> list[tuple[str, Config]]:
    """The study's runs, seed by seed, so a cut-short grid is still balanced."""
    return [(framework, base.replace(batch_size=batch_size, seed=seed))
            for seed in seeds for batch_size in batch_sizes for framework in frameworks]
