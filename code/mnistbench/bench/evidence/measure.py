"""What runs on a device for an evidence item: each part in a fresh child process.

A child is ``python -m mnistbench.bench.evidence.measure TASK JSON``; it prints its
result as one ``@result`` JSON line. The ``measure_*`` functions run in the
parent and return the result of one part of an evidence item. Kernel counts
and host and device time per step are not here: the runs measure them
(``profiling``), so nothing is compiled twice for them.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from ...networks.config import Config
from ...networks.data import first_training_images
from ...networks.equivalence import STEPS
from .. import timing
from ..equality import BATCH_SIZE, compare_with_default
from ..process import compilation_cache_use
from ..session import Run, size
from ..timing import timed_epoch
from ..variants import DEFAULT_VARIANT, REGISTRY, for_device
from . import costsplit, paired
from .child import CHILD_PREFIX, build_trainer, run_child, setup_child

COMPILE_PROGRAMS = {"jax-jit": "jax step", "jax-scan": "jax scan epoch", "torch-compile": "torch compile step"}
AUTOTUNE_OFF_FLAGS = "--xla_gpu_autotune_level=0"
COMPILE_SETTINGS = {  # TF32 compile times come from the TF32 runs, each a cold start
    "cold": "a fresh process with an empty compilation cache (which it fills)",
    "warm": "a second fresh process with that cache",
    "autotune-off": f"cold, with XLA_FLAGS={AUTOTUNE_OFF_FLAGS} (no autotuning of GPU kernels)",
}


# --- 1. compilation ------------------------------------------------------------------


def task_partial_batch_compiles(device: str, batch_size: int, n_train: int) -> dict:
    """Compiled programs after one epoch of a step that takes batch arrays, when
    the last partial batch is dropped and when it is kept."""
    import jax  # here, not at the top: the parent (the campaign) never imports JAX

    from ...networks import jax_mlp
    from ..jax_trainers import JaxTrainer

    device, data = setup_child("jax", device)
    data = first_training_images(data, n_train)
    config = Config(batch_size=batch_size)
    counts = {}
    for keep_partial in (False, True):
        trainer = JaxTrainer(config, data, device)

        step = jax.jit(jax_mlp.train_step, static_argnames=("learning_rate", "momentum"))  # its own program cache

        n_steps = math.ceil(n_train / batch_size) if keep_partial else n_train // batch_size
        params, velocity = trainer.state.params, trainer.state.velocity
        for i in range(n_steps):
            rows = slice(i * batch_size, (i + 1) * batch_size)
            params, velocity, _ = step(params, velocity, trainer.x_train[rows], trainer.y_train_onehot[rows],
                                       learning_rate=config.learning_rate, momentum=config.momentum)
        jax.block_until_ready(params)
        counts["kept" if keep_partial else "dropped"] = step._cache_size()
    return {"batch_size": batch_size, "n_train": n_train, "programs": counts}


def task_compile_cell(variant: str, device: str, batch_size: int, train_subset: int | None,
                      cache_dir: str | None) -> list[dict]:
    """The first epoch of one compiled variant in a fresh process, its program's
    compile time apart, and (JAX) the evaluation program's compile split."""

    framework = variant.split("-")[0]
    device, data = setup_child(framework, device, cache_dir)
    counter = timing.JaxCompileCounter.shared() if framework == "jax" else None
    config = Config(batch_size=batch_size, epochs=1, train_subset=train_subset)
    trainer = build_trainer(variant, device, config, data)
    _, first_epoch_s = timed_epoch(trainer, config.seed, 1)
    split = trainer.compile_split or {}
    rows = [{"program": COMPILE_PROGRAMS[variant], "split": split, "total_s": sum(split.values()),
             "first_epoch_s": first_epoch_s}]
    if variant == "jax-jit":  # the evaluation program is the same for every JAX variant: measured once
        from ...networks.jax_mlp import evaluate  # JAX: not in the parent, nor in a PyTorch child's imports

        _, evaluate_split = timing.aot_compile(evaluate, trainer.state.params, *trainer.eval_sets["val"])
        rows.append({"program": "jax evaluate", "split": evaluate_split, "total_s": sum(evaluate_split.values())})
    cache = compilation_cache_use(framework, Path(cache_dir) if cache_dir else None, counter)
    return [{**row, "variant": variant.split("-", 1)[1], "batch_size": batch_size, "cache": cache} for row in rows]


def compile_parts(device: str, quick: bool) -> list[str]:
    """The compiled programs at the smallest batch size, the report's: JAX's step, then
    torch.compile's; on the CPU also the scanned epoch and the partial batch (a GPU
    session records the scanned epoch's compile in a shared process)."""
    small = size(quick).batch_sizes[0]
    parts = [f"jax-jit bs{small}", f"torch-compile bs{small}"]
    return parts + ([f"jax-scan bs{small}", "partial-batch"] if device == "cpu" else [])


def measure_compile_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """The partial-batch programs, or for one compiled program and batch size its
    compile time in every setting (cold, warm cache; on a GPU, JAX with autotuning off)."""
    if part == "partial-batch":
        return run_child("partial_batch_compiles", device=device, batch_size=64, n_train=1000)
    variant, batch = part.split(" bs")
    common = {"variant": variant, "device": device, "batch_size": int(batch), "train_subset": size(quick).train_subset}
    cells = []
    with tempfile.TemporaryDirectory(prefix="mnistbench-compile-cache-") as cache:
        for setting in ("cold", "warm"):  # the same cache folder: the second process finds the first's programs
            log(f"compile: {part} {setting}")
            cells += _cells(setting, run_child("compile_cell", cache_dir=cache, **common))
    cells += _autotune_off_cells(device, variant, int(batch), common, log)
    return {"settings": COMPILE_SETTINGS, "cells": cells}


def _cells(setting: str, rows: list[dict]) -> list[dict]:
    return [{**row, "setting": setting, "applies": True} for row in rows]


def _autotune_off_cells(device: str, variant: str, batch_size: int, common: dict, log) -> list[dict]:
    programs = [COMPILE_PROGRAMS[variant]] + (["jax evaluate"] if variant == "jax-jit" else [])
    reason = ("GPU only" if device != "gpu" else
              "an XLA flag; PyTorch does not read it" if variant.startswith("torch") else None)
    if reason:
        return [{"program": p, "variant": variant.split("-", 1)[1], "batch_size": batch_size,
                 "setting": "autotune-off", "applies": False, "reason": reason} for p in programs]
    log(f"compile: {variant} bs{batch_size} autotune-off")
    return _cells("autotune-off", run_child("compile_cell", env={"XLA_FLAGS": AUTOTUNE_OFF_FLAGS}, cache_dir=None,
                                            **common))


# --- 2. accuracy at an equal number of updates ------------------------------------------------


def task_updates_seed(device: str, seed: int, quick: bool) -> list[dict]:
    """Every arm of the updates experiment for one seed, trained with the JAX twin (tested
    equal to PyTorch) without timing: per epoch the training loss and the validation loss and
    accuracy (so overfitting shows), and the final test accuracy. The larger batch's arm of
    equal epochs is the first epochs of its equal-updates arm where that runs (the same
    arithmetic), read on the way."""
    device, data = setup_child("jax", device)
    study = size(quick)
    reference = Config(epochs=study.epochs, seed=seed, train_subset=study.train_subset)
    plan = updates_plan(reference, study.batch_sizes[-1], long=seed in UPDATES_LONG_SEEDS)
    rows = []
    for arm in plan:
        config = reference.replace(batch_size=arm["batch_size"], learning_rate=arm["learning_rate"],
                                   epochs=arm["epochs"])
        trainer = build_trainer("jax-jit", device, config, data)
        curves = {"learning_rates": [], "train_loss": [], "val_loss": [], "val_accuracy": []}
        for epoch in range(1, config.epochs + 1):
            trainer.use_learning_rate(warmed_up_rate(arm, epoch))
            timed_epoch(trainer, seed, epoch)
            curves["learning_rates"].append(trainer.learning_rate)  # the rate the epoch's steps were compiled with
            _add_epoch(curves, trainer)
            if arm["arm"] == "equal updates" and epoch == reference.epochs:
                rows.append({**arm, "arm": "equal epochs", "epochs": epoch, "updates": epoch * trainer.n_batches,
                             "seed": seed, **_final(trainer), **{k: list(v) for k, v in curves.items()}})
        rows.append({**arm, "seed": seed, **_final(trainer), **curves})
    return rows


def _add_epoch(curves: dict, trainer) -> None:
    loss = trainer.epoch_loss()
    val_loss, val_accuracy = trainer.evaluate("val") if np.isfinite(loss) else (None, None)
    curves["train_loss"].append(loss if np.isfinite(loss) else None)
    curves["val_loss"].append(val_loss)
    curves["val_accuracy"].append(val_accuracy)


def _final(trainer) -> dict:
    loss = trainer.epoch_loss()
    if not np.isfinite(loss):
        return {"final_train_loss": None, "test_accuracy": None, "val_loss": None}
    return {"final_train_loss": loss, "val_loss": trainer.evaluate("val")[0],
            "test_accuracy": trainer.evaluate("test")[1]}


UPDATES_LONG_SEEDS = (0,)  # the 16x-epochs arm (about 8 minutes on a 2-core CPU) for one seed only
LR_WARMUP_EPOCHS = 5  # Goyal et al. (2017): the scaled rate reached over the first 5 epochs


def warmed_up_rate(arm: dict, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based): an arm with a warm-up starts at the reference
    rate and rises by equal steps, epoch by epoch, to its own from epoch LR_WARMUP_EPOCHS + 1."""
    start = arm.get("warmup_from")
    if start is None or epoch > LR_WARMUP_EPOCHS:
        return arm["learning_rate"]
    return start + (arm["learning_rate"] - start) * (epoch - 1) / LR_WARMUP_EPOCHS


def updates_plan(reference: Config, batch_size: int, long: bool = True) -> list[dict]:
    """The arms, in the order they train: the reference batch at its epochs; the larger batch
    with as many updates (``long`` only; as many epochs on the way) or, without it, with as
    many epochs; and at as many epochs with the learning rate scaled linearly (without and
    with a warm-up) and by the square root of the batch ratio."""
    n_train = reference.n_train
    ref_updates = reference.epochs * (n_train // reference.batch_size)
    ratio = batch_size / reference.batch_size
    linear = reference.learning_rate * ratio
    larger = ({"arm": "equal updates", "batch_size": batch_size, "learning_rate": reference.learning_rate,
               "epochs": max(reference.epochs, round(ref_updates / (n_train // batch_size)))} if long else
              {"arm": "equal epochs", "batch_size": batch_size, "learning_rate": reference.learning_rate,
               "epochs": reference.epochs})
    plan = [{"arm": "reference", "batch_size": reference.batch_size, "learning_rate": reference.learning_rate,
             "epochs": reference.epochs}, larger,
            {"arm": "linear learning rate", "batch_size": batch_size, "learning_rate": linear,
             "epochs": reference.epochs},
            {"arm": "linear learning rate, warm-up", "batch_size": batch_size, "learning_rate": linear,
             "warmup_from": reference.learning_rate, "epochs": reference.epochs},
            {"arm": "square-root learning rate", "batch_size": batch_size,
             "learning_rate": reference.learning_rate * math.sqrt(ratio), "epochs": reference.epochs}]
    return [{**arm, "updates": arm["epochs"] * (n_train // arm["batch_size"])} for arm in plan]


UPDATES_SEEDS = (0,)  # one seed: the main grid gives the seeds' spread at 64 and 1024 (its 10 epochs)


def updates_parts(device: str, quick: bool) -> list[str]:
    return [f"seed {seed}" for seed in (UPDATES_SEEDS[:1] if quick else UPDATES_SEEDS)]


def measure_updates_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """Every arm of the updates experiment for one seed, in one child process."""
    seed = int(part.split()[1])
    log(f"updates: seed {seed}")
    rows = run_child("updates_seed", device=device, seed=seed, quick=quick, timeout=7200)
    return {"framework": "jax", "variant": "jit", "train_subset": size(quick).train_subset, "rows": rows}


# --- 3. every variant computes what its framework's default computes -------------------------


def equality_variants(part: str, device: str) -> list[str]:
    """The variants one equality part checks: the GPU-only ones (CUDA graphs, which no CPU
    test covers), or a framework's others."""

    return [v.key for v in for_device(device) if not v.is_default
            and (v.needs_gpu if part == "gpu-only" else v.framework == part and not v.needs_gpu)]


def task_equality(part: str, device: str) -> dict:
    """Every variant of the part against its framework's default, in one process (the
    default's compiled step is reused: one jitted function per settings and process)."""

    keys = equality_variants(part, device)
    device, data = setup_child(REGISTRY[keys[0]].framework, device)
    return {key: compare_with_default(key, device, data) for key in keys}


def equality_parts(device: str, quick: bool) -> list[str]:
    """Each part in one child process. On a GPU only the CUDA-graph variants (which no CPU test
    covers: a short loan spends its minutes on timing); on the CPU each framework's others, the
    same code the GPU runs (the test suite checks them too)."""
    return [part for part in (("gpu-only",) if device == "gpu" else ("jax", "torch"))
            if equality_variants(part, device)]


def measure_equality_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    log(f"equality: {part}")
    return run_child("equality", part=part, device=device)


# --- how many processes a part starts, and the runs like them (the campaign's estimates) ----------


def process_count(name: str, part: str, device: str, quick: bool) -> int:
    """The fresh processes one part starts."""
    if name == "paired":
        return paired.rounds(part, quick) * len(paired.part_sides(part, device, quick))
    if name == "cost-split":
        return 1 if quick else costsplit.REPLICATES[device]
    if name == "compile" and part != "partial-batch":
        return 3 if device == "gpu" and part.startswith("jax") else 2  # cold, warm (and autotuning off)
    return 1


def recorded_process_count(name: str, part_data: dict) -> int:
    """The processes a recorded part started."""
    if name == "paired":
        return sum(len(processes) for processes in part_data["rounds"])
    if name == "cost-split":
        return len(part_data["processes"])
    if name == "compile" and "cells" in part_data:
        return len({cell["setting"] for cell in part_data["cells"] if cell["applies"]})
    return 1


def part_processes(name: str, part: str, device: str, quick: bool) -> list[list[Run]]:
    """Processes like those a part starts, one per kind (a paired part: one per side), each as the
    runs of a session: a part no record has measured is estimated as those sessions."""
    study = size(quick)
    one_epoch = Config(epochs=1, train_subset=study.train_subset or study.batch_sizes[-1] * STEPS)
    if name == "cost-split":  # a process compiles and trains a few blocks at every size
        return [[Run(*part.split("-", 1), Config(batch_size=b, epochs=1, train_subset=min(b * 8, Config().n_train)))
                 for b in costsplit.sizes(device, quick)]]
    if name == "paired" and part != "dispatch":
        batch = int(part.removeprefix("bs"))
        config = Config(batch_size=batch, epochs=timing.WARMUP_EPOCHS + paired.BLOCKS,
                        train_subset=paired.train_subset(device, batch, quick))
        return [[Run(*paired.side_variant(side).split("-", 1), config)]
                for side in paired.part_sides(part, device, quick)]
    if name == "paired":  # the dispatch sides: a process that starts its framework and calls a tiny function
        return [[Run(side.split("-")[0], DEFAULT_VARIANT[side.split("-")[0]], one_epoch)]
                for side in paired.part_sides(part, device, quick)]
    if name == "compile" and part != "partial-batch":
        variant_key, batch = part.split(" bs")
        return [[Run(*variant_key.split("-", 1), one_epoch.replace(batch_size=int(batch)))]]
    if name == "equality":
        framework = REGISTRY[equality_variants(part, device)[0]].framework
        config = Config(batch_size=BATCH_SIZE, epochs=1, train_subset=STEPS * BATCH_SIZE)
        return [[Run(framework, DEFAULT_VARIANT[framework], config)]]
    if name == "updates":  # its arms, as long as the study's runs
        return [[Run("jax", "jit", Config(epochs=study.epochs, train_subset=study.train_subset))]]
    return [[Run("jax", "jit", one_epoch)]]  # the partial batch: JAX's step compiled twice in one process


CHILD_TASKS = {"partial_batch_compiles": task_partial_batch_compiles, "compile_cell": task_compile_cell,
               "updates_seed": task_updates_seed, "equality": task_equality, "blocks": paired.task_blocks,
               "dispatch": paired.task_dispatch, "cost_split": costsplit.task_cost_split}
PARTS = {"compile": compile_parts, "updates": updates_parts, "equality": equality_parts, "paired": paired.parts,
         "cost-split": costsplit.parts}
MEASURE_PART = {"compile": measure_compile_part, "updates": measure_updates_part, "equality": measure_equality_part,
                "paired": paired.measure_part, "cost-split": costsplit.measure_part}


def child_main(argv: list[str]) -> int:
    """Entry point of a child: run one task, print its result as one JSON line."""
    task, kwargs = argv
    result = CHILD_TASKS[task](**json.loads(kwargs))
    print(CHILD_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
