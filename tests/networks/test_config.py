import re

import pytest

from mnistbench.networks.config import Config, parameter_count, training_flops_per_sample


def test_default_network_size():
    # 784*1024+1024 + 1024*1024+1024 + 1024*10+10
    assert parameter_count(Config().layer_sizes) == 1_863_690


def test_training_flops_count_forward_and_both_backward_products():
    sizes = (3, 5, 2)
    forward = 2 * (3 * 5 + 5 * 2)
    weight_grads = forward
    input_grads = 2 * (5 * 2)  # no gradient for the input layer's pixels
    assert training_flops_per_sample(sizes) == forward + weight_grads + input_grads


@pytest.mark.parametrize("bad, message", [
    ({"batch_size": 0}, "batch size"), ({"epochs": 0}, "epochs"), ({"matmul_precision": "fp16"}, "precision"),
    ({"batch_size": 64, "train_subset": 10}, "batch size 64 is larger than the 10 training images"),
    # what only the command line used to check: momentum, a rate, a subset larger than the data
    ({"momentum": 1.0}, "momentum 1.0 must be in [0, 1)"), ({"momentum": -0.1}, "momentum"),
    ({"learning_rate": -0.03}, "learning rate"), ({"learning_rate": float("nan")}, "learning rate"),
    ({"learning_rate": 1e39}, "learning rate"), ({"train_subset": 50_001}, "more than the 50,000 training images"),
    ({"batch_size": 50_001}, "larger than the 50,000 training images"), ({"layer_sizes": (10, 10)}, "layer sizes"),
])
def test_bad_settings_are_refused_with_the_setting_named(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Config(**bad)


def test_the_training_images_are_derived_from_the_files_and_the_split():
    assert Config().n_train == 60_000 - 10_000 and Config(validation_size=5_000).n_train == 55_000
    assert Config(train_subset=4096).n_train == 4096


def test_round_trip():
    config = Config(batch_size=256, seed=2)
    assert Config.from_dict(config.to_dict()) == config
