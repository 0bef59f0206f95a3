"""The JAX network's trainers: ``networks.jax_mlp.train_step`` at three dispatch granularities.

A trainer keeps the whole training set on the device and gathers each batch
there: the step counter lives on the device and selects the batch inside the
step, so no Python number crosses to the device per step (``gathered_step``).
The trainers differ only in how often Python dispatches work: ``eager`` op by
op, ``jit`` once per step, ``scan`` once per epoch.

Batches: each epoch takes ``n // batch_size`` full batches in the order of a
shared permutation; the last partial batch is dropped, so the step has one
static shape and compiles once per batch size (a partial batch would compile
a second program inside the timed first epoch).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..networks import jax_mlp
from ..networks.config import Config
from ..networks.weights import initial_weights
from . import timing
from .trainer import steps_to_run


class TrainState(NamedTuple):
    """Everything a step changes (a pytree of device arrays)."""

    params: jax_mlp.Params
    velocity: jax_mlp.Params
    loss_sum: jax.Array
    step: jax.Array


def gathered_step(state: TrainState, x_train, y_train_onehot, order, *, batch_size: int, learning_rate: float,
                  momentum: float) -> TrainState:
    """Gather batch ``state.step`` of the epoch's ``order`` on the device, then take the network's step."""
    idx = jax.lax.dynamic_slice_in_dim(order, state.step * batch_size, batch_size)
    params, velocity, loss = jax_mlp.train_step(state.params, state.velocity, x_train[idx], y_train_onehot[idx],
                                                learning_rate, momentum)
    return TrainState(params, velocity, state.loss_sum + loss, state.step + 1)


def scan_epoch(state: TrainState, x_train, y_train_onehot, order, *, n_batches: int, **hyper) -> TrainState:
    """Every step of an epoch in one program: ``lax.scan`` carries the state."""
    def body(carried, _):
        return gathered_step(carried, x_train, y_train_onehot, order, **hyper), None

    return jax.lax.scan(body, state, None, length=n_batches)[0]


def hyper_parameters(config: Config) -> dict:
    """The settings a step is compiled for (static: another value is another program)."""
    return {"batch_size": config.batch_size, "learning_rate": config.learning_rate, "momentum": config.momentum}


# One jitted function per settings and process: jit caches compiled programs on the function object,
# so a second trainer with the same settings (another seed, in a session of several runs) reuses the
# program instead of compiling it again. Donating the state lets XLA update its buffers in place.
@functools.cache
def jitted_step(batch_size: int, learning_rate: float, momentum: float, donate: bool = True):
    """``gathered_step`` under jit (the network's train_step inside), its state donated or not."""
    step = functools.partial(gathered_step, batch_size=batch_size, learning_rate=learning_rate, momentum=momentum)
    return jax.jit(step, donate_argnums=(0,) if donate else ())


@functools.cache
def jitted_epoch(n_batches: int, batch_size: int, learning_rate: float, momentum: float):
    """``scan_epoch`` under jit, its state donated: one program per epoch length and settings."""
    epoch = functools.partial(scan_epoch, n_batches=n_batches, batch_size=batch_size, learning_rate=learning_rate,
                              momentum=momentum)
    return jax.jit(epoch, donate_argnums=(0,))


def epoch_counters(device) -> dict:
    """A zero loss sum and step counter on ``device`` (NumPy scalars: a copy, no dispatch)."""
    return {"loss_sum": jax.device_put(np.float32(0), device), "step": jax.device_put(np.int32(0), device)}


class JaxTrainer:
    """Training state on one device and the epoch loop around ``gathered_step``.

    The data set is copied to the device once; an epoch uploads only its
    permutation (``start_epoch``), dispatches its steps without waiting
    (``run_epoch``), and the caller synchronizes (``sync``) before reading
    the clock. With ``jit`` the first ``run_epoch`` compiles the step ahead of
    time, with trace, lowering and compilation timed apart (``compile_split``);
    without it every operation is dispatched (and compiled on first use) one
    by one, as JAX does outside ``jit``.
    """

    def __init__(self, config: Config, data, device: str = "cpu", donate: bool = True, jit: bool = True):
        jax_mlp.set_matmul_precision(config)
        self.config = config
        self.device = jax.devices(device)[0]
        put = functools.partial(jax.device_put, device=self.device)
        self.x_train, self.y_train_onehot = put(data.x_train), put(data.y_train_onehot)
        self.eval_sets = {"val": (put(data.x_val), put(data.y_val_onehot)),
                          "test": (put(data.x_test), put(data.y_test_onehot))}
        params = put(initial_weights(config))  # NumPy (W, b) pairs straight to the device
        self.state = TrainState(params, jax.tree.map(jnp.zeros_like, params), **epoch_counters(self.device))
        self.n_train = len(data.x_train)
        self.n_batches = self.n_train // config.batch_size
        self.steps_taken = 0
        self.jit, self.donate = jit, donate
        self.compile_split: dict[str, float] | None = None
        self.use_learning_rate(config.learning_rate)
        jax.block_until_ready((self.x_train, self.y_train_onehot, self.state))

    def use_learning_rate(self, learning_rate: float) -> None:
        """Train the next steps with ``learning_rate`` (a warm-up changes it between epochs): the
        step compiled for it (the rate is static: another rate is another program)."""
        self.learning_rate = learning_rate
        hyper = {**hyper_parameters(self.config), "learning_rate": learning_rate}
        self.compiled_program = self.build_program(hyper) if self.jit else None  # what compile_split describes
        self.step_fn = self.compiled_program or functools.partial(gathered_step, **hyper)

    def build_program(self, hyper: dict):
        """The jitted step this trainer calls (the scan trainer: its jitted epoch)."""
        return jitted_step(**hyper, donate=self.donate)

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = jax.device_put(order, self.device)
        self.state = self.state._replace(**epoch_counters(self.device))
        self.steps_taken = 0

    def program_args(self) -> tuple:
        """The arguments of the compiled program (the step, or the scanned epoch)."""
        return self.state, self.x_train, self.y_train_onehot, self.order

    def compile_once(self) -> None:
        """Compile the program ahead of time on the first call, its phases timed apart. The
        executable is dropped: calling the jitted function later finds it in jit's cache."""
        if self.compiled_program is not None and self.compile_split is None:
            _, self.compile_split = timing.aot_compile(self.compiled_program, *self.program_args())

    def run_epoch(self, max_steps: int | None = None) -> None:
        """Dispatch the epoch's next steps (all that are left, or ``max_steps``) without waiting."""
        steps = steps_to_run(self.steps_taken, self.n_batches, max_steps)
        self.compile_once()
        state = self.state
        for _ in range(steps):
            state = self.step_fn(state, self.x_train, self.y_train_onehot, self.order)
        self.state = state
        self.steps_taken += steps

    def sync(self) -> None:
        jax.block_until_ready(self.state)

    def epoch_loss(self) -> float:
        """The mean batch loss of the steps run since ``start_epoch``."""
        return float(self.state.loss_sum) / self.steps_taken

    def evaluate(self, split: str) -> tuple[float, float]:
        loss, accuracy = jax_mlp.evaluate(self.state.params, *self.eval_sets[split])
        return float(loss), float(accuracy)

    def reset_peak_memory(self) -> bool:
        """XLA's peak is the process's and cannot be reset: only a process's first run owns it."""
        return False

    def peak_memory_bytes(self) -> int | None:
        stats = self.device.memory_stats() if self.device.platform != "cpu" else None
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None

    def record_fields(self) -> dict:
        """What this trainer adds to a run record: XLA's memory analysis of its program."""
        return {"compiled_memory": compiled_memory(self.compiled_program, self.program_args())
                if self.compiled_program is not None else None}

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.asarray(w), np.asarray(b)) for w, b in self.state.params]


class JaxScanTrainer(JaxTrainer):
    """A JaxTrainer whose epoch is one call of a jitted ``scan_epoch``: always the whole epoch."""

    def build_program(self, hyper: dict):  # the scanned epoch always donates its state
        return jitted_epoch(self.n_batches, **hyper)

    def run_epoch(self, max_steps: int | None = None) -> None:
        steps_to_run(self.steps_taken, self.n_batches, max_steps)  # the same errors; the scan is always whole
        self.compile_once()
        self.state = self.compiled_program(*self.program_args())
        self.steps_taken = self.n_batches


MEMORY_FIELDS = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes", "temp_size_in_bytes",
                 "peak_memory_in_bytes")


def compiled_memory(program, args) -> dict | None:
    """XLA's static memory analysis of a compiled program: argument, output,
    aliased (donated) and temporary bytes. Call after training: lowering again
    hits the in-memory compilation cache."""
    analysis = program.trace(*args).lower().compile().memory_analysis()
    if analysis is None:
        return None
    return {field: int(getattr(analysis, field)) for field in MEMORY_FIELDS if hasattr(analysis, field)}
