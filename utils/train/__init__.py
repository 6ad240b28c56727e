"""Chapter 6's trainer: training on Fashion-MNIST with the whole dataset on the device.

`train` (in `loop`) is chapter 6's loop; what it adds lives beside it, one module a role:

- `recipe`: how to train (`Recipe`, the book's recipes) and what a training records (`History`);
- `device_data`: the splits on the device as uint8, batched, standardised and augmented there;
- `augment`: random erasing, mixup and CutMix on a batch (chapter 11), from the recipe;
- `evaluate`: accuracy, predictions and plain cross-entropy; bf16 autocast;
- `optim`: the recipe's optimiser and learning-rate schedule;
- `checkpoint`: atomic writes, and the state a checkpoint keeps so that a training resumes;
- `distill`: the loss, with a teacher's hard labels (chapter 8; DeiT's distillation token,
  chapter 11) or without;
- `progress`: the progress bar, the epoch's printout and the rules that stop early;
- `parallel`: what changes inside a process group (chapter 10).
"""

from .checkpoint import State, load_checkpoint, save_checkpoint, write_atomically
from .device_data import VALIDATION_IMAGES, DeviceData, random_shift_flip, splits
from .evaluate import cross_entropy, evaluate, predict
from .loop import train
from .optim import schedule_factor
from .recipe import BOOK_RECIPE, CPU_RECIPE, D2L_RECIPE, QUICK_RECIPE, History, Recipe

__all__ = [
    "BOOK_RECIPE",
    "CPU_RECIPE",
    "D2L_RECIPE",
    "QUICK_RECIPE",
    "VALIDATION_IMAGES",
    "DeviceData",
    "History",
    "Recipe",
    "State",
    "cross_entropy",
    "evaluate",
    "load_checkpoint",
    "predict",
    "random_shift_flip",
    "save_checkpoint",
    "schedule_factor",
    "splits",
    "train",
    "write_atomically",
]
