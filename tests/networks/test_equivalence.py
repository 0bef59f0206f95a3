"""The heart of the comparison: the two implementations compute the same thing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from mnistbench.networks import jax_mlp, torch_mlp
from mnistbench.networks.config import Config
from mnistbench.networks.data import epoch_permutation
from mnistbench.networks.equivalence import GRAD_TOL, LOSS_RTOL, LOSS_SUM_RTOL, PARAMS_TOL, STEPS
from mnistbench.networks.weights import initial_weights

CONFIG = Config()  # the real 784-1024-1024-10 network


@pytest.fixture(scope="module")
def weights():
    return initial_weights(CONFIG)


def torch_model(weights):
    model = torch_mlp.build_model(CONFIG.layer_sizes)
    torch_mlp.load_weights(model, weights)
    return model


def test_loss_and_gradients_agree(weights, mnist_data):
    x = mnist_data.x_train[:256]
    params = jax.tree.map(jnp.asarray, weights)
    y_onehot = jnp.asarray(mnist_data.y_train_onehot[:256])
    jax_loss, jax_grads = jax.value_and_grad(jax_mlp.loss_fn)(params, jnp.asarray(x), y_onehot)

    model = torch_model(weights)
    torch_loss = torch_mlp.loss_fn(model, torch.from_numpy(x), torch.from_numpy(mnist_data.y_train_onehot[:256]))
    torch_loss.backward()
    torch_grads = [(m.weight.grad.numpy().T, m.bias.grad.numpy()) for m in model if isinstance(m, torch.nn.Linear)]

    assert float(jax_loss) == pytest.approx(torch_loss.item(), rel=LOSS_RTOL)
    for (jw, jb), (tw, tb) in zip(jax_grads, torch_grads, strict=True):
        np.testing.assert_allclose(np.asarray(jw), tw, rtol=GRAD_TOL, atol=GRAD_TOL)
        np.testing.assert_allclose(np.asarray(jb), tb, rtol=GRAD_TOL, atol=GRAD_TOL)


def test_momentum_steps_agree(weights, mnist_data):
    batch = 128
    order = epoch_permutation(seed=0, epoch=1, n=len(mnist_data.x_train))
    params = jax.tree.map(jnp.asarray, weights)
    velocity = jax.tree.map(jnp.zeros_like, params)
    model = torch_model(weights)
    optimizer = torch_mlp.make_optimizer(model, CONFIG)
    jax_losses, torch_losses = [], []
    for i in range(STEPS):
        idx = order[i * batch:(i + 1) * batch]
        x, y = mnist_data.x_train[idx], mnist_data.y_train_onehot[idx]
        params, velocity, loss = jax_mlp.jit_train_step(params, velocity, x, y, learning_rate=CONFIG.learning_rate,
                                                        momentum=CONFIG.momentum)
        jax_losses.append(float(loss))
        torch_losses.append(float(torch_mlp.train_step(model, optimizer, torch.from_numpy(x), torch.from_numpy(y))))

    assert sum(jax_losses) == pytest.approx(sum(torch_losses), rel=LOSS_SUM_RTOL)
    for (jw, jb), (tw, tb) in zip(params, torch_mlp.export_weights(model), strict=True):
        np.testing.assert_allclose(np.asarray(jw), tw, atol=PARAMS_TOL)
        np.testing.assert_allclose(np.asarray(jb), tb, atol=PARAMS_TOL)
    # and the parameters really moved: the test would catch a no-op update
    assert np.abs(np.asarray(params[0][0]) - weights[0][0]).max() > PARAMS_TOL


def test_evaluation_agrees(weights, mnist_data):
    params = jax.tree.map(jnp.asarray, weights)
    jax_loss, jax_acc = jax_mlp.evaluate(params, jnp.asarray(mnist_data.x_val), jnp.asarray(mnist_data.y_val_onehot))
    torch_loss, torch_acc = torch_mlp.evaluate(torch_model(weights), torch.from_numpy(mnist_data.x_val),
                                               torch.from_numpy(mnist_data.y_val_onehot))
    assert float(jax_loss) == pytest.approx(torch_loss, rel=1e-5)
    assert float(jax_acc) == pytest.approx(torch_acc, abs=1e-4)
