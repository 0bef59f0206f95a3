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


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"epochs": 0}, {"matmul_precision": "fp16"},
                                 {"batch_size": 64, "train_subset": 10}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Config(**bad)


def test_round_trip():
    config = Config(batch_size=256, seed=2)
    assert Config.from_dict(config.to_dict()) == config


def test_records_from_before_the_activation_setting_was_dropped_still_read():
    assert Config.from_dict({**Config().to_dict(), "activation": "relu"}) == Config()
    with pytest.raises(ValueError):
        Config.from_dict({**Config().to_dict(), "activation": "tanh"})
