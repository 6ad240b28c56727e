"""vitbook.deit: DeiT's distillation token, against timm's VisionTransformerDistilled,
and trained through the book's trainer with a teacher."""

import math

import pytest
import torch

from vitbook.data import CLASSES, FashionMNIST, load_fashion_mnist
from vitbook.deit import DistilledViT, timm_distilled
from vitbook.train import DeviceData, Recipe, train
from vitbook.train.distill import training_loss
from vitbook.vit import QUICK_CONFIG, ViT, vit_config

SMALL = dict(QUICK_CONFIG, dim=32, depth=2, num_heads=2, mlp_dim=64)


def test_two_tokens_two_heads_and_timms_layout():
    torch.manual_seed(0)
    model = DistilledViT(**SMALL)
    assert model.tokens.pos_embed.shape == (1, 16 + 2, 32) and vit_config(model) == vit_config(ViT(**SMALL))
    x = torch.randn(4, 1, 28, 28)
    logits, dist_logits = model.train()(x)
    assert logits.shape == dist_logits.shape == (4, 10) and not torch.allclose(logits, dist_logits)
    torch.testing.assert_close(model.eval()(x), (logits + dist_logits) / 2)
    ref = timm_distilled(model)
    torch.testing.assert_close(ref.eval()(x), model(x))
    for ours, theirs in zip(model.train()(x), ref.train()(x)):
        torch.testing.assert_close(ours, theirs)


def test_the_dist_head_learns_from_the_teacher_and_the_cls_head_from_the_labels():
    torch.manual_seed(0)
    logits, dist_logits = torch.randn(6, 10, requires_grad=True), torch.randn(6, 10, requires_grad=True)
    labels, images = torch.arange(6), torch.randn(6, 1, 28, 28)

    class Teacher(torch.nn.Module):  # predicts class 9 for every image
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.full((len(x),), 9), 10).float()

    loss = training_loss(Recipe(), Teacher())((logits, dist_logits), images, labels)
    loss.backward()
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(loss, (ce(logits, labels) + ce(dist_logits, torch.full((6,), 9))) / 2)
    assert dist_logits.grad[:, 9].lt(0).all(), "the dist head is pulled towards the teacher's class"
    with pytest.raises(ValueError, match="distillation token learns from a teacher"):
        training_loss(Recipe())((logits, dist_logits), images, labels)


def test_a_distilled_vit_trains_with_a_teacher():
    split = load_fashion_mnist("train")
    data = DeviceData(FashionMNIST(split.images[:256], split.labels[:256], CLASSES, split.source), "cpu")
    torch.manual_seed(0)
    teacher, student = ViT(**SMALL), DistilledViT(**SMALL)
    recipe = Recipe(epochs=2, batch_size=64, optimizer="adamw", lr=1e-3)
    history = train(student, data, data, recipe, teacher=teacher, progress=False)
    assert all(math.isfinite(v) for v in history.train_loss) and history.train_loss[1] < history.train_loss[0]
    with pytest.raises(ValueError, match="pass train\\(..., teacher=...\\)"):
        train(DistilledViT(**SMALL), data, data, recipe, progress=False)


@pytest.mark.parametrize("arg", [dict(pool="mean"), dict(position="sincos")])
def test_other_poolings_or_positions_are_refused(arg):
    with pytest.raises(ValueError, match="a distilled ViT has"):
        DistilledViT(**SMALL, **arg)
