import numpy as np
import pytest
import torch

from mnistbench import torch_mlp
from mnistbench.config import Config, parameter_count
from mnistbench.data import first_training_images
from mnistbench.experiment import train_and_time
from mnistbench.weights import initial_weights


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


@pytest.mark.slow
def test_smoke_training_reaches_90_percent(mnist_data):
    config = Config(batch_size=64, epochs=1, train_subset=10_000)
    trainer = torch_mlp.TorchTrainer(config, first_training_images(mnist_data, 10_000))
    history = train_and_time(trainer, config)
    assert history["val_accuracy"][-1] >= 0.90
