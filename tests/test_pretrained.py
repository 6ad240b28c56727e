import pytest
import torch

from vitbook.data import load_fashion_mnist
from vitbook.pretrained import CHECKPOINT, build, load_trained, save_trained
from vitbook.train import QUICK_RECIPE, DeviceData, History, evaluate, save_checkpoint
from vitbook.vit import ViT

SMALL = dict(img_size=28, patch_size=7, dim=16, depth=1, num_heads=2, mlp_dim=32, dropout=0.1)


def test_trained_model_round_trips_with_its_record(tmp_path):
    model = ViT(**SMALL)
    history = History(eval_acc=[0.5, 0.75], seconds=[1.0, 2.5])
    save_trained(tmp_path / "m.pt", model, SMALL, QUICK_RECIPE, history, 0.75, "CPU (test)", "pytest")
    loaded, record = load_trained(tmp_path / "m.pt")
    assert not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    assert record["config"] == SMALL and record["test_accuracy"] == 0.75 and record["seconds"] == 2.5
    assert record["recipe"]["epochs"] == QUICK_RECIPE.epochs and record["device"] == "CPU (test)"
    assert {"date", "torch", "command", "history"} <= record.keys() and "model" not in record


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m vitbook.runs run checkpoint"):
        load_trained(tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError, match="python -m vitbook.runs run baselines"):
        load_trained(tmp_path / "resnet-quick.pt")


def test_a_training_state_is_not_taken_for_a_trained_record(tmp_path):
    save_checkpoint(tmp_path / "state.pt", model=ViT(**SMALL).state_dict(), epoch=3)
    with pytest.raises(ValueError, match=r"lacks \['config', 'test_accuracy'\]"):
        load_trained(tmp_path / "state.pt")


def test_committed_checkpoint_reproduces_its_recorded_accuracy_on_cpu():
    assert CHECKPOINT.stat().st_size <= 10 * 2**20, "the committed checkpoint must stay under 10 MB"
    model, record = load_trained()
    accuracy = evaluate(model, DeviceData(load_fashion_mnist("test"), "cpu"))
    # Recorded in float32 (on a CPU) or bf16 (on a GPU): a GPU-recorded number may differ by
    # the few borderline images whose prediction flips between the two precisions.
    tolerance = 1e-4 if record["device"].startswith("CPU") else 2e-3
    assert accuracy == pytest.approx(record["test_accuracy"], abs=tolerance)
    assert record["test_accuracy"] > 0.85


@pytest.mark.parametrize(
    "config, difference",
    [
        (dict(SMALL, mlp_dim=64), r"blocks.0.mlp.fc1.weight is \(32, 16\) in the weights, \(64, 16\) for the config"),
        (dict(SMALL, depth=2), r"the weights lack blocks.1.\S+ \(and 11 more\)"),
        (dict(SMALL, pool="mean"), "the weights have an extra tokens.cls_token"),
    ],
)
def test_a_checkpoint_whose_config_does_not_match_its_weights_is_refused(tmp_path, config, difference):
    save_checkpoint(tmp_path / "m.pt", model=ViT(**SMALL).state_dict(), config=config, test_accuracy=0.5)
    with pytest.raises(
        ValueError,
        match=f"m.pt: its saved config does not match its weights \\({difference}\\); "
        "the file was edited or damaged: make it again with",
    ):
        load_trained(tmp_path / "m.pt")


def test_a_checkpoint_whose_config_builds_nothing_lists_the_kinds(tmp_path):
    save_checkpoint(
        tmp_path / "m.pt", model=ViT(**SMALL).state_dict(), config=dict(SMALL, model="ViT"), test_accuracy=0.5
    )
    with pytest.raises(
        ValueError,
        match='its saved config does not build a model \\(a config\'s "model" is one '
        "of 'vit', 'conv-stem vit', 'compact vit', 'distilled vit', 'mlp', 'resnet', not 'ViT'\\)",
    ):
        load_trained(tmp_path / "m.pt")
    with pytest.raises(
        ValueError, match="one of 'vit', 'conv-stem vit', 'compact vit', 'distilled vit', 'mlp', 'resnet', not 'ViT'"
    ):
        build({"model": "ViT"})


@pytest.mark.parametrize(
    "config, difference",
    [
        (dict(SMALL, num_heads=4), "its num_heads is 2, the config's 4"),  # the weights do not show the heads
        (dict(SMALL, dropout=0.0), "its dropout is 0.1, the config's 0.0"),
        (dict(SMALL, model="resnet"), "it builds none \\(ResNet.__init__\\(\\) got an unexpected keyword"),
    ],
)
def test_a_config_that_does_not_describe_the_model_is_not_saved(tmp_path, config, difference):
    with pytest.raises(ValueError, match=f"does not describe the model: {difference}"):
        save_trained(tmp_path / "m.pt", ViT(**SMALL), config, QUICK_RECIPE, History(seconds=[1.0]), 0.5, "CPU", "")
    assert not (tmp_path / "m.pt").exists()


def test_a_model_name_for_the_path_lists_the_trained_models():
    listed = (
        "takes a checkpoint's path, not a model's name: the trained models are vit-book.pt, "
        "vit-quick.pt, mlp-quick.pt, resnet-quick.pt"
    )
    with pytest.raises(FileNotFoundError, match=listed):
        load_trained("ViT")
    with pytest.raises(TypeError, match="load_trained takes a checkpoint's path, not a ViT"):
        load_trained(ViT(**SMALL))


def test_a_config_of_another_kind_of_model_is_not_saved(tmp_path):
    four = dict(SMALL, patch_size=4)
    lack = r"does not describe the model: the weights lack patch_embed.convs.0.weight \(and \d+ more\)"
    with pytest.raises(ValueError, match=lack):
        save_trained(
            tmp_path / "m.pt",
            ViT(**four),
            dict(four, model="conv-stem vit"),
            QUICK_RECIPE,
            History(seconds=[1.0]),
            0.5,
            "CPU",
            "",
        )
