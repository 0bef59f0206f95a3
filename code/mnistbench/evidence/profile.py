"""What a profiler and XLA say about one training step: calls, operations,
kernels and the device's busy time. Used by the child processes in ``measure``."""

from __future__ import annotations

import glob
import tempfile
import time


def timed_epoch(trainer, seed: int, epoch: int) -> tuple[float, float]:
    """(seconds until the loop returned, seconds until the device finished) of one epoch."""
    from ..data import epoch_permutation

    order = epoch_permutation(seed, epoch, trainer.n_train)
    start = time.perf_counter()
    trainer.start_epoch(order)
    trainer.run_epoch()
    issued = time.perf_counter() - start
    trainer.sync()
    return issued, time.perf_counter() - start


def profile_epoch(trainer, framework: str, device: str, seed: int = 0) -> dict:
    """One more (already compiled) epoch under the framework's profiler: top-level
    operators per step (PyTorch), and on a GPU the kernels, the memory copies and
    sets, and the kernels' durations summed per step (the device's busy time; kernels
    that overlap on different streams would be counted twice)."""
    steps = trainer.n_batches
    if framework == "torch":
        import torch
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "gpu" else [])
        with profile(activities=activities) as prof:
            timed_epoch(trainer, seed, 99)
        events = list(prof.events())
        aten = [e for e in events if e.name.startswith("aten::")]
        top_level = [e for e in aten if not (e.cpu_parent and e.cpu_parent.name.startswith("aten::"))]
        activity = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        kernels, copies = split_copies(activity, lambda e: e.name)
        gpu = device == "gpu"
        return {"ops_per_step": len(top_level) / steps, "all_ops_per_step": len(aten) / steps,
                "kernels_per_step": len(kernels) / steps if gpu else None,
                "copies_per_step": len(copies) / steps if gpu else None,
                "device_s_per_step": sum(e.time_range.elapsed_us() for e in kernels) * 1e-6 / steps if gpu else None}
    if device != "gpu":
        return {"kernels_per_step": None, "device_s_per_step": None}
    import jax
    from jax.profiler import ProfileData

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            timed_epoch(trainer, seed, 99)
        [path] = glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)
        profile_data = ProfileData.from_file(path)
        lines = [line for plane in profile_data.planes if plane.name.startswith("/device:GPU")
                 for line in plane.lines]
        activity = [(event.name, event.duration_ns) for line in lines if line.name.startswith("Stream")
                    for event in line.events]
        names = sorted({line.name for line in lines})
    if not activity:
        return {"kernels_per_step": None, "device_s_per_step": None,
                "note": f"no stream lines in the GPU profile (lines: {names})"}
    kernels, copies = split_copies(activity, lambda e: e[0])
    return {"kernels_per_step": len(kernels) / steps, "copies_per_step": len(copies) / steps,
            "device_s_per_step": sum(duration for _, duration in kernels) * 1e-9 / steps}


def split_copies(activity: list, name_of) -> tuple[list, list]:
    """Device activity as (kernels, memory copies and sets): a copy is not a kernel."""
    is_copy = [name_of(a).lower().startswith(("memcpy", "memset")) for a in activity]
    return [a for a, copy in zip(activity, is_copy) if not copy], [a for a, copy in zip(activity, is_copy) if copy]


def jax_program_ops(trainer) -> dict:
    """HLO operations of a compiled JAX variant's program, before and after XLA's
    optimization (calls inlined; a loop body counted once, i.e. per step)."""
    from .analyze import count_kernels, program_opcodes

    lowered = trainer.compiled_program.trace(*trainer.program_args()).lower()
    return {"before_optimization": count_kernels(program_opcodes(lowered.as_text(dialect="hlo"))),
            "after_optimization": count_kernels(program_opcodes(lowered.compile().as_text()))}


def jax_eager_calls(trainer) -> int:
    """Operations JAX dispatches one by one in an eager step: the top-level
    equations of the step's jaxpr (forward, backward and update)."""
    import jax

    return len(jax.make_jaxpr(trainer.step)(*trainer.program_args()).jaxpr.eqns)
