"""The recorded run `step_speed`: profile before guessing. How fast a training step of the
quick setting (target T3), of chapter 11's compact ViT and of the ResNet it is matched
against (target T1) runs under each setting that could make it faster on the book's CPU (batch size, threads,
`torch.compile`, bfloat16 autocast, channels-last for the convolutions), one change at a
time in alternating rounds in one process; and where the quick setting's step spends its
time (`torch.profiler`)."""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from ..device import seed_everything
from ..pretrained import build
from ..runs import recorded_run
from ..vit import QUICK_CONFIG
from .chapter06 import images_per_second
from .chapter08 import BASELINES
from .chapter11 import WINNER

STEP_SPEED = dict(images=7680, rounds=5, profiled_steps=20)  # images per measurement
# One change each from batch 128, float32, all threads; channels-last only where there
# are convolutions (the compact ViT's tokenizer, the ResNet)
STEP_SETTINGS = {
    "batch 128, float32 (the recipe's)": {},
    "batch 256": dict(batch=256),
    "batch 512": dict(batch=512),
    "one thread": dict(threads=1),
    "torch.compile": dict(compile=True),
    "bfloat16 autocast": dict(bf16=True),
    "channels-last": dict(channels_last=True),
}
STEP_MODELS = {"quick setting": QUICK_CONFIG, "compact ViT": WINNER, "ResNet": BASELINES["ResNet"]}


def settings_for(config: dict) -> dict[str, dict]:
    """The settings of STEP_SETTINGS that apply to `config`'s model."""
    convolutional = config.get("tokenizer") == "conv" or config.get("model") == "resnet"
    return {name: s for name, s in STEP_SETTINGS.items() if convolutional or not s.get("channels_last")}


def measure(model: torch.nn.Module, setting: dict, device: torch.device, images: int) -> float:
    """`images_per_second` of `model` under `setting` (its batch, threads, bf16 and
    channels_last; `compile` is applied when the model is built), about `images` images."""
    batch = setting.get("batch", 128)
    threads = torch.get_num_threads()
    torch.set_num_threads(setting.get("threads", threads))
    try:
        return images_per_second(
            model,
            28,
            device,
            batch,
            max(1, images // batch),
            bf16=setting.get("bf16", False),
            channels_last=setting.get("channels_last", False),
        )
    finally:
        torch.set_num_threads(threads)


def profile_step(config: dict, device: torch.device, steps: int, top: int = 12) -> dict[str, float]:
    """The share of a training step's CPU time (batch 128, float32) that each of the `top`
    operators takes by its own time (`torch.profiler`), and the rest as "other"."""
    seed_everything(0)
    model = build(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(128, 1, 28, 28, device=device), torch.randint(0, 10, (128,), device=device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    shares = {e.key: e.self_cpu_time_total / total for e in events[:top]}
    return dict(shares, other=1 - sum(shares.values()))


@recorded_run(
    "step_speed",
    "training images/s of the quick setting, chapter 11's compact ViT and the ResNet under "
    "one change at a time from batch 128, float32, all threads (batch 256 and 512, one "
    "thread, torch.compile, bfloat16 autocast, channels-last where there are convolutions), "
    "in alternating rounds in one process, medians of the rounds; and a torch.profiler "
    "breakdown of the quick setting's step",
)
def step_speed(device, parts, progress):
    models = {}
    for model_name, config in STEP_MODELS.items():
        for name, setting in settings_for(config).items():
            seed_everything(0)
            model = build(config)
            models[model_name, name] = (torch.compile(model) if setting.get("compile") else model, setting)
    rates = {key: [] for key in models}
    for _ in range(STEP_SPEED["rounds"]):
        for key, (model, setting) in models.items():
            rates[key].append(measure(model, setting, device, STEP_SPEED["images"]))
    speeds = {
        model_name: {
            name: {"images_per_s": statistics.median(rates[model_name, name]), "rounds": rates[model_name, name]}
            for (m, name) in models
            if m == model_name
        }
        for model_name in STEP_MODELS
    }
    return dict(speeds, profile=profile_step(QUICK_CONFIG, device, STEP_SPEED["profiled_steps"]))
