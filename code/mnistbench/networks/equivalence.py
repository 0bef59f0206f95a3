"""What "the same network" means in numbers: the tolerances the tests hold the
JAX and PyTorch twins (and every variant of each) to. Both compute in float32
but sum in different orders (different kernels), so they agree closely, not
bit for bit."""

from __future__ import annotations

LOSS_RTOL = 1e-5  # relative difference of the loss on one batch, same weights
GRAD_TOL = 1e-4  # absolute and relative difference of every gradient entry
STEPS = 20  # momentum-SGD steps taken by both from the same weights on the same batches
PARAMS_TOL = 1e-3  # absolute difference of every parameter after STEPS steps
LOSS_SUM_RTOL = 1e-4  # relative difference of the loss summed over those steps
