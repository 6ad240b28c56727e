import pytest
import timm.layers
import torch
import torch.nn.functional as F

from vitbook.checks import ShapeError
from vitbook.patches import PatchEmbedding, patchify


@pytest.mark.parametrize("c, size, p", [(1, 28, 4), (1, 28, 7), (1, 96, 16), (3, 12, 4)])
def test_patchify_matches_unfold(c, size, p):
    images = torch.rand(2, c, size, size)
    patches = patchify(images, p)
    assert patches.shape == (2, (size // p) ** 2, c * p * p)
    assert torch.equal(patches, F.unfold(images, kernel_size=p, stride=p).transpose(1, 2))


def test_patchify_orders_patches_row_major_and_pixels_channel_first():
    images = torch.arange(2 * 4 * 4.0).reshape(1, 2, 4, 4)
    patches = patchify(images, 2)
    # patch 1 is block row 0, block column 1; channel 0 pixels first, then channel 1
    assert patches[0, 1].tolist() == [2, 3, 6, 7, 18, 19, 22, 23]


@pytest.mark.parametrize("size, p, tokens", [(28, 4, 49), (28, 7, 16), (96, 16, 36)])
def test_patch_embedding_shapes(size, p, tokens):
    embed = PatchEmbedding(img_size=size, patch_size=p, in_channels=1, embed_dim=32)
    assert embed.num_patches == tokens
    assert embed(torch.rand(3, 1, size, size)).shape == (3, tokens, 32)


def test_patch_embedding_is_linear_map_on_patches_with_three_channels():
    embed = PatchEmbedding(img_size=12, patch_size=4, in_channels=3, embed_dim=8)
    images = torch.rand(2, 3, 12, 12)
    weight = embed.proj.weight.reshape(8, -1)
    expected = patchify(images, 4) @ weight.T + embed.proj.bias
    torch.testing.assert_close(embed(images), expected, atol=1e-6, rtol=1e-5)


def test_patch_embedding_equals_timm_patch_embed():
    ours = PatchEmbedding(img_size=28, patch_size=4, in_channels=1, embed_dim=64)
    ref = timm.layers.PatchEmbed(img_size=28, patch_size=4, in_chans=1, embed_dim=64)
    ref.load_state_dict(ours.state_dict())
    images = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(ours(images), ref(images), atol=1e-6, rtol=0)


def test_size_not_divisible_by_patch_size_at_construction():
    with pytest.raises(
        ValueError,
        match=r"image size 28 is not divisible by patch size 5 .*"
        r"patch sizes that divide 28: \[1, 2, 4, 7, 14, 28\]",
    ):
        PatchEmbedding(img_size=28, patch_size=5)


@pytest.mark.parametrize("arg", ["img_size", "patch_size", "in_channels", "embed_dim"])
def test_constructor_rejects_non_positive_sizes(arg):
    with pytest.raises(ValueError, match=f"{arg} must be a positive integer"):
        PatchEmbedding(**{arg: 0})


def test_wrong_channel_count_is_a_clear_error():
    embed = PatchEmbedding(img_size=28, patch_size=4, in_channels=1)
    with pytest.raises(ShapeError, match=r"built for 1 channel\(s\) but the images have 3 .*in_channels=3"):
        embed(torch.rand(2, 3, 28, 28))


def test_wrong_image_size_is_a_clear_error():
    embed = PatchEmbedding(img_size=28, patch_size=4)
    with pytest.raises(ShapeError, match="built for 28x28 images but got 32x32"):
        embed(torch.rand(2, 1, 32, 32))


def test_missing_batch_dimension_is_a_clear_error():
    embed = PatchEmbedding(img_size=28, patch_size=4)
    with pytest.raises(ShapeError, match=r"got shape \(1, 28, 28\).*unsqueeze\(0\)"):
        embed(torch.rand(1, 28, 28))


@pytest.mark.parametrize(
    "images, expected",
    [
        (torch.rand(28, 28), r"single 28x28 image needs a channel and a batch dimension: image\[None, None\]"),
        (torch.rand(28, 28, 1), r"one channels-last image \(H, W, C\): image.permute\(2, 0, 1\).unsqueeze\(0\)"),
        (torch.rand(4, 28, 28, 1), r"looks channels-last .*images.permute\(0, 3, 1, 2\)"),
        (torch.rand(2, 3, 1, 28, 28), r"batch of batches.*images.flatten\(0, 1\)"),
        (torch.rand(2, 1, 28, 32), r"got 28x32 .*takes square 28x28 images: resize or crop"),
    ],
    ids=["2-d", "hwc", "bhwc", "5-d", "non-square"],
)
def test_shape_errors_give_the_fix_that_fits_the_case(images, expected):
    embed = PatchEmbedding(img_size=28, patch_size=4)
    with pytest.raises(ShapeError, match=expected) as err:
        embed(images)
    assert "in_channels=28" not in str(err.value) and "img_size=28" not in str(err.value)


def test_a_numpy_array_is_told_to_become_a_tensor():
    embed = PatchEmbedding(img_size=28, patch_size=4)
    with pytest.raises(TypeError, match=r"numpy.ndarray of shape \(2, 1, 28, 28\).*torch.as_tensor"):
        embed(torch.rand(2, 1, 28, 28).numpy())


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (torch.uint8, r"images are torch.uint8: standardise them with vitbook.data.standardize"),
        (torch.float64, r"images are torch.float64: convert them with images.to\(torch.float32\)"),
        (torch.float16, r"images are torch.float16: convert them with images.to\(torch.float32\)"),
    ],
)
def test_a_wrong_dtype_says_what_was_given_and_how_to_convert(dtype, expected):
    embed = PatchEmbedding(img_size=28, patch_size=4)
    with pytest.raises(TypeError, match=expected):
        embed(torch.zeros(2, 1, 28, 28, dtype=dtype))


def test_patchify_rejects_sizes_the_patch_does_not_divide():
    with pytest.raises(ShapeError, match=r"image width 30 is not divisible by patch size 4 \(30 = 7\*4 \+ 2\)"):
        patchify(torch.rand(1, 1, 28, 30), 4)
