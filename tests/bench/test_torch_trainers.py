"""The PyTorch trainers: the network's step at each granularity, on the same one-hot labels as JAX."""

import numpy as np
import pytest

from mnistbench.bench.run import train_and_time
from mnistbench.bench.torch_trainers import TorchCompiledTrainer, TorchTrainer
from mnistbench.networks.config import Config
from mnistbench.networks.data import first_training_images


@pytest.mark.parametrize("trainer_class", [TorchTrainer, TorchCompiledTrainer])
def test_the_trainers_hold_the_same_one_hot_labels_as_jax(trainer_class, mnist_data):
    data = first_training_images(mnist_data, 1000)
    trainer = trainer_class(Config(layer_sizes=(784, 16, 10), batch_size=100, train_subset=1000), data)
    np.testing.assert_array_equal(trainer.y_train_onehot.numpy(), data.y_train_onehot)
    np.testing.assert_array_equal(trainer.eval_sets["val"][1].numpy(), data.y_val_onehot)
    assert not hasattr(trainer, "optimizer") or trainer_class is TorchTrainer  # compile updates without one


@pytest.mark.slow
def test_smoke_training_reaches_90_percent(mnist_data):
    config = Config(batch_size=64, epochs=1, train_subset=10_000)
    trainer = TorchTrainer(config, first_training_images(mnist_data, 10_000))
    history = train_and_time(trainer, config)
    assert history["val_accuracy"][-1] >= 0.90
