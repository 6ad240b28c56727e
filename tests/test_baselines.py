import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vitbook.baselines import MLP, ResNet, mlp_flops, resnet_flops
from vitbook.checks import ShapeError
from vitbook.data import CLASSES, FashionMNIST, load_fashion_mnist
from vitbook.train import DeviceData, Recipe, evaluate, train

CONFIGS = [
    (MLP, {}, mlp_flops),
    (MLP, dict(hidden=(64, 32), in_channels=3, img_size=32), mlp_flops),
    (ResNet, {}, resnet_flops),
    (ResNet, dict(widths=(8, 8, 16, 16), img_size=32), resnet_flops),
    (ResNet, dict(widths=(16,), in_channels=3, num_classes=5, img_size=9), resnet_flops),
]
IDS = ["mlp", "mlp-deep-rgb", "resnet", "resnet-4-stages", "resnet-one-stage-odd-size"]


@pytest.mark.parametrize("cls, config, flops", CONFIGS, ids=IDS)
def test_logits_shape_and_flop_formula_matches_pytorch_counter(cls, config, flops):
    model = cls(**config).eval()
    size, channels = config.get("img_size", 28), config.get("in_channels", 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        logits = model(torch.randn(3, channels, size, size))
    assert logits.shape == (3, config.get("num_classes", 10))
    assert counter.get_total_flops() == 3 * flops(**config)


def test_parameter_counts_are_those_of_the_chapter():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(MLP()) == 784 * 256 + 256 + 256 * 10 + 10
    conv = lambda a, b, k=3: a * b * k * k  # noqa: E731  (no bias: batch norm follows)
    bn = lambda c: 2 * c  # noqa: E731
    stem = conv(1, 32) + bn(32)
    blocks = [
        conv(a, b) + bn(b) + conv(b, b) + bn(b) + (conv(a, b, 1) + bn(b) if a != b else 0)
        for a, b in ((32, 32), (32, 64), (64, 128))
    ]
    assert count(ResNet()) == stem + sum(blocks) + 128 * 10 + 10 == 308_074


@pytest.mark.parametrize("cls", [MLP, ResNet])
def test_bad_inputs_give_the_vit_errors(cls):
    model = cls()
    with pytest.raises(ShapeError, match="built for 28x28 images but got 32x32"):
        model(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ShapeError, match="built for 1 channel"):
        model(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ShapeError, match=r"image\[None, None\]"):
        model(torch.zeros(28, 28))
    with pytest.raises(TypeError, match="standardise them"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


@pytest.mark.parametrize(
    "cls, config, message",
    [
        (MLP, dict(hidden=(0,)), r"hidden\[0\] must be a positive integer"),
        (MLP, dict(img_size=2.5), "img_size must be a positive integer"),
        (ResNet, dict(widths=()), "at least one stage"),
        (ResNet, dict(widths=(32, -1)), r"widths\[1\] must be a positive integer"),
        (ResNet, dict(num_classes=0), "num_classes must be a positive integer"),
        (MLP, dict(hidden=(64.0,)), r"hidden\[0\] must be a positive integer, not 64.0"),
    ],
)
def test_configurations_that_make_no_sense_are_rejected(cls, config, message):
    with pytest.raises(ValueError, match=message):
        cls(**config)


@pytest.mark.parametrize("cls", [MLP, ResNet])
def test_the_book_trainer_trains_them(cls):
    cut = lambda s, n: DeviceData(FashionMNIST(s.images[:n], s.labels[:n], CLASSES, s.source), "cpu")  # noqa: E731
    train_data, test_data = cut(load_fashion_mnist("train"), 512), cut(load_fashion_mnist("test"), 256)
    torch.manual_seed(0)
    model = cls()
    history = train(
        model, train_data, test_data, Recipe(epochs=3, batch_size=64, lr=2e-3, optimizer="adamw"), progress=False
    )
    assert history.train_loss[-1] < history.train_loss[0]
    assert evaluate(model, test_data) > 0.5  # chance is 0.1


def test_an_int_for_the_widths_is_refused_with_the_tuple_to_write():
    with pytest.raises(TypeError, match=r"hidden is a tuple of widths, one per layer, not 256: .* hidden=\(256,\)"):
        MLP(hidden=256)
    with pytest.raises(TypeError, match=r"widths is a tuple of widths, one per layer, not 64: .* widths=\(64,\)"):
        ResNet(widths=64)
    with pytest.raises(TypeError, match="hidden is a tuple of widths"):
        mlp_flops(hidden=256)
    with pytest.raises(TypeError, match="widths is a tuple of widths"):
        resnet_flops(widths=64)
    assert mlp_flops(hidden=[256]) == mlp_flops()  # a list (a config read from JSON) too


def test_an_mlp_given_flattened_images_is_told_so():
    with pytest.raises(
        ShapeError,
        match=r"MLP takes images \(batch, 1, 28, 28\) and flattens them itself; "
        r"these are flat already, shape \(8, 784\): images.view\(-1, 1, 28, 28\)",
    ):
        MLP()(torch.zeros(8, 784))
