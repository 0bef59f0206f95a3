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
    part = {"warmup_blocks": timing.WARMUP_EPOCHS}
    for _ in range(DRAWS):
        pairs = [simulate_round(rng, ratio, **noise) for _ in range(rounds)]
        a = [compare.process_mean(part, {"blocks_s": p[0]}) for p in pairs]
        b = [compare.process_mean(part, {"blocks_s": p[1]}) for p in pairs]
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


def test_three_rounds_give_wide_intervals():
    """t with 2 degrees of freedom is 4.30: the same noise, 3 rounds against 8."""
    def mean_width(rounds):
        return np.mean([math.log(i.high / i.low) for i, _ in intervals(1.0, rounds=rounds, seed=5)])
    assert mean_width(3) > 2 * mean_width(8)


def test_a_verdict_and_the_intervals_beside_it_agree():
    """A difference: the (1 - alpha) interval excludes 1; equivalence: the (1 - 2 alpha) interval
    lies within the margin (two one-sided tests); both, one, or neither ('not resolved')."""
    alpha = 0.05 / 12
    slower = compare.judged([0.20, 0.22, 0.18, 0.21], alpha)
    assert slower["verdict"] == "slower" and slower["difference"]["low"] > 1
    assert slower["difference"]["confidence"] == pytest.approx(1 - alpha)
    close = compare.judged([0.001, -0.002, 0.0015, 0.0, -0.001, 0.002], alpha)
    assert close["verdict"] == "within ±10%" and close["equivalence"]["high"] <= 1.1
    both = compare.judged([-0.05, -0.051, -0.049, -0.05, -0.052, -0.048], alpha)
    assert both["verdict"] == "faster, within ±10%"
    assert compare.judged([0.3, -0.2, 0.1], alpha)["verdict"] == "not resolved"
    assert compare.judged([0.1], alpha) is None


def test_one_round_resolves_nothing_and_uneven_rounds_are_refused():
    assert compare.paired_interval([1.0], [1.2]) is None
    with pytest.raises(ValueError):
        compare.paired_interval([1.0, 1.1], [1.2])


def test_the_rounds_planned_give_the_power_promised():
    """The power calculation agrees with simulated studies: at the planned rounds a true 10%
    difference is found about as often as promised, at the family's corrected level."""
    alpha, sigma = 0.05 / 12, 0.06
    rounds = compare.rounds_for(sigma, alpha, sessions=2)
    assert compare.power(sigma, 2 * rounds, alpha) >= compare.POWER_TARGET > compare.power(sigma, 2 * rounds - 2, alpha)
    rng = np.random.default_rng(3)
    found = np.mean([compare.judged(list(rng.normal(math.log(1.1), sigma, 2 * rounds)), alpha)["verdict"].startswith(
        "slower") for _ in range(600)])
    assert abs(found - compare.power(sigma, 2 * rounds, alpha)) < 0.06
    equal = np.mean(["within" in compare.judged(list(rng.normal(0, sigma, 2 * rounds)), alpha)["verdict"]
                     for _ in range(600)])
    assert abs(equal - compare.equivalence_power(sigma, 2 * rounds, alpha)) < 0.06


def synthetic_study(rng, ratios: dict, rounds: int, sessions: int = 2, sd: float = 0.05, drift: float = 0.02,
                    session_shift: float = 0.0):
    """Paired records as ``evidence.paired`` writes them, with known ratios (side -> its time over
    PyTorch eager's): per session a machine speed of its own, per round one, a drift of ``drift`` a
    minute within the round, and each process's own noise."""
    def process(mean, minute):
        blocks = [mean * math.exp(drift * minute + rng.normal(0, sd / 4)) for _ in range(5)]
        return {"blocks_s": [blocks[0] * 3] + blocks[1:], "floor_violations": [], "started_s": 60 * minute,
                "machine": [{"interference": False}] * 5, "warmup_blocks": 1, "position": 0}

    study = []
    for number in range(sessions):
        shift = rng.normal(0, 0.05) + number * session_shift
        part_rounds = []
        for _ in range(rounds):
            speed = shift + rng.normal(0, 0.05)
            order = list(rng.permutation(list(ratios)))
            part_rounds.append({side: process(ratios[side] * math.exp(speed + rng.normal(0, sd / math.sqrt(2))),
                                              minute) for minute, side in enumerate(order)})
        study.append({"bs64": {"rounds": part_rounds}})
    return study


FAMILY = {"bs64": (("defaults", "torch-eager", "jax-jit", ""), ("op", "torch-eager", "jax-eager", ""),
                   ("step", "torch-compile", "jax-jit", ""))}
AA = {"bs64": (("A/A", "torch-eager", "torch-eager again"),)}


def test_under_the_null_the_family_claims_a_difference_at_most_about_five_percent_of_the_time():
    rng = np.random.default_rng(7)
    equal = {"torch-eager": 1.0, "torch-eager again": 1.0, "jax-jit": 1.0, "jax-eager": 1.0, "torch-compile": 1.0}
    claims = []
    for _ in range(150):
        rows = compare.analysis(synthetic_study(rng, equal, rounds=6), FAMILY, AA)["rows"]
        claims.append(any(row["verdict"].startswith(("faster", "slower")) for row in rows))
    assert np.mean(claims) <= 0.07


def test_a_known_study_is_found_and_its_drift_estimated():
    rng = np.random.default_rng(8)
    sides = {"torch-eager": 1.0, "torch-eager again": 1.0, "jax-jit": 0.8, "jax-eager": 4.0, "torch-compile": 0.8}
    study = synthetic_study(rng, sides, rounds=8, sd=0.03, drift=0.01)
    result = compare.analysis(study, FAMILY, AA)
    rows = {row["comparison"]: row for row in result["rows"]}
    assert rows["defaults"]["verdict"] == "faster" and rows["op"]["verdict"] == "slower"
    assert rows["defaults"]["difference"]["ratio"] == pytest.approx(0.8, rel=0.05)
    assert "within" in rows["step"]["verdict"] and len(rows["step"]["sessions"]) == 2
    assert all(row["covers_one"] for row in result["aa"]) and result["k"] == 3
    slopes = [d["bs64"]["per_minute"] for d in result["drift"]]
    assert all(0.0 < slope < 0.02 for slope in slopes)  # the drift put in: 1% a minute


def test_sessions_that_disagree_leave_no_verdict():
    rng = np.random.default_rng(9)
    study = synthetic_study(rng, {"torch-eager": 1.0, "jax-jit": 1.0, "jax-eager": 1.0, "torch-compile": 1.0,
                                  "torch-eager again": 1.0}, rounds=8, sd=0.02)
    for r in study[1]["bs64"]["rounds"]:  # the second session's machine makes JAX's jit 30% slower
        r["jax-jit"]["blocks_s"] = [t * 1.3 for t in r["jax-jit"]["blocks_s"]]
    rows = {row["comparison"]: row for row in compare.analysis(study, FAMILY, AA)["rows"]}
    assert rows["defaults"]["verdict"] == "sessions disagree" and rows["defaults"]["heterogeneity_p"] < 0.001
    assert [s["verdict"] for s in rows["defaults"]["sessions"]][1] == "slower"


def test_with_the_sessions_as_the_unit_a_small_effect_the_rounds_resolve_stays_open():
    """Three sessions with a 5% effect: pooling the rounds resolves it; three session means, each
    with its own shift of the effect, at the same level do not; a large effect is resolved either way."""
    rng = np.random.default_rng(11)
    study = synthetic_study(rng, {"torch-eager": 1.0, "jax-jit": 0.95, "jax-eager": 0.5, "torch-compile": 1.0,
                                  "torch-eager again": 1.0}, rounds=8, sessions=3, sd=0.01)
    for shift, session in zip((1.0, 1.03, 0.97), study):  # the effect itself moves a little with the session
        for r in session["bs64"]["rounds"]:
            r["jax-jit"]["blocks_s"] = [t * shift for t in r["jax-jit"]["blocks_s"]]
    rows = {row["comparison"]: row for row in compare.analysis(study, FAMILY, AA)["rows"]}
    defaults, op = compare.Interval(**rows["defaults"]["by_session"]), compare.Interval(**rows["op"]["by_session"])
    assert rows["defaults"]["direction"] == "faster" and not defaults.excludes_one and defaults.n == 3
    assert rows["op"]["direction"] == "faster" and op.excludes_one


def test_a_process_below_the_physical_floor_or_under_interference_is_left_out_where_it_should_be():
    rng = np.random.default_rng(1)
    sides = {"torch-eager": 1.0, "torch-eager again": 1.0, "jax-jit": 0.8, "jax-eager": 4.0, "torch-compile": 0.8}
    study = synthetic_study(rng, sides, rounds=6, sessions=1, sd=0.02)
    part = study[0]["bs64"]
    part["rounds"][2]["jax-jit"]["floor_violations"] = ["epoch 2 took 0.0001 s, below the physical floor"]
    part["rounds"][3]["jax-jit"]["machine"] = [{"interference": True}] * 5
    result = compare.analysis(study, FAMILY, AA)
    row = next(r for r in result["rows"] if r["comparison"] == "defaults")
    assert row["difference"]["n"] == 5 and result["invalid_processes"] == 1 and result["interfered_processes"] == 1
    assert row["without_interference"] == "faster"


def test_a_process_mean_leaves_out_its_own_warm_up():
    part = {"rounds": []}
    assert compare.process_mean(part, {"blocks_s": [9.0, 5.0, 1.0, 1.0], "warmup_blocks": 2}) == 1.0
    assert compare.process_mean({"warmup_blocks": 1}, {"blocks_s": [9.0, 2.0, 1.0]}) == 1.5  # an older record


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


def test_the_rounds_a_spread_needs_are_the_fewest_that_reach_the_power_target():
    alpha = compare.FAMILY_ALPHA / 12
    for sigma in (0.03, 0.1, 0.2):
        n = compare.rounds_needed(sigma, alpha)
        assert compare.power(sigma, n, alpha) >= compare.POWER_TARGET > compare.power(sigma, n - 1, alpha)
    assert compare.rounds_needed(5.0, alpha, most=50) is None  # past the bound: said, not clipped
