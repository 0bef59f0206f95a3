"""The cost split: where a step's time goes, a fixed cost per step and a cost per sample.

One part per side (a variant), each side in ``REPLICATES`` fresh processes with empty compilation
caches (the batch sizes ascending in one, descending in the next, so the machine's drift does not
masquerade as a batch size's cost). In a process, at every batch size of ``SIZES``: the step
compiled (its first steps, untimed), a probe that sets how many steps make a block of about
``BLOCK_S``, then ``BLOCKS`` timed blocks, each with the machine's state around it. What only one
side can say is measured beside it: JAX eager's step split into the transformation redone at every
call (tracing the loss and transposing its linearization: ``jax.make_jaxpr`` of the gradient, no
arithmetic), the operations it dispatches and the cost of one dispatched operation; and the jitted
step's optimized program at every batch size (what XLA fused, how many loops the update takes).
After the sizes, the process's matmul peak. The fit t(b) = a + c b is ``report.analysis``'s.
"""

from __future__ import annotations

import math
import os
import time

from ...networks.config import Config, training_flops_per_sample
from .. import machine, profiling, timing
from ..variants import REGISTRY
from .child import build_trainer, setup_child

SIZES = {"cpu": tuple(2**i for i in range(3, 13)), "gpu": tuple(2**i for i in range(6, 14))}  # 8-4096, 64-8192
SIDES = {"cpu": ("jax-eager", "jax-jit", "jax-scan", "torch-eager", "torch-compile"),
         "gpu": ("jax-jit", "torch-eager", "torch-cudagraph")}  # a GPU compiles for seconds a size: the defaults
REPLICATES = {"cpu": 2, "gpu": 1}
QUICK_SIZES = (8, 32, 128)
BLOCK_S = 0.2  # a block's length: many clock ticks, few enough steps that the largest batch takes two
BLOCKS = 3
MOST_STEPS = 256  # a step-granularity side's data: the batches of up to this many steps
EAGER_CALLS = 2_000  # calls of x + 1 that time one dispatched JAX operation


def parts(device: str, quick: bool) -> list[str]:
    return list(SIDES[device][:2] if quick else SIDES[device])


def sizes(device: str, quick: bool) -> tuple[int, ...]:
    return QUICK_SIZES if quick else SIZES[device]


def measure_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """One side: its processes, the batch sizes ascending, then descending, then ascending ..."""
    from .child import run_child

    processes = []
    for number in range(1 if quick else REPLICATES[device]):
        order = list(sizes(device, quick))[::(-1) ** number]
        log(f"cost split: {part} process {number + 1}, batch sizes {order[0]} to {order[-1]}")
        processes.append(run_child("cost_split", variant=part, device=device, sizes=order))
    return {"variant": part, "block_s": BLOCK_S, "blocks": BLOCKS, "processes": processes}


def task_cost_split(variant: str, device: str, sizes: list[int]) -> dict:
    """In a fresh process: the side's step time at every batch size (see the module's text)."""
    started = time.perf_counter()
    framework = REGISTRY[variant].framework
    device, data = setup_child(framework, device)
    rows = []
    for order, batch_size in enumerate(sizes):
        trainer, steps = _trainer_and_steps(variant, device, data, batch_size)
        times, states = [], []
        for block in range(BLOCKS):
            before = machine.snapshot()
            times.append(timing.timed_epoch(trainer, 0, 3 + block, _max_steps(variant, steps))[1])
            states.append(machine.between(before, machine.snapshot()))
        row = {"batch_size": batch_size, "order": order, "steps": steps, "blocks_s": times, "machine": states,
               "step_s": [t / steps for t in times]}
        if variant == "jax-eager":
            row.update(_eager_split(trainer))
        if variant == "jax-jit":
            row["fusions"] = profiling.jax_program_ops(trainer)["after_optimization"]["fusion_kinds"]
        rows.append(row)
    peak = timing.matmul_peak(framework, device)
    per_sample = training_flops_per_sample(Config().layer_sizes)
    floors = [timing.floor_violations(r["step_s"], per_sample * r["batch_size"], peak) for r in rows]
    return {"variant": variant, "sizes": rows, "matmul_peak_flops": peak, "flops_per_sample": per_sample,
            "floor_violations": [v for found in floors for v in found], "pid": os.getpid(),
            "wall_s": time.perf_counter() - started}


def _max_steps(variant: str, steps: int) -> int | None:
    return None if REGISTRY[variant].granularity == "epoch" else steps


def _trainer_and_steps(variant: str, device: str, data, batch_size: int):
    """The side's trainer at ``batch_size``, compiled, and the steps of a block of about BLOCK_S. A
    side that calls once a step runs blocks of its data's first batches; a scanned epoch is the
    block, so its data are the block's batches (a probe of two steps sets how many)."""
    epoch_granularity = REGISTRY[variant].granularity == "epoch"
    images = min(Config().n_train, batch_size * (2 if epoch_granularity else MOST_STEPS))
    trainer = build_trainer(variant, device, Config(batch_size=batch_size, train_subset=images), data)
    probe_steps = 2 if epoch_granularity else min(2, trainer.n_batches)
    timing.timed_epoch(trainer, 0, 1, _max_steps(variant, probe_steps))  # compiles (captures), untimed
    probe = timing.timed_epoch(trainer, 0, 2, _max_steps(variant, probe_steps))[1] / probe_steps
    most = Config().n_train // batch_size if epoch_granularity else trainer.n_batches
    steps = max(2, min(most, math.ceil(BLOCK_S / probe)))
    if epoch_granularity and steps != probe_steps:
        config = Config(batch_size=batch_size, train_subset=batch_size * steps)
        trainer = build_trainer(variant, device, config, data)
        timing.timed_epoch(trainer, 0, 1)  # the scan over this many steps compiles
    return trainer, steps


def _eager_split(trainer) -> dict:
    """JAX eager's step, taken apart: the transformation (tracing the loss and transposing its
    linearization to the gradient's jaxpr, as every eager call does; no arithmetic), the
    operations one step dispatches, and what one dispatched operation costs in this process."""
    import jax  # the JAX eager side only
    import jax.numpy as jnp

    from ...networks import jax_mlp

    idx = trainer.order[:trainer.config.batch_size]
    x, y = trainer.x_train[idx], trainer.y_train_onehot[idx]
    transform = []
    for _ in range(6):  # a new function each time, as an eager call meets it: JAX caches traces by function
        start = time.perf_counter()
        jax.make_jaxpr(jax.value_and_grad(lambda *args: jax_mlp.loss_fn(*args)))(trainer.state.params, x, y)
        transform.append(time.perf_counter() - start)
    transform = transform[1:]  # the first also imports and compiles JAX's tracing machinery
    one = jax.device_put(jnp.ones((1,), jnp.float32), trainer.device)
    (one + 1).block_until_ready()
    start = time.perf_counter()
    for _ in range(EAGER_CALLS):
        result = one + 1
    result.block_until_ready()
    return {"transform_s": sorted(transform)[len(transform) // 2], "eager_calls": profiling.jax_eager_calls(trainer),
            "call_s": (time.perf_counter() - start) / EAGER_CALLS}
