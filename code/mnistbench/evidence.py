"""The *why*: measurements that explain the timing differences.

Each item is a function that measures (run in a fresh child process, so
compilations and caches start cold), a record written under results/, and
an analysis function the report calls:

1. ``compile``: JAX's compile split per batch size (trace, lower, compile;
   already in every run record), what is left of the first-epoch excess,
   the extra compilation a partial last batch would cost, and on a GPU the
   compile time with XLA's autotuning switched off.
2. ``fusion``: operations per training step: XLA's program before and after
   optimization against the operators and kernels PyTorch eager launches.
3. ``overhead``: steady step time over batch sizes 16..4096, fitted as
   fixed cost + per-sample cost.
4. ``amortization``: cumulative time against epochs, and the break-even epoch.
5. ``variants``: lax.scan epochs, torch.compile, CUDA graphs.
6. ``donation``: the JAX step with and without buffer donation.
7. ``precision``: float32 against TF32 (GPU only).
8. ``efficiency``: achieved FLOP/s as a fraction of the measured matmul peak.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .config import Config

OVERHEAD_BATCH_SIZES = {"gpu": (16, 64, 256, 1024, 4096), "cpu": (16, 64, 256, 1024)}
TRIVIAL_HLO_OPS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}
EVIDENCE_NAMES = ("compile", "fusion", "overhead", "amortization", "variants", "donation", "precision",
                  "efficiency")
CHILD_PREFIX = "@result "


class EvidenceError(RuntimeError):
    """An evidence measurement that could not be made."""


# --- child processes ------------------------------------------------------------


def run_child(task: str, env: dict | None = None, timeout: float = 900, **kwargs) -> dict:
    """Run ``task(**kwargs)`` in a fresh Python process and return its result."""
    command = [sys.executable, "-m", "mnistbench", "evidence-child", task, json.dumps(kwargs)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(CHILD_PREFIX):
            return json.loads(line[len(CHILD_PREFIX):])
    last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
    raise EvidenceError(f"{task} failed: {last[0]}")


def child_main(task: str, kwargs_json: str) -> int:
    """Entry point of a child: run one task, print its result as one JSON line."""
    result = CHILD_TASKS[task](**json.loads(kwargs_json))
    print(CHILD_PREFIX + json.dumps(result), flush=True)
    return 0


def _setup(framework: str, device: str):
    from . import data as mnist
    from .experiment import prepare_process, resolve_device

    prepare_process(framework, device)
    device = resolve_device(framework, device)
    return device, mnist.load_mnist(log=lambda _: None)


# --- 1. compilation -------------------------------------------------------------


def task_partial_batch_compiles(device: str, batch_size: int, n_train: int) -> dict:
    """Compiled programs after one epoch of a step that takes batch arrays, when
    the last partial batch is dropped and when it is kept."""
    import jax

    from .data import first_training_images
    from .jax_mlp import JaxTrainer, loss_fn, momentum_update

    device, data = _setup("jax", device)
    data = first_training_images(data, n_train)
    config = Config(batch_size=batch_size)
    counts = {}
    for keep_partial in (False, True):
        trainer = JaxTrainer(config, data, device)

        @jax.jit
        def step(params, velocity, x, y):
            grads = jax.grad(loss_fn)(params, x, y)
            return momentum_update(params, velocity, grads, config.learning_rate, config.momentum)

        n_steps = math.ceil(n_train / batch_size) if keep_partial else n_train // batch_size
        params, velocity = trainer.params, trainer.velocity
        for i in range(n_steps):
            rows = slice(i * batch_size, (i + 1) * batch_size)
            params, velocity = step(params, velocity, trainer.x_train[rows], trainer.y_train_onehot[rows])
        jax.block_until_ready(params)
        counts["kept" if keep_partial else "dropped"] = step._cache_size()
    return {"batch_size": batch_size, "n_train": n_train, "programs": counts}


def task_compile_split(device: str, batch_sizes: list[int]) -> dict:
    """Trace / lower / compile seconds of the main JAX step, per batch size."""
    import numpy as np

    from .jax_mlp import JaxTrainer

    device, data = _setup("jax", device)
    rows = []
    for batch_size in batch_sizes:
        trainer = JaxTrainer(Config(batch_size=batch_size), data, device)
        trainer.start_epoch(np.arange(trainer.n_train, dtype=np.int32))
        trainer._compile()
        rows.append({"batch_size": batch_size, **trainer.compile_split})
    return {"rows": rows, "xla_flags": os.environ.get("XLA_FLAGS")}


def measure_compile(device: str, quick: bool) -> dict:
    result = {"partial_batch": run_child("partial_batch_compiles", device=device, batch_size=64, n_train=1000)}
    if device == "gpu":
        result["autotune_off"] = run_child("compile_split", env={"XLA_FLAGS": "--xla_gpu_autotune_level=0"},
                                           device=device, batch_sizes=[64, 256, 1024])
    else:
        result["autotune_off"] = {"applies": False, "reason": "XLA autotunes GPU kernels only"}
    return result


def first_epoch_breakdown(records: list[dict]) -> list[dict]:
    """Per framework and batch size (medians over runs of per-run values): the
    first epoch's excess over the steady state, the measured trace / lower /
    compile parts, and what they leave unexplained (for PyTorch: all of it)."""
    rows = []
    for (framework, batch_size), runs in _by_framework_and_batch(records).items():
        per_run = [first_epoch_parts(r) for r in runs]
        median = {key: float(np.nanmedian([p[key] for p in per_run])) for key in per_run[0]}
        if framework != "jax" or np.isnan(median["compile_share"]):
            median["compile_share"] = None
        rows.append({"framework": framework, "batch_size": batch_size, **median})
    return rows


def first_epoch_parts(run: dict) -> dict:
    """One run's first-epoch excess over its steady epoch and the measured
    trace / lower / compile parts of it (zero for PyTorch)."""
    split = run["compile_split"] or {"trace_s": 0.0, "lower_s": 0.0, "compile_s": 0.0}
    excess = run["first_epoch_s"] - run["steady_epoch_s"]
    compiled = sum(split.values())
    return {"excess_s": excess, "compile_total_s": compiled, **{f"split_{k}": v for k, v in split.items()},
            "unexplained_s": excess - compiled, "compile_share": compiled / excess if excess > 0 else np.nan}


def evaluation_compile_s(run: dict) -> float:
    """How much longer the first validation took than the later ones (JAX compiles
    ``evaluate`` there)."""
    return run["val_times_s"][0] - float(np.median(run["val_times_s"][1:]))


def _by_framework_and_batch(records: list[dict]) -> dict[tuple[str, int], list[dict]]:
    """Runs with a steady state, grouped by (framework, batch size)."""
    from .results import group_by

    return group_by([r for r in records if r["steady_epoch_s"] is not None],
                    lambda r: (r["framework"], r["batch_size"]))


# --- 2. fusion ------------------------------------------------------------------


def hlo_entry_opcodes(hlo_text: str) -> list[str]:
    """Opcodes of the instructions in an HLO module's ENTRY computation."""
    opcodes, inside = [], False
    for line in hlo_text.splitlines():
        if line.startswith("ENTRY"):
            inside = True
            continue
        if inside:
            if line.startswith("}"):
                break
            match = re.search(r"=\s.*?\b([a-z][a-z0-9-]*)\(", line)
            if match:
                opcodes.append(match.group(1))
    return opcodes


def count_kernels(opcodes: list[str]) -> dict:
    """Kernel-launching instructions among ``opcodes`` (bookkeeping ops excluded)."""
    work = [op for op in opcodes if op not in TRIVIAL_HLO_OPS]
    return {"operations": len(work), "fusions": sum(op == "fusion" for op in work),
            "library_calls": sum(op == "custom-call" for op in work),
            "by_opcode": {op: work.count(op) for op in sorted(set(work))}}


def task_jax_ops(device: str, batch_size: int) -> dict:
    """HLO operations of one training step, before and after XLA's optimization."""
    import numpy as np

    from .jax_mlp import JaxTrainer

    device, data = _setup("jax", device)
    trainer = JaxTrainer(Config(batch_size=batch_size), data, device)
    trainer.start_epoch(np.arange(trainer.n_train, dtype=np.int32))
    lowered = trainer.step.trace(trainer.params, trainer.velocity, trainer.loss_sum, trainer.x_train,
                                 trainer.y_train_onehot, trainer.order, 0).lower()
    before = count_kernels(hlo_entry_opcodes(lowered.as_text(dialect="hlo")))
    after = count_kernels(hlo_entry_opcodes(lowered.compile().as_text()))
    return {"batch_size": batch_size, "before_optimization": before, "after_optimization": after}


def task_torch_ops(device: str, batch_size: int, steps: int = 10) -> dict:
    """Operators and kernels PyTorch eager runs per training step (torch.profiler)."""
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    from .torch_mlp import TorchTrainer

    device, data = _setup("torch", device)
    trainer = TorchTrainer(Config(batch_size=batch_size), data, device)
    trainer.n_batches = steps
    trainer.start_epoch(np.arange(trainer.n_train, dtype=np.int32))
    trainer.run_epoch()  # warm-up: lazy initialization stays out of the count
    trainer.sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "gpu" else [])
    with profile(activities=activities) as prof:
        trainer.run_epoch()
        trainer.sync()
    events = list(prof.events())
    aten = [e for e in events if e.name.startswith("aten::")]
    top_level = [e for e in aten if not (e.cpu_parent and e.cpu_parent.name.startswith("aten::"))]
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    return {"batch_size": batch_size, "steps": steps,
            "top_level_ops_per_step": len(top_level) / steps, "all_ops_per_step": len(aten) / steps,
            "gpu_kernels_per_step": len(kernels) / steps if device == "gpu" else None}


def measure_fusion(device: str, quick: bool) -> dict:
    return {"jax": run_child("jax_ops", device=device, batch_size=64),
            "torch": run_child("torch_ops", device=device, batch_size=64)}


def operations_table(record: dict) -> list[dict]:
    """One row per framework: operations per training step."""
    jax_ops, torch_ops = record["data"]["jax"], record["data"]["torch"]
    return [
        {"framework": "jax", "dispatches_per_step": 1,
         "operations_per_step": jax_ops["before_optimization"]["operations"],
         "kernels_per_step": jax_ops["after_optimization"]["operations"],
         "fusions": jax_ops["after_optimization"]["fusions"]},
        {"framework": "torch", "dispatches_per_step": torch_ops["top_level_ops_per_step"],
         "operations_per_step": torch_ops["all_ops_per_step"],
         "kernels_per_step": torch_ops["gpu_kernels_per_step"], "fusions": 0},
    ]


# --- 3. per-step overhead -------------------------------------------------------


def task_step_times(framework: str, device: str, batch_sizes: list[int], max_steps: int) -> dict:
    """Steady-state seconds per step at each batch size (median of epochs 2-3)."""
    from .data import first_training_images
    from .experiment import make_trainer, train_and_time

    device, data = _setup(framework, device)
    rows = []
    for batch_size in batch_sizes:
        steps = max(1, min(max_steps, len(data.x_train) // batch_size))
        config = Config(batch_size=batch_size, epochs=3, train_subset=steps * batch_size)
        trainer = make_trainer(framework, config, first_training_images(data, steps * batch_size), device)
        history = train_and_time(trainer, config)
        rows.append({"batch_size": batch_size, "steps": steps,
                     "step_s": float(np.median(history["epoch_times_s"][1:])) / steps})
    return {"framework": framework, "rows": rows}


def fit_overhead(rows: list[dict]) -> dict:
    """Least-squares fit step_s = overhead_s + batch_size * per_sample_s."""
    sizes = np.array([r["batch_size"] for r in rows], dtype=float)
    times = np.array([r["step_s"] for r in rows])
    per_sample, overhead = np.polyfit(sizes, times, 1)
    predicted = overhead + per_sample * sizes
    r2 = 1 - np.sum((times - predicted) ** 2) / np.sum((times - times.mean()) ** 2)
    return {"overhead_s": float(overhead), "per_sample_s": float(per_sample), "r2": float(r2),
            # batch size at which the per-sample work equals the fixed cost
            "crossover_batch": float(overhead / per_sample) if per_sample > 0 else None}


def measure_overhead(device: str, quick: bool) -> dict:
    sizes = list(OVERHEAD_BATCH_SIZES[device][:3] if quick else OVERHEAD_BATCH_SIZES[device])
    max_steps = 20 if quick else 200
    result = {}
    for framework in ("jax", "torch"):
        measured = run_child("step_times", framework=framework, device=device, batch_sizes=sizes,
                             max_steps=max_steps)
        result[framework] = {"rows": measured["rows"], "fit": fit_overhead(measured["rows"])}
    return result


def overhead_from_runs(runs: list[dict]) -> dict[str, dict]:
    """Per framework: step time = overhead + batch * per-sample cost, fitted to the
    study's own steady epochs (the median per batch size)."""
    by_key = _by_framework_and_batch(runs)
    fits = {}
    for framework in ("jax", "torch"):
        rows = [{"batch_size": b, "step_s": float(np.median([r["steady_epoch_s"] / r["steps_per_epoch"] for r in rs]))}
                for (f, b), rs in by_key.items() if f == framework]
        if len(rows) >= 2:
            fits[framework] = {"rows": rows, "fit": fit_overhead(rows)}
    return fits


# --- 4. amortization ------------------------------------------------------------


def amortization(records: list[dict], horizon: int = 1000) -> list[dict]:
    """Per batch size: cumulative seconds of training *and* per-epoch validation
    (what a user waits for; JAX compiles the evaluation function in the first
    validation) for each framework, and the break-even epoch: the first epoch
    from which JAX's total stays below PyTorch's. Past the measured epochs the
    totals grow by the steady epoch plus steady validation time."""
    rows = []
    by_key = _by_framework_and_batch(records)
    for batch_size in sorted({b for _, b in by_key}):
        if ("jax", batch_size) not in by_key or ("torch", batch_size) not in by_key:
            continue
        runs = {fw: by_key[(fw, batch_size)] for fw in ("jax", "torch")}
        curves = {fw: np.median([np.cumsum(np.add(r["epoch_times_s"], r["val_times_s"])) for r in rs], axis=0)
                  for fw, rs in runs.items()}
        steady = {fw: float(np.median([r["steady_epoch_s"] + np.median(r["val_times_s"][1:]) for r in rs]))
                  for fw, rs in runs.items()}
        ahead = curves["jax"] < curves["torch"]
        stays_ahead = [i for i in range(len(ahead)) if ahead[i:].all()]
        if steady["jax"] >= steady["torch"]:
            break_even = None  # PyTorch's epochs are as fast or faster: JAX never catches up for good
        elif stays_ahead:
            break_even = stays_ahead[0] + 1
        else:
            gap = curves["jax"][-1] - curves["torch"][-1]
            break_even = len(curves["jax"]) + math.floor(gap / (steady["torch"] - steady["jax"])) + 1
        rows.append({"batch_size": batch_size, "cumulative_s": {fw: c.tolist() for fw, c in curves.items()},
                     "steady_s": steady,
                     "break_even_epoch": break_even if break_even and break_even <= horizon else None,
                     "measured": bool(stays_ahead), "horizon": horizon})
    return rows


# --- 5 and 6. variants and donation -----------------------------------------------


def task_variant(name: str, device: str, batch_size: int, epochs: int, train_subset: int | None) -> dict:
    """First and steady epoch of one variant, in this (fresh) process."""
    from .data import first_training_images
    from .experiment import steady_state, train_and_time
    from .variants import compiled_step_memory, make_variant_trainer

    framework = name.split("-")[0]
    device, data = _setup(framework, device)
    config = Config(batch_size=batch_size, epochs=epochs, train_subset=train_subset)
    trainer = make_variant_trainer(name, config, first_training_images(data, train_subset), device)
    history = train_and_time(trainer, config)
    steady, spread = steady_state(history["epoch_times_s"])
    split = getattr(trainer, "compile_split", None)
    return {"variant": name, "batch_size": batch_size, "epochs": epochs,
            "epoch_times_s": history["epoch_times_s"], "first_epoch_s": history["epoch_times_s"][0],
            "steady_epoch_s": steady, "steady_epoch_range_s": spread,
            "compile_s": sum(split.values()) if split else None,
            "val_accuracy": history["val_accuracy"][-1], "peak_memory_bytes": trainer.peak_memory_bytes(),
            "step_memory": compiled_step_memory(trainer)}


def _measure_variants(names, device: str, quick: bool) -> dict:
    from .variants import GPU_ONLY

    rows = []
    for name in names:
        if name in GPU_ONLY and device != "gpu":
            rows.append({"variant": name, "skipped": "needs a GPU"})
            continue
        try:
            rows.append(run_child("variant", name=name, device=device, batch_size=64,
                                  epochs=2 if quick else 3, train_subset=4096 if quick else None))
        except (EvidenceError, subprocess.TimeoutExpired) as error:
            rows.append({"variant": name, "failed": str(error)})
    return {"batch_size": 64, "rows": rows}


def measure_variants(device: str, quick: bool) -> dict:
    from .variants import VARIANTS

    return _measure_variants(VARIANTS, device, quick)


DONATION_VARIANTS = ("jax-loop", "jax-no-donation")


def measure_donation(device: str, quick: bool) -> dict:
    return _measure_variants(DONATION_VARIANTS, device, quick)


def donation_from_variants(variants_data: dict) -> dict:
    """The donation item's data taken from a variants measurement that already
    trained both of its variants (so ``evidence all`` trains them once)."""
    rows = [row for row in variants_data["rows"] if row["variant"] in DONATION_VARIANTS]
    return {"batch_size": variants_data["batch_size"], "rows": rows, "reused_from": "variants"}


def donation_effect(record: dict) -> dict:
    """Steady time and peak memory of the JAX step with and without donation."""
    rows = {row["variant"]: row for row in record["data"]["rows"] if "steady_epoch_s" in row}
    donated, copied = rows["jax-loop"], rows["jax-no-donation"]
    memory = (donated["peak_memory_bytes"], copied["peak_memory_bytes"])
    return {"steady_s": {"donated": donated["steady_epoch_s"], "not_donated": copied["steady_epoch_s"]},
            "peak_memory_bytes": {"donated": memory[0], "not_donated": memory[1]},
            "memory_saved_bytes": memory[1] - memory[0] if None not in memory else None,
            # XLA's own accounting of the compiled step (records from before it was measured lack it)
            "step_memory": {"donated": donated.get("step_memory"), "not_donated": copied.get("step_memory")}}


# --- 7. precision ------------------------------------------------------------------


def measure_precision(device: str, batch_sizes, results_dir: Path) -> dict:
    """On a GPU, train seed 0 of the grid with TF32 matmuls (fresh processes)."""
    from .experiment import run_in_fresh_process

    if device != "gpu":
        return {"applies": False, "reason": "TF32 is a matmul mode of NVIDIA GPUs (Ampere and later)"}
    runs = []
    for batch_size in batch_sizes:
        for framework in ("jax", "torch"):
            config = Config(batch_size=batch_size, matmul_precision="tf32")
            runs.append(str(run_in_fresh_process(framework, config, device, results_dir / "runs-tf32")))
    return {"applies": True, "records": runs}


def precision_comparison(records: list[dict], device_name: str | None = None) -> list[dict]:
    """Per framework and batch size on one GPU: steady time and accuracy with
    float32 and TF32 matmuls, over the seeds measured with both (valid runs only)."""
    from .results import group_by

    runs = [r for r in records if r["device"]["kind"] == "gpu" and r["valid"] and r["steady_epoch_s"] is not None
            and (device_name is None or r["device"]["name"] == device_name)]
    rows = []
    for (framework, batch_size), group in group_by(runs, lambda r: (r["framework"], r["batch_size"])).items():
        by_precision = group_by(group, lambda r: r["precision"])
        if set(by_precision) < {"float32", "tf32"}:
            continue
        seeds = {r["seed"] for r in by_precision["float32"]} & {r["seed"] for r in by_precision["tf32"]}
        paired = {p: [r for r in rs if r["seed"] in seeds] for p, rs in by_precision.items()}
        if not seeds:
            continue
        median = {p: float(np.median([r["steady_epoch_s"] for r in rs])) for p, rs in paired.items()}
        compile_s = {p: float(np.median([r["compile_s"] for r in rs])) if rs[0]["compile_s"] is not None else None
                     for p, rs in paired.items()}
        rows.append({"framework": framework, "batch_size": batch_size, "seeds": sorted(seeds),
                     "steady_s": median, "compile_s": compile_s,
                     "test_accuracy": {p: float(np.mean([r["test_accuracy"] for r in rs])) for p, rs in paired.items()},
                     "speedup": median["float32"] / median["tf32"]})
    return rows


# --- 8. efficiency ------------------------------------------------------------------


def efficiency(records: list[dict]) -> list[dict]:
    """Per framework and batch size: steady epoch, achieved FLOP/s, fraction of peak."""
    keys = ("steady_epoch_s", "achieved_flops", "peak_matmul_flops", "fraction_of_peak", "physical_floor_s")
    return [{"framework": framework, "batch_size": batch_size,
             **{key: float(np.median([r[key] for r in runs])) for key in keys}}
            for (framework, batch_size), runs in _by_framework_and_batch(records).items()]


# --- records and the command line ----------------------------------------------------


def evidence_record(name: str, device: str, data: dict, seconds: float) -> dict:
    from . import platform
    from .results import SCHEMA_VERSION

    framework = "torch" if device == "gpu" else "jax"  # describe the device without claiming it for JAX
    described = platform.describe(framework, device)
    return {"schema_version": SCHEMA_VERSION, "kind": "evidence", "name": name, "data": data,
            "measure_wall_s": seconds, **described}


def study_of(runs_dir: Path) -> list[dict]:
    """The report's study among the run records in ``runs_dir``."""
    from .results import load_records, select_study

    study = select_study(load_records(runs_dir)) if Path(runs_dir).exists() else []
    if not study:
        raise EvidenceError(f"no valid run records in {runs_dir}; run the grid first")
    return study


def derived_record(name: str, study: list[dict], runs_dir: Path) -> dict:
    """A record computed from run records: it describes the study's device, not this machine."""
    import datetime

    from .platform import git_state
    from .results import SCHEMA_VERSION

    return {"schema_version": SCHEMA_VERSION, "kind": "evidence", "name": name, "derived_from": str(runs_dir),
            "derived_by": git_state(),  # the code that derived it; "platform" is the runs' own
            "data": {"runs": len(study), "rows": DERIVED[name](study)},
            "device": study[0]["device"], "platform": study[0]["platform"],
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


DERIVED = {"amortization": amortization, "efficiency": efficiency}
MEASURES = {"compile": measure_compile, "fusion": measure_fusion, "overhead": measure_overhead,
            "variants": measure_variants, "donation": measure_donation}
CHILD_TASKS = {"partial_batch_compiles": task_partial_batch_compiles, "compile_split": task_compile_split,
               "jax_ops": task_jax_ops, "torch_ops": task_torch_ops, "step_times": task_step_times,
               "variant": task_variant}


def add_evidence_parser(commands) -> None:
    parser = commands.add_parser("evidence", help="measure why the frameworks differ (see README)")
    parser.add_argument("names", nargs="+", choices=(*EVIDENCE_NAMES, "all"), metavar="NAME",
                        help=f"one or more of: {', '.join(EVIDENCE_NAMES)}, all")
    parser.add_argument("--results-dir", type=Path, default=Path("results/evidence"),
                        help="where evidence records go (default: results/evidence)")
    parser.add_argument("--runs-dir", type=Path, default=Path("results"),
                        help="run records the derived items read (default: results)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes and steps (CPU-sized)")
    from .cli import positive_int

    parser.add_argument("--batch-sizes", nargs="+", type=positive_int, default=[64, 256, 1024],
                        help="batch sizes of the TF32 runs (precision)")
    parser.add_argument("--quiet", action="store_true")
    child = commands.add_parser("evidence-child")  # internal: one measurement in a fresh process
    child.add_argument("task", choices=sorted(CHILD_TASKS))
    child.add_argument("kwargs")


def run_evidence(name: str, device: str, quick: bool, results_dir: Path, runs_dir: Path,
                 batch_sizes=(64, 256, 1024), measured: dict | None = None) -> Path:
    """Measure (or derive) one item and save its record; returns the record's path.
    ``measured`` maps items measured earlier in this command to their data, both
    to reuse (donation from variants) and to be filled in."""
    from .results import save_record

    measured = {} if measured is None else measured
    if name in DERIVED:
        return save_record(derived_record(name, study_of(runs_dir), runs_dir), results_dir)
    started = time.perf_counter()
    if name == "donation" and "variants" in measured:
        data = donation_from_variants(measured["variants"])
    elif name == "precision":
        data = measure_precision(device, batch_sizes, results_dir)
    elif name in MEASURES:
        data = MEASURES[name](device, quick)
    else:
        raise EvidenceError(f"unknown evidence item {name!r}")
    measured[name] = data
    return save_record(evidence_record(name, device, data, time.perf_counter() - started), results_dir)


def cmd_evidence(args) -> int:
    from .cli import UserError, _auto_device_kind, check_gpu_for_grid, check_writable
    from .data import fetch_mnist

    check_writable(args.results_dir)
    check_gpu_for_grid(args.device)
    names = EVIDENCE_NAMES if "all" in args.names else list(dict.fromkeys(args.names))
    if any(name in DERIVED for name in names):
        try:
            study_of(args.runs_dir)
        except EvidenceError as error:
            raise UserError(str(error)) from None
    fetch_mnist(log=lambda m: None if args.quiet else print(m, file=sys.stderr))
    device = args.device if args.device != "auto" else _auto_device_kind()
    failures, measured = 0, {}
    for name in names:
        started = time.perf_counter()
        if not args.quiet:
            where = f"derived from {args.runs_dir}" if name in DERIVED else f"on {device}"
            print(f"evidence {name} {where} ...", file=sys.stderr, flush=True)
        try:
            path = run_evidence(name, device, args.quick, args.results_dir, args.runs_dir, args.batch_sizes,
                                measured)
        except (EvidenceError, subprocess.TimeoutExpired) as error:
            failures += 1
            print(f"evidence {name}: {error}", file=sys.stderr)
            continue
        print(f"{name}: {path} ({time.perf_counter() - started:.0f} s)")
    return 1 if failures else 0
