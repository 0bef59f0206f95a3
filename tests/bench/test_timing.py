import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mnistbench.bench import timing
from mnistbench.bench.jax_trainers import JaxTrainer
from mnistbench.networks.config import Config, training_flops_per_sample


def test_timed_waits_for_the_result():
    seen = []
    _, seconds = timing.timed(lambda: "x", lambda r: (seen.append(r), time.sleep(0.05)))
    assert seen == ["x"] and seconds >= 0.05


def test_floor_flags_only_impossible_epochs():
    # 1e12 FLOPs on a 1e12 FLOP/s device cannot take less than ~1 s (with the slack, 1/1.5 s)
    assert timing.floor_violations([2.0, 1.0, 0.9], 1e12, 1e12) == []
    [reason] = timing.floor_violations([2.0, 0.01], 1e12, 1e12)
    assert reason.startswith("epoch 2 took 0.01 s")


def test_matmul_peak_is_plausible():
    peak = timing.jax_matmul_peak("cpu", 512, repeats=3)
    assert 1e8 < peak < 1e14  # between a slow phone and a GPU: a CPU


def test_timing_without_synchronizing_is_caught(mnist_data):
    """Dispatch is asynchronous (on the CPU too, with a short queue): a clock read
    before block_until_ready measures queueing, and the floor check notices.
    Batch 4096 keeps the epoch to 12 steps, all of which fit in the queue."""
    config = Config(batch_size=4096, epochs=1)
    trainer = JaxTrainer(config, mnist_data)
    trainer.start_epoch(np.arange(trainer.n_train, dtype=np.int32))
    trainer.run_epoch()  # compile and run once, so the next epoch is pure dispatch
    trainer.sync()
    flops = training_flops_per_sample(config.layer_sizes) * config.batch_size * trainer.n_batches
    peak = timing.matmul_peak("jax", "cpu")  # the probe every run uses

    trainer.start_epoch(np.arange(trainer.n_train, dtype=np.int32))
    start = time.perf_counter()
    trainer.run_epoch()
    unsynchronized = time.perf_counter() - start
    trainer.sync()
    synchronized = time.perf_counter() - start

    assert timing.floor_violations([unsynchronized], flops, peak), (unsynchronized, flops / peak)
    assert not timing.floor_violations([synchronized], flops, peak), (synchronized, flops / peak)


def test_compile_counter_sees_a_new_shape():
    counter = timing.JaxCompileCounter.shared()
    f = jax.jit(lambda x: x * 2 + 1)
    three, four = jax.block_until_ready((jnp.ones(3), jnp.ones(4)))  # creating them compiles too
    before = counter.count
    f(three).block_until_ready()
    f(three).block_until_ready()
    assert counter.count - before == 1
    f(four).block_until_ready()
    assert counter.count - before == 2
    assert counter.seconds["compile_s"] > 0


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_matmul_peak_dispatch(framework):
    assert timing.matmul_peak(framework, "cpu") > 1e8


def test_fusions_are_told_apart_by_whether_a_matrix_product_is_inside():
    from mnistbench.bench.profiling import fusion_kinds

    x, w = jnp.ones((32, 16)), jnp.ones((16, 8))
    elementwise = jax.jit(lambda a: jnp.exp(a) * 2 + 1).lower(x).compile().as_text()
    kinds = fusion_kinds(elementwise)
    assert kinds["with_matmul"] == 0 and kinds["matmuls_outside_fusions"] == 0 and kinds["without_matmul"] >= 1
    layer = jax.jit(lambda a, b: jnp.maximum(a @ b, 0.0) * 3).lower(x, w).compile().as_text()
    kinds = fusion_kinds(layer)
    assert kinds["with_matmul"] + kinds["matmuls_outside_fusions"] >= 1
