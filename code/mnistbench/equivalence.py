"""What "the same network" means in numbers: the tolerances the tests hold the
JAX and PyTorch twins (and every variant of each) to. Both compute in float32
but sum in different orders (different kernels), so they agree closely, not
bit for bit."""

from __future__ import annotations

import numpy as np

LOSS_RTOL = 1e-5  # relative difference of the loss on one batch, same weights
GRAD_TOL = 1e-4  # absolute and relative difference of every gradient entry
STEPS = 20  # momentum-SGD steps taken by both from the same weights on the same batches
PARAMS_TOL = 1e-3  # absolute difference of every parameter after STEPS steps
LOSS_SUM_RTOL = 1e-4  # relative difference of the loss summed over those steps


def compare_with_default(variant_key: str, device: str, data, steps: int = STEPS, batch_size: int = 128) -> dict:
    """Train ``variant_key`` and its framework's default variant for ``steps`` steps
    from the same weights on the same batches, and compare the parameters."""
    from .config import Config
    from .data import epoch_permutation, first_training_images
    from .variants import REGISTRY, get

    variant = REGISTRY[variant_key]
    reference = get(variant.framework)
    config = Config(batch_size=batch_size, train_subset=steps * batch_size)
    subset = first_training_images(data, steps * batch_size)
    order = epoch_permutation(0, 1, steps * batch_size)
    weights, loss_sums, start = {}, {}, None
    for spec in (reference, variant):
        trainer = spec.build(config, subset, device)
        start = start or trainer.weights()
        trainer.start_epoch(order)
        trainer.run_epoch()
        trainer.sync()
        weights[spec.key], loss_sums[spec.key] = trainer.weights(), trainer.epoch_loss() * steps

    def largest_difference(a, b) -> float:
        return float(max(np.abs(x - y).max() for pair_a, pair_b in zip(a, b) for x, y in zip(pair_a, pair_b)))

    difference = largest_difference(weights[reference.key], weights[variant.key])
    moved = largest_difference(start, weights[reference.key])  # a no-op update would pass the comparison
    loss_difference = abs(loss_sums[variant.key] - loss_sums[reference.key]) / abs(loss_sums[reference.key])
    return {"variant": variant.key, "reference": reference.key, "device": device, "steps": steps,
            "max_abs_difference": difference, "tolerance": PARAMS_TOL, "moved": moved,
            "loss_sum_relative_difference": loss_difference,
            "passed": difference <= PARAMS_TOL and moved > PARAMS_TOL and loss_difference <= LOSS_SUM_RTOL}
