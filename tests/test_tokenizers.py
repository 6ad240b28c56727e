import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vitbook.checks import ShapeError
from vitbook.compact import compact_vit
from vitbook.patches import PatchEmbedding
from vitbook.tokenizers import (
    ConvTokenizer,
    ShiftedPatchTokenization,
    shifted_copies,
    tokenizer_costs,
)
from vitbook.vit import CPU_CONFIG, QUICK_CONFIG, ViT, matmul_flops, parameter_counts


def reference_spt(x: torch.Tensor, norm: nn.LayerNorm, linear: nn.Linear, merging_size: int) -> torch.Tensor:
    """ShiftedPatchTokenization.forward with is_pe=True (PatchShifting, then `merging`) of
    aanna0701/SPT_LSA_ViT, models/SPT.py at commit 54bd796acd28fa11deac21a97b14b154379b34e7
    (the file last changed in 2f17278c6e8a1f632150e092cbf4624e9dba163a), transcribed line by
    line; einops' Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)') written out as loops."""
    shift = int(merging_size * (1 / 2))
    x_pad = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    x_lu = x_pad[:, :, : -shift * 2, : -shift * 2]
    x_ru = x_pad[:, :, : -shift * 2, shift * 2 :]
    x_lb = x_pad[:, :, shift * 2 :, : -shift * 2]
    x_rb = x_pad[:, :, shift * 2 :, shift * 2 :]
    x_cat = torch.cat([x, x_lu, x_ru, x_lb, x_rb], dim=1)
    b, c, height, width = x_cat.shape
    p = merging_size
    patches = [
        x_cat[:, :, h * p : (h + 1) * p, w * p : (w + 1) * p].permute(0, 2, 3, 1).reshape(b, p * p * c)  # (p1 p2 c)
        for h in range(height // p)
        for w in range(width // p)  # (h w)
    ]
    return linear(norm(torch.stack(patches, dim=1)))


class ReferenceTokenizer(nn.Module):
    """`Tokenizer` of SHI-Labs/Compact-Transformers, src/utils/tokenizer.py at commit
    cd11f0912749d376f7465cb83534e768b6701d7d (the file last changed in f4362ea7), with the
    arguments src/cct.py's `CCT` gives it: activation=nn.ReLU, max_pool=True,
    conv_bias=False, n_output_channels=embedding_dim, in_planes left at 64."""

    def __init__(
        self, kernel_size, stride, padding, pooling_kernel_size=3, pooling_stride=2, pooling_padding=1,
        n_conv_layers=1, n_input_channels=3, n_output_channels=64, in_planes=64,
        activation=nn.ReLU, max_pool=True, conv_bias=False,
    ):  # fmt: skip
        super().__init__()
        n_filter_list = [n_input_channels] + [in_planes for _ in range(n_conv_layers - 1)] + [n_output_channels]
        self.conv_layers = nn.Sequential(
            *[
                nn.Sequential(
                    nn.Conv2d(
                        n_filter_list[i],
                        n_filter_list[i + 1],
                        kernel_size=(kernel_size, kernel_size),
                        stride=(stride, stride),
                        padding=(padding, padding),
                        bias=conv_bias,
                    ),  # fmt: skip
                    nn.Identity() if activation is None else activation(),
                    nn.MaxPool2d(kernel_size=pooling_kernel_size, stride=pooling_stride, padding=pooling_padding)
                    if max_pool
                    else nn.Identity(),
                )
                for i in range(n_conv_layers)
            ]
        )
        self.flattener = nn.Flatten(2, 3)

    def forward(self, x):
        return self.flattener(self.conv_layers(x)).transpose(-2, -1)


@pytest.mark.parametrize("img_size, patch_size, channels, dim", [(28, 4, 1, 64), (28, 7, 1, 64), (32, 8, 3, 48)])
def test_spt_equals_the_reference_with_the_same_weights(img_size, patch_size, channels, dim):
    torch.manual_seed(0)
    spt = ShiftedPatchTokenization(img_size, patch_size, channels, dim)
    with torch.no_grad():  # a LayerNorm that is not the identity, so its layout counts
        spt.norm.weight.normal_()
        spt.norm.bias.normal_()
    x = torch.randn(3, channels, img_size, img_size)
    with torch.no_grad():
        ours, ref = spt(x), reference_spt(x, spt.norm, spt.proj, patch_size)
    assert ours.shape == (3, (img_size // patch_size) ** 2, dim)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_the_shifted_copies_move_a_pixel_along_the_four_diagonals():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10, 10] = 1.0
    copies = shifted_copies(image, 2)
    assert copies.shape == (1, 5, 28, 28) and torch.equal(copies[:, :1], image)
    # in the reference's order x_lu, x_ru, x_lb, x_rb: the content moves right-down,
    # left-down, right-up, left-up
    for channel, (row, col) in enumerate([(12, 12), (12, 8), (8, 12), (8, 8)], start=1):
        assert copies[0, channel].nonzero().tolist() == [[row, col]]
    corner = torch.ones(1, 1, 4, 4)
    assert shifted_copies(corner, 1)[0, 1, 0].tolist() == [0, 0, 0, 0]  # zero filled


def test_spt_has_the_patch_embeddings_interface():
    spt, embed = ShiftedPatchTokenization(28, 4, 1, 64), PatchEmbedding(28, 4, 1, 64)
    for attr in ("img_size", "patch_size", "in_channels", "grid_size", "num_patches"):
        assert getattr(spt, attr) == getattr(embed, attr), attr
    assert spt.shift == 2 and spt.norm.normalized_shape == (80,) and spt.proj.in_features == 80


@pytest.mark.parametrize("conv_layers, tokens", [(1, 196), (2, 49), (3, 16)])
@pytest.mark.parametrize("channels, dim", [(1, 64), (3, 32)])
def test_the_conv_tokenizer_equals_the_reference_with_the_same_weights(conv_layers, tokens, channels, dim):
    torch.manual_seed(0)
    ours = ConvTokenizer(28, channels, dim, conv_layers)
    ref = ReferenceTokenizer(3, 1, 1, n_conv_layers=conv_layers, n_input_channels=channels, n_output_channels=dim)
    ref.load_state_dict({k.replace("convs.", "conv_layers.", 1): v for k, v in ours.state_dict().items()})
    x = torch.randn(2, channels, 28, 28)
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, ref(x), atol=1e-6, rtol=0)
    assert out.shape == (2, tokens, dim) and ours.num_patches == tokens and ours.grid_size**2 == tokens
    assert ours.patch_size == 2**conv_layers and (ours.img_size, ours.in_channels) == (28, channels)


def test_the_conv_tokenizer_widths_and_initialisation():
    torch.manual_seed(0)
    convs = [m for m in ConvTokenizer(28, 1, 32, conv_layers=3).modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 64), (64, 32)]  # in_planes 64
    assert all(c.bias is None for c in convs)
    std = convs[1].weight.std().item()  # Kaiming normal: sqrt(2 / fan_in), fan_in = 64 * 3 * 3
    assert abs(std / (2 / 576) ** 0.5 - 1) < 0.05


@pytest.mark.parametrize("config", [CPU_CONFIG, QUICK_CONFIG], ids=["cpu", "quick"])
@pytest.mark.parametrize("tokenizer", ["spt", "conv"])
def test_the_builders_give_a_vit_that_trains(tokenizer, config):
    torch.manual_seed(0)
    model = compact_vit(tokenizer=tokenizer, **config)
    assert isinstance(model, ViT) and isinstance(model.patch_embed, (ShiftedPatchTokenization, ConvTokenizer))
    logits = model(torch.randn(4, 1, 28, 28))
    assert logits.shape == (4, 10)
    logits.logsumexp(dim=1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.patch_embed.parameters())
    counts = parameter_counts(model)
    assert counts["patch embedding"] == tokenizer_costs(model)["parameters"]
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert model.tokens.num_patches == model.patch_embed.num_patches


def test_the_builders_change_the_tokenizer_and_only_what_it_needs():
    torch.manual_seed(0)
    plain = ViT(**QUICK_CONFIG)
    spt = compact_vit(tokenizer="spt", **QUICK_CONFIG)
    rest = {k for k in spt.state_dict() if not k.startswith("patch_embed.")}
    assert rest == {k for k in plain.state_dict() if not k.startswith("patch_embed.")}
    assert spt.tokens.pos_embed.shape == plain.tokens.pos_embed.shape == (1, 17, 64)
    cct = compact_vit(tokenizer="conv", conv_layers=2, **QUICK_CONFIG)  # 49 tokens, not the 16 of 7x7 patches
    assert cct.tokens.pos_embed.shape == (1, 50, 64)
    assert compact_vit(tokenizer="conv", conv_layers=1, **dict(QUICK_CONFIG, pool="mean")).tokens.pos_embed.shape == (
        1,
        196,
        64,
    )
    assert compact_vit(tokenizer="conv", conv_layers=2, **CPU_CONFIG).tokens.pos_embed.shape == (1, 50, 64)


def test_tokenizer_costs_match_a_hand_count():
    c, p, d, n = 1, 4, 64, 49
    costs = tokenizer_costs(ViT(**CPU_CONFIG))  # the linear patch embedding
    assert costs == {"tokens": n, "parameters": c * p * p * d + d, "flops": 2 * n * c * p * p * d, "macs": n * 16 * d}
    assert costs["flops"] == matmul_flops(**CPU_CONFIG)["patch embedding"]
    spt = tokenizer_costs(ShiftedPatchTokenization(28, p, c, d))  # LayerNorm not counted by FlopCounterMode
    assert spt == {"tokens": n, "parameters": 2 * 80 + 80 * d + d, "flops": 2 * n * 80 * d, "macs": n * 80 * d}
    cct = tokenizer_costs(ConvTokenizer(28, c, d, conv_layers=2))  # 3x3 convs at 28x28 and 14x14
    assert cct["tokens"] == n and cct["parameters"] == 9 * c * 64 + 9 * 64 * d
    assert cct["flops"] == 2 * 28 * 28 * 9 * c * 64 + 2 * 14 * 14 * 9 * 64 * d


def test_what_the_tokenizers_cannot_do_is_said():
    with pytest.raises(ValueError, match="img_size 28 is not divisible by patch_size 5"):
        ShiftedPatchTokenization(28, 5)
    with pytest.raises(ValueError, match="patch_size must be at least 2"):
        ShiftedPatchTokenization(28, 1)
    with pytest.raises(ValueError, match="conv_layers must be a positive integer, not 0"):
        ConvTokenizer(conv_layers=0)
    with pytest.raises(ValueError, match="pooling_padding 2 is more than half"):
        ConvTokenizer(pooling_padding=2)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        ConvTokenizer(padding=-1)
    with pytest.raises(ValueError, match="conv_layers 3 is too many for 8x8"):
        ConvTokenizer(8, padding=0, pooling_padding=0, conv_layers=3)
    for tokenizer in (ShiftedPatchTokenization(), ConvTokenizer()):
        with pytest.raises(ShapeError, match="built for 28x28 images but got 32x32"):
            tokenizer(torch.zeros(1, 1, 32, 32))
        with pytest.raises(TypeError, match="standardise them"):
            tokenizer(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(TypeError, match="tokenizer_costs needs a ViT or a tokenizer"):
        tokenizer_costs(nn.Linear(2, 2))


def test_shifted_copies_is_what_the_reference_pads_and_crops():
    x = torch.randn(2, 3, 12, 12)
    padded = F.pad(x, (3, 3, 3, 3))
    assert torch.equal(shifted_copies(x, 3)[:, 3:6], padded[:, :, :-6, :-6])  # the reference's x_lu
