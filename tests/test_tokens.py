import math

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from vitbook.checks import ShapeError
from vitbook.tokens import ClassTokenAndPositions, sincos_1d, sincos_position_embedding


def test_sincos_1d_formula():
    table = sincos_1d(torch.arange(5), 8)
    assert table.shape == (5, 8)
    assert math.isclose(table[3, 1].item(), math.sin(3 * 10000 ** (-1 / 4)), rel_tol=1e-12)
    assert math.isclose(table[3, 5].item(), math.cos(3 * 10000 ** (-1 / 4)), rel_tol=1e-12)


def test_sincos_2d_halves_encode_row_and_column():
    table = sincos_position_embedding(7, 16)
    assert table.shape == (49, 16)
    row_half, col_half = table[:, :8].reshape(7, 7, 8), table[:, 8:].reshape(7, 7, 8)
    assert torch.equal(row_half[2, 0], row_half[2, 6])  # same row, any column
    assert torch.equal(col_half[0, 5], col_half[6, 5])  # same column, any row
    torch.testing.assert_close(table[3 * 7 + 4, :8], sincos_1d(torch.tensor([3]), 8)[0].float())


@pytest.mark.parametrize("dim, grid, message", [(10, 7, "divisible by 4"), (9, 7, "divisible by 4")])
def test_sincos_rejects_widths(dim, grid, message):
    with pytest.raises(ValueError, match=message):
        sincos_position_embedding(grid, dim)


@pytest.mark.parametrize("position", ["learned", "sincos", "none"])
def test_prepends_cls_and_adds_positions(position):
    layer = ClassTokenAndPositions(49, 16, position)
    tokens = torch.randn(3, 49, 16)
    out = layer(tokens)
    assert out.shape == (3, 50, 16)
    expected = torch.cat([layer.cls_token.expand(3, -1, -1), tokens], 1)
    if layer.pos_embed is not None:
        expected = expected + layer.pos_embed
    torch.testing.assert_close(out, expected)


def test_without_cls_token_keeps_length():
    layer = ClassTokenAndPositions(49, 16, cls_token=False)
    assert layer(torch.randn(2, 49, 16)).shape == (2, 49, 16)
    assert layer.pos_embed.shape == (1, 49, 16)


def test_learned_init_scale_is_small():
    torch.manual_seed(0)
    layer = ClassTokenAndPositions(196, 256)
    assert 0.015 < layer.pos_embed.std().item() < 0.02 and layer.pos_embed.abs().max() <= 0.04
    assert layer.cls_token.abs().max() < 1e-4


def test_sincos_table_is_a_fixed_buffer_with_zero_cls_row():
    layer = ClassTokenAndPositions(16, 8, "sincos")
    assert "pos_embed" not in dict(layer.named_parameters())
    assert torch.equal(layer.pos_embed[0, 0], torch.zeros(8))
    torch.testing.assert_close(layer.pos_embed[0, 1:], sincos_position_embedding(4, 8))


def test_equals_timm_pos_embed():
    layer = ClassTokenAndPositions(49, 32)
    ref = VisionTransformer(img_size=28, patch_size=4, in_chans=1, embed_dim=32, depth=1, num_heads=4)
    ref.load_state_dict(layer.state_dict(), strict=False)
    tokens = torch.randn(2, 49, 32)
    torch.testing.assert_close(ref._pos_embed(tokens), layer(tokens), atol=0, rtol=0)


def test_wrong_sequence_length_is_a_clear_error():
    layer = ClassTokenAndPositions(49, 64)
    with pytest.raises(
        ShapeError, match=r"expected patch tokens of shape \(batch, 49, 64\), got \(2, 16, 64\).*num_patches=16"
    ):
        layer(torch.zeros(2, 16, 64))
    with pytest.raises(ShapeError, match="got \\(2, 49, 32\\)"):
        layer(torch.zeros(2, 49, 32))


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="position must be one of"):
        ClassTokenAndPositions(49, 64, position="random")
    with pytest.raises(ValueError, match="needs a square grid, but 50 patches"):
        ClassTokenAndPositions(50, 64, position="sincos")
