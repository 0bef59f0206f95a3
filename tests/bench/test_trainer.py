"""An epoch's steps, the same rule in every trainer: run in order, never past the end, the
loss averaged over the steps run."""

import math

import numpy as np
import pytest

from mnistbench.bench import variants
from mnistbench.bench.trainer import EpochOver, steps_to_run
from mnistbench.networks.config import Config
from mnistbench.networks.data import epoch_permutation, first_training_images

CPU_VARIANTS = [v.key for v in variants.for_device("cpu")]
CONFIG = Config(layer_sizes=(784, 16, 10), batch_size=100, train_subset=1000)  # 10 batches an epoch


def trainer_of(key, mnist_data):
    trainer = variants.REGISTRY[key].build(CONFIG, first_training_images(mnist_data, 1000), "cpu")
    trainer.start_epoch(epoch_permutation(0, 1, 1000))
    return trainer


def test_steps_to_run_counts_what_is_left():
    assert steps_to_run(0, 10) == 10 and steps_to_run(4, 10) == 6
    assert steps_to_run(4, 10, max_steps=3) == 3 and steps_to_run(8, 10, max_steps=3) == 2
    with pytest.raises(EpochOver):
        steps_to_run(10, 10)


@pytest.mark.parametrize("key", [k for k in CPU_VARIANTS if not k.endswith("scan")])
def test_an_epoch_run_in_parts_is_the_epoch_run_at_once(key, mnist_data):
    """Two calls of five steps train the same batches as one of ten (PyTorch eager used to start
    the epoch over at its first batch); an eleventh step is an error, not a batch read again
    (JAX's slice used to clamp to the last batch)."""
    whole, parts = trainer_of(key, mnist_data), trainer_of(key, mnist_data)
    whole.run_epoch()
    parts.run_epoch(max_steps=5)
    parts.run_epoch(max_steps=5)
    for trainer in (whole, parts):
        trainer.sync()
        with pytest.raises(EpochOver):
            trainer.run_epoch(max_steps=1)
    for (w1, b1), (w2, b2) in zip(whole.weights(), parts.weights()):
        np.testing.assert_allclose(w1, w2, atol=1e-6)
        np.testing.assert_allclose(b1, b2, atol=1e-6)
    assert whole.epoch_loss() == pytest.approx(parts.epoch_loss(), rel=1e-5)


@pytest.mark.parametrize("key", ["jax-eager", "jax-jit", "torch-eager"])
def test_the_epoch_loss_is_the_mean_over_the_steps_run(key, mnist_data):
    """Three steps from the start: their mean loss is near ln 10, not three tenths of it
    (the loss sum used to be divided by the epoch's ten batches)."""
    trainer = trainer_of(key, mnist_data)
    trainer.run_epoch(max_steps=3)
    trainer.sync()
    assert trainer.epoch_loss() == pytest.approx(math.log(10), rel=0.15)


@pytest.mark.parametrize("key", CPU_VARIANTS)
def test_zero_steps_is_an_error_in_every_trainer_and_in_the_epoch_clock(key, mnist_data):
    """``max_steps=0`` ran a step in the compiled PyTorch trainer and none in the others, and
    ``timed_epoch`` turned it into a whole epoch: now it is refused everywhere, before any step."""
    from mnistbench.bench import timing

    trainer = trainer_of(key, mnist_data)
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        trainer.run_epoch(max_steps=0)
    assert trainer.steps_taken == 0
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        timing.timed_epoch(trainer, 0, 1, max_steps=0)


def test_a_scanned_epoch_runs_once(mnist_data):
    trainer = trainer_of("jax-scan", mnist_data)
    trainer.run_epoch()
    with pytest.raises(EpochOver):
        trainer.run_epoch()


@pytest.mark.parametrize("batch_size", [64, 1000, 1024])
def test_both_trainers_drop_the_partial_batch(mnist_data, batch_size):
    from mnistbench.bench.jax_trainers import JaxTrainer
    from mnistbench.bench.torch_trainers import TorchTrainer

    data = first_training_images(mnist_data, 5000)
    config = Config(layer_sizes=(784, 8, 10), batch_size=batch_size)
    assert JaxTrainer(config, data).n_batches == TorchTrainer(config, data).n_batches == 5000 // batch_size
