"""Errors a user can act on, and the checks of their input that every command uses.

Anything derived from :class:`Error` is reported by the command line as one
line on stderr with exit status 2: a user's mistake, a damaged file, a run
that cannot go on. A traceback is kept for bugs. This module imports nothing
from the rest of the package, so every module may use it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

FLOAT32_MAX = 3.4028234663852886e38


class Error(Exception):
    """A problem the user can fix: reported as one line, exit status 2."""


class UserError(Error):
    """Bad input on the command line."""


# --- argparse types: each turns text into a checked value or one clear sentence ---


def _number(text: str, kind=int):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None


def positive_int(text: str) -> int:
    value = _number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def seed_int(text: str) -> int:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed {value} must not be negative")
    return value


def momentum_value(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"momentum {value} must be in [0, 1)")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not 0 < value < FLOAT32_MAX:  # both frameworks compute in float32
        raise argparse.ArgumentTypeError(f"{text} must be a positive number below {FLOAT32_MAX:.1e} (float32)")
    return value


def positive_seconds(text: str) -> float:
    value = _number(text, float)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


# --- folders and sizes -----------------------------------------------------------


def check_not_a_file(folder: Path, name: str) -> None:
    """``folder`` is a folder or does not exist yet; ``name`` says which folder it is."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{name} {folder} is a file, not a folder")


def check_writable(folder: Path) -> None:
    """``folder`` is (or can become) a folder this process can write into."""
    check_not_a_file(folder, "results folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"results folder {folder} is not writable ({error.strerror or error})") from None


def check_data_dir(folder: Path) -> None:
    """The MNIST folder must be (or become) a folder."""
    check_not_a_file(folder, "data folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"data folder {folder} cannot be created ({error.strerror or error})") from None


def check_results_dir_to_read(folder: Path) -> None:
    """A results folder a command reads (summary): it must be a folder if it exists."""
    check_not_a_file(folder, "results folder")


def check_compilation_cache(folder: Path | None) -> None:
    """A compilation cache folder: it must be a folder if it exists (the frameworks create it)."""
    if folder is not None:
        check_not_a_file(folder, "--compilation-cache")


def check_precision(precision: str, device: str) -> None:
    """TF32 is a matmul mode of NVIDIA GPUs: on the CPU it would only relabel float32."""
    if precision != "float32" and device == "cpu":
        raise UserError(f"--precision {precision} is a mode of NVIDIA GPUs; on the CPU matmuls are float32")


def check_batch_size(batch_size: int, n_train: int) -> None:
    if batch_size > n_train:
        raise UserError(f"batch size {batch_size} is larger than the {n_train} training images")


def gpu_visible() -> bool:
    """Whether PyTorch sees a GPU (it asks without claiming the GPU's memory, as a parent must)."""
    import torch

    return torch.cuda.is_available()


def check_gpu(device: str) -> None:
    if device == "gpu" and not gpu_visible():
        raise UserError("--device gpu: no GPU is visible on this machine")


def device_kind(requested: str) -> str:
    """'cpu' or 'gpu' as asked ('gpu' only where one is visible); 'auto': the GPU if there is one."""
    if requested != "auto":
        check_gpu(requested)
        return requested
    return "gpu" if gpu_visible() else "cpu"
