import pytest
import torch
import torch.nn.functional as F

from vitbook.attention import MultiHeadAttention, attention, torch_equivalent
from vitbook.checks import ShapeError


def test_attention_equals_sdpa_and_rows_sum_to_one():
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    out, weights = attention(q, k, v)
    assert out.shape == (2, 3, 5, 4) and weights.shape == (2, 3, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6, rtol=1e-5)


def test_identical_keys_give_uniform_weights():
    q, k = torch.randn(4, 8), torch.ones(6, 8)
    _, weights = attention(q, k, torch.randn(6, 2))
    torch.testing.assert_close(weights, torch.full((4, 6), 1 / 6))


@pytest.mark.parametrize("dim, heads, bias", [(64, 4, True), (48, 3, True), (32, 1, True), (32, 4, False)])
def test_equals_torch_multihead_attention_outputs_and_weights(dim, heads, bias):
    mha = MultiHeadAttention(dim, heads, qkv_bias=bias).eval()
    ref = torch_equivalent(mha)
    x = torch.randn(2, 17, dim)
    with torch.no_grad():
        expected, expected_weights = ref(x, x, x, average_attn_weights=False)
        fused = mha(x)
        explicit, weights = mha(x, return_attention=True)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(explicit, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=1e-5)


def test_equals_timm_attention():
    from timm.layers import Attention

    mha = MultiHeadAttention(64, 8).eval()
    ref = Attention(64, num_heads=8, qkv_bias=True).eval()
    ref.load_state_dict(mha.state_dict())
    x = torch.randn(3, 10, 64)
    torch.testing.assert_close(mha(x), ref(x), atol=1e-6, rtol=1e-5)


def test_dropout_only_in_training():
    mha = MultiHeadAttention(16, 2, attn_drop=0.5, proj_drop=0.5)
    x = torch.randn(2, 5, 16)
    mha.eval()
    torch.testing.assert_close(mha(x), mha(x))
    mha.train()
    torch.manual_seed(0)
    assert not torch.allclose(mha(x), mha.eval()(x))


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match=r"width 64 is not divisible by 5 heads.*\[1, 2, 4, 8, 16, 32, 64\]"):
        MultiHeadAttention(64, 5)
    with pytest.raises(ValueError, match="not divisible by 0 heads"):
        MultiHeadAttention(64, 0)


def test_wrong_token_width_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"expects tokens \(batch, tokens, 64\), got \(2, 5, 32\)"):
        MultiHeadAttention(64, 4)(torch.randn(2, 5, 32))
