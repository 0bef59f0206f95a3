"""What machine, versions and code a run used; read without importing the
other framework, so a JAX run does not pay for PyTorch's import (or vice versa)."""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform as py_platform
import subprocess
from pathlib import Path

PACKAGES = ("jax", "jaxlib", "torch", "torchvision", "numpy")
PACKAGE_DIR = Path(__file__).resolve().parent
# The modules whose code decides what a measurement measures are every module of the networks'
# and the bench's folders (and the MNIST files' reader), less these, which plan, store or analyse
# and never run inside a timed process. A new module is a measuring one unless it is named here.
NOT_MEASURING = ("bench/campaign.py", "bench/campaign_text.py", "bench/estimates.py", "bench/results.py",
                 "bench/selection.py", "bench/compare.py", "bench/evidence/items.py")
# Settings that change what a framework does; kept with every record.
RECORDED_ENVIRONMENT = ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES",
                        "OMP_NUM_THREADS", "TF_CPP_MIN_LOG_LEVEL")


def measuring_modules(evidence: bool = False) -> list[str]:
    """The measuring modules (paths inside the package): those of a training run, and with
    ``evidence`` those of the evidence items (``bench/evidence/``) too."""
    paths = [PACKAGE_DIR / "mnist_files.py", *(PACKAGE_DIR / "networks").glob("*.py"),
             *(PACKAGE_DIR / "bench").glob("*.py"), *((PACKAGE_DIR / "bench" / "evidence").glob("*.py")
                                                     if evidence else ())]
    names = sorted(path.relative_to(PACKAGE_DIR).as_posix() for path in paths)
    return [name for name in names if name not in NOT_MEASURING and not name.endswith("__init__.py")]


def code_version(evidence: bool = False) -> str:
    """Hash of the measuring modules' source: what a run record names (``evidence``: what an
    evidence record names, its own modules included)."""
    digest = hashlib.sha256()
    for name in measuring_modules(evidence):
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def evidence_code_version() -> str:
    return code_version(evidence=True)


def package_versions() -> dict[str, str | None]:
    versions = {"python": py_platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return py_platform.processor() or py_platform.machine()


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def device_name(kind: str) -> str:
    """This machine's GPU (as nvidia-smi names it) or CPU, without starting a framework."""
    if kind == "gpu":
        out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
        return out.splitlines()[0] if out else "unknown GPU"
    return cpu_model()


def nvidia_driver_version() -> str | None:
    out = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return out.splitlines()[0] if out else None


OUTPUT_PATHS = ("results", "figures")


def git_state(root: Path | None = None) -> dict:
    """Commit of the working tree (this package's, or ``root``) and whether its
    code had uncommitted changes (written results and figures do not count).

    A copy without ``.git`` (a tree shipped to a GPU host) can state them in
    ``MNISTBENCH_GIT_COMMIT`` and ``MNISTBENCH_GIT_DIRTY``.
    """
    if os.environ.get("MNISTBENCH_GIT_COMMIT"):
        return {"commit": os.environ["MNISTBENCH_GIT_COMMIT"],
                "dirty": os.environ.get("MNISTBENCH_GIT_DIRTY", "unknown") == "1"}
    root = root or PACKAGE_DIR.parents[1]
    commit = _run(["git", "-C", str(root), "rev-parse", "HEAD"])
    status = _run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                   ".", *(f":(exclude){path}" for path in OUTPUT_PATHS)])
    return {"commit": commit, "dirty": bool(status) if commit else None}


def jax_device_info(device: str) -> dict:
    import jax  # describes a JAX run, in its own process

    devices = jax.devices(device)
    info = {"kind": device, "name": devices[0].device_kind, "count": len(devices)}
    if device == "cpu":
        info["name"] = cpu_model()
    else:
        info["driver"] = nvidia_driver_version()
        plugins = sorted(f"{d.metadata['Name']} {d.version}" for d in importlib.metadata.distributions()
                         if (d.metadata["Name"] or "").startswith("jax-cuda") and "plugin" in d.metadata["Name"])
        info["cuda"] = ", ".join(plugins) or None
    return info


def torch_device_info(device: str) -> dict:
    import torch  # describes a PyTorch run, in its own process

    if device == "cpu":
        return {"kind": "cpu", "name": cpu_model(), "count": 1, "threads": torch.get_num_threads()}
    return {"kind": "gpu", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
            "driver": nvidia_driver_version(), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version()}


def describe(framework: str, device: str) -> dict:
    """The ``device`` and ``platform`` parts of a result record."""
    device_info = (jax_device_info if framework == "jax" else torch_device_info)(device)
    return {
        "device": device_info,
        "platform": {
            **package_versions(),
            "os": py_platform.platform(),
            "cpu": cpu_model(),
            "code_version": code_version(),
            "git": git_state(),
            "environment": {name: os.environ.get(name) for name in RECORDED_ENVIRONMENT},
        },
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
