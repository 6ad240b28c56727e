import pytest
import torch
from timm.layers import Mlp
from timm.models.vision_transformer import Block

from vitbook.blocks import MLP, EncoderBlock, torch_equivalent


def test_mlp_equals_timm_mlp():
    mlp = MLP(32, 64).eval()
    ref = Mlp(32, 64).eval()
    ref.load_state_dict(mlp.state_dict())
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(mlp(x), ref(x))


def test_pre_norm_block_equals_timm_block():
    block = EncoderBlock(64, 4, 128).eval()
    ref = Block(64, 4, mlp_ratio=2.0, qkv_bias=True).eval()
    ref.load_state_dict(block.state_dict())
    x = torch.randn(2, 50, 64)
    torch.testing.assert_close(block(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
def test_block_equals_torch_encoder_layer(norm_first):
    block = EncoderBlock(32, 2, 64, norm_first=norm_first).eval()
    x = torch.randn(3, 9, 32)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch_equivalent(block)(x), atol=1e-5, rtol=1e-5)


def test_layer_norm_eps_is_vits():
    block = EncoderBlock(16, 2, 32)
    assert block.norm1.eps == block.norm2.eps == 1e-6


@pytest.mark.parametrize("norm_first", [True, False])
def test_shape_contract_and_attention_weights(norm_first):
    block = EncoderBlock(16, 4, 32, norm_first=norm_first).eval()
    x = torch.randn(2, 11, 16)
    out, weights = block(x, return_attention=True)
    assert out.shape == x.shape and weights.shape == (2, 4, 11, 11)
    torch.testing.assert_close(out, block(x), atol=1e-6, rtol=1e-5)


def test_post_norm_output_is_normalised():
    block = EncoderBlock(16, 4, 32, norm_first=False).eval()
    out = block(torch.randn(2, 11, 16) * 10)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 11), atol=1e-5, rtol=0)
