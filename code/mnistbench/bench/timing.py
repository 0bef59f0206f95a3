"""Honest clocks: synchronize, then read the time; compare with the hardware.

A GPU (and JAX even on the CPU) runs work asynchronously: a Python call
returns when the work is queued, not done. Every time taken here is read
only after the framework says the work is finished. Each time is then put
beside the *physical floor*: the FLOPs the work needs divided by the peak
matmul throughput of the same device, measured in the same process. A time
below that floor means the clock missed work, and the run is marked invalid.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from ..devices import torch_device_type
from ..networks.data import epoch_permutation

# A measured large-matmul rate is close to, not exactly, the device's best.
# Allow this much headroom before calling a time physically impossible.
PEAK_SLACK = 1.5

JAX_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
JAX_COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    JAX_BACKEND_COMPILE_EVENT: "compile_s",
}
# The persistent compilation cache: every compilation that consults it, and those it answers.
JAX_CACHE_REQUEST_EVENT = "/jax/compilation_cache/compile_requests_use_cache"
JAX_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


def timed(work: Callable[[], object], sync: Callable[[object], None]) -> tuple[object, float]:
    """Run ``work``, wait for its result with ``sync``, return (result, seconds)."""
    start = time.perf_counter()
    result = work()
    sync(result)
    return result, time.perf_counter() - start


def timed_epoch(trainer, seed: int, epoch: int, max_steps: int | None = None) -> tuple[float, float]:
    """(seconds until the loop returned, seconds until the device finished) of one epoch
    (or of its first ``max_steps`` steps, for a trainer that calls once per step)."""
    order = epoch_permutation(seed, epoch, trainer.n_train)
    start = time.perf_counter()
    trainer.start_epoch(order)
    trainer.run_epoch(max_steps)
    issued = time.perf_counter() - start
    trainer.sync()
    return issued, time.perf_counter() - start


WARMUP_EPOCHS = 1  # left out of the steady state: a compiled variant's first epoch holds its compile, later ones do not


def steady_epoch(epoch_times_s: list[float]) -> tuple[float | None, list[float] | None]:
    """The steady epoch, the one definition every table and comparison uses: the median of
    the epochs after the warm-up, with their [min, max]; None without such an epoch."""
    later = epoch_times_s[WARMUP_EPOCHS:]
    if not later:
        return None, None
    return statistics.median(later), [min(later), max(later)]


def aot_compile(jitted, *args) -> tuple[object, dict[str, float]]:
    """Compile ``jitted`` for ``args`` ahead of time, timing its three phases apart:
    tracing to a jaxpr, lowering to StableHLO, and XLA's compilation. Returns the
    executable and ``{"trace_s", "lower_s", "compile_s"}``. Calling ``jitted``
    with arguments of the same shapes afterwards reuses the executable."""
    start = time.perf_counter()
    traced = jitted.trace(*args)
    traced_at = time.perf_counter()
    lowered = traced.lower()
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    done_at = time.perf_counter()
    split = {"trace_s": traced_at - start, "lower_s": lowered_at - traced_at, "compile_s": done_at - lowered_at}
    return compiled, split


class JaxCompileCounter:
    """Counts XLA compilations (and sums their phases) through jax.monitoring,
    and the persistent compilation cache's answers (hits and misses).

    Every compilation the process performs shows up here, including those of
    small eager operations, so a hidden recompilation cannot go unnoticed.
    """

    _instance: JaxCompileCounter | None = None

    def __init__(self):
        import jax.monitoring  # a JAX process only

        self.count = 0
        self.seconds = dict.fromkeys(JAX_COMPILE_EVENTS.values(), 0.0)
        self.cache_requests = self.cache_hits = 0
        jax.monitoring.register_event_duration_secs_listener(self._on_event)
        jax.monitoring.register_event_listener(self._on_plain_event)

    @classmethod
    def shared(cls) -> JaxCompileCounter:
        """One listener per process (listeners cannot be removed one by one)."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _on_event(self, name: str, duration: float, **_):
        if name in JAX_COMPILE_EVENTS:
            self.seconds[JAX_COMPILE_EVENTS[name]] += duration
        if name == JAX_BACKEND_COMPILE_EVENT:
            self.count += 1

    def _on_plain_event(self, name: str, **_):
        self.cache_requests += name == JAX_CACHE_REQUEST_EVENT
        self.cache_hits += name == JAX_CACHE_HIT_EVENT

    @property
    def cache_misses(self) -> int:
        return self.cache_requests - self.cache_hits


def jax_matmul_peak(device: str, n: int, repeats: int = 10) -> float:
    """Best float32 FLOP/s of an n x n matmul under the current JAX precision."""
    import jax  # a JAX process only
    import jax.numpy as jnp

    dev = jax.devices(device)[0]
    a = jax.device_put(jnp.ones((n, n), jnp.float32), dev)
    b = jax.device_put(jnp.full((n, n), 0.5, jnp.float32), dev)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()  # compile and warm up outside the clock
    best = min(timed(lambda: matmul(a, b), jax.block_until_ready)[1] for _ in range(repeats))
    return 2 * n**3 / best


def torch_matmul_peak(device: str, n: int, repeats: int = 10) -> float:
    """Best float32 FLOP/s of an n x n matmul under the current PyTorch precision."""
    import torch  # a PyTorch process only

    dev = torch.device(torch_device_type(device))
    a = torch.ones((n, n), device=dev)
    b = torch.full((n, n), 0.5, device=dev)
    sync = (lambda _: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda _: None)
    sync(torch.mm(a, b))
    best = min(timed(lambda: torch.mm(a, b), sync)[1] for _ in range(repeats))
    return 2 * n**3 / best


_PEAKS: dict[tuple[str, str, str], float] = {}


def matmul_peak(framework: str, device: str, precision: str = "float32") -> float:
    """Peak float32 matmul FLOP/s of ``device`` as seen by ``framework`` under the process's
    matmul ``precision``: measured once per process, after the first training (a probe
    before it would warm the first epoch), and reused by every later run of the process."""
    key = (framework, device, precision)
    if key not in _PEAKS:
        n = 8192 if device == "gpu" else 2048
        _PEAKS[key] = (jax_matmul_peak if framework == "jax" else torch_matmul_peak)(device, n)
    return _PEAKS[key]


def physical_floor_s(flops: float, peak_flops: float) -> float:
    """Shortest time in which ``flops`` could run at the measured peak."""
    return flops / peak_flops


def floor_violations(epoch_times_s: list[float], flops_per_epoch: float, peak_flops: float) -> list[str]:
    """Reasons, one per epoch, why a time is faster than the device could go."""
    floor = physical_floor_s(flops_per_epoch, peak_flops * PEAK_SLACK)
    return [
        f"epoch {i} took {t:.4g} s, below the physical floor of {floor:.4g} s"
        for i, t in enumerate(epoch_times_s, start=1)
        if t < floor
    ]
