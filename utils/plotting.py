"""The book's figure style, and the figures the chapters share: labelled image grids,
patch and attention overlays, training curves."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import torch

from .patches import patchify

# The page's text column is about 757 px wide. A figure up to PAGE_WIDTH inches wide,
# drawn at 100 dpi, is shown at >= 757 / (9 * 72) = 1.17 px per point, so the smallest
# text allowed, MIN_FONT points, stays >= 9 px on the page (tests/test_site.py measures it).
PAGE_WIDTH, MIN_FONT = 9.0, 8
BOOK_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": "figure",
    "figure.figsize": (7.5, 4.0),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "figure.titlesize": 11,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
}


def use_book_style() -> None:
    """Apply BOOK_STYLE (importing `vitbook` does it, so every chapter has it)."""
    matplotlib.rcParams.update(BOOK_STYLE)


def _as_2d(image: torch.Tensor) -> torch.Tensor:
    """(1, H, W) or (H, W) -> (H, W) on the CPU, for imshow."""
    image = image.detach().cpu()
    return image[0] if image.ndim == 3 else image


def show_images(
    images: torch.Tensor,
    labels: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.4,
    title: str | None = None,
    titles: Sequence[str] | None = None,
) -> None:
    """Show a batch of (N, 1, H, W) images in a grid, each titled with its class name
    (or with its entry of `titles`); `size` (inches a column) shrinks to fit the page."""
    n = len(images)
    size = min(size, PAGE_WIDTH / ncols)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3) + 0.4), squeeze=False, layout="constrained"
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_2d(images[i]), cmap="gray")
            if titles is not None:
                ax.set_title(titles[i], fontsize=MIN_FONT)
            elif labels is not None:
                label = int(labels[i])
                ax.set_title(classes[label] if classes else str(label), fontsize=9)
    if title:
        fig.suptitle(title)
    plt.show()


def draw_patch_grid(ax: plt.Axes, image: torch.Tensor, patch_size: int, numbers: bool = True) -> None:
    """Draw `image` on `ax` with the patch grid over it, patches numbered in token order
    from 0, as the text and chapter 7 count them."""
    image = _as_2d(image)
    h, w = image.shape
    ax.imshow(image, cmap="gray", extent=(0, w, h, 0))
    for x in range(0, w + 1, patch_size):
        ax.axvline(x, color="tab:orange", lw=1)
    for y in range(0, h + 1, patch_size):
        ax.axhline(y, color="tab:orange", lw=1)
    cols = w // patch_size
    if numbers and (h // patch_size) * cols <= 64:
        for k in range((h // patch_size) * cols):
            r, c = divmod(k, cols)
            ax.text(
                (c + 0.5) * patch_size,
                (r + 0.5) * patch_size,
                str(k),
                color="yellow",
                ha="center",
                va="center",
                fontsize=MIN_FONT,
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"patch {patch_size}x{patch_size}: {(h // patch_size) * cols} tokens")


def show_patches(image: torch.Tensor, patch_size: int) -> None:
    """One image with its patch grid, and below it the same patches as a strip of tokens."""
    image = _as_2d(image)
    p = patch_size
    tokens = patchify(image[None, None], p)[0].reshape(-1, p, p)  # (N, p, p)
    gap = torch.full((len(tokens), p, 1), float("nan"))  # blank column between tokens
    strip = torch.cat([tokens.float(), gap], dim=2).permute(1, 0, 2).reshape(p, -1)
    fig = plt.figure(figsize=(9, 5))
    grid_ax = fig.add_axes((0.3, 0.3, 0.4, 0.62))
    strip_ax = fig.add_axes((0.03, 0.05, 0.94, 0.15))
    draw_patch_grid(grid_ax, image, p)
    strip_ax.imshow(strip, cmap="gray", aspect="auto", interpolation="nearest")
    n = len(tokens)
    strip_ax.set_xticks([(p + 1) * k + p / 2 - 0.5 for k in (0, n - 1)], ["token 0", f"token {n - 1}"])
    strip_ax.set_yticks([])
    strip_ax.set_title(f"the image as a sequence of {n} tokens, each {p}x{p} = {p * p} pixels")
    plt.show()


def plot_history(histories: dict, title: str | None = None, eval_name: str = "validation"):
    """Training loss and held-out (`eval_name`) accuracy against training seconds, one
    line per run. `histories` maps a label to a `vitbook.train.History`. Returns the figure."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.4), layout="constrained")
    for i, (label, history) in enumerate(histories.items()):
        loss_ax.plot(history.seconds, history.train_loss, "o-", color=f"C{i}", label=label)
        acc_ax.plot(history.seconds, [100 * a for a in history.eval_acc], "o-", color=f"C{i}", label=label)
    loss_ax.set(xlabel="training seconds", ylabel="training loss", title="Training loss")
    acc_ax.set(
        xlabel="training seconds", ylabel=f"{eval_name} accuracy (%)", title=f"{eval_name.capitalize()} accuracy"
    )
    acc_ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


class LivePlot:
    """An `on_epoch` callback for `vitbook.train.train` that redraws `plot_history`
    after every epoch, in place, in a notebook."""

    def __init__(self, label: str, others: dict | None = None, eval_name: str = "validation"):
        from IPython.display import display

        self.label, self.others, self.eval_name = label, dict(others or {}), eval_name
        self.handle = display("training starts ...", display_id=True)

    def __call__(self, history) -> None:
        fig = plot_history({**self.others, self.label: history}, eval_name=self.eval_name)
        self.handle.update(fig)
        plt.close(fig)


def overlay(
    ax: plt.Axes, image: torch.Tensor, heat: torch.Tensor, title: str | None = None, mark: int | None = None
) -> None:
    """Draw `image` (H, W) in gray with `heat` (grid, grid), one value per patch, over it,
    scaled to its own maximum; `mark` outlines that patch (row-major index) in cyan."""
    image, heat = _as_2d(image), heat.detach().cpu().float()
    h, w = image.shape
    side = heat.shape[-1]
    ax.imshow(image, cmap="gray", extent=(0, w, h, 0))
    ax.imshow(
        heat / heat.max().clamp_min(1e-12),
        cmap="inferno",
        alpha=0.65,
        vmin=0,
        vmax=1,
        extent=(0, w, h, 0),
        interpolation="nearest",
    )
    if mark is not None:
        size = w / side
        row, col = divmod(mark, side)
        ax.add_patch(plt.Rectangle((col * size, row * size), size, size, fill=False, lw=2, color="cyan"))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=MIN_FONT)


def show_attention_grid(
    image: torch.Tensor, maps: torch.Tensor, title: str, mark: int | None = None, size: float = 1.3
) -> None:
    """One image's attention maps (layers, heads, grid, grid) as a grid of overlays:
    a row per layer, a column per head."""
    layers, heads = maps.shape[:2]
    fig, axes = plt.subplots(
        layers, heads, figsize=(heads * size + 0.6, layers * size + 0.6), squeeze=False, layout="constrained"
    )
    for (layer, head), ax in zip(itertools.product(range(layers), range(heads)), axes.flat):
        overlay(ax, image, maps[layer, head], mark=mark)
        if layer == 0:
            ax.set_title(f"head {head}", fontsize=9)
        if head == 0:
            ax.set_ylabel(f"layer {layer}", fontsize=9)
    fig.suptitle(title)
    plt.show()
