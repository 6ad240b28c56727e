"""A sweep for the CPU targets of issue 11, run on a GPU because the quick setting's
accuracy does not depend on the device (float32, no compile, as on the CPU). Choosing
only: the validation split; not a recorded run. Worker k of n runs variants k, k+n, ...
and writes them to out/sweep-k.json after each one.

    python sweep.py K N OUT      (N = 7: call 5's job lists)
"""
import json, sys, time
from dataclasses import asdict, replace
import torch
from vitbook.device import seed_everything
from vitbook.experiments import splits
from vitbook.pretrained import build
from vitbook.train import CPU_RECIPE, QUICK_RECIPE, train
from vitbook.vit import CPU_CONFIG, QUICK_CONFIG

Q, R = QUICK_CONFIG, QUICK_RECIPE
p7 = lambda dim, depth, heads=4, mlp=2: dict(Q, dim=dim, depth=depth, num_heads=heads, mlp_dim=mlp * dim)
quick = {  # one change from the quick setting each (10 epochs, ~186 s on 2 cores)
    "quick": (Q, R),
    "lr 1e-3": (Q, replace(R, lr=1e-3)), "lr 4e-3": (Q, replace(R, lr=4e-3)), "lr 8e-3": (Q, replace(R, lr=8e-3)),
    "weight decay 0.1": (Q, replace(R, weight_decay=0.1)), "no label smoothing": (Q, replace(R, label_smoothing=0.0)),
    "batch 64": (Q, replace(R, batch_size=64)), "batch 256": (Q, replace(R, batch_size=256)),
    "batch 256, lr 4e-3": (Q, replace(R, batch_size=256, lr=4e-3)),
    "augment": (Q, replace(R, augment=True)), "no warm-up": (Q, replace(R, warmup_epochs=0)),
    "warm-up 1": (Q, replace(R, warmup_epochs=1)),
    "dim 96": (p7(96, 4), R), "dim 128": (p7(128, 4), R), "dim 128, depth 2": (p7(128, 2), R),
    "depth 6": (p7(64, 6), R), "mlp x4": (p7(64, 4, mlp=4), R), "heads 2": (p7(64, 4, heads=2), R),
    "heads 8": (p7(64, 4, heads=8), R), "positions std 1": (dict(Q, pos_std=1.0), R),
    "15 epochs": (Q, replace(R, epochs=15)), "20 epochs": (Q, replace(R, epochs=20)),
    "dim 128, lr 4e-3": (p7(128, 4), replace(R, lr=4e-3)),
}
C = replace(CPU_RECIPE, warmup_epochs=2)
long = {  # candidates for the checkpoint (~30 min on 2 cores), seed 0 only
    "checkpoint now (CPU_CONFIG, CPU_RECIPE, 20 epochs)": (CPU_CONFIG, CPU_RECIPE),
    "quick model, 60 epochs, augment": (Q, replace(C, epochs=60)),
    "quick model, 90 epochs, augment": (Q, replace(C, epochs=90)),
    "quick model, 60 epochs, no augment": (Q, replace(C, epochs=60, augment=False)),
    "p7 dim 128 depth 6, 40 epochs, augment": (p7(128, 6), replace(C, epochs=40)),
    "p7 dim 96 depth 6, 50 epochs, augment": (p7(96, 6), replace(C, epochs=50)),
    "p7 dim 128 depth 4, 50 epochs, augment": (p7(128, 4), replace(C, epochs=50)),
    "p7 dim 128 depth 6, 40 epochs, batch 256 lr 3e-3": (p7(128, 6), replace(C, epochs=40, batch_size=256, lr=3e-3)),
    "p7 dim 192 depth 6 heads 6, 30 epochs, augment": (p7(192, 6, heads=6), replace(C, epochs=30)),
    "CPU_CONFIG, 30 epochs, batch 256 lr 3e-3": (CPU_CONFIG, replace(C, epochs=30, batch_size=256, lr=3e-3)),
}
jobs = [(name, c, r, 0) for name, (c, r) in long.items()]
jobs += [(name, c, r, seed) for seed in (0, 1) for name, (c, r) in quick.items()]
# Call 5: what the first call (12 workers, long jobs first) did not reach, 7 workers, each
# worker's jobs listed: more epochs, batch 256 (cheaper per image on the CPU), the long candidates.
second = [
    [("20 epochs", Q, replace(R, epochs=20), 0), ("20 epochs", Q, replace(R, epochs=20), 1)],
    [("15 epochs, lr 4e-3", Q, replace(R, epochs=15, lr=4e-3), 0), ("dim 128, lr 4e-3", *quick["dim 128, lr 4e-3"], 0)],
    [("batch 256, lr 4e-3, 13 epochs", Q, replace(R, batch_size=256, lr=4e-3, epochs=13), s) for s in (0, 1)],
    [("quick model, 60 epochs, augment", *long["quick model, 60 epochs, augment"], 0)],
    [("p7 dim 96 depth 6, 50 epochs, augment", *long["p7 dim 96 depth 6, 50 epochs, augment"], 0)],
    [("p7 dim 128 depth 6, 40 epochs, augment", *long["p7 dim 128 depth 6, 40 epochs, augment"], 0)],
    [("CPU_CONFIG, 26 epochs, augment", CPU_CONFIG, replace(C, epochs=26), 0)],
]

if __name__ == "__main__":
    k, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    mine = second[k] if n == len(second) else jobs[k::n]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_data, validation, _ = splits(device)
    results = []
    for name, config, recipe, seed in mine:
        seed_everything(seed)
        start = time.perf_counter()
        h = train(build(config), train_data, validation, recipe, seed=seed, progress=False)
        results.append(dict(name=name, seed=seed, config=config, recipe=asdict(recipe),
                            validation=h.eval_acc, seconds=h.seconds, wall=time.perf_counter() - start))
        print(f"{name} seed {seed}: {h.eval_acc[-1]:.4f} (best {max(h.eval_acc):.4f})", flush=True)
        json.dump(results, open(f"{out}/sweep-{k}.json", "w"), indent=1)
