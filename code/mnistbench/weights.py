"""The shared starting point: He-normal weights from a JAX PRNG key, drawn on the CPU.

Both twins start from these arrays (JAX and PyTorch load the same NumPy
values), so their curves differ only by floating-point rounding. Drawing them
on the CPU makes them identical wherever the training runs: a GPU's random
kernels could differ from the CPU's in the last bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .config import Config

Weights = list[tuple[np.ndarray, np.ndarray]]  # one (W[in, out], b[out]) pair per layer


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


def initial_weights(config: Config) -> Weights:
    """The run's starting weights as NumPy arrays, drawn on the CPU from ``config.seed``."""
    with jax.default_device(jax.devices("cpu")[0]):
        params = init_params(jax.random.key(config.seed), config.layer_sizes, config.output_init_scale)
        return [(np.array(w), np.array(b)) for w, b in params]
