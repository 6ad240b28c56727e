"""Fashion-MNIST, found wherever it already is, as tensors.

`load_fashion_mnist(split)` looks in this order and uses the first place that has the
files (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-...`; plain or
gzipped, directly in the folder or in torchvision's `FashionMNIST/raw/` layout):

1. the `root` argument, or else the ``VITBOOK_DATA`` environment variable: a place the
   user names is the only place looked at, and the call fails (naming it and what is
   missing there) if the split is not there;
2. the local cache: ``VITBOOK_CACHE`` or ``~/.cache/vitbook/fashion-mnist``;
3. Debian's ``dataset-fashion-mnist`` package: ``/usr/share/datasets/fashion-mnist``;
4. a download through torchvision into the cache (needs internet, as on Colab).

Nothing found offline gives one error naming every place tried and how to fix it; a
corrupt or truncated file gives an error naming that file. A download lands in the
cache atomically, so an interrupted one leaves nothing behind.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Per-pixel mean and standard deviation of the training images, scaled to [0, 1].
MEAN, STD = 0.2860, 0.3530

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_PREFIX = {"train": "train", "test": "t10k"}
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049  # IDX: unsigned bytes, 3 dims / 1 dim
_FIX = (
    "Fix it with one of:\n"
    "  - sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu, offline copy)\n"
    "  - set VITBOOK_DATA (or pass root=...) to a folder holding the four "
    "*-ubyte.gz files"
)


class DatasetError(RuntimeError):
    """Fashion-MNIST could not be found or read."""


@dataclass
class FashionMNIST:
    """One split. `images` is (N, 1, 28, 28): uint8 in 0..255, or, when loaded with
    ``normalize=True``, float32 standardised with MEAN and STD. `labels` is int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: Path

    def __len__(self) -> int:
        return len(self.labels)


def split_off(data: FashionMNIST, n: int, seed: int = 0) -> tuple[FashionMNIST, FashionMNIST]:
    """Split `data` at random into (the rest, `n` held-out images): a validation split
    carved from the training set, so that choices never look at the test set. The same
    `seed` gives the same split on every machine."""
    if not 0 < n < len(data):
        raise ValueError(f"cannot hold out {n} of {len(data)} images")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))

    def part(idx):
        return FashionMNIST(data.images[idx], data.labels[idx], data.classes, data.source)

    return part(order[n:]), part(order[:n])


def balanced_subset(data: FashionMNIST, fraction: float, seed: int = 0) -> FashionMNIST:
    """`fraction` of `data`, the same share of every class, drawn at random with `seed`:
    the smaller training sets of chapter 8. The same seed gives the same images, and a
    smaller fraction's images are among a larger one's."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], not {fraction!r}")
    counts = torch.bincount(data.labels, minlength=len(data.classes))
    per_class = [int(fraction * n + 1e-9) for n in counts.tolist()]  # 0.29 * 100 is 28.99...
    if any(k < 1 for k, n in zip(per_class, counts.tolist()) if n):
        smallest = counts[counts > 0].min().item()
        raise ValueError(
            f"fraction {fraction} of {len(data)} images leaves a class without any "
            f"image (the smallest class has {smallest}): use a fraction >= "
            f"{1 / smallest:.2g}"
        )
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    picked = torch.cat([order[data.labels[order] == c][:k] for c, k in enumerate(per_class)])
    picked = picked.sort().values
    return FashionMNIST(data.images[picked], data.labels[picked], data.classes, data.source)


def only_classes(data: FashionMNIST, classes) -> FashionMNIST:
    """The images of `classes` (class indices), relabelled 0, 1, ... in the order given:
    chapter 9 pretrains on some classes and transfers to the others."""
    classes = list(classes)
    if (
        not classes
        or len(set(classes)) != len(classes)
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(data.classes) for c in classes)
    ):
        raise ValueError(f"classes must be distinct class indices from 0 to {len(data.classes) - 1}, not {classes!r}")
    relabel = torch.full((len(data.classes),), -1, dtype=data.labels.dtype)
    relabel[classes] = torch.arange(len(classes), dtype=data.labels.dtype)
    keep = relabel[data.labels] >= 0
    return FashionMNIST(data.images[keep], relabel[data.labels[keep]], [data.classes[c] for c in classes], data.source)


def cache_dir() -> Path:
    """The folder a download goes to and is found in next time."""
    return Path(os.environ.get("VITBOOK_CACHE") or Path.home() / ".cache" / "vitbook" / "fashion-mnist")


def standardize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32, standardised with the training-set MEAN and STD."""
    return (images.float() / 255 - MEAN) / STD


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike | None = None, *, normalize: bool = False, download: bool = True
) -> FashionMNIST:
    """Load the `split` ("train": 60,000 images, "test": 10,000) as tensors.

    See the module docstring for where it looks. `download=False` never touches the
    network (the tests use it).
    """
    if split not in _PREFIX:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    named = "root" if root is not None else "VITBOOK_DATA"
    root = root if root is not None else os.environ.get("VITBOOK_DATA")
    if root:  # the place the user named, and no other: never substitute other data
        return _read_split(*_named_split(Path(root), split, named), normalize=normalize)
    places = [("cache", cache_dir()), ("Debian package", DEBIAN_DIR)]
    for _, folder in places:
        found = _find_split(folder, split)
        if found:
            return _read_split(*found, normalize=normalize)
    tried = [f"{what}: {folder}" for what, folder in places]
    if download:
        try:
            _download(cache_dir())
            return _read_split(*_find_split(cache_dir(), split), normalize=normalize)
        except Exception as err:  # no internet, blocked host, ...
            tried.append(f"download through torchvision: failed ({type(err).__name__}: {err})")
    else:
        tried.append("download: not attempted (download=False)")
    raise DatasetError(
        f"Fashion-MNIST ({split}) was not found. Tried, in order:\n"
        + "\n".join(f"  {i}. {t}" for i, t in enumerate(tried, 1))
        + "\n"
        + _FIX
    )


def _named_split(folder: Path, split: str, named: str) -> tuple[Path, Path]:
    """The (images, labels) files of `split` in the folder the user named as `named`, or a
    DatasetError naming the folder and what is missing there."""
    if not folder.exists():
        raise DatasetError(
            f"{named}={str(folder)!r} does not exist. Give the folder that holds "
            f"the four Fashion-MNIST *-ubyte.gz files (or unset {named} to let "
            "the book look in its usual places)"
        )
    if not folder.is_dir():
        raise DatasetError(
            f"{named}={str(folder)!r} is a file; give the folder that holds it "
            f"and the other Fashion-MNIST files: {str(folder.parent)!r}"
        )
    found = _find_split(folder, split)
    if found:
        return found
    wanted = [f"{_PREFIX[split]}-{kind}-ubyte[.gz]" for kind in ("images-idx3", "labels-idx1")]
    present = sorted(p.name for p in folder.iterdir())[:8]
    raise DatasetError(
        f"{named}={str(folder)!r} does not hold the {split} split: expected "
        f"{' and '.join(wanted)} in it (or in its FashionMNIST/raw/ folder), "
        f"found {present or 'an empty folder'}. Put the files there, or unset "
        f"{named} to let the book look in its usual places"
    )


def _find_split(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of `split` in `folder`, or None if either is missing."""
    for base in (folder, folder / "FashionMNIST" / "raw"):
        files = []
        for kind, dims in (("images", "idx3"), ("labels", "idx1")):
            name = f"{_PREFIX[split]}-{kind}-{dims}-ubyte"
            file = next((base / n for n in (name + ".gz", name) if (base / n).is_file()), None)
            files.append(file)
        if all(files):
            return files[0], files[1]
    return None


def _read_split(images_file: Path, labels_file: Path, *, normalize: bool) -> FashionMNIST:
    images = read_idx(images_file, _IMAGES_MAGIC)
    labels = read_idx(labels_file, _LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_file}: images are {images.shape[1:]}, Fashion-MNIST's are (28, 28)")
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_file} holds {len(images)} images but {labels_file} "
            f"holds {len(labels)} labels; one of them is damaged"
        )
    if labels.size and labels.max() >= len(CLASSES):
        raise DatasetError(f"{labels_file}: label {labels.max()} is out of range 0..9")
    images_t = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28)
    return FashionMNIST(
        images=standardize(images_t) if normalize else images_t,
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=CLASSES,
        source=images_file.parent,
    )


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes (plain or gzipped), checking it whole."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DatasetError(f"{path} is corrupt or truncated ({err}); delete it and get it again") from err
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated: {len(raw)} bytes, shorter than its header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DatasetError(f"{path} is not an IDX file of the expected kind: magic number {found}, expected {magic}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DatasetError(f"{path} is truncated or damaged: {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable


def _download(dest: Path) -> None:
    """Download the four files through torchvision (which checks their MD5 sums) into a
    temporary folder inside `dest`, then move each into `dest` in one atomic step."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        TorchvisionFashionMNIST(tmp, train=True, download=True)
        TorchvisionFashionMNIST(tmp, train=False, download=True)
        for gz in (Path(tmp) / "FashionMNIST" / "raw").glob("*.gz"):
            os.replace(gz, dest / gz.name)  # atomic: same filesystem, file complete
