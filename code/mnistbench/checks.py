"""Checks of what a user typed: argparse types that turn text into a number or one clear sentence,
and the folders a command reads or writes. Ranges of the training settings are ``Config``'s own
checks (``networks.config``), made once for the command line and the code alike."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .errors import UserError


def _number(text: str, kind=int):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None


def number(text: str) -> float:
    return _number(text, float)


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


def positive_seconds(text: str) -> float:
    value = _number(text, float)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


# --- folders -------------------------------------------------------------------------


def check_not_a_file(folder: Path | None, name: str) -> None:
    """``folder`` is a folder, or does not exist yet, or is not given; ``name`` says which folder it is."""
    if folder is not None and folder.exists() and not folder.is_dir():
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


def check_precision(precision: str, device: str) -> None:
    """TF32 is a matmul mode of NVIDIA GPUs: on the CPU it would only relabel float32."""
    if precision != "float32" and device == "cpu":
        raise UserError(f"--precision {precision} is a mode of NVIDIA GPUs; on the CPU matmuls are float32")
