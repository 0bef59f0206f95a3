"""The one configuration both frameworks read.

Every setting that could make the JAX and PyTorch runs differ lives here, so a
record that stores this object says exactly what was trained.

Defaults, and why:
- ``layer_sizes`` 784-1024-1024-10: the size of JAX's own from-scratch MNIST
  example; large enough that the matrix products, not Python, dominate a step
  at large batch sizes.
- ReLU hidden activations, He-normal weights, zero biases; the output
  layer's He-normal weights are scaled by ``output_init_scale`` = 0.1 so the
  first logits are small and the initial loss is close to ln 10 (uniform
  predictions) instead of about 3.
- SGD with heavy-ball momentum 0.9 and learning rate 0.03 at every batch size,
  set in the first version of the code and not tuned (no search over learning
  rates was made or recorded). The learning
  rate is deliberately *not* scaled with the batch size: the study compares
  frameworks, and one set of hyper-parameters keeps the arithmetic the same
  across the grid. Batch 1024 therefore takes 16x fewer updates per epoch;
  ``evidence updates`` measures what that, and a scaled learning rate, do to
  the accuracy.
- ``matmul_precision`` "float32": full single precision in both frameworks.
  On NVIDIA GPUs JAX would otherwise use TF32 for float32 matmuls while
  PyTorch does not; "tf32" enables it in both.
- ``train_subset`` trains on the first N training images only (None: all
  ``n_train``): smoke tests, and the paired comparisons' blocks, which are
  epochs over the first 5,000 or 10,240 images (``bench.evidence.paired``).
- ``split_seed`` fixes the train/validation split for every run; ``seed``
  drives the initial weights and the batch order, and changes per repeat.
"""

from __future__ import annotations

import dataclasses
import math

from ..mnist_files import EXPECTED_SHAPES, N_CLASSES

PRECISIONS = ("float32", "tf32")
FLOAT32_MAX = 3.4028234663852886e38  # both frameworks compute in float32
IMAGE_PIXELS = EXPECTED_SHAPES["train_images"][1] * EXPECTED_SHAPES["train_images"][2]
TRAINING_FILE_IMAGES = EXPECTED_SHAPES["train_images"][0]  # the official training file, before the split


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters and settings shared by the JAX and PyTorch networks."""

    layer_sizes: tuple[int, ...] = (784, 1024, 1024, 10)
    output_init_scale: float = 0.1
    learning_rate: float = 0.03
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 10
    seed: int = 0
    split_seed: int = 0
    validation_size: int = 10_000
    matmul_precision: str = "float32"
    train_subset: int | None = None  # train on the first N training images only (None: all n_train)

    def __post_init__(self):
        """Every setting checked once, here: the command line's options and the code alike."""
        problems = [
            (self.batch_size >= 1, f"batch size must be a positive integer, got {self.batch_size}"),
            (self.epochs >= 1, f"epochs must be a positive integer, got {self.epochs}"),
            (math.isfinite(self.learning_rate) and 0 < self.learning_rate < FLOAT32_MAX,
             f"learning rate {self.learning_rate} must be a positive float32 number"),
            (0 <= self.momentum < 1, f"momentum {self.momentum} must be in [0, 1)"),
            (self.seed >= 0 and self.split_seed >= 0, "seeds must not be negative"),
            (self.matmul_precision in PRECISIONS,
             f"precision must be one of {PRECISIONS}, got {self.matmul_precision!r}"),
            (0 < self.validation_size < TRAINING_FILE_IMAGES,
             f"validation size must be between 1 and {TRAINING_FILE_IMAGES - 1}, got {self.validation_size}"),
            (len(self.layer_sizes) >= 2 and self.layer_sizes[0] == IMAGE_PIXELS and self.layer_sizes[-1] == N_CLASSES,
             f"layer sizes must run from {IMAGE_PIXELS} pixels to {N_CLASSES} classes, got {self.layer_sizes}"),
        ]
        available = TRAINING_FILE_IMAGES - self.validation_size
        if self.train_subset is not None:
            problems.append((1 <= self.train_subset <= available, f"train subset {self.train_subset} is more than "
                             f"the {available:,} training images (leave it out to train on all of them)"))
        problems.append((self.batch_size <= self.n_train,
                         f"batch size {self.batch_size} is larger than the {self.n_train:,} training images"))
        for holds, message in problems:
            if not holds:
                raise ValueError(message)

    @property
    def n_train(self) -> int:
        """The images an epoch trains on: the training file less the validation split, or ``train_subset``."""
        return self.train_subset or TRAINING_FILE_IMAGES - self.validation_size

    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**values, "layer_sizes": tuple(values["layer_sizes"])})

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)


def parameter_count(layer_sizes: tuple[int, ...]) -> int:
    """Number of weights and biases in the network."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))


def training_flops_per_sample(layer_sizes: tuple[int, ...]) -> int:
    """Matrix-product FLOPs of one training example (forward + backward).

    Forward: 2*in*out per layer. Backward: the weight gradient costs the same
    again for every layer, and the gradient with respect to the layer's input
    the same again for every layer but the first (nothing needs the gradient
    of the pixels). Element-wise work (ReLU, softmax, the update) is ignored:
    it is under 1% of the total for this network.
    """
    layer_macs = [n_in * n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]
    return 2 * (2 * sum(layer_macs) + sum(layer_macs[1:]))
