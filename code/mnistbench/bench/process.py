"""What a measuring process sets up before it trains: its device, and the compilation caches.

A measured process starts cold unless it is given a persistent compilation cache; these
helpers keep JAX off a GPU it does not own, point both frameworks' on-disk caches at one
folder (or none), and read what the caches answered.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import Error


class RunError(Error):
    """A run that cannot go on (no such device, a diverging loss, a failed child, ...)."""


def prepare_process(framework: str, device: str) -> None:
    """Keep JAX on the CPU where it is not the framework on the GPU.

    A PyTorch run still imports JAX (the shared initial weights come from a
    JAX PRNG key), and a JAX GPU client would reserve most of the GPU's memory.
    Must run before JAX initializes a backend.
    """
    if framework == "torch" or device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    if "jax" in sys.modules:
        import jax  # loaded already in this process: only its platforms are set

        jax.config.update("jax_platforms", os.environ.get("JAX_PLATFORMS"))


def use_compilation_cache(folder: Path | None) -> None:
    """Point both frameworks' on-disk compilation caches at ``folder``; without one, a cold
    process: JAX's persistent cache off (whatever the environment says) and PyTorch's caches
    (Inductor's, and Triton's kernels on a GPU) in a fresh empty folder of this process, since
    their defaults in the temporary folder would make a "cold" torch.compile warm. Must run
    before the first compilation of the process."""
    import jax  # a measuring process: it is about to train

    if folder is None:
        cold = tempfile.mkdtemp(prefix="mnistbench-cold-caches-")
        atexit.register(shutil.rmtree, cold, ignore_errors=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.environ["TRITON_CACHE_DIR"] = cold
        jax.config.update("jax_enable_compilation_cache", False)
        return
    folder = Path(folder).resolve()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder / "torchinductor")
    os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # this step compiles fast on a CPU
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no size threshold, no overrides


def compilation_cache_counts(framework: str, jax_counter) -> tuple[int, int]:
    """The persistent compilation cache's (hits, misses) so far in this process."""
    if framework == "jax":
        return int(jax_counter.cache_hits), int(jax_counter.cache_misses)
    if "torch._dynamo" in sys.modules:  # only torch.compile consults Inductor's cache
        inductor = sys.modules["torch._dynamo"].utils.counters["inductor"]
        return int(inductor["fxgraph_cache_hit"]), int(inductor["fxgraph_cache_miss"])
    return 0, 0


def compilation_cache_use(framework: str, folder: Path | None, jax_counter,
                          before: tuple[int, int] = (0, 0)) -> dict:
    """What the persistent compilation cache answered since ``before`` (the counts when the run began)."""
    hits, misses = compilation_cache_counts(framework, jax_counter)
    return {"dir": str(folder) if folder else None, "hits": hits - before[0], "misses": misses - before[1]}
