import numpy as np
import pytest
import torch
from torch import nn

from vitbook.baselines import ResNet
from vitbook.bias import receptive_field_widths, receptive_fields, shift, translation_change
from vitbook.checks import ShapeError
from vitbook.data import standardize


def test_shift_moves_pixels_and_fills_the_border_with_background():
    images = torch.zeros(2, 1, 6, 6, dtype=torch.uint8)
    images[0, 0, 2, 3] = 200
    images[1, 0, 0, 0] = 9  # moved out of the frame by (-1, 0)
    down_right = shift(images, 1, 2)
    assert down_right[0, 0, 3, 5] == 200 and down_right[0].sum() == 200
    up = shift(images, -1, 0)
    assert up[0, 0, 1, 3] == 200 and up[1].sum() == 0
    assert torch.equal(shift(images, 0, 0), images)
    assert torch.equal(shift(shift(images, 0, 1), 0, -1)[..., :5], images[..., :5])


def test_shift_rejects_floats_and_shifts_out_of_the_frame():
    with pytest.raises(ShapeError, match="expected uint8 images .* got a torch.float32 tensor of shape"):
        shift(torch.zeros(1, 1, 28, 28), 0, 1)
    with pytest.raises(ValueError, match=r"a shift of \(0, 28\) moves a 28x28 image out of the frame"):
        shift(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), 0, 28)


class PixelHistogram(nn.Module):
    """Logits from the mean of each image: blind to where anything is."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(1, 10)

    def forward(self, x):
        return self.head(x.mean(dim=(1, 2, 3))[:, None])


def random_images(n=16, size=12, blank_right=2):
    images = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    images[..., size - blank_right :] = 0  # nothing is lost by a shift of up to 2 to the right
    return images


def test_a_model_blind_to_position_does_not_change_under_a_shift():
    change = translation_change(PixelHistogram(), random_images(), pixels=2)
    assert change["logit change"] == pytest.approx(0, abs=1e-6)
    assert change["changed predictions"] == 0


def test_translation_change_is_the_ratio_of_shift_to_swap_distances():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 10)).train()
    images = random_images()
    change = translation_change(model, images, pixels=1)
    assert model.training  # its mode is restored
    with torch.no_grad():
        z = model(standardize(images))
        moved = model(standardize(shift(images, 0, 1)))
    shift_distance = sum((moved[i] - z[i]).norm() for i in range(16)) / 16
    swap_distance = sum((z[i] - z[i - 1]).norm() for i in range(16)) / 16
    assert change["logit change"] == pytest.approx((shift_distance / swap_distance).item(), rel=1e-5)
    assert 0 < change["logit change"]
    assert change["changed predictions"] == (moved.argmax(1) != z.argmax(1)).float().mean().item()
    with pytest.raises(ValueError, match="at least 2 images"):
        translation_change(model, images[:1], pixels=1)


def test_receptive_fields_are_the_support_of_the_gradient():
    """The analytic widths equal the input window whose pixels actually reach the central
    unit of each conv layer (the gradient's support), on an image large enough not to cut it."""
    torch.manual_seed(0)
    model = ResNet(img_size=64, widths=(4, 8, 16)).eval()
    fields = receptive_fields(model)
    assert fields == [
        ("stem", 3),
        ("block 1, conv 1", 5),
        ("block 1, conv 2", 7),
        ("block 2, conv 1", 9),
        ("block 2, conv 2", 13),
        ("block 3, conv 1", 17),
        ("block 3, conv 2", 25),
    ]
    convs = [model.stem[0]] + [c for block in model.stages for c in (block.conv1, block.conv2)]
    for (name, width), conv in zip(fields, convs):
        images = torch.randn(8, 1, 64, 64, requires_grad=True)
        out = {}
        handle = conv.register_forward_hook(lambda m, i, o, out=out: out.setdefault("map", o))
        model(images)
        handle.remove()
        feature = out["map"]
        centre = feature.shape[-1] // 2
        feature[:, :, centre, centre].sum().backward()
        seen = images.grad.abs().sum(dim=(0, 1))  # (64, 64)
        rows, cols = seen.sum(1).nonzero().flatten(), seen.sum(0).nonzero().flatten()
        assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (width, width), name


def test_receptive_fields_want_a_resnet():
    with pytest.raises(TypeError, match="expects a vitbook ResNet, got a Linear"):
        receptive_fields(nn.Linear(2, 2))


def test_identical_images_or_logits_are_refused_instead_of_an_infinite_ratio():
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 10))
    same = random_images()[:1].repeat(4, 1, 1, 1)
    with pytest.raises(ValueError, match="the 4 images are all the same"):
        translation_change(model, same, pixels=1)
    nn.init.zeros_(model[1].weight)
    with pytest.raises(ValueError, match="the model gives the same logits for every image"):
        translation_change(model, random_images(), pixels=1)


def test_shifts_are_whole_numbers_of_pixels_numpy_integers_too():
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, 10))
    images = random_images()
    assert translation_change(model, images, np.int64(1)) == translation_change(model, images, 1)
    for pixels in (np.float64(2.0), 1.5):
        with pytest.raises(ValueError, match=f"pixels must be an integer, not .*{pixels}.*it is a float"):
            translation_change(model, images, pixels)
    with pytest.raises(ValueError, match="dx must be an integer, not '1'"):
        shift(images, 0, "1")
    with pytest.raises(ValueError, match=r"a shift of \(0, 12\) moves a 12x12 image out of the frame"):
        translation_change(model, images, 12)


def test_receptive_field_layers_must_be_kernel_stride_pairs():
    assert receptive_field_widths([(3, 1), (3, 2), (3, 1)]) == [3, 5, 9]
    with pytest.raises(ValueError, match=r"layers must be \(kernel size, stride\) pairs"):
        receptive_field_widths([3, 3])
    with pytest.raises(ValueError, match="layers\\[1\\]'s stride must be a positive integer, not 0"):
        receptive_field_widths([(3, 1), (3, 0)])
