"""The supplement's paired section on a hand-made record: every table, δ, and what was left out."""

import math

import numpy as np

from mnistbench.report import supplement


def process(rng, mean, compile_s=None, calls=False):
    result = {"blocks_s": [mean * 3] + [mean * math.exp(rng.normal(0, 0.01)) for _ in range(4)],
              "floor_violations": [], "machine": [{"interference": False, "others": 0.01, "steal": 0.0}] * 5}
    if not calls:
        result.update(flops_per_block=1e10, matmul_peak_flops=1e11,
                      compile_split={"trace_s": 0.1, "lower_s": 0.1, "compile_s": compile_s} if compile_s else None,
                      evaluate_compile_split={"compile_s": 0.05} if compile_s else None)
    return result


def test_the_section_prints_delta_the_family_and_each_side():
    rng = np.random.default_rng(0)
    training = {"batch_size": 64, "train_subset": 10_000, "calls_per_block": None, "warmup_blocks": 1, "blocks": 4,
                "rounds": [{"torch-eager": process(rng, 1.0), "torch-eager again": process(rng, 1.0),
                            "jax-jit": process(rng, 0.8, compile_s=0.3)} for _ in range(5)]}
    dispatch = {"batch_size": None, "train_subset": None, "calls_per_block": 2000, "warmup_blocks": 1, "blocks": 4,
                "rounds": [{"jax-op": process(rng, 0.02, calls=True), "torch-op": process(rng, 0.004, calls=True)}
                           for _ in range(5)]}
    text = supplement._paired_text({"data": {"parts": {"bs64": training, "dispatch": dispatch}}})
    assert "δ = " in text and "frameworks' defaults" in text and "dispatch: one operation" in text
    assert "0.80× [" in text and "faster" in text and "slower" in text
    assert "One call, µs" in text and "0.5 [" in text  # a call's cost; the step's compile, trace + lower + compile
    assert "0 left out" in text and "0 of 60" in text and "<0.001" in text
