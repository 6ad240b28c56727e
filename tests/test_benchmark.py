import json

import pytest
import torch

from vitbook import benchmark
from vitbook.train import load_checkpoint
from vitbook.vit import BOOK_CONFIG, ViT


def test_quick_benchmark_writes_every_field(tmp_path, monkeypatch):
    out, ckpt = tmp_path / "smoke.json", tmp_path / "vit.pt"
    monkeypatch.setattr("sys.argv", ["benchmark", "--quick"])
    benchmark.main(["--quick", "--out", str(out), "--checkpoint", str(ckpt)])
    result = json.loads(out.read_text())
    assert {"device", "torch", "date", "command", "d2l", "book", "throughput"} <= result.keys()
    assert result["quick"] is True and result["torch"] == torch.__version__
    for key in ("accuracy", "seconds", "history"):
        assert key in result["d2l"] and key in result["book"]
    book = result["book"]
    assert {"compile_seconds", "seconds_to_d2l_accuracy", "seed_accuracies", "mean_accuracy"} <= book.keys()
    assert 0 <= book["accuracy"] <= 1 and book["seconds"] > 0
    speed = result["throughput"]
    assert speed["book_images_per_s"] > 0 and speed["ratio"] == pytest.approx(
        speed["book_images_per_s"] / speed["timm_images_per_s"])
    state = load_checkpoint(ckpt)
    model = ViT(**state["config"])
    model.load_state_dict(state["model"])
    assert state["config"] == BOOK_CONFIG and state["test_accuracy"] == book["accuracy"]


def test_recorded_runs_are_read_newest_first(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "RESULTS", tmp_path)
    assert benchmark.recorded_runs() == []
    for date in ("2026-01-02", "2026-03-04"):
        (tmp_path / f"benchmark-{date}.json").write_text(json.dumps({"date": date}))
    assert [r["date"] for r in benchmark.recorded_runs()] == ["2026-03-04", "2026-01-02"]
