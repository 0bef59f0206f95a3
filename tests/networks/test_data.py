"""MNIST as the networks see it: split, standardized, one-hot, shuffled per epoch."""

import numpy as np

from mnistbench.networks import data as mnist


def test_sizes_and_dtypes(mnist_data):
    assert mnist_data.x_train.shape == (50_000, 784)
    assert mnist_data.x_val.shape == (10_000, 784)
    assert mnist_data.x_test.shape == (10_000, 784)
    assert mnist_data.x_train.dtype == np.float32
    assert mnist_data.y_test.shape == (10_000,)


def test_split_is_disjoint_and_covers_the_training_set():
    train, val = mnist.split_indices(60_000, 10_000, split_seed=0)
    assert len(np.intersect1d(train, val)) == 0
    assert len(np.union1d(train, val)) == 60_000
    again_train, _ = mnist.split_indices(60_000, 10_000, split_seed=0)
    np.testing.assert_array_equal(train, again_train)
    other_train, _ = mnist.split_indices(60_000, 10_000, split_seed=1)
    assert not np.array_equal(train, other_train)


def test_training_split_is_standardized(mnist_data):
    assert abs(float(mnist_data.x_train.mean())) < 1e-3
    assert abs(float(mnist_data.x_train.std()) - 1.0) < 1e-3
    # validation and test use the *training* statistics, so they are close to, not exactly, 0 and 1
    assert abs(float(mnist_data.x_test.mean())) < 0.05
    assert 0.1 < mnist_data.pixel_mean < 0.2 and 0.2 < mnist_data.pixel_std < 0.4


def test_one_hot_rows(mnist_data):
    onehot = mnist_data.y_train_onehot
    assert onehot.shape == (50_000, 10)
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    np.testing.assert_array_equal(onehot.argmax(axis=1), mnist_data.y_train)


def test_epoch_permutation_is_shared_and_changes_per_epoch():
    first = mnist.epoch_permutation(seed=0, epoch=1, n=1000)
    np.testing.assert_array_equal(np.sort(first), np.arange(1000))
    np.testing.assert_array_equal(first, mnist.epoch_permutation(seed=0, epoch=1, n=1000))
    assert not np.array_equal(first, mnist.epoch_permutation(seed=0, epoch=2, n=1000))
