"""The shared starting point: ``jax_mlp.init_params`` drawn on the CPU, as NumPy arrays.

Both twins start from these arrays (JAX and PyTorch load the same NumPy
values), so their curves differ only by floating-point rounding. Drawing them
on the CPU makes them identical wherever the training runs: a GPU's random
kernels could differ from the CPU's in the last bit.
"""

from __future__ import annotations

import jax
import numpy as np

from .config import Config
from .jax_mlp import init_params

Weights = list[tuple[np.ndarray, np.ndarray]]  # one (W[in, out], b[out]) pair per layer


def initial_weights(config: Config) -> Weights:
    """The run's starting weights as NumPy arrays, drawn on the CPU from ``config.seed``."""
    with jax.default_device(jax.devices("cpu")[0]):
        params = init_params(jax.random.key(config.seed), config.layer_sizes, config.output_init_scale)
        return [(np.array(w), np.array(b)) for w, b in params]
