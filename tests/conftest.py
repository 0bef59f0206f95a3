"""Shared fixtures: real MNIST (fetched once), and a CPU-only JAX."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # the suite runs on the CPU, also on a GPU host

import pytest

from mnistbench import mnist_files
from mnistbench.networks import data as mnist


@pytest.fixture(scope="session")
def mnist_data() -> mnist.MNIST:
    """The real, verified, split and normalized data set."""
    return mnist.load_mnist(log=lambda _: None)


@pytest.fixture(scope="session")
def raw_dir() -> "os.PathLike":
    """The folder holding the four verified IDX files."""
    return mnist_files.fetch_mnist(log=lambda _: None)
