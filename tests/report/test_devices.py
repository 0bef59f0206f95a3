"""The framework tax across devices, on small hand-made studies."""

import pytest

from mnistbench.report import devices
from tests.factories import run_record

STEPS = 781


def run(framework, variant, batch_size, step_ms, seed=0, kind="cpu", code="v1"):
    """A run whose steady epoch is ``step_ms`` per step."""
    steady = step_ms * 1e-3 * STEPS
    record = run_record(framework, batch_size, seed, (10 * steady, steady, steady), kind, variant=variant,
                        steps=STEPS)
    record["platform"]["code_version"] = code
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


def cpu_grid(code="v1"):
    return [run(fw, name, b, ms, seed=s, code=code) for fw, name, pair in (("jax", "jit", (4, 40)),
                                                                           ("torch", "eager", (4.4, 38)))
            for b, ms in zip((64, 1024), pair) for s in (0, 1)]


def test_step_times_are_medians_over_seeds_of_the_steady_epoch_per_step():
    gpu, cpu = devices.compare(cpu_grid() + gpu_defaults())  # GPUs first
    assert gpu.kind == "gpu" and gpu.code_version == "old" and gpu.runs == 12
    assert gpu.step(("jax", "jit"), 64) == pytest.approx(0.17e-3)  # seeds at 0.16, 0.17, 0.18 ms
    assert gpu.step(("torch", "eager"), 1024) == pytest.approx(1.5e-3)
    assert gpu.step(("jax", "scan"), 64) is None and cpu.kind == "cpu"


def test_each_device_is_named_with_its_code_version_and_different_versions_are_said():
    text = devices.section_markdown(devices.compare(gpu_defaults("e0c0") + cpu_grid("82c7")))
    assert "`e0c0`" in text and "`82c7`" in text and "different versions of the measuring code" in text
    assert "different versions" not in devices.section_markdown(devices.compare(gpu_defaults("v1") + cpu_grid("v1")))


def test_one_device_alone_is_said_and_none_says_how_to_measure():
    [cpu] = devices.compare(cpu_grid())
    assert f"Only {cpu.label} has runs here" in devices.section_markdown([cpu])
    assert "No device has" in devices.section_markdown(devices.compare([]))
