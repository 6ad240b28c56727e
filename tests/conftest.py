import gzip
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, compress: bool = True) -> Path:
    """Write `array` (uint8) as an IDX file, gzipped when `compress`, as Fashion-MNIST ships."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data += array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def make_split():
    """Write a small, valid split (n images of 28x28 with labels) into a folder."""

    def make(folder: Path, split: str = "test", n: int = 5, seed: int = 0, compress: bool = True):
        prefix = {"train": "train", "test": "t10k"}[split]
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        gz = ".gz" if compress else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{gz}", images, compress=compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{gz}", labels, compress=compress)
        return images, labels

    return make


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """No root, an empty cache and no Debian folder: only what a test writes is found."""
    from vitbook import data

    monkeypatch.delenv("VITBOOK_DATA", raising=False)
    monkeypatch.setenv("VITBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")
    return tmp_path
