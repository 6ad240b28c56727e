"""The data of a training on its device: Fashion-MNIST's splits held there as uint8,
served in batches that are standardised, augmented (random shifts and horizontal flips)
and, for D2L's recipe, resized on the device, so that no DataLoader workers are needed."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..data import FashionMNIST, balanced_subset, load_fashion_mnist, only_classes, split_off, standardize
from ..device import get_device

VALIDATION_IMAGES = 10_000  # carved from the training set: every choice is made on them


class DeviceData:
    """A split of Fashion-MNIST held on `device` as uint8, served in batches."""

    def __init__(self, split: FashionMNIST, device: torch.device | str):
        if split.images.dtype != torch.uint8:
            raise ValueError("DeviceData expects the uint8 images of load_fashion_mnist(normalize=False)")
        device = get_device(device)
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.num_classes = len(split.classes)
        self.device = device

    def __len__(self) -> int:
        return len(self.labels)

    def first(self, n: int) -> DeviceData:
        """The first `n` images and labels (views, no copy)."""
        part = copy.copy(self)
        part.images, part.labels = self.images[:n], self.labels[:n]
        return part

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        augment: bool = False,
        flip: bool = True,
        img_size: int = 28,
        generator: torch.Generator | None = None,
    ):
        """Yield (images (B, 1, img_size, img_size) float32 standardised, labels (B,)); with
        `augment`, shifted and (with `flip`) mirrored by `random_shift_flip`."""
        n = len(self)
        order = (
            torch.randperm(n, generator=generator).to(self.device) if shuffle else torch.arange(n, device=self.device)
        )
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            images = self.images[idx]
            if augment:
                images = random_shift_flip(images, generator, flip=flip)
            x = standardize(images)
            if img_size != x.shape[-1]:
                x = F.interpolate(x, size=img_size, mode="bilinear", align_corners=False)
            yield x, self.labels[idx]


def random_shift_flip(
    images: torch.Tensor, generator: torch.Generator | None = None, max_shift: int = 2, flip: bool = True
) -> torch.Tensor:
    """Shift each image by up to `max_shift` pixels in each direction (the uncovered
    border is 0, the background) and, with `flip`, mirror half of them left-right, on
    their device."""
    b, _, h, w = images.shape
    shift = torch.randint(-max_shift, max_shift + 1, (2, b), generator=generator).to(images.device)
    padded = F.pad(images, (max_shift,) * 4)  # (B, C, H+2s, W+2s)
    rows = torch.arange(h, device=images.device) + max_shift - shift[0][:, None]  # (B, H)
    cols = torch.arange(w, device=images.device) + max_shift - shift[1][:, None]  # (B, W)
    if flip:
        mirrored = (torch.rand(b, generator=generator) < 0.5).to(images.device)
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def splits(
    device: torch.device, fraction: float = 1.0, seed: int = 0, classes=None
) -> tuple[DeviceData, DeviceData, DeviceData]:
    """(training set less the validation split, validation split, test set) on `device`.

    With `fraction` < 1 the training set is that share of every class (`balanced_subset`,
    drawn with `seed`), repeated so that an epoch still shows as many images as the full
    set: every fraction then gets the same steps, epochs and evaluations. With `classes`
    (class indices), all three hold only those classes, relabelled 0, 1, ... (`only_classes`)."""
    rest, validation = split_off(load_fashion_mnist("train"), VALIDATION_IMAGES)
    test = load_fashion_mnist("test")
    if classes is not None:
        rest, validation, test = (only_classes(d, classes) for d in (rest, validation, test))
    if fraction < 1:
        subset = balanced_subset(rest, fraction, seed)
        times = round(len(rest) / len(subset))
        rest = FashionMNIST(
            subset.images.repeat(times, 1, 1, 1), subset.labels.repeat(times), rest.classes, rest.source
        )
    return DeviceData(rest, device), DeviceData(validation, device), DeviceData(test, device)
