"""What a profiler and XLA say about one training step: calls from the loop,
framework operators, kernels and the device's busy time per step.

``profile_steps`` runs a few more (already compiled) steps of a trained
trainer under the framework's profiler, after its timed epochs, so nothing
here is inside a timed region. The HLO helpers count a compiled JAX
program's operations before and after XLA's optimization.
"""

from __future__ import annotations

import glob
import re
import tempfile

from . import timing

PROFILED_STEPS = 50  # steps profiled for a variant that calls once per step or per operation
TRIVIAL_HLO_OPS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}


def profile_steps(trainer, framework: str, granularity: str, device: str, seed: int = 0) -> dict:
    """Per step, under the framework's profiler: top-level operators (PyTorch), and on a
    GPU the kernels, the memory copies and sets, and the kernels' durations summed (the
    device's busy time; kernels that overlap on different streams would count twice).
    A variant that calls once per epoch is profiled for a whole epoch."""
    steps = trainer.n_batches if granularity == "epoch" else min(PROFILED_STEPS, trainer.n_batches)
    max_steps = None if granularity == "epoch" else steps
    if framework == "torch":
        row = _torch_profile(trainer, device, seed, max_steps, steps)
    else:
        row = _jax_gpu_profile(trainer, seed, max_steps, steps) if device == "gpu" else {
            "kernels_per_step": None, "device_s_per_step": None}
    row["steps"] = steps
    row["calls_per_step"] = loop_calls_per_step(trainer, framework, granularity, row)
    if framework == "jax" and trainer.compiled_program is not None:
        row["hlo"] = jax_program_ops(trainer)
        if row.get("kernels_per_step") is None:  # on the CPU: XLA's top-level operations per step
            row["kernels_per_step"] = float(row["hlo"]["after_optimization"]["operations"])
    return row


def loop_calls_per_step(trainer, framework: str, granularity: str, row: dict) -> float | None:
    """How often the training loop calls into the framework per step: once per step; once per
    epoch (no per-step number: it depends on the epoch's length); op by op, the jaxpr's
    equations (JAX) or the top-level operators the profiler saw (PyTorch: the forward and the
    optimizer from Python, the backward's from the autograd engine)."""
    if granularity == "step":
        return 1.0
    if granularity == "epoch":
        return None
    return float(jax_eager_calls(trainer)) if framework == "jax" else row["ops_per_step"]


def _torch_profile(trainer, device: str, seed: int, max_steps: int | None, steps: int) -> dict:
    import torch  # a PyTorch run only
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "gpu" else [])
    with profile(activities=activities) as prof:
        timing.timed_epoch(trainer, seed, 99, max_steps)
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


def _jax_gpu_profile(trainer, seed: int, max_steps: int | None, steps: int) -> dict:
    import jax  # a JAX run only
    from jax.profiler import ProfileData

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            timing.timed_epoch(trainer, seed, 99, max_steps)
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
    optimization (calls inlined; a loop body counted once, i.e. per step). Lowering
    and compiling again hit the process's compilation cache."""
    lowered = trainer.compiled_program.trace(*trainer.program_args()).lower()
    optimized = lowered.compile().as_text()
    return {"before_optimization": count_kernels(program_opcodes(lowered.as_text(dialect="hlo"))),
            "after_optimization": {**count_kernels(program_opcodes(optimized)),
                                   "fusion_kinds": fusion_kinds(optimized)}}


def jax_eager_calls(trainer) -> int:
    """Operations JAX dispatches one by one in an eager step: the top-level
    equations of the step's jaxpr (forward, backward and update)."""
    import jax  # a JAX run only

    return len(jax.make_jaxpr(trainer.step_fn)(*trainer.program_args()).jaxpr.eqns)


# --- HLO text -------------------------------------------------------------------------

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*(?:\(.*\))?.*\{\s*$")
_OPCODE = re.compile(r"=\s.*?\b([a-z][a-z0-9-]*)\(")
_CALLEE = {"call": re.compile(r"to_apply=%?([\w.\-]+)"), "while": re.compile(r"body=%?([\w.\-]+)")}


def hlo_computations(hlo_text: str) -> tuple[dict[str, list[tuple[str, str]]], str | None]:
    """Every computation of an HLO module as (opcode, line) pairs, and the entry's name."""
    computations: dict[str, list[tuple[str, str]]] = {}
    entry, current = None, None
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header and not line.startswith(" "):
            current = header.group(1)
            computations[current] = []
            entry = current if line.startswith("ENTRY") else entry
        elif line.startswith("}"):
            current = None
        elif current is not None and (opcode := _OPCODE.search(line)):
            computations[current].append((opcode.group(1), line))
    return computations, entry


def program_instructions(hlo_text: str) -> tuple[list[tuple[str, str]], dict]:
    """The (opcode, line) pairs a program runs per call (per loop iteration for a loop): the
    entry computation with the bodies of ``call`` and ``while`` instructions in place of the
    instruction (a body once), fusions as one; and every computation, by name."""
    computations, entry = hlo_computations(hlo_text)

    def expand(name: str, depth: int = 0) -> list[tuple[str, str]]:
        found = []
        for opcode, line in computations.get(name, []):
            callee = _CALLEE.get(opcode)
            target = callee.search(line) if callee else None
            found += expand(target.group(1), depth + 1) if target and depth < 20 else [(opcode, line)]
        return found

    return (expand(entry) if entry else []), computations


def program_opcodes(hlo_text: str) -> list[str]:
    """The opcodes of ``program_instructions``."""
    return [opcode for opcode, _ in program_instructions(hlo_text)[0]]


_FUSED = re.compile(r"calls=%?([\w.\-]+)")
MATMUL_OPS = ("dot", "convolution", "custom-call")  # a custom call on a CPU or GPU is a library matmul here


def fusion_kinds(hlo_text: str) -> dict:
    """What XLA fused, by kind, read from the optimized program: fusions around a matrix
    product (a dot inside), fusions of element-wise and reduction work only, and matrix
    products left outside any fusion."""
    instructions, computations = program_instructions(hlo_text)

    def has_matmul(name: str, depth: int = 0) -> bool:
        for opcode, line in computations.get(name, []):
            inner = _FUSED.search(line) if opcode == "fusion" else None
            if opcode in MATMUL_OPS or (inner and depth < 20 and has_matmul(inner.group(1), depth + 1)):
                return True
        return False

    fused = [has_matmul(m.group(1)) for opcode, line in instructions if opcode == "fusion"
             and (m := _FUSED.search(line))]
    return {"with_matmul": sum(fused), "without_matmul": len(fused) - sum(fused),
            "matmuls_outside_fusions": sum(opcode in MATMUL_OPS for opcode, _ in instructions),
            "update_loops": update_loops(instructions)}


_DEFINED = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*([a-z]\w*\[[\d,]*\])")
_OPERANDS = re.compile(r"\b(?:fusion|copy)\(([^)]*)\)")
_STATE = re.compile(r"state_(?:params|velocity)")


def update_loops(instructions: list[tuple[str, str]]) -> int:
    """How many loops the momentum update takes: fusions whose result has the shape of a parameter
    or velocity they read (the state's arrays, or copies of them), with no matrix product inside."""
    shapes, state = {}, set()
    for opcode, line in instructions:
        defined = _DEFINED.match(line)
        if not defined:
            continue
        name, shape = defined.groups()
        shapes[name] = shape
        operands = [o.strip().lstrip("%") for o in (_OPERANDS.search(line) or [None, ""])[1].split(",")]
        if _STATE.search(name) or (opcode == "copy" and operands and operands[0] in state):
            state.add(name)
    loops = 0
    for opcode, line in instructions:
        defined, found = _DEFINED.match(line), _OPERANDS.search(line)
        if opcode == "fusion" and defined and found and "kCustom" not in line:
            operands = [o.strip().lstrip("%") for o in found.group(1).split(",")]
            loops += any(o in state and shapes.get(o) == defined.group(2) for o in operands)
    return loops


def count_kernels(opcodes: list[str]) -> dict:
    """Work-doing instructions among ``opcodes`` (bookkeeping ops excluded)."""
    work = [op for op in opcodes if op not in TRIVIAL_HLO_OPS]
    return {"operations": len(work), "fusions": sum(op == "fusion" for op in work),
            "library_calls": sum(op == "custom-call" for op in work),
            "by_opcode": {op: work.count(op) for op in sorted(set(work))}}
