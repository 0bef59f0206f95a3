"""The paired item: every side of the declared comparisons, in rounds of fresh processes.

One part per batch size (the grid's smallest and largest) and one for the cost of a call. A round
runs one child process of every side of the part, in a balanced order (``round_orders``); a side
trains its warm-up and then ``BLOCKS`` blocks of equal work (an epoch over the same
``train_subset`` images, the same batches and seed for every side) and returns every block's time,
the machine's state around it, its compile time and the matmul peak of its own process. What is
declared before anything is measured lives here (the family, the A/A, each side's warm-up, the
rounds from a power calculation on the pilot's spread); the statistics are ``compare``'s.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ... import devices
from ...networks.config import Config, training_flops_per_sample
from .. import compare, machine, timing
from ..process import prepare_process, use_compilation_cache
from ..session import QUICK, size
from ..variants import REGISTRY
from .child import build_trainer, run_child, setup_child

SEED = 0  # every process trains from the same weights on the same batches: the seed is no round's number
BLOCKS = 4  # measured blocks per process, after its side's warm-up
SESSIONS = 2  # the study is planned as this many independent sessions (days or machines), each a replicate
QUICK_ROUNDS = 2
TRAIN_SUBSET = {"cpu": {64: 5_000, 1024: 10_240}, "gpu": {}}  # a block: an epoch over these images (else all)
# The dispatch part: what one call from Python costs, timed directly instead of divided out of an epoch.
# Each side calls a tiny function on a one-element array CALLS_PER_BLOCK times a block, then synchronizes.
CALLS_PER_BLOCK = 20_000  # a block of 0.04-0.3 s: far above the clock's tick

AA_COPY = "torch-eager again"  # the training parts' A/A: PyTorch eager, the noisiest side, twice a round
AA_CALL = "jax-op again"  # the dispatch part's A/A
EXTRA_SIDES = {AA_COPY: "torch-eager", AA_CALL: "jax-op"}  # side -> what it runs

# The declared family, by the part's role: (name, A, B, what B / A says). These are the comparisons the
# report states, and only these are claimed, at the family's corrected level (``compare``).
DEFAULTS = ("frameworks' defaults", "torch-eager", "jax-jit", "JAX's default (jit) against PyTorch's (eager)")
STEP = ("equal granularity: a call per step", "torch-compile", "jax-jit", "jit against torch.compile's whole step")
OPERATION = ("equal granularity: a call per operation", "torch-eager", "jax-eager",
             "JAX without jit against PyTorch eager")
JIT = ("JAX: jit against eager", "jax-eager", "jax-jit", "jit's own effect: one call per step against one per op")
SCAN = ("JAX: scan against jit", "jax-jit", "jax-scan", "one call per epoch against one per step")
DONATION = ("JAX: donation", "jax-jit-no-donation", "jax-jit", "the donated step against the same without donation")
FAMILY_BY_ROLE = {
    "small": (DEFAULTS, STEP, OPERATION, JIT, SCAN, DONATION),
    "large": (DEFAULTS, STEP, JIT, DONATION),
    "dispatch": (("dispatch: one operation", "torch-op", "jax-op", "an eager x + 1: JAX's dispatch against PyTorch's"),
                 ("dispatch: one compiled call", "torch-compile-call", "jax-jit-call",
                  "a compiled x + 1: jit's call against a torch.compile'd function's")),
}
AA_BY_ROLE = {"small": ("A/A", "torch-eager", AA_COPY), "large": ("A/A", "torch-eager", AA_COPY),
              "dispatch": ("A/A", "jax-op", AA_CALL)}
# From the pilot (results/cpu/evidence/evidence-paired-cpu.json of commit e78b201, 3-5 rounds): the spread
# (s.d.) of each comparison's per-round log ratio, which sets the rounds; the A/A's where it had one.
PILOT_SD = {
    "small": {DEFAULTS[0]: 0.036, STEP[0]: 0.085, OPERATION[0]: 0.057, JIT[0]: 0.054, SCAN[0]: 0.022,
              DONATION[0]: 0.036, "A/A": 0.066},
    "large": {DEFAULTS[0]: 0.060, STEP[0]: 0.056, JIT[0]: 0.018, DONATION[0]: 0.023},
    "dispatch": {"dispatch: one operation": 0.045, "dispatch: one compiled call": 0.034},
}
# Each side's warm-up, from the same pilot: its leading blocks whose mean over processes lay more than 2%
# above the mean of the last two blocks (at least one: the first block holds the compile).
WARMUP = {"small": {"jax-eager": 2, "jax-jit-no-donation": 3, "jax-scan": 2},
          "large": {"jax-eager": 2, "jax-jit": 2}, "dispatch": {}}


def batch_sizes(quick: bool) -> tuple[int, int]:
    """The smallest and the largest batch size of the study's grid."""
    return size(quick).batch_sizes[0], size(quick).batch_sizes[-1]


def parts(device: str, quick: bool) -> list[str]:
    return [f"bs{b}" for b in batch_sizes(quick)] + ["dispatch"]


def role(part: str, quick: bool) -> str:
    """'small', 'large' or 'dispatch': which family a part carries."""
    return "dispatch" if part == "dispatch" else ("small" if part == f"bs{batch_sizes(quick)[0]}" else "large")


def family(quick: bool) -> dict[str, tuple]:
    """The declared comparisons of every part (a quick study: the defaults' and the operation's only)."""
    return {part: FAMILY_BY_ROLE[role(part, quick)][:1] if quick else FAMILY_BY_ROLE[role(part, quick)]
            for part in parts("cpu", quick)}


def aa(quick: bool) -> dict[str, tuple]:
    return {part: (AA_BY_ROLE[role(part, quick)],) for part in parts("cpu", quick)}


def family_size() -> int:
    return sum(len(comparisons) for comparisons in FAMILY_BY_ROLE.values())


def part_sides(part: str, device: str, quick: bool) -> list[str]:
    """The sides of one part, a process of each per round: the family's, and the A/A's copy."""
    comparisons = family(quick)[part] + aa(quick)[part]
    return list(dict.fromkeys(side for _, a, b, *_ in comparisons for side in (a, b)))


def side_variant(side: str) -> str:
    """The variant (or dispatch side) a side runs: the A/A copies run their original's."""
    return EXTRA_SIDES.get(side, side)


def rounds(part: str, quick: bool) -> int:
    """Rounds per session: enough for ``compare.POWER_TARGET`` at ``compare.MARGIN`` over the planned
    sessions, for the part's noisiest comparison in the pilot, at the family's corrected level; and
    at least one round per side, so that every side takes every position once (``round_orders``)."""
    if quick:
        return QUICK_ROUNDS
    alpha = compare.FAMILY_ALPHA / family_size()
    powered = max(compare.rounds_for(sd, alpha, SESSIONS) for sd in PILOT_SD[role(part, quick)].values())
    return max(powered, len(part_sides(part, "cpu", quick)))


def warmup(part: str, side: str, quick: bool) -> int:
    return WARMUP[role(part, quick)].get(side_variant(side), 1)


def train_subset(device: str, batch_size: int, quick: bool) -> int | None:
    """The images a block trains on (None: all the training images)."""
    return QUICK.train_subset if quick else TRAIN_SUBSET[device].get(batch_size)


def round_orders(sides: list[str], rounds: int, seed: int) -> list[list[str]]:
    """Each round's order: the rows of a Williams square over the sides (each side once in every
    position, and after every other side equally often, over a whole square; an odd number of sides
    takes the square's rows, then their mirrors), its rows and the sides' places drawn from ``seed``."""
    k = len(sides)
    first = [0] + [(j + 1) // 2 if j % 2 else k - j // 2 for j in range(1, k)]
    square = [[(place + shift) % k for place in first] for shift in range(k)]
    square += [row[::-1] for row in square] if k % 2 else []
    rng = np.random.default_rng(seed)  # the square's rows first, then their mirrors: each k rounds balance positions
    rows = [square[i] for i in rng.permutation(k)] + [square[k + i] for i in rng.permutation(len(square) - k)]
    names = [sides[i] for i in rng.permutation(k)]
    return [[names[place] for place in rows[number % len(rows)]] for number in range(rounds)]


def measure_part(part: str, device: str, quick: bool, log=lambda _: None) -> dict:
    """Every round of one part in its balanced order (drawn anew for this campaign, its seed kept);
    each side's process result kept whole, with its position and start time in the round."""
    dispatch = part == "dispatch"
    batch_size = None if dispatch else int(part.removeprefix("bs"))
    subset = None if dispatch else train_subset(device, batch_size, quick)
    order_seed = int(np.random.SeedSequence().entropy % 2**63)
    orders = round_orders(part_sides(part, device, quick), rounds(part, quick), order_seed)
    started, done = time.perf_counter(), []
    for number, order in enumerate(orders):
        processes = {}
        for position, key in enumerate(order):
            log(f"paired: {part} round {number + 1}/{len(orders)}: {key}")
            blocks = warmup(part, key, quick) + BLOCKS
            began = time.perf_counter() - started
            result = (run_child("dispatch", side=side_variant(key), device=device, blocks=blocks) if dispatch else
                      run_child("blocks", variant=side_variant(key), device=device, batch_size=batch_size,
                                train_subset=subset, blocks=blocks, seed=SEED))
            processes[key] = {"position": position, "started_s": began, "warmup_blocks": warmup(part, key, quick),
                              **result}
        done.append(processes)
    return {"batch_size": batch_size, "train_subset": subset, "calls_per_block": CALLS_PER_BLOCK if dispatch else None,
            "blocks": BLOCKS, "order_seed": order_seed, "seed": SEED, "rounds": done}


def task_blocks(variant: str, device: str, batch_size: int, train_subset: int | None, blocks: int,
                seed: int) -> dict:
    """In a fresh process with empty compilation caches: ``blocks`` epochs of one variant over the
    same images, each timed between synchronized points with the machine's state around it; then
    this process's matmul peak (after the blocks: a probe before them would warm the first)."""
    started = time.perf_counter()
    framework = REGISTRY[variant].framework
    device, data = setup_child(framework, device)
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
            "floor_violations": timing.floor_violations(times, flops, peak),
            "final_loss": trainer.epoch_loss(), "pid": os.getpid(), "wall_s": time.perf_counter() - started}


def task_dispatch(side: str, device: str, blocks: int) -> dict:
    """In a fresh process with empty compilation caches: ``blocks`` blocks of CALLS_PER_BLOCK calls
    of x + 1 on a one-element array, the device synchronized once a block; the compiled sides
    compile before the first."""
    started = time.perf_counter()
    framework = side.split("-")[0]
    prepare_process(framework, device)
    use_compilation_cache(None)  # torch.compile's first call from nothing, as in every other cold process
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
