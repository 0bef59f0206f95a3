import numpy as np
import pytest
import torch

from mnistbench.networks import torch_mlp
from mnistbench.networks.config import Config, parameter_count
from mnistbench.networks.weights import initial_weights


def test_architecture_matches_config():
    model = torch_mlp.build_model((784, 1024, 1024, 10))
    assert sum(p.numel() for p in model.parameters()) == parameter_count((784, 1024, 1024, 10))
    assert isinstance(model[-1], torch.nn.Linear)  # logits, no activation after the last layer
    assert sum(isinstance(m, torch.nn.ReLU) for m in model) == 2


def test_shared_weights_round_trip():
    weights = initial_weights(Config(seed=3))
    model = torch_mlp.build_model(Config().layer_sizes)
    torch_mlp.load_weights(model, weights)
    for (w, b), (w2, b2) in zip(weights, torch_mlp.export_weights(model)):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)


def test_precision_setting_is_applied():
    torch_mlp.set_matmul_precision(Config(matmul_precision="tf32"))
    assert torch.get_float32_matmul_precision() == "high"
    torch_mlp.set_matmul_precision(Config())
    assert torch.get_float32_matmul_precision() == "highest"


def test_the_step_trains_on_one_hot_labels_as_on_class_indices(mnist_data):
    """F.cross_entropy with one-hot rows as class probabilities is the loss on the class indices."""
    model = torch_mlp.build_model(Config().layer_sizes)
    torch_mlp.load_weights(model, initial_weights(Config()))
    x = torch.from_numpy(mnist_data.x_train[:256])
    onehot = torch_mlp.loss_fn(model, x, torch.from_numpy(mnist_data.y_train_onehot[:256]))
    indices = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(mnist_data.y_train[:256]).long())
    assert onehot.item() == pytest.approx(indices.item(), rel=1e-6)
    optimizer = torch_mlp.make_optimizer(model, Config())
    loss = torch_mlp.train_step(model, optimizer, x, torch.from_numpy(mnist_data.y_train_onehot[:256]))
    assert loss.item() == pytest.approx(onehot.item(), rel=1e-6)  # the loss before the update
    assert torch_mlp.loss_fn(model, x, torch.from_numpy(mnist_data.y_train_onehot[:256])).item() < loss.item()
