"""Exploration for a better GPU recipe (validation split, seed 0); not a recorded run."""
import json, sys, time
from dataclasses import replace, asdict
import torch
from vitbook.experiments import splits
from vitbook.device import seed_everything
from vitbook.pretrained import build
from vitbook.train import BOOK_RECIPE, train
from vitbook.vit import BOOK_CONFIG, CPU_CONFIG

device = torch.device("cuda")
train_data, validation, _ = splits(device)
nodrop = dict(BOOK_CONFIG, dropout=0.0)
variants = {
    "book config no dropout, 40 epochs": (nodrop, replace(BOOK_RECIPE, epochs=40, warmup_epochs=2)),
    "book config no dropout, batch 256, 20 epochs": (nodrop, replace(BOOK_RECIPE, batch_size=256)),
    "book config no dropout, no augmentation, 20 epochs": (nodrop, replace(BOOK_RECIPE, augment=False)),
    "cpu config, 40 epochs": (CPU_CONFIG, replace(BOOK_RECIPE, epochs=40, warmup_epochs=2)),
}
out = {}
for name, (config, recipe) in variants.items():
    seed_everything(0)
    start = time.perf_counter()
    h = train(build(config), train_data, validation, recipe, seed=0, progress=False)
    out[name] = dict(config=config, recipe=asdict(recipe), seconds=h.seconds, validation=h.eval_acc,
                     wall=time.perf_counter() - start)
    print(name, f"{h.eval_acc[-1]:.4f} in {h.seconds[-1]:.1f} s", flush=True)
    json.dump(out, open(sys.argv[1], "w"), indent=1)
