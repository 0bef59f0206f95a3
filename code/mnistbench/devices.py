"""Which device a command trains on, decided in one place: 'cpu' or 'gpu', and PyTorch's name for it.

'auto' is the GPU only where every framework the command trains sees one: PyTorch with CUDA
beside a CPU-only JAX trains both on the CPU (a JAX child on 'gpu' would fail). A parent asks
JAX in a short child process, because a JAX GPU client would reserve most of the GPU's memory;
a measuring process that is about to use the framework asks it directly.
"""

from __future__ import annotations

import os
import subprocess
import sys

from .errors import UserError

# JAX on this machine's GPU, asked without claiming its memory (the child prints True or False)
_JAX_PROBE = "import jax\ntry:\n    print(bool(jax.devices('gpu')))\nexcept RuntimeError:\n    print(False)"


def torch_device_type(device: str) -> str:
    """PyTorch's name of the project's device: 'cuda' for 'gpu'."""
    return "cuda" if device == "gpu" else "cpu"


def sees_gpu(framework: str, in_this_process: bool = False) -> bool:
    """Whether ``framework`` sees a GPU. PyTorch is asked first in either case: its CUDA build asks
    the driver without taking memory, and without a driver no framework sees a GPU."""
    import torch  # in a parent too: its CUDA query takes no GPU memory

    if not torch.cuda.is_available() or framework == "torch":
        return torch.cuda.is_available()
    if in_this_process:
        import jax  # a process about to use JAX on this device

        try:
            return bool(jax.devices("gpu"))
        except RuntimeError:
            return False
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    done = subprocess.run([sys.executable, "-c", _JAX_PROBE], capture_output=True, text=True, env=env, timeout=120)
    return done.stdout.strip().endswith("True")


def resolve(requested: str, frameworks: tuple[str, ...], in_this_process: bool = False) -> str:
    """'cpu' or 'gpu' for a command that trains ``frameworks``: 'auto' is the GPU where every one of
    them sees it, else the CPU; 'gpu' where one does not is a UserError naming it."""
    if requested == "cpu":
        return "cpu"
    blind = [name for name in frameworks if not sees_gpu(name, in_this_process)]
    if requested == "gpu" and blind:
        raise UserError(f"--device gpu: {' and '.join(blind)} see{'s' * (len(blind) == 1)} no GPU on this machine")
    return "cpu" if blind else "gpu"
