import pytest
import torch

from vitbook.checks import ShapeError
from vitbook.stem import ConvStem, conv_stem_vit
from vitbook.vit import CPU_CONFIG, ViT


@pytest.mark.parametrize("img_size, patch_size, channels, dim", [(28, 4, 1, 64), (32, 8, 3, 48), (28, 2, 1, 8)])
def test_the_stem_gives_the_patch_embeddings_tokens(img_size, patch_size, channels, dim):
    stem = ConvStem(img_size, patch_size, channels, dim)
    tokens = stem(torch.randn(2, channels, img_size, img_size))
    assert tokens.shape == (2, (img_size // patch_size) ** 2, dim) and stem.num_patches == tokens.shape[1]
    strided = [m for m in stem.convs if isinstance(m, torch.nn.Conv2d)]
    assert len(strided) == patch_size.bit_length() - 1 and all(m.stride == (2, 2) for m in strided)


def test_a_conv_stem_vit_changes_the_stem_and_nothing_else():
    torch.manual_seed(0)
    plain = ViT(**CPU_CONFIG)
    torch.manual_seed(0)
    model = conv_stem_vit(**CPU_CONFIG)
    assert isinstance(model.patch_embed, ConvStem)
    rest = {k: v for k, v in model.state_dict().items() if not k.startswith("patch_embed.")}
    theirs = {k: v for k, v in plain.state_dict().items() if not k.startswith("patch_embed.")}
    assert rest.keys() == theirs.keys()
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_what_the_stem_cannot_do_is_said():
    with pytest.raises(ValueError, match="power of 2"):
        ConvStem(28, 7, 1, 64)
    with pytest.raises(ValueError, match="divisible by the patch size 4"):
        ConvStem(28, 4, 1, 66)
    stem = ConvStem(28, 4, 1, 64)
    with pytest.raises(ShapeError, match="built for 28x28 images but got 32x32"):
        stem(torch.zeros(1, 1, 32, 32))
    with pytest.raises(TypeError, match="standardise them"):
        stem(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))
