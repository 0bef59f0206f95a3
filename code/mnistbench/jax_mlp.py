"""The network in pure JAX: parameters are a list of (W, b) pairs, nothing else.

Only ``jax``, ``jax.numpy``, ``jax.random``, ``jax.lax`` and ``jax.tree`` are
used; no Flax, Haiku, Optax or Equinox. The optimizer is SGD with heavy-ball
momentum, the same rule as ``torch.optim.SGD(momentum=m)``:

    v <- m * v + g
    p <- p - lr * v

Batches: each epoch takes ``n // batch_size`` full batches in the order of a
shared permutation; the last partial batch is dropped, so the step has one
static shape and compiles once per batch size (a partial batch would compile
a second program inside the timed first epoch).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .config import Config

JAX_PRECISION = {"float32": "float32", "tf32": "tensorfloat32"}


def init_params(key: jax.Array, layer_sizes: tuple[int, ...], output_scale: float = 1.0):
    """He-normal weights (std sqrt(2 / fan_in)), zero biases; W has shape (in, out).

    The output layer's weights are multiplied by ``output_scale``.
    """
    keys = jax.random.split(key, len(layer_sizes) - 1)
    scales = [1.0] * (len(layer_sizes) - 2) + [output_scale]
    return [
        (jax.random.normal(k, (n_in, n_out), jnp.float32) * (scale * jnp.sqrt(2.0 / n_in)),
         jnp.zeros(n_out, jnp.float32))
        for k, n_in, n_out, scale in zip(keys, layer_sizes[:-1], layer_sizes[1:], scales)
    ]


def initial_weights(config: Config) -> list[tuple[np.ndarray, np.ndarray]]:
    """The run's starting weights as NumPy arrays; the PyTorch twin loads these."""
    params = init_params(jax.random.key(config.seed), config.layer_sizes, config.output_init_scale)
    return [(np.array(w), np.array(b)) for w, b in params]


def forward(params, x: jax.Array) -> jax.Array:
    """Logits: ReLU hidden layers, linear output layer."""
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = jax.nn.relu(x @ w + b)
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


def train_step(params, velocity, loss_sum, x_train, y_train_onehot, order, step, *,
               batch_size: int, learning_rate: float, momentum: float):
    """Gather batch ``step`` of the epoch's ``order``, differentiate, update.

    The gather happens inside the compiled program, so a step is one dispatch;
    the running loss sum stays on the device and is read once per epoch.
    """
    idx = jax.lax.dynamic_slice_in_dim(order, step * batch_size, batch_size)
    loss, grads = jax.value_and_grad(loss_fn)(params, x_train[idx], y_train_onehot[idx])
    params, velocity = momentum_update(params, velocity, grads, learning_rate, momentum)
    return params, velocity, loss_sum + loss


def make_train_step(config: Config, donate: bool = True):
    """``train_step`` with the hyper-parameters bound, under ``jax.jit``.

    Donating params, velocity and the loss sum lets XLA write the updated
    values into the old buffers: the functional update costs no extra memory.
    """
    step = functools.partial(train_step, batch_size=config.batch_size,
                             learning_rate=config.learning_rate, momentum=config.momentum)
    return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ())


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


class JaxTrainer:
    """Training state on one device and the epoch loop around ``train_step``.

    The data set is copied to the device once; an epoch uploads only its
    permutation (``start_epoch``), dispatches every step without waiting
    (``run_epoch``), and the caller synchronizes (``sync``) before reading
    the clock. The first ``run_epoch`` compiles the step ahead of time, with
    trace, lowering and compilation timed apart (``compile_split``); the
    jitted function then reuses that executable.
    """

    def __init__(self, config: Config, data, device: str = "cpu", donate: bool = True):
        set_matmul_precision(config)
        self.config = config
        self.device = jax.devices(device)[0]
        put = functools.partial(jax.device_put, device=self.device)
        self.x_train, self.y_train_onehot = put(data.x_train), put(data.y_train_onehot)
        self.eval_sets = {"val": (put(data.x_val), put(data.y_val)), "test": (put(data.x_test), put(data.y_test))}
        self.params = put(init_params_from(initial_weights(config)))
        self.velocity = jax.tree.map(jnp.zeros_like, self.params)
        self.n_train = len(data.x_train)
        self.n_batches = self.n_train // config.batch_size
        self.step = make_train_step(config, donate=donate)
        self.compile_split: dict[str, float] | None = None
        jax.block_until_ready((self.x_train, self.y_train_onehot, self.params, self.velocity))

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = jax.device_put(order, self.device)
        self.loss_sum = jax.device_put(jnp.float32(0), self.device)

    def _compile(self) -> None:
        import time

        args = (self.params, self.velocity, self.loss_sum, self.x_train, self.y_train_onehot, self.order, 0)
        t0 = time.perf_counter()
        traced = self.step.trace(*args)
        t1 = time.perf_counter()
        lowered = traced.lower()
        t2 = time.perf_counter()
        lowered.compile()
        t3 = time.perf_counter()
        self.compile_split = {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2}

    def run_epoch(self) -> None:
        if self.compile_split is None:
            self._compile()
        state = (self.params, self.velocity, self.loss_sum)
        for i in range(self.n_batches):
            state = self.step(*state, self.x_train, self.y_train_onehot, self.order, i)
        self.params, self.velocity, self.loss_sum = state

    def sync(self) -> None:
        jax.block_until_ready((self.params, self.velocity, self.loss_sum))

    def epoch_loss(self) -> float:
        return float(self.loss_sum) / self.n_batches

    def evaluate(self, split: str) -> tuple[float, float]:
        loss, accuracy = evaluate(self.params, *self.eval_sets[split])
        return float(loss), float(accuracy)

    def peak_memory_bytes(self) -> int | None:
        stats = self.device.memory_stats() if self.device.platform != "cpu" else None
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.asarray(w), np.asarray(b)) for w, b in self.params]


def init_params_from(weights: list[tuple[np.ndarray, np.ndarray]]):
    """Shared NumPy weights -> the JAX parameter pytree."""
    return [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]
