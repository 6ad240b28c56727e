import functools
import math
import re

import nbformat
import numpy as np
import pytest
import torch

from conftest import ROOT
from vitbook import exercises
from vitbook.exercises import ExerciseError, check_unpatchify
from vitbook.patches import patchify

# Every coded exercise: (chapter, the function the student writes, its check).
EXERCISES = [
    ("01_patches.ipynb", "unpatchify", "check_unpatchify"),
    ("02_tokens.ipynb", "sincos", "check_sincos_1d"),
    ("03_attention.ipynb", "masked_attention", "check_masked_attention"),
    ("04_encoder_block.ipynb", "layer_norm", "check_layer_norm"),
    ("05_vit.ipynb", "count_parameters", "check_count_parameters"),
    ("06_training.ipynb", "lr_factor", "check_lr_schedule"),
    ("07_inside.ipynb", "attention_entropy", "check_attention_entropy"),
    ("08_vit_vs_cnn.ipynb", "receptive_field", "check_receptive_field"),
    ("09_transfer.ipynb", "resample", "check_resample_positions"),
    ("10_scaling_out.ipynb", "my_shard", "check_shard"),
    ("11_small_data.ipynb", "sequence_pool", "check_sequence_pool"),
    ("11_small_data.ipynb", "mask_diagonal", "check_mask_diagonal"),
    ("11_small_data.ipynb", "token_count", "check_token_count"),
    ("11_small_data.ipynb", "mixup", "check_mixup"),
]

SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION", re.S)


def solution_cell(notebook: str, name: str) -> str:
    """The source of the code cell in `notebook` that defines `name` with a solution region."""
    nb = nbformat.read(ROOT / "book" / notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and f"def {name}(" in cell.source and "### BEGIN SOLUTION" in cell.source:
            return cell.source
    raise AssertionError(f"{notebook} has no solution cell defining {name}")


def define(source: str, name: str):
    namespace = {"torch": torch, "math": math}
    exec(source, namespace)
    return namespace[name]


@pytest.mark.parametrize("notebook, name, check", EXERCISES)
def test_reference_solution_passes(capsys, notebook, name, check):
    getattr(exercises, check)(define(solution_cell(notebook, name), name))
    assert capsys.readouterr().out.startswith("✓ Correct")


@pytest.mark.parametrize("notebook, name, check", EXERCISES)
def test_stub_says_it_is_not_written_yet(notebook, name, check):
    stub = SOLUTION.sub(r"\1raise NotImplementedError", solution_cell(notebook, name))
    with pytest.raises(ExerciseError, match="not written yet: replace `raise NotImplementedError`"):
        getattr(exercises, check)(define(stub, name))


def test_every_chapter_has_its_coded_exercise_listed():
    listed = {notebook for notebook, _, _ in EXERCISES}
    assert listed == {p.name for p in (ROOT / "book").glob("*.ipynb")}
    teachers = (ROOT / "book" / "teachers.md").read_text()
    assert all(f"`{check}`" in teachers for _, _, check in EXERCISES), "the teacher's table"


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda patches, p, c: None, "returned None: did you forget the `return`"),
        (lambda patches, p, c: [1, 2], "returned a list, expected a torch.Tensor"),
        (lambda patches, p, c: patches.reshape(2, 1, 28, 28).half(), "dtype torch.float16, expected float32"),
        (lambda patches, p, c: (patches.reshape(2, 1, 28, 28) * 0).long(), "dtype torch.int64, expected float32"),
        (lambda patches, p, c: patches, r"shape \(2, 49, 16\), but should have 4: \(2, 1, 28, 28\)"),
        (lambda patches, p, c: patches.reshape(2, 1, 28, 28), "max \\|difference\\| = .* at index .*patch size 4"),
        (lambda patches, p, c: patches[7], "raised IndexError: index 7 is out of bounds"),
        (42, "should be a function, but it is int"),
    ],
)
def test_wrong_answers_get_a_clear_message(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_unpatchify(answer)


def test_channel_last_answer_fails_on_the_rgb_case():
    def channel_last(patches, p, c):
        b, n, _ = patches.shape
        s = int(n**0.5)
        return patches.reshape(b, s, s, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, s * p, s * p)

    with pytest.raises(ExerciseError, match="3 channel"):
        check_unpatchify(channel_last)
    assert channel_last(patchify(torch.rand(1, 1, 8, 8), 4), 4, 1).shape == (1, 1, 8, 8)


def test_masked_attention_that_ignores_the_mask_is_caught():
    def unmasked(q, k, v, mask):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v

    with pytest.raises(ExerciseError, match="causal mask; masked scores must become -inf"):
        exercises.check_masked_attention(unmasked)


def test_layer_norm_with_unbiased_variance_is_caught():
    def unbiased(x, weight, bias, eps):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight + bias

    with pytest.raises(ExerciseError, match="unbiased=False"):
        exercises.check_layer_norm(unbiased)


def test_sincos_with_swapped_halves_is_caught():
    def swapped(positions, dim):
        freqs = 10000.0 ** (-torch.arange(dim // 2) / (dim // 2))
        angles = positions.float()[:, None] * freqs
        return torch.cat([angles.cos(), angles.sin()], dim=1)

    with pytest.raises(ExerciseError, match="max \\|difference\\|"):
        exercises.check_sincos_1d(swapped)


def test_parameter_count_off_by_the_biases_says_by_how_much():
    def no_biases(img_size, patch_size, dim, depth, num_heads, mlp_dim, in_channels=1, num_classes=10, **rest):
        return 0

    with pytest.raises(ExerciseError, match="returned 0, but that ViT has .* parameters"):
        exercises.check_count_parameters(no_biases)
    with pytest.raises(ExerciseError, match="returned 1.5, expected a whole number"):
        exercises.check_count_parameters(lambda **config: 1.5)
    with pytest.raises(ExerciseError, match="returned a str, expected a whole number"):
        exercises.check_count_parameters(lambda **config: "12")
    with pytest.raises(ExerciseError, match=r"returned a Tensor of shape \(2,\), expected a whole number"):
        exercises.check_count_parameters(lambda **config: torch.zeros(2))


def exact_count(**config):
    from vitbook.vit import ViT

    return sum(p.numel() for p in ViT(**config).parameters())


@pytest.mark.parametrize(
    "convert",
    [int, float, np.int64, np.float32, torch.tensor],
    ids=["int", "float", "numpy-int", "numpy-float", "tensor"],
)
def test_a_numerically_right_count_is_accepted_whatever_its_type(capsys, convert):
    exercises.check_count_parameters(lambda **config: convert(exact_count(**config)))
    assert capsys.readouterr().out.startswith("✓ Correct")


@pytest.mark.parametrize(
    "convert",
    [float, np.float64, torch.tensor, lambda x: torch.tensor([x])],
    ids=["float", "numpy", "0-d tensor", "1-element tensor"],
)
def test_a_right_learning_rate_factor_is_accepted_whatever_its_type(capsys, convert):
    def lr_factor(step, total, warmup):
        if step < warmup:
            return convert((step + 1) / warmup)
        return convert(0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))

    exercises.check_lr_schedule(lr_factor)
    assert capsys.readouterr().out.startswith("✓ Correct")


def test_a_float64_table_is_as_right_as_a_float32_one(capsys):
    answer = define(solution_cell("02_tokens.ipynb", "sincos"), "sincos")
    exercises.check_sincos_1d(lambda positions, dim: answer(positions, dim).double())
    exercises.check_sincos_1d(lambda positions, dim: answer(positions, dim).float())
    assert capsys.readouterr().out.count("✓ Correct") == 2


def test_importing_the_packages_answer_is_not_an_answer():
    from functools import partial

    from vitbook.tokens import sincos_1d
    from vitbook.train import schedule_factor

    def wraps(positions, dim):
        return sincos_1d(positions, dim)

    for answer in (sincos_1d, wraps):
        with pytest.raises(
            ExerciseError, match="vitbook's `vitbook.tokens.sincos_1d`: the exercise asks for your own code"
        ):
            exercises.check_sincos_1d(answer)
    with pytest.raises(ExerciseError, match="is vitbook's `vitbook.train.schedule_factor`"):
        exercises.check_lr_schedule(partial(schedule_factor, schedule="cosine"))


def test_schedule_without_warm_up_is_caught():
    def cosine_only(step, total, warmup):
        return 0.5 * (1 + math.cos(math.pi * step / total))

    with pytest.raises(ExerciseError, match=r"lr_factor\(0, 100, 10\) returned 1.000000, expected 0.100000 .*warm-up"):
        exercises.check_lr_schedule(cosine_only)


def widths(layers, own_stride=False):
    """Receptive-field widths; with own_stride, the common mistake of counting a layer's own stride."""
    width, jump, out = 1, 1, []
    for kernel, stride in layers:
        jump *= stride if own_stride else 1
        width += (kernel - 1) * jump
        jump *= 1 if own_stride else stride
        out.append(width)
    return out


def test_receptive_field_counting_its_own_stride_is_caught():
    with pytest.raises(
        ExerciseError, match=r"layer 3 \(kernel 3, stride 2\) should see 9 pixels, not 11 .*the book's ResNet"
    ):
        exercises.check_receptive_field(lambda layers: widths(layers, own_stride=True))
    with pytest.raises(ExerciseError, match=r"expected one width per layer, 7 in all: \[3, 5, 7, 9, 13, 17, 25\]"):
        exercises.check_receptive_field(lambda layers: widths(layers)[-1:])
    with pytest.raises(ExerciseError, match="receptive_field's entry 0 returned 3.5, expected a whole number"):
        exercises.check_receptive_field(lambda layers: [w + 0.5 for w in widths(layers)])


@pytest.mark.parametrize("convert", [list, tuple, torch.tensor, np.array, lambda w: [float(v) for v in w]])
def test_right_receptive_fields_are_accepted_whatever_their_container(capsys, convert):
    exercises.check_receptive_field(lambda layers: convert(widths(layers)))
    assert capsys.readouterr().out.startswith("✓ Correct")


def resample(table, new, mode="bicubic", antialias=False, transposed=False):
    """A student's position resampling, right or with a chosen mistake."""
    cls, grid = table[:, :1], table[:, 1:]
    side, width = math.isqrt(grid.shape[1]), table.shape[-1]
    grid = grid.reshape(1, side, side, width).permute(0, 3, 1, 2)
    if transposed:
        grid = grid.transpose(2, 3)
    grid = torch.nn.functional.interpolate(grid, size=(new, new), mode=mode, antialias=antialias)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, -1, width)], dim=1)


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
@pytest.mark.parametrize("antialias", [True, False])
def test_every_right_position_resampling_is_accepted(capsys, mode, antialias):
    exercises.check_resample_positions(lambda t, n: resample(t, n, mode, antialias))
    assert capsys.readouterr().out.startswith("✓ Correct")


def test_position_resampling_mistakes_are_named():
    with pytest.raises(ExerciseError, match="the grid looks transposed"):
        exercises.check_resample_positions(lambda t, n: resample(t, n, transposed=True))
    with pytest.raises(ExerciseError, match=r"the first entry \(the <cls> token's\) changed"):
        exercises.check_resample_positions(lambda t, n: torch.cat([t[:, :1] * 2, resample(t, n)[:, 1:]], 1))
    with pytest.raises(ExerciseError, match=r"expected \(1, 197, 8\): the <cls> entry plus one vector per patch"):
        exercises.check_resample_positions(lambda t, n: resample(t, n)[:, 1:])
    with pytest.raises(ExerciseError, match="differ from a bicubic or bilinear resampling"):
        exercises.check_resample_positions(lambda t, n: resample(t, n, mode="nearest"))


def test_every_right_way_to_shard_is_accepted(capsys):
    def consecutive(batch, rank, world):
        base, extra = divmod(batch, world)
        first = rank * base + min(rank, extra)
        return list(range(first, first + base + (rank < extra)))

    for answer in (consecutive, lambda b, r, w: slice(r, b, w), lambda b, r, w: torch.arange(r, b, w)):
        exercises.check_shard(answer)
        assert capsys.readouterr().out.startswith("✓ Correct")


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda b, r, w: slice(r * (b // w), (r + 1) * (b // w)), r"positions \[78, 79\] go to no rank"),
        (lambda b, r, w: range(b), r"positions \[0, 1, 2, 3, 4\] go to more than one rank"),
        (lambda b, r, w: range(max(0, r * b // w - 1), (r + 1) * b // w), r"positions \[63\] go to more than one rank"),
        (lambda b, r, w: range(b) if r == 0 else [], r"go to more than one rank|the ranks get \[128, 0\] images"),
        (lambda b, r, w: [b + r], r"positions \[128, 129\] are outside the batch 0 \.\.\. 127"),
        (lambda b, r, w: 3, "returned 3, expected the positions in the batch"),
    ],
)
def test_wrong_shards_say_what_is_wrong(answer, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_shard(answer)


def test_every_right_diagonal_mask_is_accepted_and_a_weak_one_is_named(capsys):
    def masked_with(value):
        return lambda s: s.masked_fill(torch.eye(s.shape[-1], dtype=torch.bool), value)

    for value in (float("-inf"), -987654321.0, torch.finfo(torch.float32).min):
        exercises.check_mask_diagonal(masked_with(value))
        assert capsys.readouterr().out.startswith("✓ Correct")
    with pytest.raises(ExerciseError, match="still attends to itself"):
        exercises.check_mask_diagonal(masked_with(-10.0))
    with pytest.raises(ExerciseError, match="off the diagonal changed"):
        exercises.check_mask_diagonal(lambda s: s.tril(-1) + s.triu(1) - 1e30 * torch.eye(s.shape[-1]) - 1)


def test_sequence_pooling_over_the_wrong_axis_is_caught():
    def over_features(tokens, weight, bias):
        weights = (tokens @ weight.T + bias).softmax(dim=-1)  # a softmax over a single score
        return (weights * tokens).sum(dim=1)

    with pytest.raises(ExerciseError, match="softmax over the tokens"):
        exercises.check_sequence_pool(over_features)


@pytest.mark.parametrize("convert", [int, float, torch.tensor, np.int64])
def test_token_counts_are_accepted_whatever_their_type_and_halving_is_named(capsys, convert):
    def token_count(size, layers):
        for _ in range(layers):
            size = (size + 1) // 2  # the pooling rounds an odd side up
        return convert(size * size)

    exercises.check_token_count(token_count)
    assert capsys.readouterr().out.startswith("✓ Correct")
    with pytest.raises(ExerciseError, match=r"token_count\(28, 3\) returned 9, expected 16.*rounds an odd size up"):
        exercises.check_token_count(lambda size, layers: (size // 2**layers) ** 2)


def test_mixup_is_accepted_however_the_one_hot_vectors_are_made_and_wrong_pairs_are_named(capsys):
    def mixup(x, labels, lam, num_classes, one_hot=lambda labels, n: torch.eye(n)[labels], pair=lambda t: t.flip(0)):
        targets = one_hot(labels, num_classes)
        return lam * x + (1 - lam) * pair(x), lam * targets + (1 - lam) * pair(targets)

    def scattered(labels, n):
        return torch.zeros(len(labels), n, dtype=torch.float64).scatter_(1, labels[:, None], 1.0)

    def rearranged(x, labels, lam, num_classes):  # the same mixup, rounded differently
        one_hot = torch.eye(num_classes)[labels]
        return x.flip(0) + lam * (x - x.flip(0)), one_hot.flip(0) + lam * (one_hot - one_hot.flip(0))

    for answer in (mixup, functools.partial(mixup, one_hot=scattered), rearranged):
        exercises.check_mixup(answer)
        assert capsys.readouterr().out.startswith("✓ Correct")
    for shift in (1, -1):
        with pytest.raises(ExerciseError, match="mixed with its neighbour: pair image i with image B-1-i"):
            exercises.check_mixup(functools.partial(mixup, pair=lambda t, shift=shift: t.roll(shift, 0)))
    with pytest.raises(ExerciseError, match="targets' weights are swapped: image i's own label gets lam"):
        exercises.check_mixup(lambda x, y, lam, n: (mixup(x, y, lam, n)[0], mixup(x, y, 1 - lam, n)[1]))
    with pytest.raises(ExerciseError, match="weights are swapped"):
        exercises.check_mixup(lambda x, y, lam, n: mixup(x, y, 1 - lam, n))
    with pytest.raises(ExerciseError, match="mixup's targets.*one-hot vectors"):
        exercises.check_mixup(lambda x, y, lam, n: (mixup(x, y, lam, n)[0], y.float()))
    with pytest.raises(ExerciseError, match="should return two things"):
        exercises.check_mixup(lambda x, y, lam, n: mixup(x, y, lam, n)[0])
