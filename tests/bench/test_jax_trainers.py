"""The JAX trainers: the network's step at each granularity, compiled once, donated, timed."""

import pytest

from mnistbench.bench.jax_trainers import JaxTrainer
from mnistbench.bench.run import train_and_time
from mnistbench.networks.config import Config
from mnistbench.networks.data import first_training_images


def test_train_step_compiles_once_and_donates(mnist_data):
    config = Config(layer_sizes=(784, 32, 10), batch_size=100, epochs=2, train_subset=1000)
    trainer = JaxTrainer(config, _subset(mnist_data, 1000))
    old_weights = trainer.state.params[0][0]
    history = train_and_time(trainer, config)
    assert old_weights.is_deleted()  # donated: XLA reused the buffer for the new weights
    kept = JaxTrainer(config, _subset(mnist_data, 1000), donate=False)
    kept_weights = kept.state.params[0][0]
    train_and_time(kept, config)
    assert not kept_weights.is_deleted()
    assert trainer.compile_split is not None and set(trainer.compile_split) == {"trace_s", "lower_s", "compile_s"}
    assert trainer.step_fn._cache_size() == 1
    assert len(history["epoch_times_s"]) == 2


@pytest.mark.slow
def test_smoke_training_reaches_90_percent(mnist_data):
    config = Config(batch_size=64, epochs=1, train_subset=10_000)
    trainer = JaxTrainer(config, _subset(mnist_data, 10_000))
    history = train_and_time(trainer, config)
    assert history["val_accuracy"][-1] >= 0.90


def _subset(data, n):
    return first_training_images(data, n)


def _step_written_in_one_piece(state, x_train, y_train_onehot, order, *, batch_size, learning_rate, momentum):
    """The jitted step as it was written before the network moved to its own folder: gather,
    loss, grad and update in one function."""
    import jax
    import jax.numpy as jnp

    from mnistbench.bench.jax_trainers import TrainState
    from mnistbench.networks.jax_mlp import forward

    idx = jax.lax.dynamic_slice_in_dim(order, state.step * batch_size, batch_size)

    def loss_fn(params, x, y):
        logits = forward(params, x)
        log_probs = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
        return -jnp.mean(jnp.sum(y * log_probs, axis=1))

    loss, grads = jax.value_and_grad(loss_fn)(state.params, x_train[idx], y_train_onehot[idx])
    velocity = jax.tree.map(lambda v, g: momentum * v + g, state.velocity, grads)
    params = jax.tree.map(lambda p, v: p - learning_rate * v, state.params, velocity)
    return TrainState(params, velocity, state.loss_sum + loss, state.step + 1)


def test_the_gathered_step_compiles_to_the_program_written_in_one_piece():
    """Wrapping the network's train_step in the bench's gather changes nothing XLA runs: the
    optimized HLO is the one-piece step's, line for line (names and source locations aside)."""
    import functools
    import re

    import jax
    import jax.numpy as jnp

    from mnistbench.bench import jax_trainers
    from mnistbench.networks.weights import initial_weights

    config = Config(layer_sizes=(784, 64, 10), batch_size=128)
    params = jax.tree.map(jnp.asarray, initial_weights(config))
    state = jax_trainers.TrainState(params, jax.tree.map(jnp.zeros_like, params), jnp.float32(0), jnp.int32(0))
    args = (state, jnp.zeros((1024, 784)), jnp.zeros((1024, 10)), jnp.arange(1024, dtype=jnp.int32))

    def optimized_hlo(step, **hyper):
        text = jax.jit(functools.partial(step, **hyper), donate_argnums=(0,)).lower(*args).compile().as_text()
        tables = re.compile(r"^(\d+ .*|FileNames|FunctionNames|FileLocations|StackFrames)$")  # source locations
        lines = [line for line in text.splitlines() if not tables.match(line)]
        program = re.sub(r", metadata=\{[^}]*\}", "", "\n".join(lines))
        assert program.count(" = ") > 20  # the instructions are there
        return re.sub(r"jit_\w+", "PROGRAM", program)

    hyper = jax_trainers.hyper_parameters(config)
    wrapped = optimized_hlo(jax_trainers.gathered_step, **hyper)
    assert wrapped == optimized_hlo(_step_written_in_one_piece, **hyper)
    assert wrapped != optimized_hlo(_step_written_in_one_piece, **{**hyper, "momentum": 0.5})  # it can differ
