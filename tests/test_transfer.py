from dataclasses import replace

import numpy as np
import pytest
import timm
import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer

from vitbook.baselines import MLP, ResNet
from vitbook.checks import ShapeError
from vitbook.data import load_fashion_mnist
from vitbook.stem import ConvStem, conv_stem_vit
from vitbook.train import QUICK_RECIPE, DeviceData, train
from vitbook.transfer import (
    at_image_size,
    freeze_all_but_head,
    from_timm,
    resample_positions,
    to_grayscale,
    vit_config,
    with_new_head,
)
from vitbook.vit import ViT, timm_equivalent

SMALL = dict(img_size=28, patch_size=4, dim=32, depth=2, num_heads=4, mlp_dim=64, dropout=0.0)
TINY_TIMM = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, num_classes=5)


@pytest.mark.parametrize(
    "old, new, prefix",
    [(7, 14, 1), (14, 7, 1), (4, 7, 0), (7, (5, 9), 1), ((3, 5), (6, 10), 1), ((3, 5), 4, 0), (7, 7, 1)],
)
@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_resampled_positions_equal_timms(old, new, prefix, mode):
    rows, cols = (old, old) if isinstance(old, int) else old
    table = torch.randn(1, prefix + rows * cols, 16, generator=torch.Generator().manual_seed(0))
    new_size = [new, new] if isinstance(new, int) else list(new)
    want = resample_abs_pos_embed(table, new_size, old_size=[rows, cols], num_prefix_tokens=prefix, interpolation=mode)
    got = resample_positions(table, new, old_grid=None if isinstance(old, int) else old, num_prefix=prefix, mode=mode)
    assert got.shape == (1, prefix + new_size[0] * new_size[1], 16)
    assert torch.allclose(got, want, atol=1e-6, rtol=0)
    assert torch.equal(got[:, :prefix], table[:, :prefix])  # the <cls> entry is kept as it is


def test_resampling_errors_name_what_is_wrong():
    table = torch.zeros(1, 1 + 15, 8)
    with pytest.raises(ShapeError, match="leaves 15 patch positions, which is not a square grid: give old_grid"):
        resample_positions(table, 4)
    with pytest.raises(ShapeError, match=r"old_grid \(4, 4\) has 16 patches, but the table holds 15"):
        resample_positions(table, 4, old_grid=4)
    with pytest.raises(ValueError, match="new_grid\\[1\\] must be a positive integer, not 0"):
        resample_positions(table, (3, 0), old_grid=(3, 5))
    with pytest.raises(ValueError, match="mode must be 'bicubic' or 'bilinear', not 'nearest'"):
        resample_positions(table, 4, old_grid=(3, 5), mode="nearest")
    with pytest.raises(ShapeError, match=r"expected a position table of shape \(1, tokens, width\), got \(16, 8\)"):
        resample_positions(table[0], 4)


def test_a_model_at_its_own_size_is_the_same_model():
    torch.manual_seed(0)
    model = ViT(**SMALL).eval()
    same = at_image_size(model, 28)
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(same(x), model(x), atol=1e-6, rtol=0)
    assert (
        vit_config(same)
        == vit_config(model)
        == dict(SMALL, in_channels=1, num_classes=10, pool="cls", position="learned")
    )


def test_a_model_moved_to_56_pixels_has_timms_resampled_table_and_every_other_weight():
    torch.manual_seed(0)
    model = ViT(**SMALL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    big = at_image_size(model, 56)
    assert big(torch.randn(2, 1, 56, 56)).shape == (2, 10) and big.patch_embed.num_patches == 196
    want = resample_abs_pos_embed(before["tokens.pos_embed"], [14, 14], num_prefix_tokens=1)
    for name, value in big.state_dict().items():
        expected = want if name == "tokens.pos_embed" else before[name]
        assert torch.allclose(value, expected, atol=1e-6, rtol=0), name
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the original is untouched"


@pytest.mark.parametrize("change", [dict(position="sincos"), dict(position="none"), dict(pool="mean")])
def test_other_position_and_pooling_choices_move_too(change):
    model = ViT(**SMALL, **change).eval()
    big = at_image_size(model, 40)
    assert big(torch.randn(2, 1, 40, 40)).shape == (2, 10)
    assert vit_config(big) == dict(vit_config(model), img_size=40)


@pytest.mark.parametrize("size", [30, 2, 28.0, True])
def test_an_image_size_that_is_not_whole_patches_is_refused(size):
    with pytest.raises(ValueError, match=r"must be a whole number of 4x4 patches .* e.g. 56; .* is not"):
        at_image_size(ViT(**SMALL), size)


def test_weights_of_another_grid_are_refused_naming_both_grids():
    small, big = ViT(**SMALL), ViT(**dict(SMALL, img_size=56))
    with pytest.raises(ShapeError, match="49 patch positions against 196.*at_image_size"):
        big.load_state_dict(small.state_dict())
    at_image_size(small, 56).load_state_dict(at_image_size(small, 56).state_dict())  # same grid: fine


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "vit_small_patch16_224"])
def test_timm_architectures_by_name_convert_with_equal_logits(name):
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False).eval()
    model = from_timm(reference)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5, rtol=0)
    assert not model.training and model.patch_embed.num_patches == 196


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_book_to_timm_and_back_is_the_same_model(pool):
    torch.manual_seed(0)
    model = ViT(**dict(SMALL, pool=pool)).eval()
    back = from_timm(timm_equivalent(model).eval())
    assert vit_config(back) == vit_config(model)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(reg_tokens=4), "4 register tokens"),
        (dict(no_embed_class=True), "without the class token's entry"),
        (dict(init_values=1e-5), r"blocks 0-1 \(all\): LayerScale"),
        (dict(qkv_bias=False), r"blocks 0-1 \(all\): no qkv bias"),
        (dict(qk_norm=True), r"blocks 0-1 \(all\): qk_norm"),
        (dict(pre_norm=True), "a LayerNorm at norm_pre"),
        (dict(class_token=False, global_pool="avg"), "a LayerNorm at fc_norm"),
        (dict(global_pool="map"), "attention pooling"),
        (dict(pos_embed="none"), "no absolute position embedding"),
    ],
)
def test_other_timm_layouts_are_refused_naming_the_difference(options, message):
    with pytest.raises(ValueError, match="layout differs from the book's ViT: .*" + message):
        from_timm(VisionTransformer(**TINY_TIMM, **options))


def test_a_difference_in_some_blocks_names_those_blocks():
    model = VisionTransformer(**dict(TINY_TIMM, depth=3))
    model.blocks[1].norm1.eps = 1e-5
    with pytest.raises(ValueError, match=r"layout differs from the book's ViT: block 1: LayerNorm with eps 1e-05"):
        from_timm(model)


def test_only_timm_vision_transformers_convert():
    with pytest.raises(TypeError, match="converts a timm VisionTransformer, not a ViT"):
        from_timm(ViT(**SMALL))
    with pytest.raises(TypeError, match="vit_config expects a vitbook ViT, got a VisionTransformer"):
        vit_config(VisionTransformer(**TINY_TIMM))


def test_a_linear_probe_trains_the_new_head_and_nothing_else():
    torch.manual_seed(0)
    model = freeze_all_but_head(
        with_new_head(ViT(img_size=28, patch_size=7, dim=16, depth=1, num_heads=2, mlp_dim=32), 5)
    )
    assert model.head.out_features == 5 and abs(model.head.weight.std().item() - 0.02) < 0.005
    before = {n: p.clone() for n, p in model.named_parameters()}
    data = DeviceData(load_fashion_mnist("test"), "cpu").first(256)
    data.labels = data.labels % 5  # five classes
    train(model, data, data, replace(QUICK_RECIPE, epochs=1), progress=False)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"head.weight", "head.bias"}


def test_a_model_with_nothing_to_train_says_so():
    model = ViT(img_size=28, patch_size=7, dim=16, depth=1, num_heads=2, mlp_dim=32).requires_grad_(False)
    data = DeviceData(load_fashion_mnist("test"), "cpu").first(64)
    with pytest.raises(ValueError, match="every parameter of the model is frozen"):
        train(model, data, data, QUICK_RECIPE, progress=False)


def test_a_grayscale_model_sees_grey_images_as_rgb_copies():
    torch.manual_seed(0)
    rgb = ViT(img_size=32, patch_size=8, in_channels=3, dim=16, depth=1, num_heads=2, mlp_dim=32).eval()
    grey = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        expected = rgb(grey.expand(-1, 3, -1, -1))
        got = to_grayscale(rgb)(grey)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="this one takes 1 channel"):
        to_grayscale(rgb)


def test_a_float_grid_and_a_table_without_cls_get_the_right_hint():
    table = torch.zeros(1, 1 + 49, 8)
    with pytest.raises(ValueError, match=r"new_grid must be a positive integer, not 14.0; it is a float: .*//"):
        resample_positions(table, 56 / 4)
    with pytest.raises(ValueError, match=r"new_grid\[0\] must be a positive integer, not 14.0"):
        resample_positions(table, (56 / 4, 14))
    assert resample_positions(table, np.int64(14)).shape == (1, 1 + 196, 8)
    mean_pooled = ViT(**SMALL, pool="mean").tokens.pos_embed  # 49 entries, no <cls>
    hint = r"give old_grid=\(rows, cols\), or num_prefix=0 if all 49 entries are patches' \(a 7x7 grid"
    with pytest.raises(ShapeError, match=hint):
        resample_positions(mean_pooled, 14)
    assert resample_positions(mean_pooled, 14, num_prefix=0).shape == (1, 196, 32)
    with pytest.raises(ValueError, match="num_prefix must be an integer >= 0, not -1"):
        resample_positions(table, 14, num_prefix=-1)


def conv_stem_rgb(**changes):
    torch.manual_seed(0)
    return conv_stem_vit(**dict(SMALL, in_channels=3, **changes)).eval()


def test_a_conv_stem_model_moves_to_another_image_size():
    model = conv_stem_rgb()
    big = at_image_size(model, 56)
    assert isinstance(big.patch_embed, ConvStem) and big.patch_embed.img_size == 56
    assert torch.equal(big.patch_embed.convs[0].weight, model.patch_embed.convs[0].weight)
    assert big(torch.randn(2, 3, 56, 56)).shape == (2, 10)
    with pytest.raises(ValueError, match="mode must be 'bicubic' or 'bilinear'"):
        at_image_size(model, 56, mode="nearest")
    with pytest.raises(TypeError, match="at_image_size expects a vitbook ViT, got a ResNet"):
        at_image_size(ResNet(), 56)


def test_a_conv_stem_model_turns_grey_whole():
    model = conv_stem_rgb()
    grey = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(grey.expand(-1, 3, -1, -1))
        got = to_grayscale(model)(grey)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert model.patch_embed.convs[0].in_channels == 1
    assert model.patch_embed.proj.in_channels == SMALL["dim"]  # the final 1x1 convolution is unchanged


@pytest.mark.parametrize("make", [lambda: ViT(**SMALL, in_channels=3), lambda: conv_stem_rgb()])
def test_a_linear_probe_stays_one_after_to_grayscale(make):
    model = to_grayscale(freeze_all_but_head(make()))
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    trainable = to_grayscale(make())
    assert all(p.requires_grad for p in trainable.parameters())


def test_the_transfer_helpers_name_the_model_they_cannot_change():
    with pytest.raises(TypeError, match="to_grayscale expects a vitbook ViT, got a MLP"):
        to_grayscale(MLP())
    with pytest.raises(TypeError, match="with_new_head expects a model whose classifier is a linear layer"):
        with_new_head(MLP(), 5)
    with pytest.raises(TypeError, match="freeze_all_but_head expects a model whose classifier is a linear"):
        freeze_all_but_head(MLP())
    assert with_new_head(ResNet(), 5).head.out_features == 5


def test_a_distilled_deit_is_refused_naming_its_distillation_token():
    with pytest.raises(
        ValueError, match="layout differs from the book's ViT: a distillation token and a second head, head_dist"
    ):
        from_timm(
            timm.create_model(
                "deit_tiny_distilled_patch16_224",
                pretrained=False,
                img_size=32,
                patch_size=8,
                embed_dim=32,
                depth=1,
                num_heads=2,
            )
        )


def test_an_unknown_extra_part_of_a_timm_model_is_named():
    model = VisionTransformer(**TINY_TIMM)
    model.register_parameter("prompt", torch.nn.Parameter(torch.zeros(1, 4, 32)))
    with pytest.raises(ValueError, match=r"it has parts the book's ViT has not \(prompt\)"):
        from_timm(model)
