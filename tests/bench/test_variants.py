"""Every variant computes what its framework's default computes, and the registry describes them."""

import pytest
import torch

from mnistbench.bench import equality, run, variants
from mnistbench.errors import UserError
from mnistbench.networks import equivalence

HAS_GPU = torch.cuda.is_available()
CPU_VARIANTS = [v.key for v in variants.for_device("cpu") if not v.is_default]
GPU_ONLY = [v.key for v in variants.REGISTRY.values() if v.needs_gpu]


def test_registry_names_each_granularity_in_both_frameworks():
    by_granularity = {g: {v.framework for v in variants.REGISTRY.values() if v.granularity == g}
                      for g in variants.GRANULARITIES}
    assert by_granularity == {g: {"jax", "torch"} for g in variants.GRANULARITIES}
    assert variants.get("jax").name == "jit" and variants.get("torch").name == "eager"
    assert {v.key for v in variants.for_device("cpu")} == set(variants.REGISTRY) - set(GPU_ONLY)
    with pytest.raises(UserError, match="choose from"):
        variants.get("torch", "scan")
    with pytest.raises(UserError) as error:  # the choices are the named frameworks' variants only
        variants.resolve_names(["scan"], ["torch"], "cpu")
    assert str(error.value).endswith("choose from compile, cudagraph, cudagraph-epoch, eager")
    with pytest.raises(UserError, match="needs a GPU"):
        variants.check_runs_on(variants.get("torch", "cudagraph"), "cpu")


@pytest.mark.parametrize("key", CPU_VARIANTS)
def test_every_cpu_variant_matches_its_default(key, mnist_data):
    result = equality.compare_with_default(key, "cpu", mnist_data)
    assert result["passed"], result
    assert result["max_abs_difference"] <= equivalence.PARAMS_TOL < result["moved"]


@pytest.mark.skipif(not HAS_GPU, reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("key", GPU_ONLY)
def test_every_gpu_variant_matches_its_default(key, mnist_data):
    result = equality.compare_with_default(key, "gpu", mnist_data)
    assert result["passed"], result


def test_the_comparison_catches_a_variant_that_computes_something_else(mnist_data, monkeypatch):
    from mnistbench.bench import jax_trainers

    real = jax_trainers.scan_epoch  # a scan that skips the epoch's last step

    def one_step_short(state, *args, n_batches, **hyper):
        return real(state, *args, n_batches=n_batches - 1, **hyper)

    monkeypatch.setattr(jax_trainers, "scan_epoch", one_step_short)
    jax_trainers.jitted_epoch.cache_clear()  # the process keeps one jitted epoch per settings: make it anew
    try:
        result = equality.compare_with_default("jax-scan", "cpu", mnist_data)
    finally:
        jax_trainers.jitted_epoch.cache_clear()
    assert not result["passed"] and result["max_abs_difference"] > equivalence.PARAMS_TOL


def test_whole_step_compile_is_one_graph_and_recorded(tmp_path):
    from mnistbench.networks.config import Config

    config = Config(layer_sizes=(784, 64, 10), batch_size=128, epochs=2, train_subset=1024)
    record = run.run_one("torch", config, "cpu", variant="compile", log=lambda _: None)
    assert record["variant"] == "compile" and record["granularity"] == "step"
    assert record["graph_breaks"] == 0 and record["recompiles"] == 0 and record["graphs"] == 1
    assert record["compile_total_s"] > 0 and record["compile_total_s"] < record["first_epoch_s"]
    assert record["compilation_cache"] == {"dir": None, "hits": 0, "misses": 1}


def test_jax_eager_dispatches_without_a_compiled_step():
    from mnistbench.networks.config import Config

    config = Config(layer_sizes=(784, 64, 10), batch_size=128, epochs=2, train_subset=1024)
    record = run.run_one("jax", config, "cpu", variant="eager", log=lambda _: None)
    assert record["variant"] == "eager" and record["compile_split"] is None and record["compiled_memory"] is None
    # every operation compiles on first use (epoch 1), and nothing again in epoch 2
    assert record["compile_count_per_epoch"][0] > 10 and record["compile_count_per_epoch"][1] == 0


def test_an_eager_jax_step_leaves_jaxs_dispatch_cache_as_it_found_it():
    """jax.nn.relu (a custom_jvp around a jit) would add an entry to JAX's C++ dispatch cache at
    every eager differentiation, and an eager loop would slow down epoch after epoch."""
    import jax
    import numpy as np

    from mnistbench.networks import jax_mlp
    from mnistbench.networks.config import Config

    cache = getattr(getattr(jax._src, "pjit", None), "_cpp_pjit_cache_explicit_attributes", None)
    if cache is None:
        pytest.skip("this JAX has no such cache")
    from mnistbench.networks.weights import initial_weights

    params = jax.tree.map(jax.numpy.asarray, initial_weights(Config(layer_sizes=(784, 64, 10))))
    x, y = np.ones((8, 784), np.float32), np.eye(10, dtype=np.float32)[np.arange(8) % 10]
    grad = jax.grad(jax_mlp.loss_fn)
    grad(params, x, y)
    before = cache.size()
    for _ in range(20):
        grad(params, x, y)
    assert cache.size() == before
    x, w = jax.numpy.ones((8, 4)), jax.numpy.ones((4, 4))
    relu_grad = jax.grad(lambda w: jax.numpy.sum(jax.nn.relu(x @ w)))  # what the select replaces
    relu_grad(w)
    before = cache.size()
    relu_grad(w)
    assert cache.size() > before  # the check sees the growth it guards against
    h = np.array([-1.0, 0.0, 2.0], np.float32)
    np.testing.assert_array_equal(jax.grad(lambda h: jax.numpy.sum(jax_mlp.relu(h)))(h), [0.0, 0.0, 1.0])


def test_donation_aliases_the_whole_state_in_the_compiled_step():
    from mnistbench.networks.config import Config, parameter_count

    config = Config(layer_sizes=(784, 64, 10), batch_size=128, epochs=2, train_subset=1024)
    state_bytes = 2 * 4 * parameter_count(config.layer_sizes) + 4 + 4  # params, velocity, loss sum, step
    memory = {name: run.run_one("jax", config, "cpu", variant=name, log=lambda _: None)["compiled_memory"]
              for name in ("jit", "jit-no-donation")}
    assert memory["jit"]["alias_size_in_bytes"] == state_bytes and memory["jit-no-donation"]["alias_size_in_bytes"] == 0
