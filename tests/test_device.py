import pytest
import torch

from vitbook.device import full_precision, get_device, quick_mode, seed_everything


def test_device_follows_cuda_availability():
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("off", False)])
def test_quick_mode_environment_variable(monkeypatch, value, quick):
    monkeypatch.setenv("VITBOOK_QUICK", value)
    assert quick_mode() is quick


def test_quick_mode_default_is_quick_without_a_gpu(monkeypatch):
    monkeypatch.delenv("VITBOOK_QUICK", raising=False)
    assert quick_mode() is (not torch.cuda.is_available())


def test_quick_mode_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv("VITBOOK_QUICK", "fast")
    with pytest.raises(ValueError, match="VITBOOK_QUICK='fast': use 1 .* or 0"):
        quick_mode()


def test_seed_everything_repeats_random_draws():
    seed_everything(3)
    first = torch.rand(4), torch.nn.Linear(4, 2).weight.detach().clone()
    seed_everything(3)
    assert torch.equal(torch.rand(4), first[0])
    assert torch.equal(torch.nn.Linear(4, 2).weight, first[1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_says_so_and_offers_the_cpu():
    from vitbook.data import FashionMNIST
    from vitbook.pretrained import load_trained
    from vitbook.train import DeviceData

    with pytest.raises(ValueError, match="no CUDA device is present on this machine.*device='cpu'"):
        get_device("cuda")
    split = FashionMNIST(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), (), None)
    with pytest.raises(ValueError, match="no CUDA device is present"):
        DeviceData(split, "cuda")
    with pytest.raises(ValueError, match="no CUDA device is present"):
        load_trained(device="cuda")
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        get_device("gpu")
    assert get_device("cpu") == torch.device("cpu")


def test_full_precision_turns_off_tf32_and_the_fused_fast_path():
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.mha.get_fastpath_enabled(),
    )
    try:
        full_precision()
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert not torch.backends.mha.get_fastpath_enabled()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.backends.mha.set_fastpath_enabled(saved[2])
