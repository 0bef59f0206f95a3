"""What runs on a device: each measurement in a fresh child process.

A child is ``python -m mnistbench.evidence.measure TASK JSON``; it prints its
result as one ``@result`` JSON line. A fresh process per measurement keeps
compilations and caches cold and no measurement warms up the next. The
``measure_*`` functions run in the parent and return an evidence record's
``data``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..config import Config, training_flops_per_sample
from ..errors import Error
from .profile import timed_epoch

CHILD_PREFIX = "@result "
OVERHEAD_BATCH_SIZES = {"gpu": (16, 64, 256, 1024, 4096), "cpu": (16, 64, 256, 1024)}
COMPILE_PROGRAMS = {"jax-jit": "jax step", "jax-scan": "jax scan epoch", "torch-compile": "torch compile step"}
AUTOTUNE_OFF_FLAGS = "--xla_gpu_autotune_level=0"
COMPILE_SETTINGS = {
    "cold": "a fresh process with an empty compilation cache (which it fills)",
    "warm": "a second fresh process with that cache",
    "autotune-off": f"cold, with XLA_FLAGS={AUTOTUNE_OFF_FLAGS} (no autotuning of GPU kernels)",
    "tf32": "cold, TF32 matmuls instead of full float32",
}


class EvidenceError(Error):
    """An evidence measurement that could not be made."""


# --- child processes ------------------------------------------------------------


def run_child(task: str, env: dict | None = None, timeout: float = 1800, **kwargs) -> dict:
    """Run ``task(**kwargs)`` in a fresh Python process and return its result."""
    command = [sys.executable, "-m", "mnistbench.evidence.measure", task, json.dumps(kwargs)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise EvidenceError(f"{task} did not finish within {timeout:.0f} s") from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(CHILD_PREFIX):
            return json.loads(line[len(CHILD_PREFIX):])
    last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
    raise EvidenceError(f"{task} failed: {last[0]}")


def _setup(framework: str, device: str, cache_dir: str | None = None):
    from .. import data as mnist
    from ..experiment import prepare_process, resolve_device, use_compilation_cache

    prepare_process(framework, device)
    use_compilation_cache(Path(cache_dir) if cache_dir else None)
    return resolve_device(framework, device), mnist.load_mnist(log=lambda _: None)


def _trainer(variant_key: str, device: str, config: Config, data):
    from ..data import first_training_images
    from ..variants import REGISTRY

    return REGISTRY[variant_key].build(config, first_training_images(data, config.train_subset), device)


# --- 1. compilation ------------------------------------------------------------------


def task_partial_batch_compiles(device: str, batch_size: int, n_train: int) -> dict:
    """Compiled programs after one epoch of a step that takes batch arrays, when
    the last partial batch is dropped and when it is kept."""
    import jax

    from ..data import first_training_images
    from ..jax_mlp import JaxTrainer, loss_fn, momentum_update

    device, data = _setup("jax", device)
    data = first_training_images(data, n_train)
    config = Config(batch_size=batch_size)
    counts = {}
    for keep_partial in (False, True):
        trainer = JaxTrainer(config, data, device)

        @jax.jit
        def step(params, velocity, x, y):
            grads = jax.grad(loss_fn)(params, x, y)
            return momentum_update(params, velocity, grads, config.learning_rate, config.momentum)

        n_steps = math.ceil(n_train / batch_size) if keep_partial else n_train // batch_size
        params, velocity = trainer.state.params, trainer.state.velocity
        for i in range(n_steps):
            rows = slice(i * batch_size, (i + 1) * batch_size)
            params, velocity = step(params, velocity, trainer.x_train[rows], trainer.y_train_onehot[rows])
        jax.block_until_ready(params)
        counts["kept" if keep_partial else "dropped"] = step._cache_size()
    return {"batch_size": batch_size, "n_train": n_train, "programs": counts}


def task_compile_cell(variant: str, device: str, batch_size: int, precision: str, train_subset: int | None,
                      cache_dir: str | None) -> list[dict]:
    """The first epoch of one compiled variant in a fresh process, its program's
    compile time apart, and (JAX) the evaluation program's compile split."""
    from .. import timing
    from ..experiment import compilation_cache_use

    framework = variant.split("-")[0]
    device, data = _setup(framework, device, cache_dir)
    counter = timing.JaxCompileCounter.shared() if framework == "jax" else None
    config = Config(batch_size=batch_size, epochs=1, matmul_precision=precision, train_subset=train_subset)
    trainer = _trainer(variant, device, config, data)
    _, first_epoch_s = timed_epoch(trainer, config.seed, 1)
    split = trainer.compile_split or {}
    rows = [{"program": COMPILE_PROGRAMS[variant], "split": split, "total_s": sum(split.values()),
             "first_epoch_s": first_epoch_s}]
    if variant == "jax-jit":  # the evaluation program is the same for every JAX variant: measured once
        from ..jax_mlp import evaluate

        _, evaluate_split = timing.aot_compile(evaluate, trainer.state.params, *trainer.eval_sets["val"])
        rows.append({"program": "jax evaluate", "split": evaluate_split, "total_s": sum(evaluate_split.values())})
    cache = compilation_cache_use(framework, Path(cache_dir) if cache_dir else None, counter)
    return [{**row, "variant": variant.split("-", 1)[1], "batch_size": batch_size, "cache": cache} for row in rows]


def compile_parts(device: str, quick: bool) -> list[str]:
    batch_sizes = (256,) if quick else (64, 256, 1024)
    return ["partial-batch"] + [f"{variant} bs{b}" for variant in COMPILE_PROGRAMS for b in batch_sizes]


def measure_compile_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """The partial-batch programs, or for one compiled program and batch size its
    compile time in every setting (cold, warm cache; on a GPU autotuning off and TF32)."""
    if part == "partial-batch":
        return run_child("partial_batch_compiles", device=device, batch_size=64, n_train=1000)
    variant, batch = part.split(" bs")
    common = {"variant": variant, "device": device, "batch_size": int(batch), "train_subset": 8192 if quick else None}
    cells = []
    with tempfile.TemporaryDirectory(prefix="mnistbench-compile-cache-") as cache:
        for setting in ("cold", "warm"):  # the same cache folder: the second process finds the first's programs
            log(f"compile: {part} {setting}")
            cells += _cells(setting, run_child("compile_cell", precision="float32", cache_dir=cache, **common))
    for setting in ("autotune-off", "tf32"):
        cells += _gpu_setting_cells(setting, device, variant, int(batch), common, log)
    return {"settings": COMPILE_SETTINGS, "cells": cells}


def _cells(setting: str, rows: list[dict]) -> list[dict]:
    return [{**row, "setting": setting, "applies": True} for row in rows]


def _gpu_setting_cells(setting: str, device: str, variant: str, batch_size: int, common: dict, log) -> list[dict]:
    programs = [COMPILE_PROGRAMS[variant]] + (["jax evaluate"] if variant == "jax-jit" else [])
    reason = None
    if device != "gpu":
        reason = "GPU only" if setting == "autotune-off" else "TF32 is a matmul mode of NVIDIA GPUs"
    elif setting == "autotune-off" and variant.startswith("torch"):
        reason = "an XLA flag; PyTorch does not read it"
    if reason:
        return [{"program": p, "variant": variant.split("-", 1)[1], "batch_size": batch_size, "setting": setting,
                 "applies": False, "reason": reason} for p in programs]
    log(f"compile: {variant} bs{batch_size} {setting}")
    env = {"XLA_FLAGS": AUTOTUNE_OFF_FLAGS} if setting == "autotune-off" else None
    precision = "tf32" if setting == "tf32" else "float32"
    return _cells(setting, run_child("compile_cell", env=env, precision=precision, cache_dir=None, **common))


# --- 2. operations, kernels and dispatches per step -------------------------------------


def task_fusion_variant(variant: str, device: str, batch_size: int, steps: int) -> dict:
    """Calls from the training loop per step, operations and kernels per step."""
    from ..variants import REGISTRY
    from .profile import jax_eager_calls, jax_program_ops, profile_epoch

    spec = REGISTRY[variant]
    device, data = _setup(spec.framework, device)
    config = Config(batch_size=batch_size, train_subset=steps * batch_size)
    trainer = _trainer(variant, device, config, data)
    timed_epoch(trainer, 0, 1)  # compile and warm up: lazy initialization stays out of the counts
    row = {"variant": variant, "granularity": spec.granularity, "batch_size": batch_size, "steps": steps,
           **profile_epoch(trainer, spec.framework, device)}
    # dispatches per step: one call per step; one per epoch (no per-step number: it depends on the
    # epoch's length); op by op, the jaxpr's equations (JAX) or the top-level operators the profiler saw
    # (PyTorch: forward and optimizer from Python, the backward's from the autograd engine)
    if spec.granularity == "operation":
        row["calls_per_step"] = float(jax_eager_calls(trainer)) if spec.framework == "jax" else row["ops_per_step"]
    else:
        row["calls_per_step"] = 1.0 if spec.granularity == "step" else None
    if spec.framework == "jax" and trainer.compiled_program is not None:
        row["hlo"] = jax_program_ops(trainer)
        if row.get("kernels_per_step") is None:  # on the CPU: XLA's top-level operations per step
            row["kernels_per_step"] = float(row["hlo"]["after_optimization"]["operations"])
    return row


def variant_parts(device: str, quick: bool) -> list[str]:
    from ..variants import for_device

    return [variant.key for variant in for_device(device)]


def measure_fusion_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    log(f"fusion: {part}")
    return run_child("fusion_variant", variant=part, device=device, batch_size=64, steps=10 if quick else 50)


# --- 3. host, device and measured time per step -------------------------------------------


def task_overhead_variant(variant: str, device: str, batch_sizes: list[int], max_steps: int) -> dict:
    """Per batch size: the host's time to issue a step, the measured step time
    (both medians of epochs 2-3) and, on a GPU, the device's busy time per step."""
    from .. import timing
    from ..variants import REGISTRY
    from .profile import profile_epoch

    spec = REGISTRY[variant]
    device, data = _setup(spec.framework, device)
    rows = []
    for batch_size in batch_sizes:
        steps = max(1, min(max_steps, len(data.x_train) // batch_size))
        config = Config(batch_size=batch_size, train_subset=steps * batch_size)
        trainer = _trainer(variant, device, config, data)
        times = [timed_epoch(trainer, 0, epoch) for epoch in (1, 2, 3)][1:]
        profiled = profile_epoch(trainer, spec.framework, device)
        step_s = float(np.median([total for _, total in times])) / steps
        rows.append({"batch_size": batch_size, "steps": steps,
                     "host_s": float(np.median([issued for issued, _ in times])) / steps,
                     "step_s": step_s,
                     "device_s": profiled["device_s_per_step"] if device == "gpu" else step_s,
                     "flops_per_step": training_flops_per_sample(config.layer_sizes) * batch_size})
    peak = timing.matmul_peak(spec.framework, device)
    for row in rows:
        row["floor_s"] = timing.physical_floor_s(row["flops_per_step"], peak)
    return {"variant": variant, "peak_matmul_flops": peak, "rows": rows}


def overhead_parts(device: str, quick: bool) -> list[str]:
    # jit-no-donation dispatches as jit does; donation has its own comparison
    return [part for part in variant_parts(device, quick) if part != "jax-jit-no-donation"]


def measure_overhead_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    log(f"overhead: {part}")
    sizes = list(OVERHEAD_BATCH_SIZES[device][:3] if quick else OVERHEAD_BATCH_SIZES[device])
    return run_child("overhead_variant", variant=part, device=device, batch_sizes=sizes, max_steps=20 if quick else 200)


# --- 4. accuracy at an equal number of updates ------------------------------------------------


def task_updates_run(device: str, batch_size: int, learning_rate: float, epochs: int, seed: int,
                     train_subset: int | None) -> dict:
    """Train the JAX twin (tested equal to PyTorch) without timing; the final accuracy."""
    device, data = _setup("jax", device)
    config = Config(batch_size=batch_size, learning_rate=learning_rate, epochs=epochs, seed=seed,
                    train_subset=train_subset)
    trainer = _trainer("jax-jit", device, config, data)
    for epoch in range(1, epochs + 1):
        timed_epoch(trainer, seed, epoch)
    loss = trainer.epoch_loss()
    if not np.isfinite(loss):
        return {"final_train_loss": None, "test_accuracy": None, "val_loss": None}
    val_loss, _ = trainer.evaluate("val")
    return {"final_train_loss": loss, "val_loss": val_loss, "test_accuracy": trainer.evaluate("test")[1]}


def updates_plan(reference: Config, batch_sizes, n_train: int) -> list[dict]:
    """The arms: the reference batch at its epochs; each larger batch with as many
    epochs (fewer updates), with as many updates (same learning rate), and with
    the learning rate scaled linearly and by the square root of the batch ratio
    (same epochs)."""
    ref_updates = reference.epochs * (n_train // reference.batch_size)
    plan = [{"arm": "reference", "batch_size": reference.batch_size, "learning_rate": reference.learning_rate,
             "epochs": reference.epochs}]
    for b in batch_sizes:
        ratio = b / reference.batch_size
        plan += [{"arm": "equal epochs", "batch_size": b, "learning_rate": reference.learning_rate,
                  "epochs": reference.epochs},
                 {"arm": "equal updates", "batch_size": b, "learning_rate": reference.learning_rate,
                  "epochs": max(1, round(ref_updates / (n_train // b)))},
                 {"arm": "linear learning rate", "batch_size": b, "learning_rate": reference.learning_rate * ratio,
                  "epochs": reference.epochs},
                 {"arm": "square-root learning rate", "batch_size": b,
                  "learning_rate": reference.learning_rate * math.sqrt(ratio), "epochs": reference.epochs}]
    return [{**arm, "updates": arm["epochs"] * (n_train // arm["batch_size"])} for arm in plan]


UPDATES_SEEDS = (0, 1, 2)


def updates_parts(device: str, quick: bool) -> list[str]:
    return [f"seed {seed}" for seed in (UPDATES_SEEDS[:1] if quick else UPDATES_SEEDS)]


def measure_updates_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """Every arm of the updates experiment for one seed (the JAX twin)."""
    seed = int(part.split()[1])
    subset = 4096 if quick else None
    reference = Config(epochs=2 if quick else 10)
    rows = []
    for arm in updates_plan(reference, (256, 1024), subset or (60_000 - reference.validation_size)):
        log(f"updates: seed {seed} {arm['arm']} batch {arm['batch_size']} ({arm['epochs']} epochs)")
        settings = {key: arm[key] for key in ("batch_size", "learning_rate", "epochs")}
        rows.append({**arm, "seed": seed, **run_child("updates_run", device=device, seed=seed, train_subset=subset,
                                                      **settings)})
    return {"framework": "jax", "variant": "jit", "train_subset": subset, "rows": rows}


# --- 5. every variant computes what its framework's default computes -------------------------


def task_equality(variant: str, device: str) -> dict:
    from ..equivalence import compare_with_default
    from ..variants import REGISTRY

    device, data = _setup(REGISTRY[variant].framework, device)
    return compare_with_default(variant, device, data)


def equality_parts(device: str, quick: bool) -> list[str]:
    from ..variants import for_device

    return [variant.key for variant in for_device(device) if not variant.is_default]


def measure_equality_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    log(f"equality: {part}")
    return run_child("equality", variant=part, device=device)


CHILD_TASKS = {"partial_batch_compiles": task_partial_batch_compiles, "compile_cell": task_compile_cell,
               "fusion_variant": task_fusion_variant, "overhead_variant": task_overhead_variant,
               "updates_run": task_updates_run, "equality": task_equality}
PARTS = {"compile": compile_parts, "fusion": variant_parts, "overhead": overhead_parts, "updates": updates_parts,
         "equality": equality_parts}
MEASURE_PART = {"compile": measure_compile_part, "fusion": measure_fusion_part, "overhead": measure_overhead_part,
                "updates": measure_updates_part, "equality": measure_equality_part}


def child_main(argv: list[str]) -> int:
    """Entry point of a child: run one task, print its result as one JSON line."""
    task, kwargs = argv
    result = CHILD_TASKS[task](**json.loads(kwargs))
    print(CHILD_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
