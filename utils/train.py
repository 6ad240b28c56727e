"""Chapter 6: training on Fashion-MNIST, with the whole dataset on the device.

The data live on the device as uint8 tensors (47 MB for the training set); each batch is
standardised, augmented (random shifts and horizontal flips) and, for D2L's recipe,
resized, on the device, so no DataLoader workers are needed. `train` runs a recipe
with a tqdm progress bar, evaluates on held-out data (the validation split, when a
choice is being made) after every epoch, returns the history, and saves and resumes
checkpoints (written atomically).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .data import FashionMNIST, standardize
from .device import get_device
from .distributed import check_batch_size, rank_and_world, shard


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, batches, augmentation, precision."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    optimizer: str = "sgd"          # "sgd" (plain, as D2L) or "adamw"
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0      # linear warm-up, then ...
    schedule: str = "constant"      # ... "constant" or "cosine" decay to zero
    label_smoothing: float = 0.0
    augment: bool = False           # random shifts of up to 2 pixels and horizontal flips
    img_size: int = 28              # resize on the device (D2L: 96)
    bf16: bool = False              # bfloat16 autocast, on CUDA only
    compile: bool = False           # torch.compile the model, on CUDA only

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be 'sgd' or 'adamw', not {self.optimizer!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', not {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size and lr must be positive: {self}")


# D2L's recipe: plain SGD, lr 0.1, batch 128, 10 epochs, images resized to 96x96.
D2L_RECIPE = Recipe(epochs=10, batch_size=128, lr=0.1, img_size=96)
# The book's recipe, for a GPU (with BOOK_CONFIG): native 28x28, AdamW with warm-up and
# cosine decay, label smoothing, augmentation on the device, bf16, torch.compile; 40
# epochs: 62 s on an H200, 30 of them in the first epoch (compiling), README.
BOOK_RECIPE = Recipe(epochs=40, batch_size=512, lr=2e-3, optimizer="adamw", weight_decay=0.05,
                     warmup_epochs=2, schedule="cosine", label_smoothing=0.1, augment=True,
                     bf16=True, compile=True)
# The quick setting for CPUs (with QUICK_CONFIG): about 88% in 3 minutes on 2 cores.
QUICK_RECIPE = Recipe(epochs=10, batch_size=128, lr=2e-3, optimizer="adamw", weight_decay=0.05,
                      warmup_epochs=0.5, schedule="cosine", label_smoothing=0.1)
# The checkpoint's recipe on a CPU (with CPU_CONFIG): the GPU recipe's optimiser, schedule
# and augmentation in fp32 at batch 128, 20 epochs: 23 minutes on 2 cores (run `checkpoint`).
CPU_RECIPE = Recipe(epochs=20, batch_size=128, lr=2e-3, optimizer="adamw", weight_decay=0.05,
                    warmup_epochs=1, schedule="cosine", label_smoothing=0.1, augment=True)


@dataclass
class History:
    """Per epoch: training loss and accuracy, accuracy on the evaluation data, cumulative training
    seconds (evaluation excluded) and the learning rate at the end of the epoch."""

    recipe: dict = field(default_factory=dict)
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    eval_acc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    lr: list = field(default_factory=list)

    def seconds_to_reach(self, accuracy: float) -> float | None:
        """Training seconds until the evaluation accuracy first reached `accuracy` (None if never)."""
        return next((s for s, a in zip(self.seconds, self.eval_acc) if a >= accuracy), None)


class DeviceData:
    """A split of Fashion-MNIST held on `device` as uint8, served in batches."""

    def __init__(self, split: FashionMNIST, device: torch.device | str):
        if split.images.dtype != torch.uint8:
            raise ValueError("DeviceData expects the uint8 images of load_fashion_mnist(normalize=False)")
        device = get_device(device)
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.device = device

    def __len__(self) -> int:
        return len(self.labels)

    def first(self, n: int) -> DeviceData:
        """The first `n` images and labels (views, no copy)."""
        part = copy.copy(self)
        part.images, part.labels = self.images[:n], self.labels[:n]
        return part

    def batches(self, batch_size: int, *, shuffle: bool = False, augment: bool = False,
                img_size: int = 28, generator: torch.Generator | None = None):
        """Yield (images (B, 1, img_size, img_size) float32 standardised, labels (B,))."""
        n = len(self)
        order = (torch.randperm(n, generator=generator).to(self.device) if shuffle
                 else torch.arange(n, device=self.device))
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            images = self.images[idx]
            if augment:
                images = random_shift_flip(images, generator)
            x = standardize(images)
            if img_size != x.shape[-1]:
                x = F.interpolate(x, size=img_size, mode="bilinear", align_corners=False)
            yield x, self.labels[idx]


def random_shift_flip(images: torch.Tensor, generator: torch.Generator | None = None,
                      max_shift: int = 2) -> torch.Tensor:
    """Shift each image by up to `max_shift` pixels in each direction (the uncovered
    border is 0, the background) and mirror half of them left-right, on their device."""
    b, _, h, w = images.shape
    shift = torch.randint(-max_shift, max_shift + 1, (2, b), generator=generator).to(images.device)
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device)
    padded = F.pad(images, (max_shift,) * 4)                               # (B, C, H+2s, W+2s)
    rows = torch.arange(h, device=images.device) + max_shift - shift[0][:, None]  # (B, H)
    cols = torch.arange(w, device=images.device) + max_shift - shift[1][:, None]  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _autocast(device: torch.device, bf16: bool):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(model: nn.Module, data: DeviceData, *, batch_size: int = 1000, img_size: int = 28,
             bf16: bool = False) -> float:
    """Accuracy of `model` on all of `data`."""
    predicted = predict(model, data, batch_size=batch_size, img_size=img_size, bf16=bf16)
    return (predicted == data.labels.cpu()).sum().item() / len(data)


@torch.no_grad()
def predict(model: nn.Module, data: DeviceData, *, batch_size: int = 1000, img_size: int = 28,
            bf16: bool = False) -> torch.Tensor:
    """Predicted class of every image of `data`, on the CPU (in eval mode; the model's
    training mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    preds = []
    for x, _ in data.batches(batch_size, img_size=img_size):
        with _autocast(data.device, bf16):
            preds.append(model(x).argmax(dim=1).cpu())
    model.train(was_training)
    return torch.cat(preds)


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over the parameters that are not frozen (requires_grad)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("every parameter of the model is frozen (requires_grad=False): nothing to train")
    if recipe.optimizer == "sgd":
        return torch.optim.SGD([p for _, p in named], lr=recipe.lr, weight_decay=recipe.weight_decay)
    # No weight decay on biases, LayerNorm weights, the <cls> token and positions.
    decay = [p for n, p in named if p.ndim >= 2 and "tokens." not in n]
    rest = [p for n, p in named if not (p.ndim >= 2 and "tokens." not in n)]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=recipe.lr, fused=fused)


def schedule_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning rate at optimiser step `step` of `total`, as a fraction of the peak:
    linear warm-up over `warmup` steps, then constant or cosine decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


def write_atomically(path: str | os.PathLike, write) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it onto `path` in one
    step: an interrupted write leaves the old file (or none), never half of a new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_checkpoint(path: str | os.PathLike, **state) -> None:
    """`torch.save(state, path)`, atomically: an interrupted save leaves the old file."""
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by `save_checkpoint`, with a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise RuntimeError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); "
                           "delete it and train again") from err
    if not isinstance(state, dict):
        raise RuntimeError(f"{path} is not a readable checkpoint: it holds a {type(state).__name__}, "
                           "not the dict of named entries that save_checkpoint writes; "
                           "delete it and train again")
    return state


def _frozen_teacher(teacher: nn.Module, model: nn.Module, data: DeviceData, recipe: Recipe) -> nn.Module:
    """`teacher` on the data's device, in eval mode, without gradients; it must give one
    logit a class for the images `model` takes."""
    if teacher is model:
        raise ValueError("the teacher must be another model, trained already, not the model being trained")
    teacher = teacher.to(data.device).eval().requires_grad_(False)
    x = next(iter(data.first(2).batches(2, shuffle=False, img_size=recipe.img_size)))[0]
    with torch.no_grad(), _autocast(data.device, recipe.bf16):
        got, want = teacher(x).shape, model.eval()(x).shape
    model.train()
    if got != want:
        raise ValueError(f"the teacher gives logits of shape {tuple(got)} for a batch of 2, the model "
                         f"{tuple(want)}: the teacher must have the model's classes")
    return teacher


def train(model: nn.Module, train_data: DeviceData, eval_data: DeviceData, recipe: Recipe, *,
          seed: int = 0, checkpoint: str | os.PathLike | None = None, resume: bool = False,
          progress: bool = True, on_epoch=None, on_step=None, max_seconds: float | None = None,
          eval_name: str = "validation", teacher: nn.Module | None = None) -> History:
    """Train `model` with `recipe`, evaluating on `eval_data` after every epoch: the
    validation split while choosing (printed as "validation acc"; `eval_name` renames it).

    `max_seconds` stops training once that much training time has passed (the last,
    partial epoch is evaluated too): for comparing recipes at equal time.

    With `checkpoint`, the state is saved there (atomically) after every epoch; with
    ``resume=True`` training continues from it when it exists. `on_epoch(history)` is
    called after every epoch (the chapter draws a live plot with it), `on_step(step, loss)`
    after every optimiser step, with the batch's loss as a float (it waits for the GPU);
    when either returns True, training stops there (time to an accuracy: stop at the
    first epoch that reaches it).

    Inside a process group (chapter 10, `vitbook.distributed`), every process runs this
    function with the same arguments: the model is wrapped in DistributedDataParallel, each
    rank trains on its slice of every batch (`distributed.shard`), the metrics are summed
    over the ranks, and rank 0 alone shows progress, calls `on_epoch` and writes the
    checkpoint. `on_step` must then decide alike on every rank (by the step, not the loss).

    With `teacher` (a trained model with the same classes, chapter 8), the loss is the mean
    of the cross-entropy against the labels and against the teacher's predicted classes on
    the same augmented batch: DeiT's hard distillation (Touvron et al., 2021), through the
    model's one output. The teacher is frozen and runs in eval mode.
    """
    device = train_data.device
    rank, world = rank_and_world()
    if world > 1:
        if max_seconds is not None:
            raise ValueError("max_seconds stops each process at its own time, so the processes of a "
                             "distributed run would stop at different steps and wait for each other "
                             "for ever; stop them by steps or epochs instead")
        check_batch_size(recipe.batch_size, world)
    model.to(device).train()
    if teacher is not None:
        teacher = _frozen_teacher(teacher, model, train_data, recipe)
    optimizer = _optimizer(model, recipe)
    steps_per_epoch = math.ceil(len(train_data) / recipe.batch_size)
    total, warmup = recipe.epochs * steps_per_epoch, round(recipe.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule_factor(step, total, warmup, recipe.schedule))
    history, start_epoch = History(recipe=asdict(recipe)), 0
    generator = torch.Generator().manual_seed(seed)
    if resume and checkpoint and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint, map_location=device)
        if state["recipe"] != asdict(recipe):
            raise ValueError(f"{checkpoint} was written by another recipe: {state['recipe']}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        history, start_epoch = History(**state["history"]), state["epoch"]
    step_model = model if world == 1 else DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    if recipe.compile and device.type == "cuda":
        step_model = torch.compile(step_model)
    elapsed = history.seconds[-1] if history.seconds else 0.0
    for epoch in range(start_epoch, recipe.epochs):
        # redrawn once a second: in a notebook each redraw is a few widget messages, which a
        # test client (nbval) reads only when the cell ends (thousands in a long cell)
        bar = tqdm(total=len(train_data), desc=f"epoch {epoch + 1}/{recipe.epochs}", unit="img",
                   disable=not progress or rank > 0, leave=False, mininterval=1.0)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen, start, stop = 0, time.perf_counter(), False
        batches = train_data.batches(recipe.batch_size, shuffle=True, augment=recipe.augment,
                                     img_size=recipe.img_size, generator=generator)
        for i, (x, y) in enumerate(batches):
            batch = len(y)  # all ranks together
            if world > 1:
                part = shard(batch, rank, world)
                x, y = x[part], y[part]
            with _autocast(device, recipe.bf16):
                logits = step_model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
                if teacher is not None:
                    with torch.no_grad():
                        taught = teacher(x).argmax(dim=1)
                    loss = (loss + F.cross_entropy(logits.float(), taught,
                                                   label_smoothing=recipe.label_smoothing)) / 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
            seen += len(y)
            bar.update(batch)
            if progress and rank == 0 and i % 20 == 0:  # .item() waits for the GPU: not every step
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}",
                                img_s=f"{seen * world / (time.perf_counter() - start):,.0f}")
            stop = bool(on_step and on_step(epoch * steps_per_epoch + i, loss.item()))
            if stop or max_seconds is not None and elapsed + time.perf_counter() - start > max_seconds:
                break
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - start
        bar.close()
        totals = torch.stack([loss_sum, correct.to(loss_sum.dtype), torch.tensor(float(seen), device=device)])
        if world > 1:
            dist.all_reduce(totals)  # summed over the ranks
        history.epoch.append(epoch + 1)
        history.train_loss.append(totals[0].item() / totals[2].item())
        history.train_acc.append(totals[1].item() / totals[2].item())
        history.eval_acc.append(evaluate(model, eval_data, img_size=recipe.img_size, bf16=recipe.bf16))
        history.seconds.append(elapsed)
        history.lr.append(scheduler.get_last_lr()[0])
        if progress and rank == 0:
            print(f"epoch {epoch + 1:>2}: loss {history.train_loss[-1]:.3f}, train acc "
                  f"{history.train_acc[-1]:.3f}, {eval_name} acc {history.eval_acc[-1]:.4f}, {elapsed:.1f} s")
        if checkpoint and rank == 0:
            save_checkpoint(checkpoint, model=model.state_dict(), optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), generator=generator.get_state(),
                            history=asdict(history), epoch=epoch + 1, recipe=asdict(recipe))
        if on_epoch and rank == 0 and on_epoch(history):
            if world > 1:
                raise ValueError("on_epoch asked to stop, but it runs on rank 0 alone, so the other "
                                 "processes would wait for rank 0 for ever; stop a distributed run "
                                 "by steps (on_step) or epochs instead")
            break
        if stop or max_seconds is not None and elapsed > max_seconds:
            break
    return history
