"""Every variant held to its framework's default: the same weights, the same batches, the
same parameters after ``STEPS`` steps within ``networks.equivalence``'s tolerances."""

from __future__ import annotations

import numpy as np

from ..networks.config import Config
from ..networks.data import epoch_permutation, first_training_images
from ..networks.equivalence import LOSS_SUM_RTOL, PARAMS_TOL, STEPS
from .variants import REGISTRY, get

BATCH_SIZE = 128  # the batches both sides of a check train on


def compare_with_default(variant_key: str, device: str, data, steps: int = STEPS, batch_size: int = BATCH_SIZE) -> dict:
    """Train ``variant_key`` and its framework's default variant for ``steps`` steps
    from the same weights on the same batches, and compare the parameters."""
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
