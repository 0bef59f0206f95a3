"""The network in pure JAX, top to bottom: init, forward, loss, the ``grad`` update, the jitted step.

Parameters are plain data: a list of ``(W, b)`` pairs, a pytree that every
``jax.tree.map`` below walks. Nothing is hidden in objects, and no Flax,
Haiku, Optax or Equinox is used: only ``jax``, ``jax.numpy``, ``jax.random``
and ``jax.nn.logsumexp``. The optimizer is SGD with heavy-ball momentum, the
rule of ``torch.optim.SGD(momentum=m)``:

    v <- m * v + g
    p <- p - lr * v

Everything here is a pure function of arrays: a step returns new parameters
and velocity instead of changing the old ones. ``jit_train_step`` compiles the
step into one XLA program; the benchmark's trainers (``bench.jax_trainers``)
wrap the same ``train_step`` in their epoch loops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import Config

Params = list[tuple[jax.Array, jax.Array]]  # one (W[in, out], b[out]) pair per layer
JAX_PRECISION = {"float32": "float32", "tf32": "tensorfloat32"}


def init_params(key: jax.Array, layer_sizes: tuple[int, ...], output_scale: float = 1.0) -> Params:
    """He-normal weights (std sqrt(2 / fan_in)), zero biases; W has shape (in, out).

    One PRNG key per layer, split from ``key``: JAX has no global random state.
    The output layer's weights are multiplied by ``output_scale``.
    """
    keys = jax.random.split(key, len(layer_sizes) - 1)
    scales = [1.0] * (len(layer_sizes) - 2) + [output_scale]
    return [
        (jax.random.normal(k, (n_in, n_out), jnp.float32) * (scale * jnp.sqrt(2.0 / n_in)),
         jnp.zeros(n_out, jnp.float32))
        for k, n_in, n_out, scale in zip(keys, layer_sizes[:-1], layer_sizes[1:], scales)
    ]


def relu(x: jax.Array) -> jax.Array:
    """max(x, 0), with gradient 0 at 0 (as ``jax.nn.relu`` and PyTorch's ReLU). A select, not
    ``jax.nn.relu``: that one grows JAX's dispatch cache at every eager (un-jitted) step, and the
    eager variant slowed down epoch after epoch (README, "How the timing is made honest")."""
    return jnp.where(x > 0, x, 0.0)


def forward(params: Params, x: jax.Array) -> jax.Array:
    """Logits: ReLU hidden layers, linear output layer."""
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = relu(x @ w + b)
    return x @ w_out + b_out


def log_softmax(logits: jax.Array) -> jax.Array:
    """log(softmax(logits)) per row, stable: subtract the row's log-sum-exp."""
    return logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)


def cross_entropy(logits: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of logits against one-hot labels."""
    return -jnp.mean(jnp.sum(y_onehot * log_softmax(logits), axis=1))


def loss_fn(params: Params, x: jax.Array, y_onehot: jax.Array) -> jax.Array:
    """The training loss: cross-entropy of the network's logits."""
    return cross_entropy(forward(params, x), y_onehot)


def momentum_update(params: Params, velocity: Params, grads: Params, learning_rate: float,
                    momentum: float) -> tuple[Params, Params]:
    """One heavy-ball SGD step over the whole pytree; returns new (params, velocity)."""
    velocity = jax.tree.map(lambda v, g: momentum * v + g, velocity, grads)
    params = jax.tree.map(lambda p, v: p - learning_rate * v, params, velocity)
    return params, velocity


def train_step(params: Params, velocity: Params, x: jax.Array, y_onehot: jax.Array, learning_rate: float,
               momentum: float) -> tuple[Params, Params, jax.Array]:
    """One step on one batch: the loss and its gradient (``jax.value_and_grad``,
    reverse mode through the traced ``loss_fn``), then the momentum update.
    Returns (new params, new velocity, the batch's loss)."""
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y_onehot)  # jax.grad that also returns the loss
    params, velocity = momentum_update(params, velocity, grads, learning_rate, momentum)
    return params, velocity, loss


# The step as one XLA program. jit traces train_step once per batch shape and pair of hyper-parameters
# (static: a new value is a new program), so the first call compiles and later calls only dispatch.
# Donating params and velocity lets XLA write the update into their buffers instead of allocating
# new ones (the gradients and activations are still temporaries of the program). The benchmark jits
# this same train_step with the batch gathered on the device (bench/jax_trainers.jitted_step); a test
# shows the two compile to the same program.
jit_train_step = jax.jit(train_step, static_argnames=("learning_rate", "momentum"),
                         donate_argnames=("params", "velocity"))


@jax.jit
def evaluate(params: Params, x: jax.Array, y_onehot: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean loss, accuracy) on one-hot labels."""
    logits = forward(params, x)
    return cross_entropy(logits, y_onehot), jnp.mean(jnp.argmax(logits, axis=1) == jnp.argmax(y_onehot, axis=1))


def train_epoch(params: Params, velocity: Params, x: jax.Array, y_onehot: jax.Array, batch_size: int,
                learning_rate: float, momentum: float) -> tuple[Params, Params, jax.Array]:
    """The plain loop a user would write: one jitted step per full batch, in order.
    Returns (params, velocity, mean batch loss). The benchmark's trainers run the same
    step with a shuffled order, on data already on the device."""
    losses = []
    for start in range(0, len(x) - batch_size + 1, batch_size):
        batch = slice(start, start + batch_size)
        params, velocity, loss = jit_train_step(params, velocity, x[batch], y_onehot[batch],
                                                learning_rate=learning_rate, momentum=momentum)
        losses.append(loss)
    return params, velocity, jnp.mean(jnp.stack(losses))


def set_matmul_precision(config: Config) -> None:
    """Pin float32 matmuls to full precision or TF32 for the whole process."""
    jax.config.update("jax_default_matmul_precision", JAX_PRECISION[config.matmul_precision])
