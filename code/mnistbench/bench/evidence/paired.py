"""The paired item: every side of the declared comparisons, in rounds of fresh processes.

One part per batch size. A round runs one child process of every side of the part, in an order
shuffled by a seeded generator; a side trains ``timing.WARMUP_EPOCHS + BLOCKS`` blocks of equal work
(an epoch over the same ``train_subset`` images, the same batches for every side) and returns
every block's time, the machine's state around it, its compile time and the matmul peak of its
own process. The statistics are ``compare``'s; which comparisons the documents claim is
``FAMILY``, declared here before anything is measured.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ... import devices
from ...networks.config import Config, training_flops_per_sample
from .. import machine, timing
from ..process import prepare_process
from ..session import QUICK, size
from ..variants import REGISTRY, for_device
from .child import build_trainer, run_child, setup_child

BLOCKS = 4  # measured blocks per process, after timing.WARMUP_EPOCHS
# Rounds (processes per side) and a block's images, chosen from the pilot (results/cpu, code of commit
# 59e349e): between processes the s.d. of a side's log time was 11-12% and a process's fixed cost
# (imports, data, compiles) 8-30 s against 1-5 s of blocks, so more and shorter processes, not more blocks.
ROUNDS = {"bs64": 5, "bs1024": 3, "dispatch": 5}  # full; a quick study: QUICK_ROUNDS
QUICK_ROUNDS = 2
TRAIN_SUBSET = {"cpu": {64: 5_000, 1024: 10_240}, "gpu": {}}  # a block: an epoch over these images (else all)


def rounds(part: str, quick: bool) -> int:
    return QUICK_ROUNDS if quick else ROUNDS.get(part, 3)


def train_subset(device: str, batch_size: int, quick: bool) -> int | None:
    """The images a block trains on (None: all the training images)."""
    return QUICK.train_subset if quick else TRAIN_SUBSET[device].get(batch_size)


def batch_sizes(quick: bool) -> tuple[int, int]:
    """The smallest and the largest batch size of the study's grid."""
    return size(quick).batch_sizes[0], size(quick).batch_sizes[-1]


AA_COPY = "torch-eager again"  # the A/A side: PyTorch eager, the noisiest cell, twice in a round
FLUSHED = "torch-eager flushing subnormals"  # PyTorch eager with torch.set_flush_denormal(True)
EXTRA_SIDES = {AA_COPY: "torch-eager", FLUSHED: "torch-eager"}  # side -> the variant it runs


def sides(device: str, batch_size: int, smallest: int, quick: bool = False) -> list[str]:
    """Every variant the device runs (a quick study: the defaults), and at the smallest batch
    size the A/A copy and PyTorch eager with subnormals flushed to zero (is a hump theirs?)."""

    keys = [v.key for v in for_device(device) if v.is_default or not quick]
    return keys + ([AA_COPY] + ([FLUSHED] if not quick else []) if batch_size == smallest else [])


# The declared family: (name, A, B, what the ratio B / A says). Only these are claimed in the
# documents, with Holm's correction across them; the A/A rows set δ and are not claims.
FAMILY = (
    ("frameworks' defaults", "torch-eager", "jax-jit", "JAX's default (jit) against PyTorch's (eager)"),
    ("equal granularity: a call per step", "torch-compile", "jax-jit", "jit against torch.compile's whole step"),
    ("equal granularity: a call per operation", "torch-eager", "jax-eager", "JAX without jit against PyTorch eager"),
    ("JAX: jit against eager", "jax-eager", "jax-jit", "one call per step against one per operation"),
    ("JAX: scan against jit", "jax-jit", "jax-scan", "one call per epoch against one per step"),
    ("JAX: donation", "jax-jit-no-donation", "jax-jit", "the donated step against the same without donation"),
    ("PyTorch: compile against eager", "torch-eager", "torch-compile", "one graph per step against eager"),
    ("PyTorch: a CUDA graph per step", "torch-eager", "torch-cudagraph", "a replayed graph against eager"),
    ("PyTorch: a CUDA graph per epoch", "torch-cudagraph", "torch-cudagraph-epoch", "one replay an epoch"),
    ("PyTorch: subnormals flushed", "torch-eager", FLUSHED, "subnormal floats flushed to zero against the default"),
)
AA = (("A/A: processes", "torch-eager", AA_COPY, "the same side in two processes of a round"),)


def parts(device: str, quick: bool) -> list[str]:
    return [f"bs{b}" for b in batch_sizes(quick)] + ["dispatch"]


# The dispatch part: what one call from Python costs, timed directly instead of divided out of an
# epoch. Each side calls a tiny function on a one-element array CALLS_PER_BLOCK times a block and
# synchronizes once at the block's end.
CALLS_PER_BLOCK = 20_000  # a block of 0.1-0.6 s: far above the clock's tick
DISPATCH_SIDES = ("jax-op", "torch-op", "jax-jit-call", "torch-compile-call")
DISPATCH_FAMILY = (
    ("dispatch: one operation", "torch-op", "jax-op", "an eager x + 1: JAX's dispatch against PyTorch's"),
    ("dispatch: one compiled call", "torch-compile-call", "jax-jit-call",
     "a compiled x + 1: jit's call against a torch.compile'd function's"),
)


def round_order(part: str, round_number: int, keys: list[str]) -> list[str]:
    """The sides of one round in a shuffled order, the same on every re-run (seeded)."""
    rng = np.random.default_rng([sum(map(ord, part)), round_number])
    return [keys[i] for i in rng.permutation(len(keys))]


def part_sides(part: str, device: str, quick: bool) -> list[str]:
    """The sides of one part: a process of each per round."""
    if part == "dispatch":
        return [s for s in DISPATCH_SIDES if not (quick and "call" in s)]
    return sides(device, int(part.removeprefix("bs")), batch_sizes(quick)[0], quick)


def side_variant(side: str) -> str:
    """The variant a training side runs (the A/A copy and the flushed side run PyTorch eager)."""
    return EXTRA_SIDES.get(side, side)


def measure_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """Every round of one batch size; each side's process result kept whole."""

    dispatch = part == "dispatch"
    batch_size = None if dispatch else int(part.removeprefix("bs"))
    keys = part_sides(part, device, quick)
    subset = None if dispatch else train_subset(device, batch_size, quick)
    done = []
    for number in range(rounds(part, quick)):
        processes = {}
        for position, key in enumerate(round_order(part, number, keys)):
            log(f"paired: {part} round {number + 1}/{rounds(part, quick)}: {key}")
            blocks = timing.WARMUP_EPOCHS + BLOCKS
            result = (run_child("dispatch", side=key, device=device, blocks=blocks) if dispatch else run_child(
                "blocks", variant=side_variant(key), device=device, batch_size=batch_size,
                train_subset=subset, blocks=blocks, seed=number, flush_denormal=key == FLUSHED))
            processes[key] = {"position": position, **result}
        done.append(processes)
    return {"batch_size": batch_size, "train_subset": subset,
            "calls_per_block": CALLS_PER_BLOCK if dispatch else None,
            "warmup_blocks": timing.WARMUP_EPOCHS, "blocks": BLOCKS, "rounds": done}


def task_blocks(variant: str, device: str, batch_size: int, train_subset: int | None, blocks: int,
                seed: int, flush_denormal: bool = False) -> dict:
    """In a fresh process: ``blocks`` epochs of one variant over the same images, each timed
    between synchronized points with the machine's state around it; then this process's
    matmul peak (after the blocks: a probe before them would warm the first)."""

    started = time.perf_counter()
    framework = REGISTRY[variant].framework
    device, data = setup_child(framework, device)
    if flush_denormal:
        import torch  # a PyTorch side only (a JAX process never imports PyTorch)

        torch.set_flush_denormal(True)
    config = Config(batch_size=batch_size, seed=seed, epochs=blocks, train_subset=train_subset)
    trainer = build_trainer(variant, device, config, data)
    times, host_times, states = [], [], []
    for block in range(1, blocks + 1):
        before = machine.snapshot()
        issued_s, block_s = timing.timed_epoch(trainer, seed, block)
        states.append(machine.between(before, machine.snapshot()))
        times.append(block_s)
        host_times.append(issued_s)
    flops = training_flops_per_sample(config.layer_sizes) * batch_size * trainer.n_batches
    evaluate_split = None
    if framework == "jax":  # evaluate's own program, compiled after the blocks, outside every clock
        from ...networks.jax_mlp import evaluate  # JAX: not in the parent, nor in a PyTorch child's imports

        _, evaluate_split = timing.aot_compile(evaluate, trainer.state.params, *trainer.eval_sets["val"])
    peak = timing.matmul_peak(framework, device, config.matmul_precision)
    return {"variant": variant, "blocks_s": times, "host_blocks_s": host_times, "machine": states,
            "compile_split": trainer.compile_split, "evaluate_compile_split": evaluate_split,
            "record_fields": trainer.record_fields(), "steps_per_block": trainer.n_batches,
            "flops_per_block": flops, "matmul_peak_flops": peak,
            "floor_violations": timing.floor_violations(times[timing.WARMUP_EPOCHS:], flops, peak),
            "final_loss": trainer.epoch_loss(), "pid": os.getpid(), "wall_s": time.perf_counter() - started}


def task_dispatch(side: str, device: str, blocks: int) -> dict:
    """In a fresh process: ``blocks`` blocks of CALLS_PER_BLOCK calls of x + 1 on a one-element
    array, the device synchronized once a block; the compiled sides compile before the first."""

    started = time.perf_counter()
    framework = side.split("-")[0]
    prepare_process(framework, device)
    device = devices.resolve(device, (framework,), in_this_process=True)
    call, sync = _dispatch_call(side, device)
    times, states = [], []
    for _ in range(blocks):
        before = machine.snapshot()
        start = time.perf_counter()
        for _ in range(CALLS_PER_BLOCK):
            result = call()
        sync(result)
        times.append(time.perf_counter() - start)
        states.append(machine.between(before, machine.snapshot()))
    return {"side": side, "blocks_s": times, "machine": states, "floor_violations": [], "pid": os.getpid(),
            "wall_s": time.perf_counter() - started}


def _dispatch_call(side: str, device: str):
    """The call a dispatch side repeats, and how to wait for its result."""
    if side.startswith("jax"):
        import jax  # the JAX sides only (a PyTorch process never imports JAX here)
        import jax.numpy as jnp

        x = jax.device_put(jnp.ones((1,), jnp.float32), jax.devices(device)[0])
        add = jax.jit(lambda v: v + 1) if side == "jax-jit-call" else (lambda v: v + 1)
        add(x).block_until_ready()  # the first call compiles (jit) or fills the op's cache (eager)
        return (lambda: add(x)), jax.block_until_ready
    import torch  # the PyTorch sides only


    x = torch.ones(1, device=devices.torch_device_type(device))
    add = torch.compile(lambda v: v + 1, fullgraph=True, dynamic=False) if side == "torch-compile-call" else (
        lambda v: v + 1)
    add(x)
    sync = (lambda _: torch.cuda.synchronize()) if device == "gpu" else (lambda _: None)
    return (lambda: add(x)), sync
