"""The recorded run `step_speed`: profile before guessing. How fast a training step of the
quick setting (target T3), of chapter 11's compact ViT and of the ResNet it is matched
against (target T1) runs under each setting that could make it faster on the book's CPU
(batch size, threads, `torch.compile`, bfloat16 autocast, channels-last for the
convolutions), one change at a time, in rounds of random order in one process; and where
the quick setting's step spends its time (`torch.profiler`)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from ..device import seed_everything
from ..pretrained import build
from ..runs import recorded_run
from ..vit import QUICK_CONFIG
from .chapter06 import images_per_second, training_step
from .chapter08 import BASELINES
from .chapter11 import WINNER

STEP_SPEED = dict(images=7680, rounds=5, profiled_steps=20)  # images per measurement
BASELINE = "batch 128, float32 (the recipe's)"
# One change each from the baseline (batch 128, float32, all threads); channels-last
# matters where there are convolutions: every model's patch embedding or tokenizer, the
# ResNet throughout
STEP_SETTINGS = {
    BASELINE: {},
    "batch 256": dict(batch=256),
    "batch 512": dict(batch=512),
    "one thread": dict(threads=1),
    "torch.compile": dict(compile=True),
    "bfloat16 autocast": dict(bf16=True),
    "channels-last": dict(channels_last=True),
}
STEP_MODELS = {"quick setting": QUICK_CONFIG, "compact ViT": WINNER, "ResNet": BASELINES["ResNet"]}
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what bfloat16 speed depends on


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
    """The share of a training step's CPU time (batch 128, float32, after 3 warm-up steps)
    that each of the `top` operators takes by its own time (`torch.profiler`), the rest as
    "other", and the optimizer's step with the arithmetic it calls ("AdamW step, inclusive":
    its own share is only the Python loop around that arithmetic)."""
    seed_everything(0)
    step = training_step(build(config), 28, device, batch=128)
    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    shares = {e.key: e.self_cpu_time_total / total for e in events[:top]}
    adamw = sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step#AdamW"))
    return dict(shares, other=1 - sum(shares.values()), **{"AdamW step, inclusive": adamw / total})


def cpu_flags() -> dict:
    """The CPU's vector capability as torch sees it, and which of CPU_FLAGS it has."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.is_file() else set()
    return {"capability": torch.backends.cpu.get_cpu_capability(), "flags": [f for f in CPU_FLAGS if f in flags]}


def relative(rates: dict[str, list[float]], first_call: dict[str, float]) -> dict[str, dict]:
    """Per setting: images/s (median of the rounds, each round's), its ratio to the
    BASELINE within each round (median and range: a drift of the host hits both of a pair)
    and the seconds of its first measurement (with torch.compile's compilation)."""
    out = {}
    for name, r in rates.items():
        paired = [a / b for a, b in zip(r, rates[BASELINE])]
        out[name] = {
            "images_per_s": statistics.median(r),
            "rounds": r,
            "ratio": statistics.median(paired),
            "ratio_range": [min(paired), max(paired)],
            "first_call_seconds": first_call[name],
        }
    return out


@recorded_run(
    "step_speed",
    "training images/s of the quick setting, chapter 11's compact ViT and the ResNet under "
    "one change at a time from batch 128, float32, all threads (batch 256 and 512, one "
    "thread, torch.compile, bfloat16 autocast, channels-last), every (model, setting) once a "
    "round in a random order, 5 rounds in one process; ratios to the baseline paired within "
    "rounds; the CPU's flags; a torch.profiler breakdown of the quick setting's step",
)
def step_speed(device, parts, progress):
    models = {}
    for model_name, config in STEP_MODELS.items():
        for name, setting in STEP_SETTINGS.items():
            seed_everything(0)
            model = build(config)
            models[model_name, name] = (torch.compile(model) if setting.get("compile") else model, setting)
    keys, rates, first_call = list(models), {key: [] for key in models}, {}
    for r in range(STEP_SPEED["rounds"]):
        for i in torch.randperm(len(keys), generator=torch.Generator().manual_seed(r)).tolist():
            start = time.perf_counter()
            rates[keys[i]].append(measure(*models[keys[i]], device, STEP_SPEED["images"]))
            first_call.setdefault(keys[i], time.perf_counter() - start)
    speeds = {
        m: relative({n: rates[m, n] for n in STEP_SETTINGS}, {n: first_call[m, n] for n in STEP_SETTINGS})
        for m in STEP_MODELS
    }
    profiled = profile_step(QUICK_CONFIG, device, STEP_SPEED["profiled_steps"])
    return dict(speeds, profile=profiled, cpu=cpu_flags())
