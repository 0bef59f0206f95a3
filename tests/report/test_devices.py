"""The framework tax across devices, on small hand-made studies and on the committed ones."""

from pathlib import Path

import pytest

from mnistbench.bench import results
from mnistbench.report import devices
from tests.factories import run_record

STEPS = 781
ROOT = Path(__file__).resolve().parents[2]


def run(framework, variant, batch_size, step_ms, seed=0, kind="cpu", code="v1", **changes):
    """A run whose steady epoch is ``step_ms`` per step."""
    steady = step_ms * 1e-3 * STEPS
    record = run_record(framework, batch_size, seed, (10 * steady, steady, steady), kind, variant=variant,
                        steps=STEPS)
    record["platform"]["code_version"] = code
    record.update(changes)
    return record


def gpu_defaults(code="old"):
    """An older GPU study: the defaults only, records without a variant field."""
    found = []
    for seed in (0, 1, 2):
        for batch_size, eager, jit in ((64, 1.4, 0.16 + 0.01 * seed), (1024, 1.5, 0.36)):
            for framework, ms in (("torch", eager), ("jax", jit)):
                record = run(framework, None, batch_size, ms, seed, "gpu", code)
                del record["variant"]
                found.append(record)
    return found


def cpu_variants(code="v1"):
    table = {("jax", "eager"): (32, 63), ("jax", "jit"): (4, 40), ("jax", "scan"): (3.9, 39),
             ("torch", "eager"): (4.4, 38), ("torch", "compile"): (3.5, 36)}
    return [run(fw, name, b, ms, code=code) for (fw, name), pair in table.items() for b, ms in zip((64, 1024), pair)]


def test_step_times_are_medians_over_seeds_of_the_steady_epoch_per_step():
    gpu = devices.compare(gpu_defaults()).devices[0]
    assert gpu.kind == "gpu" and gpu.code_version == "old" and gpu.runs == 12
    assert gpu.step(("jax", "jit"), 64) == pytest.approx(0.17e-3)  # seeds at 0.16, 0.17, 0.18 ms
    assert gpu.step(("torch", "eager"), 1024) == pytest.approx(1.5e-3)
    assert gpu.step(("jax", "scan"), 64) is None


def test_the_headline_splits_into_granularity_and_framework_where_pytorch_has_one_call_per_step():
    cpu = devices.compare(cpu_variants()).devices[0]
    split = cpu.split(64)
    assert split["headline"] == pytest.approx(4.4 / 4)
    assert split["torch_step"] == "compile"
    assert split["granularity"] == pytest.approx(4.4 / 3.5) and split["framework"] == pytest.approx(3.5 / 4)
    assert split["granularity"] * split["framework"] == pytest.approx(split["headline"])


def test_a_study_of_defaults_only_gives_the_headline_and_says_it_cannot_be_split():
    comparison = devices.compare(gpu_defaults() + cpu_variants())
    gpu, cpu = comparison.devices  # GPUs first
    assert gpu.split(64)["torch_step"] is None and gpu.split(64)["headline"] == pytest.approx(1.4 / 0.17)
    text = devices.section_markdown(comparison)
    assert f"{gpu.name} has no PyTorch variant with one call per step" in text
    assert "| not measured | not measured |" in text


def test_each_device_is_named_with_its_code_version_and_different_versions_are_said():
    comparison = devices.compare(gpu_defaults("e0c0") + cpu_variants("82c7"))
    text = devices.section_markdown(comparison)
    assert "code version `e0c0`" in text and "code version `82c7`" in text
    assert "different versions of the measuring code" in text
    same = devices.section_markdown(devices.compare(gpu_defaults("v1") + cpu_variants("v1")))
    assert "different versions" not in same


def test_variants_measured_on_one_device_are_listed_not_plotted(tmp_path):
    comparison = devices.compare(gpu_defaults() + cpu_variants())
    assert comparison.shared(64) == [("torch", "eager"), ("jax", "jit")]  # by granularity: operation, step
    text = devices.section_markdown(comparison)
    cpu = comparison.devices[1].name
    assert f"Only {cpu} measured JAX eager (batch 64 and 1024)" in text and "not plotted" in text
    fig = devices.figure(comparison, folder=tmp_path)
    plotted = {text.get_text() for ax in fig.axes[:2] for text in ax.get_xticklabels()}
    assert plotted == {"PyTorch eager", "JAX jit"}
    assert (tmp_path / "devices.pdf").exists() and (tmp_path / "devices.png").exists()


def test_one_device_alone_is_said_and_not_plotted(tmp_path):
    comparison = devices.compare(cpu_variants())
    assert devices.figure(comparison, folder=tmp_path) is None and not list(tmp_path.iterdir())
    assert f"Only {comparison.devices[0].label} has runs here" in devices.section_markdown(comparison)
    assert "No device has" in devices.section_markdown(devices.compare([]))


def test_smoke_tf32_cached_and_invalid_runs_are_left_out():
    left_out = [run("jax", "jit", 64, 1.0, precision="tf32"), run("jax", "jit", 64, 1.0, valid=False),
                run("jax", "jit", 64, 1.0, compilation_cache={"dir": "/c", "hits": 1, "misses": 0})]
    smoke = run("jax", "jit", 64, 1.0)
    smoke["config"]["train_subset"] = 4096
    assert devices.compare([*left_out, smoke]).devices == []


def test_two_machines_with_one_cpu_name_are_told_apart_by_their_software():
    other = cpu_variants("v1")
    for record in other:
        record["platform"]["torch"] = "9.9"
    names = [d.name for d in devices.compare(cpu_variants("v1") + other).devices]
    assert len(set(names)) == 2 and all("PyTorch" in name for name in names)


def test_a_device_with_two_studies_shows_the_larger():
    older = [run("jax", "jit", 64, 9.0, code="v0")]
    comparison = devices.compare(older + cpu_variants("v1"))
    assert len(comparison.devices) == 1 and comparison.devices[0].code_version == "v1"


def test_the_committed_cpu_and_h100_studies_side_by_side(tmp_path):
    records = results.load_records(ROOT / "results")
    comparison = devices.compare(records)
    kinds = [d.kind for d in comparison.devices]
    assert kinds == ["gpu", "cpu"]
    text = devices.section_markdown(comparison)
    for device in comparison.devices:
        versions = {r["platform"]["code_version"] for r in records if devices.eligible(r)
                    and r["device"]["kind"] == device.kind}
        assert device.code_version in versions and f"code version `{device.code_version}`" in text
    gpu = comparison.devices[0]
    assert all(gpu.split(b)["torch_step"] is None for b in devices.BATCH_SIZES)  # the H100 study: defaults only
    assert devices.figure(comparison, folder=tmp_path) is not None
