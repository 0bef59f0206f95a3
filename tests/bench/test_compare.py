"""The paired method against a known truth: synthetic processes with a set ratio, noise between
processes and within them, and humps; the interval covers the truth about as often as it says."""

import math

import numpy as np
import pytest

from mnistbench.bench import compare, timing

DRAWS = 400


def simulate_round(rng, ratio: float, blocks: int = 5, between: float = 0.04, within: float = 0.02,
                   drift: float = 0.08, hump: float = 0.6) -> tuple[list[float], list[float]]:
    """One round: a process of each side. The round's machine speed (``drift``) is shared by
    both sides, each process has its own offset (``between``), and its blocks wander with
    autocorrelation ``hump`` around it (``within``); block 0 holds a compile."""
    machine = rng.normal(0, drift)

    def process(true_mean):
        offset = rng.normal(0, between)
        walk, times = 0.0, []
        for _ in range(blocks + timing.WARMUP_EPOCHS):
            walk = hump * walk + rng.normal(0, within)
            times.append(true_mean * math.exp(machine + offset + walk))
        times[0] += 3 * true_mean  # the first block compiles
        return times

    return process(1.0), process(ratio)


def intervals(ratio, rounds=5, seed=0, **noise):
    rng = np.random.default_rng(seed)
    for _ in range(DRAWS):
        pairs = [simulate_round(rng, ratio, **noise) for _ in range(rounds)]
        a = [compare.process_mean(p[0]) for p in pairs]
        b = [compare.process_mean(p[1]) for p in pairs]
        yield compare.paired_interval(a, b), pairs


def test_the_interval_covers_the_truth_at_about_its_nominal_rate():
    covered = np.mean([i.low <= 1.1 <= i.high for i, _ in intervals(1.1)])
    assert 0.91 <= covered <= 0.99


def test_blocks_taken_as_independent_would_have_been_overconfident():
    """The same draws, each steady block of B against the same block of A in its round taken as
    its own sample: the processes' offsets and humps make that interval cover the truth far less
    often than it says."""
    from scipy import stats

    covered = []
    for _, pairs in intervals(1.1):
        logs = [math.log(b / a) for p in pairs for a, b in zip(p[0][timing.WARMUP_EPOCHS:],
                                                                p[1][timing.WARMUP_EPOCHS:])]
        low, high = stats.ttest_1samp(logs, 0.0).confidence_interval(0.95)
        covered.append(low <= math.log(1.1) <= high)
    assert np.mean(covered) < 0.8


def test_an_a_a_comparison_never_claims_a_difference_often():
    delta = 0.05
    verdicts = [compare.verdict(i, delta) for i, _ in intervals(1.0, seed=1)]
    wrong = np.mean([v in ("faster", "slower") for v in verdicts])
    assert wrong <= 0.08  # about 5%: the test's own error rate
    assert set(verdicts) <= set(compare.VERDICTS)


def test_a_real_ten_percent_with_small_noise_is_resolved():
    verdicts = [compare.verdict(i, 0.03) for i, _ in intervals(1.1, seed=2, between=0.01, within=0.01)]
    assert np.mean([v == "slower" for v in verdicts]) >= 0.95
    faster = [compare.verdict(i, 0.03) for i, _ in intervals(1 / 1.1, seed=3, between=0.01, within=0.01)]
    assert np.mean([v == "faster" for v in faster]) >= 0.95


def test_equal_sides_with_small_noise_come_out_equivalent():
    verdicts = [compare.verdict(i, 0.05) for i, _ in intervals(1.0, seed=4, between=0.005, within=0.005)]
    assert np.mean([v == "no difference beyond δ" for v in verdicts]) >= 0.9  # the rest: the test's 5% errors


def test_three_rounds_give_wide_intervals():
    """t with 2 degrees of freedom is 4.30: the same noise, 3 rounds against 8."""
    def mean_width(rounds):
        return np.mean([math.log(i.high / i.low) for i, _ in intervals(1.0, rounds=rounds, seed=5)])
    assert mean_width(3) > 2 * mean_width(8)


def test_the_margin_is_the_a_a_intervals_farther_end():
    aa = compare.Interval(1.0, 0.97, 1.04, 5, 0.5)
    assert compare.margin(aa) == pytest.approx(0.04)
    assert compare.margin(compare.Interval(1.0, 0.90, 1.04, 5, 0.5)) == pytest.approx(1 / 0.9 - 1)


def test_holm_adjusts_in_order_and_never_decreases():
    adjusted = compare.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert compare.verdict(compare.Interval(1.2, 1.1, 1.3, 5, 0.04), 0.05, adjusted_p=0.06) == "not resolved"
    assert compare.verdict(compare.Interval(1.2, 1.1, 1.3, 5, 0.01), 0.05, adjusted_p=0.03) == "slower"


def test_one_round_resolves_nothing_and_uneven_rounds_are_refused():
    assert compare.paired_interval([1.0], [1.2]) is None
    assert compare.verdict(None, 0.05) == "not resolved"
    with pytest.raises(ValueError):
        compare.paired_interval([1.0, 1.1], [1.2])


def test_autocorrelation_tells_a_hump_from_noise():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=400)
    hump = np.convolve(rng.normal(size=420), np.ones(20) / 20, mode="valid")[:400]
    assert abs(compare.lag1_autocorrelation(noise)) < 0.15
    assert compare.lag1_autocorrelation(hump) > 0.8


def synthetic_part(rng, rounds=5, ratio_jit=0.8):
    """A paired part as ``evidence.paired`` records it, with known ratios: JAX's jit 0.8 of
    PyTorch eager's time, the A/A copy 1.0."""
    def process(mean):
        return {"blocks_s": [mean * 3] + [mean * math.exp(rng.normal(0, 0.01)) for _ in range(4)],
                "floor_violations": [], "machine": [{"interference": False}] * 5, "flops_per_block": 1e9,
                "matmul_peak_flops": 1e11}
    sides = {"torch-eager": 1.0, "torch-eager again": 1.0, "jax-jit": ratio_jit, "jax-eager": 4.0}
    return {"rounds": [{key: process(mean * math.exp(rng.normal(0, 0.05))) for key, mean in sides.items()}
                       for _ in range(rounds)]}


def test_the_analysis_finds_the_known_ratios_and_sets_delta_from_the_a_a():
    from mnistbench.bench.evidence import paired

    part = synthetic_part(np.random.default_rng(0))
    result = compare.analysis({"bs64": part}, paired.FAMILY, paired.AA)
    rows = {row["comparison"]: row for row in result["rows"]}
    assert rows["frameworks' defaults"]["ratio"] == pytest.approx(0.8, rel=0.05)
    assert rows["frameworks' defaults"]["verdict"] == "faster"
    assert rows["equal granularity: a call per operation"]["verdict"] == "slower"
    assert "JAX: scan against jit" not in rows  # a side no round measured: no row, no claim
    assert 0 < result["delta"] < 0.1 and {row["level"] for row in result["aa"]} == {"processes", "blocks"}
    assert result["processes"] == 20 and result["invalid_processes"] == 0
    assert compare.share_of_peak(part["rounds"][0]["jax-jit"]) == pytest.approx(
        1e9 / np.mean(part["rounds"][0]["jax-jit"]["blocks_s"][1:]) / 1e11)


def test_a_process_below_the_physical_floor_is_left_out_of_every_interval():
    from mnistbench.bench.evidence import paired

    part = synthetic_part(np.random.default_rng(1))
    part["rounds"][2]["jax-jit"]["blocks_s"] = [0.0001] * 5  # an impossible clock: the process says so
    part["rounds"][2]["jax-jit"]["floor_violations"] = ["epoch 2 took 0.0001 s, below the physical floor"]
    result = compare.analysis({"bs64": part}, paired.FAMILY, paired.AA)
    row = next(r for r in result["rows"] if r["comparison"] == "frameworks' defaults")
    assert row["n"] == 4 and row["ratio"] == pytest.approx(0.8, rel=0.05)
    assert result["invalid_processes"] == 1
    assert compare.share_of_peak(part["rounds"][2]["jax-jit"]) is None


def test_the_grid_pairs_runs_by_seed_and_leaves_out_invalid_runs_and_later_runs_of_a_process():
    def run(framework, variant, batch, seed, epoch_s, **extra):
        return {"framework": framework, "variant": variant, "batch_size": batch, "seed": seed, "cold_start": True,
                "valid": True, "first_epoch_s": epoch_s * 2, "steady_epoch_s": epoch_s, **extra}

    rng = np.random.default_rng(0)
    runs = []
    for seed in range(3):
        drift = float(np.exp(rng.normal(0, 0.05)))  # the machine, shared by the two processes of a pair
        runs += [run("torch", "eager", 64, seed, 1.0 * drift), run("jax", "jit", 64, seed, 0.8 * drift)]
    runs += [run("jax", "jit", 64, 3, 0.1), run("torch", "eager", 64, 4, 1.0)]  # no partner
    runs += [run("jax", "jit", 256, 0, 0.1, valid=False), run("torch", "eager", 256, 0, 1.0)]
    runs += [run("jax", "jit", 1024, 0, 0.1, cold_start=False), run("torch", "eager", 1024, 0, 1.0)]
    pairs = compare.grid_pairs(runs, ("torch", "eager"), ("jax", "jit"))
    assert set(pairs) == {64}  # 256: the invalid run's pair is out; 1024: not a cold start
    assert pairs[64].n == 3 and pairs[64].ratio == pytest.approx(0.8)
    first = compare.grid_pairs(runs, ("torch", "eager"), ("jax", "jit"), key="first")
    assert first[64].ratio == pytest.approx(0.8)


def test_runs_of_one_epoch_have_no_steady_pair_and_no_interval_of_nan():
    """``grid --epochs 1``: no steady epoch, so no steady pair (it printed ``nan× [nan, nan]``), and an
    interval of numbers that are not numbers is none (its p-value read as 0, a claimed difference)."""
    runs = [{"framework": fw, "variant": v, "batch_size": 64, "seed": seed, "cold_start": True, "valid": True,
             "first_epoch_s": 1.0 + seed, "steady_epoch_s": None} for seed in range(3)
            for fw, v in (("torch", "eager"), ("jax", "jit"))]
    assert compare.grid_pairs(runs, ("torch", "eager"), ("jax", "jit")) == {}
    assert compare.grid_pairs(runs, ("torch", "eager"), ("jax", "jit"), key="first")[64].ratio == pytest.approx(1.0)
    assert compare.log_ratio_interval([0.1, float("nan"), 0.2]) is None
