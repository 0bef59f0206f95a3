"""The paired item: rounds of fresh processes in a seeded shuffled order, blocks of equal work."""

import pytest

from mnistbench.bench import compare
from mnistbench.bench.evidence import paired


def test_a_round_runs_every_side_once_in_a_seeded_shuffled_order():
    keys = paired.sides("cpu", 64, 64)
    assert paired.AA_COPY in keys and "torch-cudagraph" not in keys
    assert paired.AA_COPY not in paired.sides("cpu", 1024, 64)  # the A/A only in the noisiest cell
    orders = [paired.round_order("bs64", n, keys) for n in range(6)]
    assert all(sorted(order) == sorted(keys) for order in orders)
    assert orders[0] == paired.round_order("bs64", 0, keys)  # the same on a re-run
    assert len({tuple(order) for order in orders}) > 1  # and not the same every round


def test_every_declared_comparison_names_sides_a_round_can_hold():
    gpu_keys = set(paired.sides("gpu", 64, 64))
    for _, a, b, _ in paired.FAMILY + paired.AA:
        assert {a, b} <= gpu_keys


@pytest.mark.slow
def test_a_side_in_its_own_process_returns_its_blocks_with_the_machine_around_each():
    """One side as a study runs it, in a fresh child: blocks of equal work, each with the machine's
    state; the first holds the compile; the share of peak from the same process's probe."""
    from mnistbench.bench.evidence.child import run_child

    result = run_child("blocks", variant="jax-jit", device="cpu", batch_size=128, train_subset=2048, blocks=3, seed=0)
    assert len(result["blocks_s"]) == len(result["machine"]) == 3 and result["steps_per_block"] == 16
    assert result["compile_split"] and result["blocks_s"][0] > min(result["blocks_s"][1:])
    assert result["floor_violations"] == [] and result["matmul_peak_flops"] > 0
    assert 0 < compare.share_of_peak(result) < 1
