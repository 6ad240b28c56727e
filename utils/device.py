"""Device choice, seeding and the quick setting for CPU/CI runs."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

QUICK_ENV = "VITBOOK_QUICK"


def get_device(device: torch.device | str | None = None) -> torch.device:
    """The device to use: `device` when given (checked to exist), else CUDA when a GPU is
    there, else the CPU. Every chapter runs on both."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{device!r} is not a device: use 'cpu' or 'cuda'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(device)!r} was asked for, but no CUDA device is present on "
            "this machine. The CPU works for everything in the book: use device='cpu' "
            "(or vitbook.device.get_device(), which picks CUDA only when there is a GPU)"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device {str(device)!r} was asked for, but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s): cuda:0 ... "
            f"cuda:{torch.cuda.device_count() - 1}"
        )
    return device


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA


def quick_mode() -> bool:
    """Whether long work (training) should use its quick setting.

    ``VITBOOK_QUICK=1`` forces the quick setting, ``VITBOOK_QUICK=0`` the full one; when
    the variable is unset, quick is chosen exactly when no GPU is present.
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value:
        raise ValueError(f"{QUICK_ENV}={value!r}: use 1 (quick setting) or 0 (full setting)")
    return not torch.cuda.is_available()


def full_precision() -> None:
    """Make float32 really float32 on CUDA: turn off TF32 in matmuls and convolutions,
    and `nn.TransformerEncoderLayer`'s fused inference fast path.

    Ampere and newer GPUs run float32 convolutions in TF32 by default (about 3 decimal
    digits), which would break the book's 1e-5 equality proofs. The fast path, taken in
    eval mode without gradients on CUDA, differed from the layer's own modules by 1.8e-4
    in float32 on an H200 (chapter 4, 2026-11-26), TF32 off. Training chapters leave
    both on, since they are faster and harmless there.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.mha.set_fastpath_enabled(False)
