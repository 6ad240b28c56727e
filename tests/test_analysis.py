import math

import pytest
import torch

from vitbook.analysis import (
    attention_map,
    attention_maps,
    attention_rollout,
    attention_weights,
    filter_components,
    grid_of,
    mean_attention_distance,
    patch_distances,
    position_similarity,
    rollout_map,
)
from vitbook.checks import ShapeError
from vitbook.vit import ViT

SMALL = dict(img_size=12, patch_size=4, dim=16, depth=3, num_heads=2, mlp_dim=32, dropout=0.0)


def uniform(layers=2, batch=1, heads=3, tokens=5):
    return torch.full((layers, batch, heads, tokens, tokens), 1.0 / tokens)


def random_attention(layers=2, batch=2, heads=3, tokens=10):
    torch.manual_seed(0)
    return torch.randn(layers, batch, heads, tokens, tokens).softmax(dim=-1)


def test_attention_weights_of_a_model_are_rows_of_probabilities():
    model = ViT(**SMALL).train()
    weights = attention_weights(model, torch.randn(2, 1, 12, 12))
    assert weights.shape == (3, 2, 2, 10, 10)  # layers, batch, heads, 9 patches + <cls>
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 2, 10))
    assert model.training  # the mode is restored


def test_grid_of_tells_cls_from_mean_pooling():
    assert grid_of(uniform(tokens=50)) == (7, 1)
    assert grid_of(uniform(tokens=49)) == (7, 0)
    with pytest.raises(ShapeError, match="square grid"):
        grid_of(uniform(tokens=7))


def test_attention_map_reads_the_query_row_over_the_patches():
    weights = random_attention()
    cls_map = attention_map(weights, layer=1, head=2, query="cls")
    assert cls_map.shape == (2, 3, 3)
    torch.testing.assert_close(cls_map.flatten(1), weights[1, :, 2, 0, 1:])
    patch_map = attention_map(weights, layer=0, head=1, query=4)  # the centre patch, token 5
    torch.testing.assert_close(patch_map.flatten(1), weights[0, :, 1, 5, 1:])
    every = attention_maps(weights, 4)
    assert every.shape == (2, 2, 3, 3, 3)  # layers, batch, heads, grid, grid
    torch.testing.assert_close(every[0, :, 1], patch_map)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(layer=2, head=0), IndexError, "layer 2 is out of range: there are 2 layers, numbered 0 to 1"),
        (dict(layer=-1, head=0), IndexError, "layer -1 is out of range"),
        (dict(layer=0, head=3), IndexError, "head 3 is out of range: there are 3 heads"),
        (dict(layer=0, head=0, query=9), IndexError, "patch 9 is out of range: there are 9 patches, numbered 0 to 8"),
        (dict(layer=0, head=0, query=(1, 1)), TypeError, "query must be 'cls' or a patch index"),
    ],
)
def test_attention_map_bad_indices_say_what_is_allowed(kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        attention_map(random_attention(), **kwargs)


def test_attention_map_without_cls_token_asks_for_a_patch():
    weights = random_attention(tokens=9)
    with pytest.raises(ValueError, match="no <cls> token"):
        attention_map(weights, 0, 0, "cls")
    torch.testing.assert_close(attention_map(weights, 0, 0, 0).flatten(1), weights[0, :, 0, 0])


def test_bad_weights_shape_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"\(layers, batch, heads, tokens, tokens\)"):
        attention_rollout(torch.rand(2, 3, 10, 10))


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_identity_attention_rolls_out_to_identity(fusion):
    eye = torch.eye(10).expand(4, 2, 3, 10, 10)
    torch.testing.assert_close(attention_rollout(eye, fusion), torch.eye(10).expand(2, 10, 10))


def test_rollout_adds_the_residual_and_multiplies_first_layer_rightmost():
    weights = random_attention(layers=2, batch=1, heads=3, tokens=10)
    a1, a2 = [(w.mean(dim=1)[0] + torch.eye(10)) / 2 for w in weights]  # rows of w + I sum to 2
    torch.testing.assert_close(attention_rollout(weights)[0], a2 @ a1)
    assert not torch.allclose(a2 @ a1, a1 @ a2)  # the order is really tested
    rolled = attention_rollout(weights, "max")
    torch.testing.assert_close(rolled.sum(-1), torch.ones(1, 10))
    torch.testing.assert_close(rollout_map(weights).flatten(1), attention_rollout(weights)[:, 0, 1:])


def test_rollout_rejects_an_unknown_fusion():
    with pytest.raises(ValueError, match=r"head_fusion must be one of \('mean', 'max', 'min'\)"):
        attention_rollout(uniform(), "median")


def test_uniform_attention_has_the_analytic_mean_distance():
    # 2x2 grid of 4-pixel patches: from any patch the four centres lie at 0, 4, 4, 4*sqrt(2).
    expected = (0 + 4 + 4 + 4 * math.sqrt(2)) / 4
    distance = mean_attention_distance(uniform(layers=2, heads=3, tokens=5), patch_size=4)
    assert distance.shape == (2, 3)
    torch.testing.assert_close(distance, torch.full((2, 3), expected))
    # Without a <cls> token, and on a 7x7 grid against a brute-force double loop.
    centres = [(r * 4, c * 4) for r in range(7) for c in range(7)]
    brute = sum(math.dist(a, b) for a in centres for b in centres) / 49**2
    torch.testing.assert_close(mean_attention_distance(uniform(tokens=49), 4), torch.full((2, 3), brute))


def test_attention_parked_on_cls_does_not_shrink_the_distance():
    weights = torch.zeros(1, 1, 1, 5, 5)
    weights[..., 0] = 0.9  # most attention on <cls>
    weights[..., 1:, 4] = 0.1  # the rest on the bottom-right patch
    weights[..., 0, :] = 0.2  # (the <cls> row does not count)
    expected = (math.sqrt(2) * 7 + 7 + 7 + 0) / 4  # from each patch to the bottom-right one
    torch.testing.assert_close(mean_attention_distance(weights, 7), torch.tensor([[expected]]))


def test_a_query_attending_only_to_cls_counts_as_distance_zero():
    weights = torch.zeros(1, 1, 1, 5, 5)
    weights[..., 0] = 1.0
    assert mean_attention_distance(weights, 4).item() == 0.0


def test_patch_distances_are_pixels_between_centres():
    d = patch_distances(3, 4)
    assert d.shape == (9, 9) and d[0, 8] == pytest.approx(8 * math.sqrt(2)) and d[4, 5] == 4
    torch.testing.assert_close(d, d.T)


@pytest.mark.parametrize("position", ["learned", "sincos"])
def test_position_similarity_has_ones_on_its_diagonal(position):
    model = ViT(**SMALL, position=position)
    sim = position_similarity(model)
    assert sim.shape == (3, 3, 3, 3)
    diagonal = torch.stack([sim[r, c, r, c] for r in range(3) for c in range(3)])
    torch.testing.assert_close(diagonal, torch.ones(9))
    torch.testing.assert_close(sim.reshape(9, 9), sim.reshape(9, 9).T)
    assert sim.max() <= 1 + 1e-6


def test_sincos_positions_are_most_similar_to_their_neighbours():
    sim = position_similarity(ViT(**dict(SMALL, img_size=28, dim=64), position="sincos"))
    assert sim[3, 3, 3, 4] > sim[3, 3, 3, 6] and sim[3, 3, 4, 3] > sim[3, 3, 6, 3]


def test_position_similarity_needs_positions():
    with pytest.raises(ValueError, match="no position embedding"):
        position_similarity(ViT(**SMALL, position="none"))


def test_pca_recovers_planted_components():
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(16, 2))[0].T  # two orthonormal 4x4 "filters"
    coefficients = torch.randn(500, 2) * torch.tensor([3.0, 1.0])  # the first varies more
    filters = (coefficients @ basis + 0.01 * torch.randn(500, 16) + 5.0).reshape(500, 1, 4, 4)
    components, explained = filter_components(filters, k=3)
    assert components.shape == (3, 1, 4, 4) and explained.shape == (3,)
    for found, planted in zip(components.flatten(1)[:2], basis):
        assert abs(torch.dot(found, planted)) > 0.999
    assert explained[0] > 0.85 and explained[:2].sum() > 0.999 and explained[2] < 1e-3
    flat = components.flatten(1)
    assert torch.all(flat.gather(1, flat.abs().argmax(1, keepdim=True)) > 0)  # signs fixed


def test_pca_rejects_non_filters():
    with pytest.raises(ShapeError, match=r"\(out, in, p, p\)"):
        filter_components(torch.randn(10, 16))
