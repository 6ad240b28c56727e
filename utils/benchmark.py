"""The book's benchmark: D2L's recipe against the book's, and the book's ViT against timm's,
side by side in one process on one device.

    python -m vitbook.benchmark --out utils/results/benchmark-h100.json \\
        --checkpoint utils/results/vit-book.pt         # on a CUDA machine, ~5 minutes
    python -m vitbook.benchmark --quick --out /tmp/smoke.json   # a small smoke run, any device

The JSON holds: device, torch version, date and command; D2L's accuracy and training
seconds; the book recipe's accuracy, training seconds, compile seconds, seconds to reach
D2L's accuracy, and accuracy for 3 seeds; training throughput (images/s, bf16 on CUDA,
batch 1024, the same compile setting) of the book's ViT and of timm's
VisionTransformer of the same shape, and their ratio. Chapter 6's table reads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import load_fashion_mnist
from .device import get_device, seed_everything
from .pretrained import RESULTS, device_name, save_trained
from .train import BOOK_RECIPE, D2L_RECIPE, DeviceData, Recipe, train
from .vit import BOOK_CONFIG, D2L_CONFIG, ViT, timm_equivalent


def recorded_runs() -> list[dict]:
    """The benchmark results committed in vitbook/results/, newest first."""
    runs = [json.loads(p.read_text()) for p in RESULTS.glob("benchmark-*.json")]
    return sorted(runs, key=lambda r: r["date"], reverse=True)


def throughput(model: torch.nn.Module, device: torch.device, *, batch: int, steps: int,
               bf16: bool, compile: bool) -> float:
    """Training images per second: forward, backward and AdamW step on random data."""
    model = model.to(device).train()
    step_model = torch.compile(model) if compile and device.type == "cuda" else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")

    def step():
        with autocast:
            loss = F.cross_entropy(step_model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def compile_seconds(model: torch.nn.Module, recipe: Recipe, device: torch.device) -> float:
    """Time of the first compiled training step, which compiles (0 without compile)."""
    if not (recipe.compile and device.type == "cuda"):
        return 0.0
    x = torch.randn(recipe.batch_size, 1, recipe.img_size, recipe.img_size, device=device)
    start = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=recipe.bf16):
        torch.compile(model.to(device))(x).float().sum().backward()
    torch.cuda.synchronize()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def run(quick: bool = False, checkpoint: Path | None = None) -> dict:
    device = get_device()
    train_data = DeviceData(load_fashion_mnist("train"), device)
    test_data = DeviceData(load_fashion_mnist("test"), device)
    d2l_recipe, book_recipe, seeds, batch, steps = D2L_RECIPE, BOOK_RECIPE, (0, 1, 2), 1024, 50
    if quick:  # a smoke run: slices of the data, one epoch each, one seed
        train_data, test_data = train_data.first(512), test_data.first(500)
        d2l_recipe = dataclasses.replace(d2l_recipe, epochs=1)
        book_recipe = dataclasses.replace(book_recipe, epochs=1, batch_size=128)
        seeds, batch, steps = (0,), 64, 2
    result = {
        "device": device_name(device), "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "command": "python -m vitbook.benchmark " + " ".join(sys.argv[1:]), "quick": quick,
        "d2l": {"config": D2L_CONFIG, "recipe": dataclasses.asdict(d2l_recipe)},
        "book": {"config": BOOK_CONFIG, "recipe": dataclasses.asdict(book_recipe)},
    }

    seed_everything(0)
    d2l = train(ViT(**D2L_CONFIG), train_data, test_data, d2l_recipe, progress=False)
    result["d2l"].update(accuracy=d2l.test_acc[-1], seconds=d2l.seconds[-1], history=dataclasses.asdict(d2l))

    accuracies = []
    for seed in seeds:
        seed_everything(seed)
        model = ViT(**BOOK_CONFIG)
        if seed == seeds[0]:
            result["book"]["compile_seconds"] = compile_seconds(model, book_recipe, device)
        history = train(model, train_data, test_data, book_recipe, seed=seed, progress=False)
        accuracies.append(history.test_acc[-1])
        if seed == seeds[0]:
            result["book"].update(accuracy=history.test_acc[-1], seconds=history.seconds[-1],
                                  seconds_to_d2l_accuracy=history.seconds_to_reach(d2l.test_acc[-1]),
                                  history=dataclasses.asdict(history))
            if checkpoint:
                save_trained(checkpoint, model, BOOK_CONFIG, book_recipe, history, result["device"],
                             result["command"])
    result["book"]["seed_accuracies"] = accuracies
    result["book"]["mean_accuracy"] = sum(accuracies) / len(accuracies)

    compile_flag = book_recipe.compile
    ours = throughput(ViT(**BOOK_CONFIG), device, batch=batch, steps=steps, bf16=True, compile=compile_flag)
    theirs = throughput(timm_equivalent(ViT(**BOOK_CONFIG)), device, batch=batch, steps=steps,
                        bf16=True, compile=compile_flag)
    result["throughput"] = {"batch": batch, "bf16": device.type == "cuda", "compile": compile_flag,
                            "book_images_per_s": ours, "timm_images_per_s": theirs, "ratio": ours / theirs}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vitbook.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--checkpoint", type=Path, help="also save the book recipe's seed-0 weights here")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (not for the book)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, checkpoint=args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    book, d2l, speed = result["book"], result["d2l"], result["throughput"]
    print(f"{result['device']}, torch {result['torch']}")
    print(f"D2L recipe:  {d2l['accuracy']:.4f} in {d2l['seconds']:.1f} s")
    print(f"book recipe: {book['accuracy']:.4f} in {book['seconds']:.1f} s (+{book['compile_seconds']:.1f} s "
          f"compile); mean of {len(book['seed_accuracies'])} seeds {book['mean_accuracy']:.4f}; "
          f"reached D2L's accuracy after {book['seconds_to_d2l_accuracy']} s")
    print(f"throughput: book {speed['book_images_per_s']:,.0f} img/s, timm {speed['timm_images_per_s']:,.0f} "
          f"img/s, ratio {speed['ratio']:.2f}")


if __name__ == "__main__":
    main()
