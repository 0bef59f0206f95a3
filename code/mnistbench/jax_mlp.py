"""The network in pure JAX: parameters are a list of (W, b) pairs, nothing else.

Only ``jax``, ``jax.numpy``, ``jax.random``, ``jax.lax`` and ``jax.tree`` are
used; no Flax, Haiku, Optax or Equinox. The optimizer is SGD with heavy-ball
momentum, the same rule as ``torch.optim.SGD(momentum=m)``:

    v <- m * v + g
    p <- p - lr * v

A training step maps a ``TrainState`` (parameters, velocity, the epoch's
running loss sum and the step counter, all on the device) to the next one.
The step counter lives on the device and selects the batch inside the step,
so no Python number crosses to the device per step.

Batches: each epoch takes ``n // batch_size`` full batches in the order of a
shared permutation; the last partial batch is dropped, so the step has one
static shape and compiles once per batch size (a partial batch would compile
a second program inside the timed first epoch).

The trainers at the bottom differ only in how often Python dispatches work:
``eager`` op by op, ``jit`` once per step, ``scan`` once per epoch.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import timing
from .config import Config
from .weights import init_params, initial_weights  # noqa: F401 - the JAX initialization lives there

JAX_PRECISION = {"float32": "float32", "tf32": "tensorfloat32"}


class TrainState(NamedTuple):
    """Everything a step changes (a pytree of device arrays)."""

    params: list
    velocity: list
    loss_sum: jax.Array
    step: jax.Array


def relu(x: jax.Array) -> jax.Array:
    """max(x, 0), with gradient 0 at 0 (as ``jax.nn.relu`` and PyTorch's ReLU).

    Written as a select rather than ``jax.nn.relu``: that is a ``custom_jvp``
    around a ``jit``, and each eager (un-jitted) differentiation adds an entry to
    JAX's C++ dispatch cache keyed on that step's autodiff trace, so an eager
    training loop slows down step by step until the cache is full (8,192
    entries). ``jnp.maximum`` would not, but its gradient at 0 is 0.5."""
    return jnp.where(x > 0, x, 0.0)


def forward(params, x: jax.Array) -> jax.Array:
    """Logits: ReLU hidden layers, linear output layer."""
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = relu(x @ w + b)
    return x @ w_out + b_out


def loss_fn(params, x: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy on one-hot labels, via a stable log-softmax."""
    logits = forward(params, x)
    log_probs = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
    return -jnp.mean(jnp.sum(y_onehot * log_probs, axis=1))


def momentum_update(params, velocity, grads, learning_rate: float, momentum: float):
    """One heavy-ball SGD step over the whole pytree; returns new (params, velocity)."""
    velocity = jax.tree.map(lambda v, g: momentum * v + g, velocity, grads)
    params = jax.tree.map(lambda p, v: p - learning_rate * v, params, velocity)
    return params, velocity


def train_step(state: TrainState, x_train, y_train_onehot, order, *, batch_size: int, learning_rate: float,
               momentum: float) -> TrainState:
    """Gather batch ``state.step`` of the epoch's ``order``, differentiate, update."""
    idx = jax.lax.dynamic_slice_in_dim(order, state.step * batch_size, batch_size)
    loss, grads = jax.value_and_grad(loss_fn)(state.params, x_train[idx], y_train_onehot[idx])
    params, velocity = momentum_update(state.params, state.velocity, grads, learning_rate, momentum)
    return TrainState(params, velocity, state.loss_sum + loss, state.step + 1)


def scan_epoch(state: TrainState, x_train, y_train_onehot, order, *, n_batches: int, **hyper) -> TrainState:
    """Every step of an epoch in one program: ``lax.scan`` carries the state."""
    def body(carried, _):
        return train_step(carried, x_train, y_train_onehot, order, **hyper), None

    return jax.lax.scan(body, state, None, length=n_batches)[0]


def hyper_parameters(config: Config) -> dict:
    return {"batch_size": config.batch_size, "learning_rate": config.learning_rate, "momentum": config.momentum}


def make_train_step(config: Config, donate: bool = True):
    """``train_step`` with the hyper-parameters bound, under ``jax.jit``.

    Donating the state lets XLA write the updated values into the old
    buffers: the functional update costs no extra memory.
    """
    return _jitted_step(config.batch_size, config.learning_rate, config.momentum, donate)


# One jitted function per set of hyper-parameters and process: jit caches compiled programs on
# the function object, so a second trainer with the same settings (another seed, in a session
# of several runs) reuses the program instead of compiling it again.
@functools.cache
def _jitted_step(batch_size: int, learning_rate: float, momentum: float, donate: bool):
    step = functools.partial(train_step, batch_size=batch_size, learning_rate=learning_rate, momentum=momentum)
    return jax.jit(step, donate_argnums=(0,) if donate else ())


@functools.cache
def _jitted_epoch(n_batches: int, batch_size: int, learning_rate: float, momentum: float):
    epoch = functools.partial(scan_epoch, n_batches=n_batches, batch_size=batch_size, learning_rate=learning_rate,
                              momentum=momentum)
    return jax.jit(epoch, donate_argnums=(0,))


@jax.jit
def evaluate(params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean loss, accuracy) on integer labels ``y``."""
    logits = forward(params, x)
    log_probs = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
    loss = -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))
    return loss, jnp.mean(jnp.argmax(logits, axis=1) == y)


def set_matmul_precision(config: Config) -> None:
    """Pin float32 matmuls to full precision or TF32 for the whole process."""
    jax.config.update("jax_default_matmul_precision", JAX_PRECISION[config.matmul_precision])


def init_params_from(weights) -> list:
    """Shared NumPy weights -> the JAX parameter pytree."""
    return [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]


def epoch_counters(device) -> dict:
    """A zero loss sum and step counter on ``device`` (NumPy scalars: a copy, no dispatch)."""
    return {"loss_sum": jax.device_put(np.float32(0), device), "step": jax.device_put(np.int32(0), device)}


class JaxTrainer:
    """Training state on one device and the epoch loop around ``train_step``.

    The data set is copied to the device once; an epoch uploads only its
    permutation (``start_epoch``), dispatches every step without waiting
    (``run_epoch``), and the caller synchronizes (``sync``) before reading
    the clock. With ``jit`` the first ``run_epoch`` compiles the step ahead of
    time, with trace, lowering and compilation timed apart (``compile_split``);
    without it every operation is dispatched (and compiled on first use) one
    by one, as JAX does outside ``jit``.
    """

    def __init__(self, config: Config, data, device: str = "cpu", donate: bool = True, jit: bool = True):
        set_matmul_precision(config)
        self.config = config
        self.device = jax.devices(device)[0]
        put = functools.partial(jax.device_put, device=self.device)
        self.x_train, self.y_train_onehot = put(data.x_train), put(data.y_train_onehot)
        self.eval_sets = {"val": (put(data.x_val), put(data.y_val)), "test": (put(data.x_test), put(data.y_test))}
        params = put(initial_weights(config))  # NumPy (W, b) pairs straight to the device
        self.state = TrainState(params, jax.tree.map(jnp.zeros_like, params), **epoch_counters(self.device))
        self.n_train = len(data.x_train)
        self.n_batches = self.n_train // config.batch_size
        self.step = make_train_step(config, donate=donate) if jit else functools.partial(
            train_step, **hyper_parameters(config))
        self.compiled_program = self.step if jit else None  # what compile_split and memory describe
        self.compile_split: dict[str, float] | None = None
        jax.block_until_ready((self.x_train, self.y_train_onehot, self.state))

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = jax.device_put(order, self.device)
        self.state = self.state._replace(**epoch_counters(self.device))

    def program_args(self) -> tuple:
        """The arguments of the compiled program (the step, or the scanned epoch)."""
        return self.state, self.x_train, self.y_train_onehot, self.order

    def run_epoch(self, max_steps: int | None = None) -> None:
        """Dispatch the epoch's steps (its first ``max_steps`` only, when given) without waiting."""
        if self.compiled_program is not None and self.compile_split is None:
            _, self.compile_split = timing.aot_compile(self.compiled_program, *self.program_args())
        state = self.state
        for _ in range(min(max_steps or self.n_batches, self.n_batches)):
            state = self.step(state, self.x_train, self.y_train_onehot, self.order)
        self.state = state

    def sync(self) -> None:
        jax.block_until_ready(self.state)

    def epoch_loss(self) -> float:
        return float(self.state.loss_sum) / self.n_batches

    def evaluate(self, split: str) -> tuple[float, float]:
        loss, accuracy = evaluate(self.state.params, *self.eval_sets[split])
        return float(loss), float(accuracy)

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
    """A JaxTrainer whose epoch is one call of a jitted ``scan_epoch``."""

    def __init__(self, config: Config, data, device: str = "cpu"):
        super().__init__(config, data, device)
        self.compiled_program = _jitted_epoch(self.n_batches, **hyper_parameters(config))

    def run_epoch(self, max_steps: int | None = None) -> None:  # one call: always the whole epoch
        if self.compile_split is None:
            _, self.compile_split = timing.aot_compile(self.compiled_program, *self.program_args())
        self.state = self.compiled_program(*self.program_args())


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
