"""How to train (`Recipe`, and the book's recipes) and what a training records (`History`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, batches, augmentation, precision."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    optimizer: str = "sgd"  # "sgd" (plain, as D2L) or "adamw"
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0  # linear warm-up, then ...
    schedule: str = "constant"  # ... "constant" or "cosine" decay to zero
    label_smoothing: float = 0.0
    augment: bool = False  # random shifts of up to 2 pixels and horizontal flips
    img_size: int = 28  # resize on the device (D2L: 96)
    bf16: bool = False  # bfloat16 autocast, on CUDA only
    compile: bool = False  # torch.compile the model, on CUDA only
    erase: float = 0.0  # random erasing: the share of images with a rectangle erased (train.augment)
    mixup: float = 0.0  # mixup's alpha (lambda ~ Beta(alpha, alpha)); 0: off
    cutmix: float = 0.0  # CutMix's alpha; with mixup too, one of the two a batch
    flip: bool = True  # with augment: mirror half the images left-right too (off: shifts only)

    def __post_init__(self):
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be 'sgd' or 'adamw', not {self.optimizer!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', not {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size and lr must be positive: {self}")
        if not 0 <= self.erase <= 1:
            raise ValueError(f"erase is the share of images erased, in [0, 1], not {self.erase!r}")
        if self.mixup < 0 or self.cutmix < 0:
            raise ValueError(f"mixup and cutmix are Beta alphas >= 0 (0: off), not {self.mixup!r}, {self.cutmix!r}")


# D2L's recipe: plain SGD, lr 0.1, batch 128, 10 epochs, images resized to 96x96.
D2L_RECIPE = Recipe(epochs=10, batch_size=128, lr=0.1, img_size=96)
# The book's recipe, for a GPU (with BOOK_CONFIG): native 28x28, AdamW with warm-up and
# cosine decay, label smoothing, augmentation on the device, bf16, torch.compile; 40
# epochs: 62 s on an H200, 30 of them in the first epoch (compiling), README.
BOOK_RECIPE = Recipe(
    epochs=40,
    batch_size=512,
    lr=2e-3,
    optimizer="adamw",
    weight_decay=0.05,
    warmup_epochs=2,
    schedule="cosine",
    label_smoothing=0.1,
    augment=True,
    bf16=True,
    compile=True,
)
# The quick setting for CPUs (with QUICK_CONFIG): about 88% in 3 minutes on 2 cores.
QUICK_RECIPE = Recipe(
    epochs=10,
    batch_size=128,
    lr=2e-3,
    optimizer="adamw",
    weight_decay=0.05,
    warmup_epochs=0.5,
    schedule="cosine",
    label_smoothing=0.1,
)
# The checkpoint's recipe on a CPU (with CPU_CONFIG): the GPU recipe's optimiser, schedule
# and augmentation in fp32 at batch 128, 20 epochs: 23 minutes on 2 cores (run `checkpoint`).
CPU_RECIPE = Recipe(
    epochs=20,
    batch_size=128,
    lr=2e-3,
    optimizer="adamw",
    weight_decay=0.05,
    warmup_epochs=1,
    schedule="cosine",
    label_smoothing=0.1,
    augment=True,
)


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

    def add(self, epoch: int, train_loss: float, train_acc: float, eval_acc: float, seconds: float, lr: float) -> None:
        """Record an epoch."""
        for name, value in zip(
            ("epoch", "train_loss", "train_acc", "eval_acc", "seconds", "lr"),
            (epoch, train_loss, train_acc, eval_acc, seconds, lr),
        ):
            getattr(self, name).append(value)

    def seconds_to_reach(self, accuracy: float) -> float | None:
        """Training seconds until the evaluation accuracy first reached `accuracy` (None if never)."""
        return next((s for s, a in zip(self.seconds, self.eval_acc) if a >= accuracy), None)
