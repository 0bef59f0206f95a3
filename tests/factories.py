"""Synthetic run records for tests of the analysis, tables and plots."""

from mnistbench.bench.results import SCHEMA_VERSION


def run_record(framework="jax", batch_size=64, seed=0, epoch_times=(10.0, 1.0, 1.0), device_kind="gpu",
               precision="float32", accuracy=0.98, compile_s=9.0, steps=781, val_times=None, variant=None, **config):
    epoch_times = list(epoch_times)
    later = sorted(epoch_times[1:])
    steady = later[len(later) // 2] if later else None
    n = len(epoch_times)
    return {
        "schema_version": SCHEMA_VERSION, "kind": "run", "framework": framework, "batch_size": batch_size,
        "variant": variant or {"jax": "jit", "torch": "eager"}[framework],
        "seed": seed, "epochs": n, "precision": precision, "config_fingerprint": f"f{batch_size}{precision}",
        "config": {"layer_sizes": [784, 1024, 1024, 10], "output_init_scale": 0.1,
                   "learning_rate": 0.03, "momentum": 0.9, "batch_size": batch_size, "epochs": n, "seed": seed,
                   "split_seed": 0, "validation_size": 10000, "matmul_precision": precision, "train_subset": None,
                   **config},
        "epoch_times_s": epoch_times, "first_epoch_s": epoch_times[0], "steady_epoch_s": steady,
        "steady_epoch_range_s": [later[0], later[-1]] if later else None,
        "val_accuracy": [accuracy - 0.01 * (n - i - 1) for i in range(n)], "val_loss": [0.1] * n,
        "train_loss": [0.2] * n, "run_wall_s": 5.0 + sum(epoch_times),
        "val_times_s": list(val_times) if val_times else [0.0] * n,
        "test_accuracy": accuracy, "compile_total_s": compile_s if framework == "jax" else None,
        "compile_split": {"trace_s": 0.1, "lower_s": 0.05, "compile_s": compile_s - 0.15} if framework == "jax"
        else None,
        "compile_count": 1 if framework == "jax" else None, "valid": True, "steps_per_epoch": steps,
        "compilation_cache": {"dir": None, "hits": 0, "misses": 0}, "runs_before_in_process": 0, "cold_start": True,
        "device": {"kind": device_kind, "name": "Test GPU" if device_kind == "gpu" else "Test CPU"},
        "fraction_of_peak": 0.5, "peak_matmul_flops": 5e13, "achieved_flops": 2.5e13, "physical_floor_s": 0.5,
        "platform": {"code_version": "test", "cpu": "Test CPU", "python": "3", "jax": "0", "jaxlib": "0",
                     "torch": "0", "torchvision": "0", "numpy": "0", "git": {"commit": "abcdef0"}},
        "timestamp": "2026-01-01T00:00:00+00:00",
    }
