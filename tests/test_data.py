from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_idx
from vitbook import data
from vitbook.data import CLASSES, MEAN, STD, DatasetError, balanced_subset, load_fashion_mnist, only_classes


def test_loads_a_good_split_as_documented(isolated_data, make_split):
    images, labels = make_split(isolated_data / "root")
    ds = load_fashion_mnist("test", isolated_data / "root", download=False)
    assert ds.images.shape == (5, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and len(ds) == 5
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert torch.equal(ds.labels, torch.from_numpy(labels.astype(np.int64)))
    assert ds.classes == CLASSES and ds.source == isolated_data / "root"


def test_normalize_standardises_with_mean_and_std(isolated_data, make_split):
    images, _ = make_split(isolated_data / "root")
    ds = load_fashion_mnist("test", isolated_data / "root", normalize=True, download=False)
    assert ds.images.dtype == torch.float32
    expected = (torch.from_numpy(images).float() / 255 - MEAN) / STD
    assert torch.allclose(ds.images[:, 0], expected)


def test_reads_plain_files_and_torchvision_layout(isolated_data, make_split):
    make_split(isolated_data / "plain", compress=False)
    assert len(load_fashion_mnist("test", isolated_data / "plain", download=False)) == 5
    make_split(isolated_data / "tv" / "FashionMNIST" / "raw", n=3)
    assert len(load_fashion_mnist("test", isolated_data / "tv", download=False)) == 3


def test_search_order_root_then_env_then_cache_then_debian(isolated_data, make_split, monkeypatch):
    make_split(isolated_data / "root", n=2)
    make_split(isolated_data / "env", n=3)
    make_split(isolated_data / "cache", n=4)
    make_split(data.DEBIAN_DIR, n=6)
    monkeypatch.setenv("VITBOOK_DATA", str(isolated_data / "env"))
    assert len(load_fashion_mnist("test", isolated_data / "root", download=False)) == 2
    assert len(load_fashion_mnist("test", download=False)) == 3
    monkeypatch.delenv("VITBOOK_DATA")
    assert len(load_fashion_mnist("test", download=False)) == 4
    for f in (isolated_data / "cache").iterdir():
        f.unlink()
    assert len(load_fashion_mnist("test", download=False)) == 6


def test_nothing_found_names_every_place_and_both_fixes(isolated_data):
    with pytest.raises(DatasetError) as err:
        load_fashion_mnist("train", download=False)
    msg = str(err.value)
    for place in (isolated_data / "cache", data.DEBIAN_DIR):
        assert str(place) in msg
    assert "download" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "VITBOOK_DATA" in msg


@pytest.mark.parametrize("how", ["argument", "VITBOOK_DATA"])
@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing folder", "does not exist"),
        ("empty folder", "found an empty folder"),
        ("images without labels", r"t10k-labels-idx1-ubyte\[\.gz\].*found \['t10k-images"),
        ("one .gz file", "is a file; give the folder"),
    ],
)
def test_a_named_place_is_used_or_named_in_the_error_never_replaced(
    isolated_data, make_split, monkeypatch, how, case, expected
):
    make_split(isolated_data / "cache", n=4)  # other data that must not be substituted
    make_split(data.DEBIAN_DIR, n=6)
    place = isolated_data / "named"
    if case == "empty folder":
        place.mkdir()
    elif case != "missing folder":
        make_split(place)
        (place / "t10k-labels-idx1-ubyte.gz").unlink()
        if case == "one .gz file":
            place = place / "t10k-images-idx3-ubyte.gz"
    root = place if how == "argument" else None
    if how == "VITBOOK_DATA":
        monkeypatch.setenv("VITBOOK_DATA", str(place))
    with pytest.raises(DatasetError, match=expected) as err:
        load_fashion_mnist("test", root, download=False)
    assert str(place) in str(err.value) and ("root=" if root else "VITBOOK_DATA=") in str(err.value)


def test_truncated_gzip_names_the_file(isolated_data, make_split):
    make_split(isolated_data / "root")
    f = isolated_data / "root" / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(DatasetError, match="corrupt or truncated") as err:
        load_fashion_mnist("test", isolated_data / "root", download=False)
    assert str(f) in str(err.value)


def test_truncated_data_names_the_file(isolated_data, make_split):
    make_split(isolated_data / "root", compress=False)
    f = isolated_data / "root" / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="truncated") as err:
        load_fashion_mnist("test", isolated_data / "root", download=False)
    assert str(f) in str(err.value)


def test_wrong_magic_number_names_the_file(isolated_data, make_split):
    make_split(isolated_data / "root")
    f = write_idx(isolated_data / "root" / "t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8), magic=2051)
    with pytest.raises(DatasetError, match="magic number 2051, expected 2049") as err:
        load_fashion_mnist("test", isolated_data / "root", download=False)
    assert str(f) in str(err.value)


def test_image_and_label_counts_must_agree(isolated_data, make_split):
    make_split(isolated_data / "root")
    write_idx(isolated_data / "root" / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match="5 images but .* 4 labels"):
        load_fashion_mnist("test", isolated_data / "root", download=False)


def test_out_of_range_label_is_reported(isolated_data, make_split):
    make_split(isolated_data / "root")
    write_idx(isolated_data / "root" / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 12], np.uint8))
    with pytest.raises(DatasetError, match="label 12 is out of range"):
        load_fashion_mnist("test", isolated_data / "root", download=False)


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_fashion_mnist("validation")


def _fake_torchvision(make_split, fail_after_partial: bool):
    """Stand-in for torchvision's downloader (no internet here): writes the files the way
    it does, into root/FashionMNIST/raw, or writes half a file and is interrupted."""

    def fake(root, train, download):
        raw = Path(root) / "FashionMNIST" / "raw"
        if fail_after_partial:
            raw.mkdir(parents=True, exist_ok=True)
            (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b half a file")
            raise KeyboardInterrupt
        make_split(raw, "train" if train else "test", n=7)

    return fake


def test_interrupted_download_leaves_nothing_in_the_cache(isolated_data, make_split, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", _fake_torchvision(make_split, True))
    with pytest.raises(KeyboardInterrupt):
        load_fashion_mnist("test")
    cache = isolated_data / "cache"
    assert not list(cache.rglob("*.gz")), "a half-written file survived the interrupt"
    assert not list(cache.iterdir()), "the temporary download folder survived"


def test_download_lands_in_cache_and_is_found_next_time(isolated_data, make_split, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", _fake_torchvision(make_split, False))
    assert len(load_fashion_mnist("test")) == 7
    assert sorted(p.name for p in (isolated_data / "cache").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", None)  # no second download
    assert len(load_fashion_mnist("train")) == 7


def test_failed_download_is_listed_in_the_error(isolated_data, monkeypatch):
    import torchvision.datasets

    def offline(root, train, download):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DatasetError, match=r"download through torchvision: failed \(RuntimeError"):
        load_fashion_mnist("test")


def test_real_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.delenv("VITBOOK_DATA", raising=False)
    monkeypatch.setenv("VITBOOK_CACHE", str(tmp_path))
    assert data.DEBIAN_DIR.is_dir(), "run: apt-get install dataset-fashion-mnist (the README's test command does)"
    train, test = load_fashion_mnist("train", download=False), load_fashion_mnist("test", download=False)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train.source == data.DEBIAN_DIR
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 1000))
    pixels = train.images.float() / 255
    assert abs(pixels.mean().item() - MEAN) < 1e-4 and abs(pixels.std().item() - STD) < 1e-4
    assert test.labels[:3].tolist() == [9, 2, 1]  # Ankle boot, Pullover, Trouser


def test_balanced_subsets_keep_every_class_in_proportion_and_nest():
    train = load_fashion_mnist("train")
    small, large = balanced_subset(train, 0.01), balanced_subset(train, 0.05)
    assert torch.bincount(small.labels).tolist() == [60] * 10
    assert torch.bincount(large.labels).tolist() == [300] * 10
    key = lambda d: set(map(bytes, d.images.flatten(1).numpy()))  # noqa: E731
    assert key(small) <= key(large), "a smaller fraction's images are among a larger one's"
    assert torch.equal(balanced_subset(train, 0.01).images, small.images), "same seed, same images"
    assert not torch.equal(balanced_subset(train, 0.01, seed=1).images, small.images)
    assert len(balanced_subset(train, 1.0)) == len(train)


@pytest.mark.parametrize(
    "fraction, message",
    [
        (0, r"in \(0, 1\]"),
        (1.5, r"in \(0, 1\]"),
        ("0.1", r"in \(0, 1\]"),
        (1e-4, r"leaves a class without any image .* >= 0.00017"),
    ],
)
def test_a_fraction_that_cannot_work_is_refused(fraction, message):
    with pytest.raises(ValueError, match=message):
        balanced_subset(load_fashion_mnist("train"), fraction)


def test_only_some_classes_relabelled_in_the_order_given():
    test = load_fashion_mnist("test")
    shoes = only_classes(test, [9, 5, 7])
    assert shoes.classes == ["Ankle boot", "Sandal", "Sneaker"] and len(shoes) == 3000
    assert torch.equal(shoes.images, test.images[(test.labels == 5) | (test.labels == 7) | (test.labels == 9)])
    original = torch.tensor([9, 5, 7])[shoes.labels]
    assert torch.equal(original, test.labels[(test.labels == 5) | (test.labels == 7) | (test.labels == 9)])


@pytest.mark.parametrize("classes", [[], [1, 1], [10], [-1], [True], ["Bag"], [2.0]])
def test_classes_that_are_not_distinct_indices_are_refused(classes):
    with pytest.raises(ValueError, match="distinct class indices from 0 to 9"):
        only_classes(load_fashion_mnist("test"), classes)
