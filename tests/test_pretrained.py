import pytest
import torch

from vitbook.data import load_fashion_mnist
from vitbook.pretrained import CHECKPOINT, load_trained, save_trained
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

