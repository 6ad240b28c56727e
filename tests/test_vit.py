import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vitbook.checks import ShapeError
from vitbook.vit import BOOK_CONFIG, D2L_CONFIG, ViT, matmul_flops, parameter_counts, timm_equivalent

SMALL = dict(img_size=28, patch_size=7, dim=32, depth=2, num_heads=4, mlp_dim=64)


@pytest.mark.parametrize(
    "config",
    [
        D2L_CONFIG,
        BOOK_CONFIG,
        dict(BOOK_CONFIG, pool="mean"),
        dict(SMALL, position="none"),
        dict(SMALL, in_channels=3, num_classes=5),
    ],
    ids=["d2l", "book", "book-mean", "no-positions", "rgb"],
)
def test_logits_equal_timm(config):
    torch.manual_seed(0)
    model = ViT(**config).eval()
    ref = timm_equivalent(model).eval()
    x = torch.randn(2, config.get("in_channels", 1), config["img_size"], config["img_size"])
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dim, mlp_dim", [(56, 115), (48, 100), (96, 257), (40, 41)])
def test_timm_equivalent_keeps_any_mlp_width(dim, mlp_dim):
    torch.manual_seed(0)
    model = ViT(img_size=28, patch_size=7, dim=dim, depth=2, num_heads=4, mlp_dim=mlp_dim).eval()
    ref = timm_equivalent(model).eval()
    assert ref.blocks[0].mlp.fc1.out_features == mlp_dim
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "arg, value, expected",
    [
        ("depth", -1, "depth must be an integer >= 0"),
        ("num_classes", 0, "num_classes must be a positive"),
        ("mlp_dim", 0, "mlp_dim must be a positive"),
        ("dim", 2.5, "dim must be a positive"),
        ("num_heads", 0, "num_heads must be a positive"),
        ("dropout", 1.5, "dropout is a probability"),
    ],
)
def test_configurations_that_make_no_sense_are_rejected(arg, value, expected):
    with pytest.raises(ValueError, match=expected):
        ViT(**dict(SMALL, **{arg: value}))


def test_sincos_model_has_no_timm_counterpart():
    with pytest.raises(ValueError, match="no fixed sin-cos table"):
        timm_equivalent(ViT(**SMALL, position="sincos"))


def test_return_attention_gives_each_blocks_weights_and_same_logits():
    model = ViT(**SMALL).eval()
    x = torch.randn(3, 1, 28, 28)
    logits, maps = model(x, return_attention=True)
    assert len(maps) == 2 and all(m.shape == (3, 4, 17, 17) for m in maps)
    torch.testing.assert_close(logits, model(x), atol=1e-5, rtol=1e-5)


def test_parameter_counts_add_up_and_match_known_totals():
    counts = parameter_counts(ViT(**BOOK_CONFIG))
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total") == 805_130
    assert parameter_counts(ViT(**D2L_CONFIG))["total"] == 6_461_962


@pytest.mark.parametrize("config", [D2L_CONFIG, BOOK_CONFIG, dict(SMALL, pool="mean")], ids=["d2l", "book", "mean"])
def test_flop_formula_matches_pytorch_counter(config):
    model = ViT(**config)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, config["img_size"], config["img_size"]), return_attention=True)
    assert counter.get_total_flops() == matmul_flops(**config)["total"]


def test_initial_loss_is_near_chance():
    torch.manual_seed(0)
    logits = ViT(**BOOK_CONFIG).eval()(torch.randn(64, 1, 28, 28))
    loss = torch.nn.functional.cross_entropy(logits, torch.randint(0, 10, (64,)))
    assert abs(loss.item() - 2.303) < 0.15


def test_bad_inputs_and_configurations():
    model = ViT(**SMALL)
    with pytest.raises(ShapeError, match="built for 28x28 images but got 32x32"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ShapeError, match=r"built for 1 channel\(s\) but the images have 3"):
        model(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match="not divisible by 5 heads"):
        ViT(dim=64, num_heads=5)
    with pytest.raises(ValueError, match="pool must be one of"):
        ViT(pool="max")
    with pytest.raises(ValueError, match="image size 28 is not divisible by patch size 5"):
        ViT(patch_size=5)
