"""Chapter 11: the book's ViT with the small-data levers switched on by name.

`compact_vit(tokenizer=..., attention=..., pool=..., **config)` builds a `ViT(**config)`
(stochastic depth included: ``drop_path``) and changes what the names ask for:

- tokenizer: "patch" (chapter 1's patch embedding), "spt" (Shifted Patch Tokenization,
  Lee, Lee & Song 2021) or "conv" (CCT's convolutional tokenizer, Hassani et al. 2021,
  with `conv_layers` blocks of `in_planes` channels);
- attention: "mhsa" (chapter 3's) or "lsa" (Locality Self-Attention, Lee, Lee & Song);
- pool: "cls", "mean" (chapter 5's) or "seq" (CCT's sequence pooling).

So a recorded run's config names every lever it has, and `vitbook.pretrained.build`
builds it from ``{"model": "compact vit", ...}``. All "conv" + "seq" is CCT's design in
the book's parts (its encoder blocks are the book's pre-norm blocks).
"""

from __future__ import annotations

from torch import nn

from .locality import SeqPoolViT, with_lsa
from .tokenizers import ConvTokenizer, ShiftedPatchTokenization, forward_flops, tokenizer_costs, with_tokenizer
from .vit import ViT

TOKENIZERS, ATTENTIONS, POOLINGS = ("patch", "spt", "conv"), ("mhsa", "lsa"), ("cls", "mean", "seq")


def compact_vit(
    tokenizer: str = "patch",
    attention: str = "mhsa",
    pool: str = "cls",
    conv_layers: int = 2,
    in_planes: int = 64,
    **config,
) -> ViT:
    """A ViT with the tokenizer, attention and pooling named (see the module's docstring);
    `config` holds `ViT`'s other arguments."""
    for arg, value, allowed in (
        ("tokenizer", tokenizer, TOKENIZERS),
        ("attention", attention, ATTENTIONS),
        ("pool", pool, POOLINGS),
    ):
        if value not in allowed:
            raise ValueError(f"{arg} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
    model = SeqPoolViT(**config, pool="mean") if pool == "seq" else ViT(**config, pool=pool)
    embed, dim = model.patch_embed, model.head.in_features
    if tokenizer == "spt":
        with_tokenizer(model, ShiftedPatchTokenization(embed.img_size, embed.patch_size, embed.in_channels, dim))
    elif tokenizer == "conv":
        convs = ConvTokenizer(embed.img_size, embed.in_channels, dim, conv_layers, in_planes=in_planes)
        with_tokenizer(model, convs)
    return with_lsa(model) if attention == "lsa" else model


def model_costs(model: nn.Module) -> dict[str, int]:
    """What a model costs for one image: parameters, FLOPs of a forward pass (as
    `tokenizer_costs` counts them: linear layers, convolutions and attention's products,
    the attention written out so that a fused kernel is counted too), and for a ViT its
    tokenizer's tokens, parameters and FLOPs (a convnet such as chapter 8's `ResNet` has
    the first two only)."""
    parameters = sum(p.numel() for p in model.parameters())
    embed = getattr(model, "patch_embed", None)
    if embed is None:
        return {"parameters": parameters, "flops": forward_flops(model.eval(), model.in_channels, model.img_size)[0]}
    tokenizer = tokenizer_costs(model)
    return {
        "parameters": parameters,
        "flops": forward_flops(model.eval(), embed.in_channels, embed.img_size, return_attention=True)[0],
        "tokens": tokenizer["tokens"],
        "tokenizer parameters": tokenizer["parameters"],
        "tokenizer flops": tokenizer["flops"],
    }
