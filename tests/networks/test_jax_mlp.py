import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mnistbench.networks import jax_mlp
from mnistbench.networks.config import Config
from mnistbench.networks.data import first_training_images
from mnistbench.networks.weights import initial_weights


def test_shapes_and_he_scale():
    params = jax_mlp.init_params(jax.random.key(0), (784, 1024, 1024, 10))
    assert [(w.shape, b.shape) for w, b in params] == [((784, 1024), (1024,)), ((1024, 1024), (1024,)),
                                                       ((1024, 10), (10,))]
    assert float(jnp.std(params[1][0])) == pytest.approx(math.sqrt(2 / 1024), rel=0.02)
    assert float(jnp.abs(params[0][1]).max()) == 0.0
    logits = jax_mlp.forward(params, jnp.ones((5, 784)))
    assert logits.shape == (5, 10)


def test_loss_at_initialization_is_near_ln10(mnist_data):
    params = jax.tree.map(jnp.asarray, initial_weights(Config()))
    loss = jax_mlp.loss_fn(params, mnist_data.x_val[:1000], mnist_data.y_val_onehot[:1000])
    # the scaled-down output layer gives small logits: nearly uniform predictions
    assert abs(float(loss) - math.log(10)) < 0.05
    unscaled = jax_mlp.init_params(jax.random.key(0), Config().layer_sizes)
    assert float(jax_mlp.loss_fn(unscaled, mnist_data.x_val[:1000], mnist_data.y_val_onehot[:1000])) > float(loss)


def test_loss_is_stable_for_huge_logits():
    params = [(jnp.eye(3) * 1e4, jnp.zeros(3))]
    loss = jax_mlp.loss_fn(params, jnp.array([[1.0, 0.0, 0.0]]), jnp.array([[0.0, 1.0, 0.0]]))
    assert float(loss) == pytest.approx(1e4, rel=1e-6)


def test_grad_matches_finite_differences():
    with jax.enable_x64(True):
        key_p, key_x = jax.random.split(jax.random.key(1))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), jax_mlp.init_params(key_p, (4, 5, 3)))
        x = jax.random.normal(key_x, (6, 4), jnp.float64)
        y = jax.nn.one_hot(jnp.array([0, 1, 2, 0, 1, 2]), 3, dtype=jnp.float64)
        grads = jax.grad(jax_mlp.loss_fn)(params, x, y)
        eps = 1e-6
        for layer in range(2):
            for part in range(2):
                flat = np.asarray(params[layer][part]).ravel()
                for i in range(0, flat.size, 3):
                    def loss_with(delta, layer=layer, part=part, i=i, flat=flat):
                        changed = flat.copy()
                        changed[i] += delta
                        new = [list(p) for p in params]
                        new[layer][part] = jnp.asarray(changed.reshape(params[layer][part].shape))
                        return float(jax_mlp.loss_fn(new, x, y))
                    numeric = (loss_with(eps) - loss_with(-eps)) / (2 * eps)
                    assert float(np.asarray(grads[layer][part]).ravel()[i]) == pytest.approx(numeric, abs=1e-7)


def test_momentum_update_is_heavy_ball():
    params, velocity, grads = [jnp.array(1.0)], [jnp.array(0.5)], [jnp.array(2.0)]
    new_params, new_velocity = jax_mlp.momentum_update(params, velocity, grads, learning_rate=0.1, momentum=0.9)
    assert float(new_velocity[0]) == pytest.approx(0.9 * 0.5 + 2.0)
    assert float(new_params[0]) == pytest.approx(1.0 - 0.1 * (0.9 * 0.5 + 2.0))


def test_the_jitted_step_compiles_once_per_shape_and_donates_its_state(mnist_data):
    params = jax.tree.map(jnp.asarray, initial_weights(Config(layer_sizes=(784, 32, 10))))
    velocity = jax.tree.map(jnp.zeros_like, params)
    x, y = jnp.asarray(mnist_data.x_train[:500]), jnp.asarray(mnist_data.y_train_onehot[:500])
    expected_loss = float(jax_mlp.loss_fn(params, x[:100], y[:100]))
    old_weights = params[0][0]
    def own_step(params, velocity, x, y_onehot, learning_rate, momentum):  # a function of its own: jit caches
        return jax_mlp.train_step(params, velocity, x, y_onehot, learning_rate, momentum)  # programs per function

    step = jax.jit(own_step, static_argnames=("learning_rate", "momentum"), donate_argnames=("params", "velocity"))
    losses = []
    for start in range(0, 500, 100):
        params, velocity, loss = step(params, velocity, x[start:start + 100], y[start:start + 100],
                                      learning_rate=0.03, momentum=0.9)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(expected_loss, rel=1e-5)  # the step's loss is the loss before its update
    assert old_weights.is_deleted()  # donated: XLA wrote the new weights into the old buffer
    assert step._cache_size() == 1  # one batch shape, one program
    params, velocity, _ = step(params, velocity, x[:50], y[:50], learning_rate=0.03, momentum=0.9)
    assert step._cache_size() == 2  # a new shape is a new program
    old_weights = params[0][0]
    jax_mlp.jit_train_step(params, velocity, x[:50], y[:50], learning_rate=0.03, momentum=0.9)
    assert old_weights.is_deleted()  # the module's own jitted step donates too (the copy above counts programs)


@pytest.mark.slow
def test_the_plain_loop_learns(mnist_data):
    """One epoch of ``train_epoch`` (jit_train_step per batch, in order) on 10,000 images reaches 90%."""
    data = first_training_images(mnist_data, 10_000)
    params = jax.tree.map(jnp.asarray, initial_weights(Config()))
    params, _, mean_loss = jax_mlp.train_epoch(params, jax.tree.map(jnp.zeros_like, params), data.x_train,
                                               data.y_train_onehot, batch_size=64, learning_rate=0.03, momentum=0.9)
    _, accuracy = jax_mlp.evaluate(params, data.x_val, data.y_val_onehot)
    assert float(accuracy) >= 0.90 and float(mean_loss) < math.log(10)
