"""Chapter 11's AugReg levers against timm on the same random draws: random erasing,
mixup, CutMix (vitbook.train.augment) and stochastic depth (vitbook.blocks.drop_path)."""

import math
from types import SimpleNamespace

import pytest
import timm.data.mixup as timm_mixup
import timm.data.random_erasing as timm_erasing
import torch
import torch.nn.functional as F
from timm.layers import drop_path as timm_drop_path
from timm.loss import SoftTargetCrossEntropy

from vitbook.blocks import drop_path
from vitbook.train import QUICK_RECIPE, Recipe
from vitbook.train.augment import (
    ERASE_ATTEMPTS,
    augment_batch,
    cutmix_box,
    erase,
    erasing_boxes,
    mix,
)
from vitbook.vit import ViT, timm_equivalent


def scripted_random(u, corner):
    """A stand-in for the `random` module inside timm's RandomErasing that returns the
    draws `erasing_boxes` made from its generator: for image i, its attempts' area and
    aspect draws u[i], then (once a rectangle fits) its corner draws corner[i]."""
    state = {"image": -1, "uniform": 0, "randint": 0}

    def random():  # timm's first draw for an image: whether to erase it (always, here)
        state["image"] += 1
        state["uniform"] = state["randint"] = 0
        return 0.0

    def uniform(a, b):
        k = state["uniform"]
        state["uniform"] += 1
        return a + (b - a) * float(u[state["image"], k // 2, k % 2])

    def randint(a, b):
        k = state["randint"]
        state["randint"] += 1
        return a + math.floor(float(corner[state["image"], k]) * (b - a + 1))

    return SimpleNamespace(random=random, uniform=uniform, randint=randint)


def test_random_erasing_is_timms_on_the_same_draws(monkeypatch):
    n, size = 64, 28
    generator = torch.Generator().manual_seed(3)
    boxes = erasing_boxes(n, size, size, 1.0, generator)
    replay = torch.Generator().manual_seed(3)  # the same draws, in erasing_boxes' order
    u = torch.rand(n, ERASE_ATTEMPTS, 2, generator=replay, dtype=torch.float64)
    torch.rand(n, generator=replay)
    corner = torch.rand(n, 2, generator=replay, dtype=torch.float64)
    images = torch.randn(n, 1, size, size)
    ours = erase(images, boxes)
    monkeypatch.setattr(timm_erasing, "random", scripted_random(u, corner))
    eraser = timm_erasing.RandomErasing(probability=1.0, device="cpu")
    theirs = torch.stack([eraser(image.clone()) for image in images])
    assert torch.equal(ours, theirs)
    assert (boxes[:, 2] > 0).all() and ((boxes[:, 2] * boxes[:, 3]) <= size * size / 3 + 2 * size).all()


def test_erasing_spares_a_share_of_images_and_erases_with_the_mean():
    generator = torch.Generator().manual_seed(0)
    boxes = erasing_boxes(4000, 28, 28, 0.25, generator)
    erased = (boxes[:, 2] > 0).float().mean().item()
    assert abs(erased - 0.25) < 0.03, f"{erased:.3f} of the images were erased, for a probability of 0.25"
    images = torch.ones(2, 1, 28, 28)
    out = erase(images, torch.tensor([[1, 2, 3, 4], [0, 0, 0, 0]]))
    assert out[0, 0, 1:4, 2:6].eq(0).all() and out[0].sum() == 28 * 28 - 12 and torch.equal(out[1], images[1])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_mixup_is_timms(smoothing):
    x, labels, lam = torch.randn(8, 1, 28, 28), torch.arange(8) % 10, 0.7
    mixer = timm_mixup.Mixup(mixup_alpha=1.0, label_smoothing=smoothing, num_classes=10)
    mixer._params_per_batch = lambda: (lam, False)
    theirs_x, theirs_targets = mixer(x.clone(), labels)
    ours_x, ours_targets = mix(x, labels, 10, lam)
    torch.testing.assert_close(ours_x, theirs_x)
    logits = torch.randn(8, 10)
    # the trainer's loss: the recipe's label smoothing applied to the mixed targets
    ours_loss = F.cross_entropy(logits, ours_targets, label_smoothing=smoothing)
    torch.testing.assert_close(ours_loss, SoftTargetCrossEntropy()(logits, theirs_targets))


def test_cutmix_is_timms(monkeypatch):
    x, labels, lam = torch.randn(8, 1, 28, 28), torch.arange(8), 0.6
    box = cutmix_box(28, 28, lam, torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    centre = iter([int(torch.randint(28, (1,), generator=replay)) for _ in range(2)])
    monkeypatch.setattr(timm_mixup.np.random, "randint", lambda low, high, size=None: next(centre))
    mixer = timm_mixup.Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0, num_classes=10)
    mixer._params_per_batch = lambda: (lam, True)
    theirs_x, theirs_targets = mixer(x.clone(), labels)
    ours_x, ours_targets = mix(x, labels, 10, lam, box)
    assert torch.equal(ours_x, theirs_x)
    torch.testing.assert_close(ours_targets, theirs_targets)
    top, bottom, left, right = box
    kept = 1 - (bottom - top) * (right - left) / 28**2
    assert abs(ours_targets[0, 0].item() - kept) < 1e-6, "the weight is corrected to the pixels kept"


def test_nothing_on_leaves_the_batch_and_the_generator_alone():
    x, labels = torch.randn(4, 1, 28, 28), torch.arange(4)
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    out, targets = augment_batch(x, labels, QUICK_RECIPE, generator)
    assert out is x and targets is labels and torch.equal(generator.get_state(), before)


def test_both_mixings_on_switch_between_them():
    recipe = Recipe(mixup=0.8, cutmix=1.0)
    generator, x = torch.Generator().manual_seed(0), torch.randn(6, 1, 28, 28)
    kinds = set()
    for _ in range(40):
        out, targets = augment_batch(x, torch.arange(6), recipe, generator)
        assert targets.shape == (6, 10) and torch.allclose(targets.sum(1), torch.ones(6))
        kinds.add("cutmix" if torch.isin(out, x).all() else "mixup")
    assert kinds == {"mixup", "cutmix"}


@pytest.mark.parametrize(
    "field, value, says",
    [("erase", 1.5, "erase is the share"), ("mixup", -1, "mixup and cutmix are Beta alphas"), ("cutmix", -0.1, "Beta")],
)
def test_recipe_refuses_bad_levers(field, value, says):
    with pytest.raises(ValueError, match=says):
        Recipe(**{field: value})


def test_drop_path_is_timms():
    x = torch.randn(16, 5, 8)
    torch.manual_seed(0)
    ours = drop_path(x, 0.3, training=True)
    torch.manual_seed(0)
    assert torch.equal(ours, timm_drop_path(x, 0.3, training=True))
    assert torch.equal(drop_path(x, 0.3, training=False), x)


def test_a_vit_with_stochastic_depth_is_timms_in_training():
    model = ViT(img_size=28, patch_size=7, dim=32, depth=3, num_heads=2, mlp_dim=64, dropout=0.0, drop_path=0.2)
    assert [b.drop_path for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])
    ref = timm_equivalent(model).train()
    x = torch.randn(8, 1, 28, 28)
    torch.manual_seed(1)
    ours = model.train()(x)
    torch.manual_seed(1)
    torch.testing.assert_close(ours, ref(x))
    with pytest.raises(ValueError, match="drop_path is a probability"):
        ViT(drop_path=1.0)
