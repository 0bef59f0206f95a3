"""The cost split as a process measures it, and the cold start every measuring process makes."""

import os
import subprocess
import sys

from mnistbench.bench.evidence import costsplit
from mnistbench.bench.evidence.child import run_child


def test_a_side_is_timed_at_every_batch_size_in_blocks_of_a_fifth_of_a_second():
    result = run_child("cost_split", variant="jax-jit", device="cpu", sizes=[64, 8])
    assert [row["batch_size"] for row in result["sizes"]] == [64, 8] and result["floor_violations"] == []
    for row in result["sizes"]:
        assert len(row["blocks_s"]) == len(row["machine"]) == costsplit.BLOCKS and row["steps"] >= 2
        assert row["step_s"] == [t / row["steps"] for t in row["blocks_s"]]
        assert row["fusions"]["update_loops"] == 12  # the momentum update: a loop per array, velocity and weight
    assert result["matmul_peak_flops"] > 0 and result["flops_per_sample"] > 0


def test_jax_eager_is_timed_with_its_transformation_and_its_calls_beside_it():
    [row] = run_child("cost_split", variant="jax-eager", device="cpu", sizes=[16])["sizes"]
    assert 0 < row["transform_s"] < min(row["step_s"]) and row["eager_calls"] > 100 and 0 < row["call_s"] < 1e-3


def test_a_cold_process_has_caches_of_its_own_and_no_persistent_jax_cache(tmp_path):
    code = ("import os, jax\nfrom mnistbench.bench.process import use_compilation_cache\nuse_compilation_cache(None)\n"
            "folder = os.environ['TORCHINDUCTOR_CACHE_DIR']\n"
            "print(folder == os.environ['TRITON_CACHE_DIR'], os.listdir(folder),"
            " jax.config.jax_enable_compilation_cache, folder)")
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path)}
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
                     .stdout.split() for _ in range(2))
    assert first[:3] == second[:3] == ["True", "[]", "False"] and first[3] != second[3] != str(tmp_path)
