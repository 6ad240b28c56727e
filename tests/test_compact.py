"""vitbook.compact: chapter 11's levers switched on by name, alone and together."""

import itertools

import pytest
import torch

from vitbook.baselines import ResNet, resnet_flops
from vitbook.compact import ATTENTIONS, POOLINGS, TOKENIZERS, compact_vit, model_costs
from vitbook.locality import LocalitySelfAttention, SeqPoolViT
from vitbook.pretrained import build, check_config
from vitbook.tokenizers import ConvTokenizer, ShiftedPatchTokenization
from vitbook.vit import QUICK_CONFIG, ViT, matmul_flops

SMALL = dict(QUICK_CONFIG, dim=32, depth=2, num_heads=2, mlp_dim=64)


@pytest.mark.parametrize("tokenizer, attention, pool", list(itertools.product(TOKENIZERS, ATTENTIONS, POOLINGS)))
def test_every_combination_builds_what_it_names_and_trains(tokenizer, attention, pool):
    torch.manual_seed(0)
    model = compact_vit(tokenizer, attention, pool, conv_layers=3, in_planes=8, **SMALL)
    kinds = {"patch": "PatchEmbedding", "spt": ShiftedPatchTokenization.__name__, "conv": ConvTokenizer.__name__}
    assert type(model.patch_embed).__name__ == kinds[tokenizer]
    assert all(isinstance(b.attn, LocalitySelfAttention) == (attention == "lsa") for b in model.blocks)
    assert isinstance(model, SeqPoolViT) == (pool == "seq") and isinstance(model, ViT)
    assert model.tokens.num_patches == model.patch_embed.num_patches == 16  # 7x7 patches or 3 conv blocks: 4x4
    logits = model(torch.randn(3, 1, 28, 28))
    assert logits.shape == (3, 10)
    logits.logsumexp(dim=1).sum().backward()
    trained = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert trained in ([], ["seq_pool.attention_pool.bias"]), f"no gradient reaches {trained}"


def test_build_makes_a_compact_vit_from_a_config_and_checks_it():
    config = {"model": "compact vit", "tokenizer": "conv", "pool": "seq", "attention": "lsa", **SMALL, "drop_path": 0.1}
    model = build(config)
    assert isinstance(model, SeqPoolViT) and model.blocks[-1].drop_path == 0.1
    check_config(model, config)
    with pytest.raises(ValueError, match="does not describe the model"):
        check_config(model, dict(config, tokenizer="patch"))


@pytest.mark.parametrize("arg, value", [("tokenizer", "cnn"), ("attention", "local"), ("pool", "token")])
def test_an_unknown_lever_is_named(arg, value):
    with pytest.raises(ValueError, match=f"{arg} must be one of .* not {value!r}"):
        compact_vit(**{arg: value}, **SMALL)


def test_model_costs_count_what_the_books_formulas_count():
    vit = model_costs(ViT(**QUICK_CONFIG))
    assert vit["flops"] == matmul_flops(**QUICK_CONFIG)["total"], "the attention's products counted, fused or not"
    assert vit["tokens"] == 16 and vit["parameters"] == sum(p.numel() for p in ViT(**QUICK_CONFIG).parameters())
    resnet = model_costs(ResNet(widths=(16, 32, 64)))
    assert resnet == {
        "parameters": sum(p.numel() for p in ResNet(widths=(16, 32, 64)).parameters()),
        "flops": resnet_flops(widths=(16, 32, 64)),
    }
