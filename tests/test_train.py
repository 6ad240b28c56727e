import math

import pytest
import torch
import torch.nn.functional as F

from vitbook.data import CLASSES, FashionMNIST, load_fashion_mnist, standardize
from vitbook.train import (
    DeviceData,
    History,
    Recipe,
    cross_entropy,
    evaluate,
    load_checkpoint,
    random_shift_flip,
    save_checkpoint,
    train,
)
from vitbook.vit import ViT

TINY = dict(img_size=28, patch_size=7, dim=32, depth=1, num_heads=2, mlp_dim=64, dropout=0.0)


@pytest.fixture(scope="module")
def small_data():
    """The first 512 training and 256 test images of the real dataset."""
    train_split, test_split = load_fashion_mnist("train"), load_fashion_mnist("test")
    cut = lambda s, n: FashionMNIST(s.images[:n], s.labels[:n], CLASSES, s.source)  # noqa: E731
    return DeviceData(cut(train_split, 512), "cpu"), DeviceData(cut(test_split, 256), "cpu")


def test_shift_moves_content_and_fills_with_background():
    images = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    images[:, :, 3, 3] = 255  # one bright pixel
    out = random_shift_flip(images, torch.Generator().manual_seed(0), max_shift=2)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out.flatten(1).sum(1), images.flatten(1).sum(1))  # nothing lost
    rows, cols = (out[:, 0] == 255).nonzero()[:, 1:].T
    assert rows.min() >= 1 and rows.max() <= 5 and cols.min() >= 1 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10  # many different shifts


def test_flip_mirrors_about_half_the_images():
    images = torch.arange(64, dtype=torch.uint8).reshape(1, 1, 8, 8).repeat(200, 1, 1, 1)
    out = random_shift_flip(images, torch.Generator().manual_seed(0), max_shift=0)
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    assert torch.equal(flipped | (out == images).flatten(1).all(1), torch.ones(200, dtype=torch.bool))
    assert 70 < flipped.sum() < 130


def test_without_flip_the_images_are_only_shifted_and_the_shifts_are_the_same_draws():
    images = torch.arange(64, dtype=torch.uint8).reshape(1, 1, 8, 8).repeat(200, 1, 1, 1)
    out = random_shift_flip(images, torch.Generator().manual_seed(0), max_shift=0, flip=False)
    assert torch.equal(out, images), "nothing mirrored"
    both = random_shift_flip(images, torch.Generator().manual_seed(1), max_shift=2)
    shifted = random_shift_flip(images, torch.Generator().manual_seed(1), max_shift=2, flip=False)
    same = (both == shifted).flatten(1).all(1)
    assert 70 < same.sum() < 130, "the same shifts; the flipped half differs"
    assert torch.equal(both[~same], shifted[~same].flip(-1))


def test_batches_cover_the_split_once_standardised(small_data):
    train_data, _ = small_data
    seen = []
    for x, y in train_data.batches(100, shuffle=True, generator=torch.Generator().manual_seed(0)):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
        seen.append(y)
    assert sum(len(y) for y in seen) == 512
    x, _ = next(train_data.batches(512))
    torch.testing.assert_close(x, standardize(train_data.images))


def test_batches_resize_for_d2l(small_data):
    x, _ = next(small_data[0].batches(8, img_size=96))
    assert x.shape == (8, 1, 96, 96)


def test_device_data_wants_uint8_images():
    split = load_fashion_mnist("test", normalize=True)
    with pytest.raises(ValueError, match="expects the uint8 images"):
        DeviceData(split, "cpu")


def test_recipe_rejects_unknown_choices():
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adamw'"):
        Recipe(optimizer="adam")
    with pytest.raises(ValueError, match="schedule must be"):
        Recipe(schedule="step")
    with pytest.raises(ValueError, match="must be positive"):
        Recipe(epochs=0)


def test_training_learns_and_records_history(small_data):
    torch.manual_seed(0)
    model = ViT(**TINY)
    recipe = Recipe(
        epochs=8, batch_size=64, lr=3e-3, optimizer="adamw", warmup_epochs=1, schedule="cosine", label_smoothing=0.1
    )
    history = train(model, *small_data, recipe, progress=False)
    assert history.epoch == list(range(1, 9)) and len(history.eval_acc) == 8
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.eval_acc[-1] > 0.3  # chance is 0.1
    assert history.seconds == sorted(history.seconds)
    assert history.lr[-1] < 1e-6  # cosine decays to zero
    assert history.eval_acc[-1] == evaluate(model, small_data[1])


def test_on_step_sees_every_step_and_can_stop_training(small_data):
    torch.manual_seed(0)
    losses = []
    history = train(
        ViT(**TINY),
        *small_data,
        Recipe(epochs=3, batch_size=64),
        progress=False,
        on_step=lambda step, loss: losses.append((step, loss)) or step == 9,
    )
    assert [step for step, _ in losses] == list(range(10)), "512 images / 64 = 8 steps an epoch"
    assert all(isinstance(loss, float) and loss > 0 for _, loss in losses)
    assert history.epoch == [1, 2], "stopped in the second epoch, which is evaluated"


def test_on_epoch_can_stop_training_at_an_accuracy(small_data):
    torch.manual_seed(0)
    recipe = Recipe(epochs=5, batch_size=64, lr=1e-3, optimizer="adamw")
    whole = train(ViT(**TINY), *small_data, recipe, progress=False)
    target = whole.eval_acc[1]  # reached after the second epoch
    assert max(whole.eval_acc[:1]) < target, "pick a target the first epoch does not reach"
    torch.manual_seed(0)
    stopped = train(
        ViT(**TINY), *small_data, recipe, progress=False, on_epoch=lambda history: history.eval_acc[-1] >= target
    )
    assert stopped.epoch == [1, 2] and stopped.eval_acc == whole.eval_acc[:2]


def test_seconds_to_reach():
    history = History(eval_acc=[0.5, 0.8, 0.9], seconds=[1.0, 2.0, 3.0])
    assert history.seconds_to_reach(0.8) == 2.0 and history.seconds_to_reach(0.95) is None


def test_resume_continues_exactly(small_data, tmp_path):
    recipe = Recipe(epochs=2, batch_size=128, lr=1e-3, optimizer="adamw", augment=True)
    torch.manual_seed(0)
    start = ViT(**TINY).state_dict()
    straight = ViT(**TINY)
    straight.load_state_dict(start)
    train(straight, *small_data, recipe, progress=False)

    def interrupt(history):
        raise KeyboardInterrupt

    interrupted, ckpt = ViT(**TINY), tmp_path / "run.pt"
    interrupted.load_state_dict(start)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, *small_data, recipe, checkpoint=ckpt, progress=False, on_epoch=interrupt)
    assert load_checkpoint(ckpt)["epoch"] == 1
    resumed = ViT(**TINY)  # other weights: everything must come from the checkpoint
    history = train(resumed, *small_data, recipe, checkpoint=ckpt, resume=True, progress=False)
    assert history.epoch == [1, 2]
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, atol=0, rtol=0)
    with pytest.raises(ValueError, match="written by another recipe"):
        train(resumed, *small_data, Recipe(epochs=3), checkpoint=ckpt, resume=True, progress=False)


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint(path, weights=torch.ones(3))

    def half_written(obj, f):
        with open(f, "wb") as out:
            out.write(b"PK half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, weights=torch.zeros(3))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_unreadable_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="bad.pt is not a readable checkpoint"):
        load_checkpoint(bad)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), tensor)
    with pytest.raises(RuntimeError, match="tensor.pt is not a readable checkpoint: it holds a Tensor"):
        load_checkpoint(tensor)


def test_first_is_a_view_of_the_first_images(small_data):
    part = small_data[1].first(10)
    assert len(part) == 10 and part.images.data_ptr() == small_data[1].images.data_ptr()
    assert torch.equal(part.labels, small_data[1].labels[:10])


class Always(torch.nn.Module):
    """A 'teacher' that predicts class `c` for every image."""

    def __init__(self, c: int, classes: int = 10):
        super().__init__()
        self.c, self.classes = c, classes

    def forward(self, x):
        return F.one_hot(torch.full((len(x),), self.c), self.classes).float()


def test_distillation_averages_the_labels_and_the_teachers_classes(small_data):
    """DeiT's hard distillation: the first step's loss is the mean of the cross-entropy
    against the labels and against the teacher's classes, on the same batch."""
    torch.manual_seed(0)
    model = ViT(**TINY)
    before = ViT(**TINY)
    before.load_state_dict(model.state_dict())
    losses = []
    train(
        model,
        *small_data,
        Recipe(epochs=1, batch_size=64),
        progress=False,
        teacher=Always(3),
        on_step=lambda step, loss: losses.append(loss) or True,
    )
    x, y = next(iter(small_data[0].batches(64, shuffle=True, generator=torch.Generator().manual_seed(0))))
    with torch.no_grad():
        logits = before(x)
    expected = (F.cross_entropy(logits, y) + F.cross_entropy(logits, torch.full_like(y, 3))) / 2
    assert losses[0] == pytest.approx(expected.item(), rel=1e-5)
    assert losses[0] != pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-3)


def test_cross_entropy_is_the_plain_loss_on_the_whole_split_in_eval_mode(small_data):
    """The first steps of chapter 6 compare recipes by this one measure: it must not
    depend on the batch size, smooth labels or leave the model in eval mode."""
    torch.manual_seed(0)
    model = ViT(**dict(TINY, dropout=0.5)).train()
    data = small_data[1]
    x, y = next(iter(data.batches(len(data))))
    with torch.no_grad():
        expected = F.cross_entropy(model.eval()(x), y).item()
    model.train()
    assert cross_entropy(model, data, batch_size=100) == pytest.approx(expected, rel=1e-5)
    assert cross_entropy(model, data, batch_size=len(data)) == pytest.approx(expected, rel=1e-5)
    assert model.training


def test_distillation_pulls_the_model_towards_the_teacher(small_data):
    def share_of_class_3(teacher):
        torch.manual_seed(0)
        model = ViT(**TINY)
        train(
            model,
            *small_data,
            Recipe(epochs=4, batch_size=64, lr=3e-3, optimizer="adamw"),
            progress=False,
            teacher=teacher,
        )
        x, _ = next(iter(small_data[1].batches(256)))
        with torch.no_grad():
            return model.eval()(x).softmax(dim=1)[:, 3].mean().item()

    alone, taught = share_of_class_3(None), share_of_class_3(Always(3))
    assert alone < 0.2 < 0.35 < taught, (alone, taught)


def test_a_wrong_teacher_is_refused_with_the_reason(small_data):
    model = ViT(**TINY)
    with pytest.raises(ValueError, match="another model, trained already"):
        train(model, *small_data, Recipe(epochs=1), progress=False, teacher=model)
    with pytest.raises(ValueError, match=r"teacher gives logits of shape \(2, 5\).*\(2, 10\).*the model's classes"):
        train(model, *small_data, Recipe(epochs=1), progress=False, teacher=Always(3, classes=5))


def test_training_with_every_lever_runs_and_learns(small_data):
    data, _ = small_data
    recipe = Recipe(epochs=2, batch_size=64, lr=2e-3, optimizer="adamw", erase=0.25, mixup=0.8, cutmix=1.0)
    torch.manual_seed(0)
    model = ViT(img_size=28, patch_size=7, dim=32, depth=2, num_heads=2, mlp_dim=64, dropout=0.0, drop_path=0.1)
    history = train(model, data, data, recipe, progress=False)
    assert all(math.isfinite(v) for v in history.train_loss) and history.train_loss[-1] < history.train_loss[0]
