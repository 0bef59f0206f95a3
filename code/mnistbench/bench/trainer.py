"""What every trainer offers the clock, and the one rule of an epoch's steps.

A trainer (``jax_trainers``, ``torch_trainers``; the registry in ``variants``
builds them) holds one run's data, parameters and optimizer state on one
device, and splits an epoch so that a clock can be read around the part that
trains:

- ``start_epoch(order)``: upload the epoch's permutation, zero its loss sum;
- ``run_epoch(max_steps=None)``: issue the epoch's next steps (all that are left,
  or the next ``max_steps``) without waiting for the device;
- ``sync()``: wait until the device has finished them;
- ``epoch_loss()``: the mean batch loss of the steps run since ``start_epoch``;
- ``evaluate(split)``, ``weights()``, ``reset_peak_memory()`` (whether it could start this run's
  own peak), ``peak_memory_bytes()``, ``record_fields()``.
"""

from __future__ import annotations

from ..errors import Error


class EpochOver(Error):
    """``run_epoch`` was called after the epoch's last batch (``start_epoch`` begins the next)."""


def steps_to_run(steps_taken: int, n_batches: int, max_steps: int | None = None) -> int:
    """How many of the epoch's batches the next ``run_epoch`` trains: the rest of the
    epoch, or the next ``max_steps`` of it (at least one). An epoch never wraps round to
    its first batch or repeats its last: a call with no batch left is an error."""
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1 (None: the rest of the epoch), got {max_steps}")
    left = n_batches - steps_taken
    if left <= 0:
        raise EpochOver(f"the epoch's {n_batches} batches are done; start the next epoch first")
    return left if max_steps is None else min(max_steps, left)
