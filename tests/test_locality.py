import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vitbook.attention import MultiHeadAttention
from vitbook.checks import ShapeError
from vitbook.locality import (
    MASK_VALUE,
    LocalitySelfAttention,
    SeqPoolViT,
    SequencePooling,
    with_lsa,
    with_sequence_pooling,
)
from vitbook.vit import CPU_CONFIG, QUICK_CONFIG, ViT


def lsa_like(mha: MultiHeadAttention, **options) -> LocalitySelfAttention:
    dim = mha.num_heads * mha.head_dim
    lsa = LocalitySelfAttention(dim, mha.num_heads, qkv_bias=mha.qkv.bias is not None, **options)
    missing, unexpected = lsa.load_state_dict(mha.state_dict(), strict=False)
    assert missing == ["scale"] and not unexpected  # the same parameter names, plus the temperature
    return lsa.eval()


def reference_lsa_forward(qkv: nn.Linear, to_out: nn.Linear, scale: torch.Tensor, x: torch.Tensor, h: int):
    """aanna0701/SPT_LSA_ViT, models/vit.py, class Attention (is_LSA=True), forward, read at
    commit 54bd796acd28fa11deac21a97b14b154379b34e7. einops' rearrange written as reshapes;
    its mask is the diagonal of num_patches + 1 tokens, here all T tokens."""
    b, n, _ = x.shape
    qkv = qkv(x).chunk(3, dim=-1)
    q, k, v = (t.reshape(b, n, h, -1).transpose(1, 2) for t in qkv)  # 'b n (h d) -> b h n d'
    mask = torch.nonzero(torch.eye(n, n) == 1, as_tuple=False)
    dots = torch.mul(
        torch.einsum("b h i d, b h j d -> b h i j", q, k),
        scale.unsqueeze(0).unsqueeze(-1).unsqueeze(-1).expand((b, h, 1, 1)),
    )
    dots[:, :, mask[:, 0], mask[:, 1]] = -987654321
    attn = nn.Softmax(dim=-1)(dots)
    out = torch.einsum("b h i j, b h j d -> b h i d", attn, v)
    out = out.transpose(1, 2).reshape(b, n, -1)  # 'b h n d -> b n (h d)'
    return to_out(out)


def reference_seq_pool(attention_pool: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """SHI-Labs/Compact-Transformers, src/utils/transformers.py, TransformerClassifier.forward
    (seq_pool=True, after `x = self.norm(x)`), read at commit
    cd11f0912749d376f7465cb83534e768b6701d7d."""
    return torch.matmul(F.softmax(attention_pool(x), dim=1).transpose(-1, -2), x).squeeze(-2)


# Locality Self-Attention


@pytest.mark.parametrize("dim, heads, bias", [(64, 4, True), (48, 3, False)])
def test_without_mask_at_initial_temperature_equals_multi_head_attention(dim, heads, bias):
    torch.manual_seed(0)
    mha = MultiHeadAttention(dim, heads, qkv_bias=bias).eval()
    lsa = lsa_like(mha, mask_diagonal=False)
    x = torch.randn(2, 17, dim)
    with torch.no_grad():
        expected, expected_weights = mha(x, return_attention=True)
        out, weights = lsa(x, return_attention=True)
        torch.testing.assert_close(lsa(x), mha(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)


def test_no_token_attends_to_itself_and_rows_sum_to_one():
    torch.manual_seed(0)
    lsa = LocalitySelfAttention(32, 4).eval()
    out, weights = lsa(torch.randn(3, 10, 32), return_attention=True)
    assert out.shape == (3, 10, 32) and weights.shape == (3, 4, 10, 10)
    assert torch.all(weights.diagonal(dim1=-2, dim2=-1) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 10))


def test_the_temperature_is_one_per_head_and_learned():
    lsa = LocalitySelfAttention(32, 4)
    torch.testing.assert_close(lsa.scale.detach(), torch.full((4,), 8**-0.5))
    lsa(torch.randn(2, 5, 32)).square().sum().backward()
    assert lsa.scale.grad is not None and torch.all(lsa.scale.grad != 0)
    fixed = LocalitySelfAttention(32, 4, learn_temperature=False)
    assert not fixed.scale.requires_grad


def test_equals_the_reference_forward():
    torch.manual_seed(0)
    lsa = LocalitySelfAttention(48, 3, qkv_bias=False).eval()
    with torch.no_grad():
        lsa.scale.copy_(torch.tensor([0.1, 0.3, 0.9]))  # a different temperature per head
        x = torch.randn(2, 17, 48)
        expected = reference_lsa_forward(lsa.qkv, lsa.proj, lsa.scale, x, h=3)
        torch.testing.assert_close(lsa(x), expected, atol=1e-6, rtol=1e-5)


def test_dropout_only_in_training():
    lsa = LocalitySelfAttention(16, 2, attn_drop=0.5, proj_drop=0.5)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(lsa.eval()(x), lsa(x))
    torch.manual_seed(0)
    assert not torch.allclose(lsa.train()(x), lsa.eval()(x))


def test_lsa_errors_name_the_argument():
    with pytest.raises(ValueError, match="dim 64 is not divisible by num_heads 5"):
        LocalitySelfAttention(64, 5)
    with pytest.raises(ShapeError, match=r"expects tokens \(batch, tokens, 32\), got \(2, 5, 16\)"):
        LocalitySelfAttention(32, 4)(torch.randn(2, 5, 16))
    assert MASK_VALUE == -987654321  # the reference code's value


# Sequence pooling


def test_sequence_pooling_shape_and_weights():
    pool = SequencePooling(16)
    pooled, weights = pool(torch.randn(3, 7, 16), return_weights=True)
    assert pooled.shape == (3, 16) and weights.shape == (3, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))


def test_uniform_scores_give_the_mean():
    pool = SequencePooling(16)
    with torch.no_grad():
        pool.attention_pool.weight.zero_()
        pool.attention_pool.bias.fill_(3.0)
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(pool(x), x.mean(dim=1))


def test_a_one_hot_score_picks_that_token():
    pool = SequencePooling(4)
    with torch.no_grad():
        pool.attention_pool.weight.copy_(torch.tensor([[1000.0, 0, 0, 0]]))
        pool.attention_pool.bias.zero_()
    x = torch.randn(2, 6, 4)
    x[:, :, 0] = 0
    x[:, 3, 0] = 1  # token 3 scores 1000, the others 0
    torch.testing.assert_close(pool(x), x[:, 3])


def test_sequence_pooling_equals_the_reference():
    torch.manual_seed(0)
    pool = SequencePooling(16)
    nn.init.normal_(pool.attention_pool.weight)
    x = torch.randn(4, 10, 16)
    torch.testing.assert_close(pool(x), reference_seq_pool(pool.attention_pool, x))


def test_sequence_pooling_errors_name_the_argument():
    with pytest.raises(ValueError, match="dim must be a positive integer, not 0"):
        SequencePooling(0)
    with pytest.raises(ShapeError, match=r"SequencePooling expects tokens \(batch, tokens, 16\)"):
        SequencePooling(16)(torch.randn(2, 16))


# The levers in the book's ViT


@pytest.mark.parametrize("config", [QUICK_CONFIG, CPU_CONFIG], ids=["quick", "cpu"])
def test_levers_give_logits(config):
    torch.manual_seed(0)
    images = torch.randn(2, 1, 28, 28)
    lsa = with_lsa(ViT(**config)).eval()
    assert all(isinstance(block.attn, LocalitySelfAttention) for block in lsa.blocks)
    both = with_lsa(with_sequence_pooling(ViT(**dict(config, pool="mean")))).eval()
    for model in (lsa, both):
        logits, maps = model(images, return_attention=True)
        assert logits.shape == (2, 10) and len(maps) == config["depth"]
        assert torch.all(maps[0].diagonal(dim1=-2, dim2=-1) == 0)
        torch.testing.assert_close(model(images), logits)


def test_with_lsa_keeps_the_weights():
    torch.manual_seed(0)
    model = ViT(**QUICK_CONFIG).eval()
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        before = model(images)
        qkv = model.blocks[0].attn.qkv
        assert with_lsa(model, mask_diagonal=False) is model and model.blocks[0].attn.qkv is qkv
        torch.testing.assert_close(model(images), before, atol=1e-5, rtol=0)
        with_lsa(model)  # blocks that already have LSA keep it
        assert not model.blocks[0].attn.mask_diagonal


def test_sequence_pooling_runs_after_the_final_layer_norm():
    torch.manual_seed(0)
    plain = ViT(**dict(QUICK_CONFIG, pool="mean")).eval()
    model = with_sequence_pooling(plain)
    assert isinstance(model, SeqPoolViT) and isinstance(model, ViT) and model.blocks is plain.blocks
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        x = model.tokens(model.patch_embed(images))
        for block in model.blocks:
            x = block(x)
        expected = model.head(reference_seq_pool(model.seq_pool.attention_pool, model.norm(x)))
        torch.testing.assert_close(model(images), expected)
    assert with_sequence_pooling(model) is model


def test_a_training_step_reaches_every_new_parameter():
    torch.manual_seed(0)
    model = with_lsa(with_sequence_pooling(ViT(**dict(QUICK_CONFIG, pool="mean"))))
    new = {name: p for name, p in model.named_parameters() if name.startswith("seq_pool") or name.endswith(".scale")}
    assert len(new) == QUICK_CONFIG["depth"] + 2
    before = {name: p.detach().clone() for name, p in new.items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(torch.randn(8, 1, 28, 28)), torch.randint(0, 10, (8,)))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # a bias added to every token's score leaves the softmax, so the loss, unchanged
    torch.testing.assert_close(new["seq_pool.attention_pool.bias"].grad, torch.zeros(1), atol=1e-7, rtol=0)
    optimizer.step()
    changed = [name for name, p in new.items() if not torch.equal(p, before[name])]
    assert set(new) - {"seq_pool.attention_pool.bias"} <= set(changed)  # the bias moves by rounding only


def test_seq_pool_vit_builds_from_a_config():
    model = SeqPoolViT(**QUICK_CONFIG)
    assert model.pool == "mean" and model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match='pool must be "mean"'):
        SeqPoolViT(**dict(QUICK_CONFIG, pool="cls"))


def test_builder_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"model must have encoder blocks \(model.blocks\) for LSA; this ViT has none"):
        with_lsa(ViT(**dict(QUICK_CONFIG, depth=0)))
    with pytest.raises(ValueError, match="this Linear has none"):
        with_lsa(nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"must be a ViT built with pool=\"mean\" \(no <cls> token\), not pool='cls'"):
        with_sequence_pooling(ViT(**QUICK_CONFIG))
    with pytest.raises(TypeError, match="model must be a vitbook ViT, not a Linear"):
        with_sequence_pooling(nn.Linear(2, 2))


def test_the_book_builds_its_models_as_before():
    from vitbook.attention import MultiHeadAttention as Plain
    from vitbook.pretrained import MODELS, build

    with_lsa(ViT(**QUICK_CONFIG))
    model = build(dict(QUICK_CONFIG))
    assert type(model) is ViT and all(type(block.attn) is Plain for block in model.blocks)
    assert MODELS["vit"] is ViT and "locality" not in " ".join(map(str, MODELS.values()))
