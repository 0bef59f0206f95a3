"""MNIST as the networks see it: split, flattened, standardized, one-hot.

``load_mnist`` reads the four verified files (``mnist_files``) and returns
plain NumPy arrays; ``epoch_permutation`` is the batch order both frameworks
follow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..mnist_files import FILES, N_CLASSES, default_data_dir, fetch_mnist, load_raw
from .config import Config

DEFAULTS = Config()


@dataclasses.dataclass(frozen=True)
class MNIST:
    """The split, normalized data set. ``x_*`` are (n, 784) float32,
    ``y_*`` integer labels, ``y_*_onehot`` (n, 10) float32."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_mean: float
    pixel_std: float

    @property
    def y_train_onehot(self) -> np.ndarray:
        return one_hot(self.y_train)

    @property
    def y_val_onehot(self) -> np.ndarray:
        return one_hot(self.y_val)

    @property
    def y_test_onehot(self) -> np.ndarray:
        return one_hot(self.y_test)


# --- preparing ------------------------------------------------------------


def split_indices(n: int, validation_size: int, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, validation) index arrays from one seeded permutation."""
    if not 0 < validation_size < n:
        raise ValueError(f"validation size must be between 1 and {n - 1}")
    order = np.random.default_rng(split_seed).permutation(n)
    return np.sort(order[validation_size:]), np.sort(order[:validation_size])  # sorted: the files' order


def one_hot(labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """(n,) integer labels -> (n, n_classes) float32 rows with a single 1."""
    return np.eye(n_classes, dtype=np.float32)[labels]


def prepare(raw: dict[str, np.ndarray], validation_size: int = DEFAULTS.validation_size,
            split_seed: int = DEFAULTS.split_seed) -> MNIST:
    """Split the official training set, flatten, scale to [0, 1] and
    standardize every split with the training split's pixel mean and std."""
    train_idx, val_idx = split_indices(len(raw["train_labels"]), validation_size, split_seed)
    pixels = raw["train_images"].reshape(len(raw["train_images"]), -1).astype(np.float32) / 255.0
    test_pixels = raw["test_images"].reshape(len(raw["test_images"]), -1).astype(np.float32) / 255.0
    mean = float(pixels[train_idx].mean(dtype=np.float64))
    std = float(pixels[train_idx].std(dtype=np.float64))

    def standardize(x):
        return ((x - mean) / std).astype(np.float32)

    labels = raw["train_labels"].astype(np.int32)
    return MNIST(
        x_train=standardize(pixels[train_idx]), y_train=labels[train_idx],
        x_val=standardize(pixels[val_idx]), y_val=labels[val_idx],
        x_test=standardize(test_pixels), y_test=raw["test_labels"].astype(np.int32),
        pixel_mean=mean, pixel_std=std,
    )


def load_mnist(data_dir: Path | None = None, validation_size: int = DEFAULTS.validation_size,
               split_seed: int = DEFAULTS.split_seed, log=print) -> MNIST:
    """Fetch if needed, verify, split and normalize."""
    data_dir = Path(data_dir or default_data_dir())
    if not all((data_dir / f).exists() for f in FILES.values()):
        fetch_mnist(data_dir, log=log)
    return prepare(load_raw(data_dir), validation_size, split_seed)  # files checked by content


def first_training_images(data: MNIST, n: int | None) -> MNIST:
    """The data set with only the first ``n`` training images (all if None)."""
    if n is None:
        return data
    return dataclasses.replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the training examples in ``epoch``; both frameworks use it."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)
