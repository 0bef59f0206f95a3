import json

import pytest

from mnistbench.bench import results
from mnistbench.networks.config import Config
from tests.factories import run_record


def make_record(**changes):
    from tests.factories import run_record

    record = run_record("jax", 64, seed=0, epoch_times=(3.0, 1.0, 1.2), device_kind="cpu", accuracy=0.96,
                        compile_s=0.5)
    record["config_fingerprint"], record["steady_epoch_s"] = "abc", 1.1
    record["platform"]["code_version"] = "v1"
    record["device"]["name"] = "Some CPU"
    record.update(changes)
    return record


def test_save_and_load_round_trip(tmp_path):
    path = results.save_record(make_record(), tmp_path)
    assert path.name == "run-jax-jit-bs64-seed0-cpu-abc.json"
    [loaded] = results.load_records(tmp_path)
    assert loaded["steady_epoch_s"] == 1.1 and loaded["_path"] == str(path)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = results.save_record(make_record(), tmp_path)
    before = path.read_text()

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        results.save_record(make_record(steady_epoch_s=9.9), tmp_path)
    assert path.read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_file_is_named_and_never_overwritten(tmp_path):
    path = tmp_path / "run-jax-jit-bs64-seed0-cpu-abc.json"
    path.write_text("{ not json")
    with pytest.raises(results.ResultsError, match="run-jax-jit-bs64-seed0-cpu-abc.json.*unreadable"):
        results.load_records(tmp_path)
    with pytest.raises(results.ResultsError):
        results.save_record(make_record(), tmp_path)
    assert path.read_text() == "{ not json"


def test_other_schema_version_is_refused(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(make_record(schema_version=0)))
    with pytest.raises(results.ResultsError, match="old.json.*schema version 0"):
        results.load_records(tmp_path)


def test_incomplete_record_is_refused(tmp_path):
    record = make_record()
    del record["test_accuracy"]
    (tmp_path / "x.json").write_text(json.dumps(record))
    with pytest.raises(results.ResultsError, match="missing test_accuracy"):
        results.load_records(tmp_path)


def test_is_current_matches_config_and_code(tmp_path):
    path = results.save_record(make_record(), tmp_path)
    assert results.is_current(path, "abc", "v1")
    assert not results.is_current(path, "abc", "v2")
    assert not results.is_current(path, "other", "v1")
    assert not results.is_current(tmp_path / "missing.json", "abc", "v1")
    invalid = results.save_record(make_record(seed=1, valid=False), tmp_path)
    assert not results.is_current(invalid, "abc", "v1")  # the grid measures it again


def test_a_configs_fingerprint_names_every_setting():
    from mnistbench.bench.results import config_fingerprint
    from mnistbench.networks.config import Config

    config = Config(batch_size=256, seed=2)
    assert config_fingerprint(config) == config_fingerprint(Config(batch_size=256, seed=2))
    assert config_fingerprint(config) != config_fingerprint(config.replace(seed=3))


def test_a_record_of_older_code_is_read_in_the_current_layout(tmp_path):
    """The one place older records are read differently (``results.upgrade``): before the variants a
    run was its framework's default in a process of its own, its total compile time was ``compile_s``,
    and its config named the activation."""
    old = run_record("jax", 64)
    for key in ("variant", "kind", "compile_total_s"):
        del old[key]
    old.update(compile_s=9.0, config={**old["config"], "activation": "relu"})
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    record = results.read_record(path)
    assert record["variant"] == "jit" and record["kind"] == "run" and record["compile_total_s"] == 9.0
    assert record["runs_before_in_process"] == 0 and record["cold_start"] and "compile_s" not in record
    assert Config.from_dict(record["config"]) == Config(batch_size=64, epochs=3)
