"""An evidence measurement in a fresh child process: how the parent starts one and reads its result,
and what every child does first (its device and the data).

A child is ``python -m mnistbench.bench.evidence.measure TASK JSON``; it prints its result as one
``@result`` JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ... import devices
from ...errors import Error
from ...networks import data as mnist
from ...networks.config import Config
from ...networks.data import first_training_images
from ..process import prepare_process, use_compilation_cache
from ..variants import REGISTRY

CHILD_PREFIX = "@result "


class EvidenceError(Error):
    """An evidence measurement that could not be made."""


def run_child(task: str, env: dict | None = None, timeout: float = 1800, **kwargs) -> dict:
    """Run ``task(**kwargs)`` in a fresh Python process and return its result."""
    command = [sys.executable, "-m", "mnistbench.bench.evidence.measure", task, json.dumps(kwargs)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        raise EvidenceError(f"{task} did not finish within {timeout:.0f} s") from None
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(CHILD_PREFIX):
            return json.loads(line[len(CHILD_PREFIX):])
    last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
    raise EvidenceError(f"{task} failed: {last[0]}")


def setup_child(framework: str, device: str, cache_dir: str | None = None):
    """What a child does first: its framework's device, its compilation cache, and MNIST."""

    prepare_process(framework, device)
    use_compilation_cache(Path(cache_dir) if cache_dir else None)
    return devices.resolve(device, (framework,), in_this_process=True), mnist.load_mnist(log=lambda _: None)


def build_trainer(variant_key: str, device: str, config: Config, data):
    """The variant's trainer on the configuration's training images."""

    return REGISTRY[variant_key].build(config, first_training_images(data, config.train_subset), device)
