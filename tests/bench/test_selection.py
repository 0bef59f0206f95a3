"""Which records form one study and which study the documents show."""

import pytest

from mnistbench.bench import selection
from tests.bench.test_results import make_record


def test_summary_aggregates_repeats():
    records = [make_record(seed=s, test_accuracy=a, steady_epoch_s=t, config_fingerprint=f"c{s}") for s, a, t in
               [(0, 0.96, 1.0), (1, 0.98, 2.0), (2, 0.97, 3.0)]]
    [row] = selection.summarize(records)
    assert row["repeats"] == 3 and row["steady_epoch_s"] == 2.0 and row["steady_epoch_range_s"] == [1.0, 3.0]
    assert row["test_accuracy"] == pytest.approx(0.97)
    assert row["test_accuracy_std"] == pytest.approx(0.01)


def test_select_study_prefers_gpu_and_drops_invalid_runs():
    cpu = [make_record(seed=s) for s in range(3)]
    gpu = [make_record(device={"kind": "gpu", "name": "H100"}), make_record(seed=1, valid=False,
                                                                             device={"kind": "gpu", "name": "H100"})]
    chosen = selection.select_study(cpu + gpu)
    assert [r["device"]["name"] for r in chosen] == ["H100"]
    assert selection.select_study(cpu) == cpu


def test_a_run_with_other_settings_is_not_folded_into_the_study():
    from tests.factories import run_record

    study = [run_record(fw, b, seed=s) for fw in ("jax", "torch") for b in (64, 256) for s in (0, 1)]
    smoke = run_record("jax", 64, seed=5, train_subset=256, accuracy=0.5)
    chosen = selection.select_study(study + [smoke])
    assert smoke not in chosen and len(chosen) == len(study)
    rows = selection.summarize(study + [smoke])
    assert len(rows) == 5  # the smoke run is a study (one row) of its own


def test_runs_with_other_software_are_another_study_and_the_newest_wins_a_tie():
    import copy

    from tests.factories import run_record

    old = [run_record(fw, 64, seed=s) for fw in ("jax", "torch") for s in (0, 1)]
    for record in old:  # each framework names its own CUDA build: still one study
        record["device"]["cuda"] = f"{record['framework']} cuda"
    assert selection.select_study(old) == old
    new = copy.deepcopy(old)
    for record in new:
        record["platform"]["jax"] = "9.9"
        record["device"]["driver"] = "999"
        record["timestamp"] = "2026-06-01T00:00:00+00:00"
    assert selection.select_study(old + new) == new
    assert selection.select_study(new + old) == new
    assert len(selection.summarize(old + new)) == 4  # two studies, two frameworks each
