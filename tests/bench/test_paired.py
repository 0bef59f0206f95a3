"""The paired item: declared before measuring (family, A/A, warm-up, rounds from a power
calculation), rounds of fresh processes in a balanced order, blocks of equal work."""

import itertools

import pytest

from mnistbench.bench import compare
from mnistbench.bench.evidence import paired


@pytest.mark.parametrize("k", [4, 5, 6, 7])
def test_a_williams_square_balances_positions_and_what_comes_before_what(k):
    sides = [f"s{i}" for i in range(k)]
    rows = 2 * k if k % 2 else k
    orders = paired.round_orders(sides, rows, seed=11)
    assert all(sorted(order) == sorted(sides) for order in orders)
    for position in range(k):  # every side in every position equally often, already in the first k rounds
        assert sorted(order[position] for order in orders) == sorted(sides * (rows // k))
        assert sorted(order[position] for order in orders[:k]) == sorted(sides)
    followers = [(a, b) for order in orders for a, b in zip(order, order[1:])]
    counts = {pair: followers.count(pair) for pair in itertools.permutations(sides, 2)}
    assert len(set(counts.values())) == 1  # every side after every other equally often
    assert paired.round_orders(sides, rows, seed=11) == orders != paired.round_orders(sides, rows, seed=12)


def test_the_declared_design_names_every_side_and_plans_rounds_for_the_power_it_promises():
    family, aa = paired.family(False), paired.aa(False)
    assert list(family) == ["bs64", "bs1024", "dispatch"] and paired.family_size() == sum(map(len, family.values()))
    for part in family:
        sides = paired.part_sides(part, "cpu", False)
        assert {side for _, a, b, *_ in family[part] + aa[part] for side in (a, b)} == set(sides)
        alpha = compare.FAMILY_ALPHA / paired.family_size()
        noisiest = max(paired.PILOT_SD[paired.role(part, False)].values())
        assert compare.power(noisiest, paired.SESSIONS * paired.rounds(part, False), alpha) >= compare.POWER_TARGET
        assert paired.rounds(part, False) >= len(sides)  # a whole square: every side in every position
    assert paired.warmup("bs64", "jax-eager", False) == 2 and paired.warmup("bs64", paired.AA_COPY, False) == 1
    assert paired.SEED == 0  # the training seed is fixed: never a round's number


@pytest.mark.slow
def test_a_side_in_its_own_process_returns_its_blocks_with_the_machine_around_each():
    """One side as a study runs it, in a fresh child: blocks of equal work, each with the machine's
    state; the first holds the compile; the share of peak from the same process's probe."""
    from mnistbench.bench.evidence.child import run_child

    result = run_child("blocks", variant="jax-jit", device="cpu", batch_size=128, train_subset=2048, blocks=3, seed=0)
    assert len(result["blocks_s"]) == len(result["machine"]) == 3 and result["steps_per_block"] == 16
    assert result["compile_split"] and result["blocks_s"][0] > min(result["blocks_s"][1:])
    assert result["floor_violations"] == [] and result["matmul_peak_flops"] > 0
    assert 0 < compare.share_of_peak({"warmup_blocks": 1}, result) < 1
