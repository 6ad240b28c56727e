"""Chapter 10: DDP through the book's trainer, on the CPU with gloo and two processes
started by torchrun, against one process with the whole batch."""

import json
import subprocess
import time
from dataclasses import replace

import pytest
import torch

from vitbook.ddp_train import torchrun_command
from vitbook.device import seed_everything
from vitbook.distributed import check_batch_size, shard, start
from vitbook.pretrained import build
from vitbook.train import QUICK_RECIPE, load_checkpoint, splits, train
from vitbook.vit import QUICK_CONFIG

STEPS, BATCH = 4, 64


def torchrun(tmp_path, *args, processes=2, timeout=300):
    command = torchrun_command(
        processes, tmp_path / "result.json", "--batch-size", str(BATCH), "--eval-images", "100", *args
    )
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("batch, world", [(128, 2), (80, 2), (64, 4), (7, 3), (5, 5)])
def test_the_shards_of_a_batch_are_consecutive_and_cover_it_once(batch, world):
    parts = [shard(batch, rank, world) for rank in range(world)]
    assert [i for p in parts for i in range(batch)[p]] == list(range(batch))
    sizes = [p.stop - p.start for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_bad_shards_and_batches_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="rank 2 is not one of the 2 processes"):
        shard(128, 2, 2)
    with pytest.raises(ValueError, match="a batch of 2 cannot give each of 3 processes an image"):
        shard(2, 0, 3)
    with pytest.raises(
        ValueError, match="global batch of 100 does not split evenly over 3 processes; use a batch size divisible by 3"
    ):
        check_batch_size(100, 3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: check_batch_size(0, world_size=2), "batch_size must be a positive integer, not 0"),
        (lambda: check_batch_size(128, world_size=0), r"world_size \(the number of processes\) must be a positive"),
        (lambda: check_batch_size(128.0, 2), "batch_size must be a positive integer, not 128.0; it is a float"),
        (lambda: shard(0, 0, 2), "batch must be a positive integer, not 0"),
        (lambda: shard(8, 0, 0), "world_size must be a positive integer, not 0"),
        (lambda: start(timeout_s=0), "timeout_s must be a positive number of seconds, not 0"),
    ],
)
def test_empty_batches_and_no_processes_are_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--steps", "0", "argument --steps: must be at least 1, not 0"),
        ("--steps", "-3", "argument --steps: must be at least 1, not -3"),
        ("--steps", "ten", "argument --steps: 'ten' is not a whole number"),
        ("--epochs", "0", "argument --epochs: must be at least 1, not 0"),
        ("--batch-size", "0", "argument --batch-size: must be at least 1, not 0"),
        ("--train-images", "0", "argument --train-images: must be at least 1, not 0"),
        ("--device", "gpu", "argument --device: invalid choice: 'gpu'"),
    ],
)
def test_the_command_refuses_what_it_cannot_run(option, value, message, capsys):
    from vitbook.ddp_train import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["--out", "x.json", option, value])
    assert message in capsys.readouterr().err


def test_the_recorded_steps_and_images_are_those_trained():
    from vitbook.ddp_train import steps_and_images

    recipe = replace(QUICK_RECIPE, epochs=2, batch_size=64)  # 500 images: 8 steps an epoch, the last of 52
    assert steps_and_images(None, 500, recipe) == (16, 1000)
    assert steps_and_images(4, 500, recipe) == (4, 256)
    assert steps_and_images(9, 500, recipe) == (9, 564)
    assert steps_and_images(1000, 500, recipe) == (16, 1000)  # more steps than the epochs hold


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((0,), ValueError, "processes must be a positive integer, not 0"),
        ((-1,), ValueError, "processes must be a positive integer, not -1"),
        (
            (1, "--steps", "ten"),
            ValueError,
            ("vitbook.ddp_train refuses the options '--steps ten': argument --steps: 'ten' is not a whole number"),
        ),
        ((1, "--stpes", "3"), ValueError, "unrecognized arguments: --stpes 3"),
        ((2, "--batch-size", "7"), ValueError, "global batch of 7 does not split evenly over 2 processes"),
        ((1, "--out", "x.json"), ValueError, "launch itself sets --out"),
        ((1, "--steps", 10), TypeError, r"command-line strings.*pass str\(10\)"),
    ],
)
def test_launch_refuses_in_one_line_before_torchrun_starts(args, error, message, monkeypatch):
    from vitbook import ddp_train

    monkeypatch.setattr(ddp_train.subprocess, "run", lambda *a, **k: pytest.fail("torchrun was started"))
    with pytest.raises(error, match=message) as err:
        ddp_train.launch(*args)
    assert "\n" not in str(err.value)


def test_a_failed_run_names_the_rank_and_its_error_first():
    from vitbook.ddp_train import _first_failure

    output = (
        "[rank1]: Traceback ...\nRoot Cause (first observed failure):\n[0]:\n  rank      : 1 (local_rank: 1)\n"
        '  traceback : Traceback (most recent call last):\n    File "x.py", line 1, in main\n'
        "  ValueError: a global batch of 7 does not split evenly over 2 processes\n=====\n"
    )
    said = _first_failure(output)
    assert said.splitlines()[0] == ": rank 1: ValueError: a global batch of 7 does not split evenly over 2 processes"
    assert "Root Cause" in said


def test_started_without_torchrun_says_how_to_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        RuntimeError,
        match="RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set.*"
        "torchrun --nproc-per-node N -m vitbook.ddp_train",
    ):
        start()


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for NCCL on a machine without a GPU")
def test_nccl_without_a_gpu_is_refused(monkeypatch):
    for name, value in dict(
        RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29999"
    ).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="no CUDA device is present"):
        start("cuda")


def test_the_throughput_run_starts_one_process_a_gpu_and_never_more_than_there_are(monkeypatch):
    from vitbook.experiments.chapter10 import DDP_THROUGHPUT, process_counts

    assert process_counts(torch.device("cpu")) == DDP_THROUGHPUT["processes"] == (1, 2)
    for gpus, counts in ((0, (1,)), (1, (1,)), (2, (1, 2)), (8, (1, 2))):
        monkeypatch.setattr(torch.cuda, "device_count", lambda gpus=gpus: gpus)
        assert process_counts(torch.device("cuda")) == counts


def test_two_processes_with_half_batches_end_where_one_process_does(tmp_path):
    done = torchrun(tmp_path, "--steps", str(STEPS), "--weights", str(tmp_path / "ddp.pt"))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert (result["processes"], result["backend"], result["steps"]) == (2, "gloo", STEPS)

    train_data, validation, _ = splits(torch.device("cpu"))
    seed_everything(0)
    model = build(QUICK_CONFIG)
    train(
        model,
        train_data,
        validation.first(100),
        replace(QUICK_RECIPE, epochs=1, batch_size=BATCH),
        progress=False,
        on_step=lambda step, loss: step + 1 >= STEPS,
    )
    ddp = load_checkpoint(tmp_path / "ddp.pt")["model"]
    alone = model.state_dict()
    assert ddp.keys() == alone.keys()
    worst = max((ddp[k] - alone[k]).abs().max().item() for k in alone)
    moved = max((alone[k] - v).abs().max().item() for k, v in build_seeded().items())
    assert worst <= 1e-6 < moved, (worst, moved)  # equal, and not because nothing trained


def build_seeded():
    seed_everything(0)
    return build(QUICK_CONFIG).state_dict()


def test_one_failing_rank_ends_the_whole_run_with_its_error(tmp_path):
    began = time.perf_counter()
    done = torchrun(tmp_path, "--steps", "200", "--fail-at-step", "2", timeout=180)
    took = time.perf_counter() - began
    assert done.returncode != 0
    cause = done.stderr[done.stderr.index("Root Cause") :]  # torchrun's summary of the first failure
    assert "rank      : 1" in cause and "rank 1 fails on purpose at step 2" in cause
    assert not (tmp_path / "result.json").exists()
    assert took < 120, f"the other rank was left waiting: {took:.0f} s"


def test_a_run_that_failed_resumes_from_rank_0s_checkpoint_and_ends_as_if_it_had_not(tmp_path):
    small = ["--train-images", "512", "--epochs", "2"]  # 8 steps an epoch
    whole = torchrun(tmp_path, *small, "--weights", str(tmp_path / "whole.pt"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    state = str(tmp_path / "state.pt")
    failed = torchrun(tmp_path, *small, "--checkpoint", state, "--fail-at-step", "10")  # in epoch 2
    assert failed.returncode != 0 and load_checkpoint(state)["epoch"] == 1
    resumed = torchrun(tmp_path, *small, "--checkpoint", state, "--weights", str(tmp_path / "resumed.pt"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (load_checkpoint(tmp_path / f"{name}.pt")["model"] for name in ("whole", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(state)["epoch"] == 2
