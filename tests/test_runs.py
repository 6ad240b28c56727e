"""Recorded runs: provenance in every record, atomic results, resumable parts, the CLI,
and every run of the book executed end to end on a sliver of the data."""

import json
import subprocess
import sys
import time
from dataclasses import asdict, replace

import pytest
import torch

from vitbook import experiments, runs
from vitbook.experiments import chapter06, chapter08, chapter09, chapter11, chapter11_training, speed
from vitbook.pretrained import build, load_trained
from vitbook.runs.cli import CHAPTERS
from vitbook.train import QUICK_RECIPE, evaluate
from vitbook.vit import QUICK_CONFIG


@pytest.fixture
def registry(monkeypatch):
    """An empty registry of runs, so a test can register its own."""
    monkeypatch.setattr(runs, "RUNS", {})
    return runs.RUNS


def test_a_record_says_where_when_and_how_it_was_made(registry, tmp_path):
    runs.recorded_run("tiny", "two numbers")(lambda device, parts, progress: {"answer": 42})
    record = runs.run("tiny", "cpu", tmp_path, progress=False)
    assert json.loads((tmp_path / "tiny-cpu.json").read_text()) == record
    assert record["results"] == {"answer": 42} and record["description"] == "two numbers"
    assert record["device"].startswith("CPU: ") and "cores" in record["device"]
    assert record["torch"] == torch.__version__ and record["command"] == "python -m vitbook.runs run tiny --device cpu"
    assert record["commit"] is None or len(record["commit"].removesuffix("-dirty")) == 40
    assert {"date", "python", "wall_seconds", "device_type"} <= record.keys()
    assert (tmp_path / "tiny-cpu.json").stat().st_mode & 0o644 == 0o644, "readable by all, as any new file"


def test_a_copy_without_git_names_the_commit_it_was_given(monkeypatch):
    def no_git(*args, **kwargs):
        raise subprocess.CalledProcessError(128, args[0])

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("VITBOOK_COMMIT", raising=False)
    assert runs.git_commit() is None
    monkeypatch.setenv("VITBOOK_COMMIT", "cbd1ca7")
    assert runs.git_commit() == "cbd1ca7"


def test_a_given_commit_wins_over_the_copys_own_git(monkeypatch):
    """A lent GPU machine gets a copy of the tree whose .git may be of an older commit."""
    monkeypatch.delenv("VITBOOK_COMMIT", raising=False)
    assert (
        runs.git_commit().split("-")[0]
        == subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=runs.RESULTS.parent, capture_output=True, text=True
        ).stdout.strip()
    )
    monkeypatch.setenv("VITBOOK_COMMIT", "07ac2f6")
    assert runs.git_commit() == "07ac2f6"


def test_an_interrupted_run_restarts_where_it_stopped(registry, tmp_path):
    computed = []

    def part(name, fail=False):
        computed.append(name)
        if fail:
            raise KeyboardInterrupt
        time.sleep(0.2 if name == "a" else 0)
        return {"value": name}

    def measure(device, parts, progress):
        time.sleep(0.3)  # work outside the parts (loading data, say)
        return {k: parts.get(k, lambda k=k: part(k, fail=k == "b" and fail_once)) for k in "abc"}

    runs.recorded_run("parts", "three parts")(measure)
    fail_once = True
    with pytest.raises(KeyboardInterrupt):
        runs.run("parts", "cpu", tmp_path, progress=False)
    assert not (tmp_path / "parts-cpu.json").exists(), "no half-written result"
    assert list(json.loads((tmp_path / ".parts-cpu.partial.json").read_text())) == ["a"]
    fail_once = False
    record = runs.run("parts", "cpu", tmp_path, progress=False)
    assert record["wall_seconds"] >= 0.2 + 0.3, "the first attempt's finished part counts too"
    assert computed == ["a", "b", "b", "c"], "part a was not computed again"
    assert [r["value"] for r in record["results"].values()] == ["a", "b", "c"]
    assert not (tmp_path / ".parts-cpu.partial.json").exists()


def test_missing_and_unknown_runs_say_what_to_do(registry, tmp_path):
    with pytest.raises(KeyError, match="no recorded run 'nope'"):
        runs.run("nope", "cpu", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m vitbook.runs run quick --device cpu"):
        runs.load_run("quick", "cpu", tmp_path)


def test_paired_differences_pair_seeds_and_refuse_unmatched_ones():
    seeded = lambda *pairs: {"seeds": [{"seed": s, "test_accuracy": a} for s, a in pairs]}  # noqa: E731
    resnet, vit = seeded((0, 0.92), (1, 0.93)), seeded((0, 0.88), (1, 0.90))
    assert runs.paired_differences(resnet, vit).tolist() == pytest.approx([4.0, 3.0])
    with pytest.raises(ValueError, match=r"same seeds in the same order, not \[0, 1\] and \[1, 0\]"):
        runs.paired_differences(resnet, seeded((1, 0.90), (0, 0.88)))


def test_final_mean_averages_the_last_value_of_each_seed_and_names_missing_histories():
    result = {"seeds": [{"train_loss": [0.9, 0.6]}, {"train_loss": [0.8, 0.5]}]}
    assert runs.final_mean(result, "train_loss") == pytest.approx(0.55)
    with pytest.raises(KeyError, match="no history 'train_acc'; they have \\['train_loss'\\]"):
        runs.final_mean(result, "train_acc")


def test_best_minus_final_is_what_each_seed_lost_after_its_best_epoch_in_points():
    result = {"seeds": [{"validation_accuracy": [0.80, 0.86, 0.85]}, {"validation_accuracy": [0.81, 0.84, 0.87]}]}
    assert runs.best_minus_final(result) == pytest.approx(0.5)  # seed 0 lost 1 point, seed 1 none: mean of 2 seeds


def test_show_variants_lines_up_means_spreads_gaps_and_seconds(capsys):
    variants = {
        "quick": {"test_accuracy": {"mean": 0.8817, "std": 0.002}, "seconds": {"mean": 186.4}},
        "mean pooling": {"test_accuracy": {"mean": 0.8791, "std": 0.0031}, "seconds": {"mean": 1186}},
    }
    runs.show_variants(variants, reference="quick")
    assert capsys.readouterr().out.splitlines() == [
        "variant       test accuracy   vs reference  training",
        "quick         88.17% ± 0.20%  reference     186 s",
        "mean pooling  87.91% ± 0.31%  -0.26 points  1,186 s",
    ]
    runs.show_variants(variants)
    assert capsys.readouterr().out.splitlines() == [
        "variant       test accuracy   training",
        "quick         88.17% ± 0.20%  186 s",
        "mean pooling  87.91% ± 0.31%  1,186 s",
    ]
    runs.show_variants(variants, reference="quick", seconds=False)  # a record whose seconds are no cost
    assert capsys.readouterr().out.splitlines() == [
        "variant       test accuracy   vs reference",
        "quick         88.17% ± 0.20%  reference",
        "mean pooling  87.91% ± 0.31%  -0.26 points",
    ]


def test_show_variants_can_show_the_validation_split(capsys):
    def seeds(*final):
        return [{"validation_accuracy": [0.5, a]} for a in final]

    variants = {
        "quick": {"seeds": seeds(0.88, 0.89), "seconds": {"mean": 186}},
        "mean pooling": {"seeds": seeds(0.87, 0.87), "seconds": {"mean": 135}},
    }
    runs.show_variants(variants, reference="quick", split="validation")
    assert capsys.readouterr().out.splitlines() == [
        "variant       validation accuracy  vs reference  training",
        "quick         88.50% ± 0.71%       reference     186 s",
        "mean pooling  87.00% ± 0.00%       -1.50 points  135 s",
    ]


def test_first_reaching_is_the_first_epoch_at_the_target_on_either_side():
    d2l = {"epochs": [1, 2, 3, 4], "seconds": [10.0, 20.0, 30.0, 40.0], "validation_accuracy": [0.6, 0.81, 0.78, 0.80]}
    # the final accuracy is reached before the last epoch: time to it is 20 s, not 40 s
    assert runs.first_reaching(d2l, d2l["validation_accuracy"][-1]) == (2, 20.0, 0.81)
    assert runs.first_reaching(d2l, 0.6) == (1, 10.0, 0.6)
    assert runs.first_reaching(d2l, 0.9) is None
    record = runs.load_run("d2l", "cpu")["results"]  # the committed record: epoch 5, not 10
    epoch, seconds, _ = runs.first_reaching(record["seed 0"], record["seed 0"]["validation_accuracy"][-1])
    assert epoch < record["seed 0"]["epochs"][-1] and seconds < record["seed 0"]["seconds"][-1]


def test_show_run_prints_which_run_it_shows(registry, tmp_path, capsys):
    runs.recorded_run("tiny", "one number")(lambda device, parts, progress: {"n": 1})
    runs.run("tiny", "cpu", tmp_path, progress=False, command="python -m vitbook.runs run tiny")
    record = runs.show_run("tiny", "cpu", tmp_path)
    out = capsys.readouterr().out
    assert record["results"] == {"n": 1}
    assert out.startswith("recorded run 'tiny': CPU: ") and "`python -m vitbook.runs run tiny`" in out
    assert "note" not in out
    path = runs.result_path("tiny", "cpu", tmp_path)  # a note says how a run was made, if not by its command
    runs.write_json(path, dict(record, note="made in two halves"))
    runs.show_run("tiny", "cpu", tmp_path)
    assert capsys.readouterr().out.splitlines()[-1] == "note: made in two halves"


def test_the_command_lists_the_runs_by_default_and_writes_nothing():
    before = sorted(p.name for p in runs.RESULTS.iterdir())
    for args in ([], ["--list"]):
        listed = subprocess.run(
            [sys.executable, "-m", "vitbook.runs", *args], capture_output=True, text=True, check=True
        ).stdout
        assert all(f"\n{name} " in "\n" + listed for name in runs.RUNS)
    assert sorted(p.name for p in runs.RESULTS.iterdir()) == before
    wrong = subprocess.run([sys.executable, "-m", "vitbook.runs", "run", "nope"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "no recorded run 'nope'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_misspelt_run_or_device_gets_the_closest_names(tmp_path):
    with pytest.raises(KeyError, match="did you mean 'quick'"):
        runs.run_name("quik")
    assert runs.run_name("ddp-throughput") == "ddp_throughput", "a hyphen for an underscore"
    assert runs.load_run("ddp-throughput")["name"] == "ddp_throughput"
    with pytest.raises(KeyError, match="did you mean 'quick'"):
        runs.load_run("quik")
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        runs.load_run("quick", "gpu")
    with pytest.raises(FileNotFoundError, match=r"on cpu \(it is recorded on cuda\)"):
        runs.load_run("only_gpu", "cpu", _folder_with(tmp_path, "only_gpu-cuda.json", "{}"))


def _folder_with(folder, name, text):
    (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    "text, says",
    [('{"name": ', "is not valid JSON"), ("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n", "merge-conflict")],
)
def test_a_broken_record_or_parts_file_is_named_with_what_to_do(registry, tmp_path, text, says):
    _folder_with(tmp_path, "broken-cpu.json", text)
    with pytest.raises(ValueError, match=f"broken-cpu.json .*{says}"):
        runs.load_run("broken", "cpu", tmp_path)
    runs.recorded_run("parts", "one part")(lambda device, parts, progress: parts.get("a", dict))
    _folder_with(tmp_path, ".parts-cpu.partial.json", text)
    with pytest.raises(ValueError, match=f"parts-cpu.partial.json .*{says}"):
        runs.run("parts", "cpu", tmp_path, progress=False)


def test_output_paths_are_checked_before_any_work(registry, tmp_path):
    """A wrong --out, or a finished result in the way, is said at once: no minutes of training
    first, and no finished run overwritten unless asked."""
    started = []
    runs.recorded_run("tiny", "one number")(lambda device, parts, progress: started.append(1) or {"n": 1})
    not_a_folder = _folder_with(tmp_path, "results.json", "{}") / "results.json"
    with pytest.raises(NotADirectoryError, match="give --out a folder"):
        runs.run("tiny", "cpu", not_a_folder, progress=False)
    first = runs.run("tiny", "cpu", tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="--replace"):
        runs.run("tiny", "cpu", tmp_path, progress=False)
    assert started == [1] and json.loads((tmp_path / "tiny-cpu.json").read_text()) == first
    runs.run("tiny", "cpu", tmp_path, progress=False, replace=True)
    assert started == [1, 1]


def test_the_command_says_a_wrong_out_in_one_line_before_any_work(tmp_path):
    (tmp_path / "results.json").write_text("{}")
    started = time.perf_counter()
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "vitbook.runs",
            "run",
            "quick",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "results.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and "is a file: give --out a folder" in wrong.stderr
    assert "Traceback" not in wrong.stderr and time.perf_counter() - started < 60
    assert (tmp_path / "results.json").read_text() == "{}"


@pytest.fixture
def sliver(monkeypatch, tmp_path):
    """The book's runs on a sliver of the data, one seed, one epoch, into tmp_path."""
    real_splits = experiments.splits

    def small_splits(device, *args, **kwargs):
        train, validation, test = real_splits(device, *args, **kwargs)
        return train.first(256), validation.first(128), test.first(128)

    small = dict(
        splits=small_splits,
        SEEDS=(0,),
        THROUGHPUT=dict(batch=4, steps=1, rounds=1),
        RESULTS=tmp_path,
        FIRST_STEPS=2,
        HUNGER=dict(fractions=(0.01, 1.0), epochs=1),
        EQUAL_TIME=dict(chapter08.EQUAL_TIME, seconds=1e-9),
        DDP_THROUGHPUT=dict(processes=(1, 2), steps=2, rounds=1),
        FEW_LABELS=dict(chapter09.FEW_LABELS, fractions=(0.1, 1.0), epochs=1),
        SCHEDULE_EPOCHS=(1, 2),
        LONG_EPOCHS=2,
        WINNER_EPOCHS=2,
        SPEED=dict(batch=4, steps=1, rounds=1),
        STEP_SPEED=dict(images=4, rounds=1, profiled_steps=1),
        # without torch.compile, whose first step compiles for about half a minute even here
        STEP_SETTINGS={name: s for name, s in speed.STEP_SETTINGS.items() if not s.get("compile")},
        COMBINATIONS={"conv, seq": (chapter11.conv_vit(32, 1), replace(QUICK_RECIPE, epochs=1))},
        SWEEP={
            "quick, seeds 0 and 1": ((0, 1), {"quick": (QUICK_CONFIG, replace(QUICK_RECIPE, epochs=1))}),
            "augmented, seed 0": ((0,), {"augment": (QUICK_CONFIG, replace(QUICK_RECIPE, epochs=1, augment=True))}),
        },
        **{
            name: replace(getattr(chapter06, name), epochs=1)
            for name in ("QUICK_RECIPE", "CPU_RECIPE", "D2L_RECIPE", "D2L_OPTIMIZER")
        },
    )
    for module in (experiments, *CHAPTERS):  # wherever a run reads it
        for name, value in small.items():
            if hasattr(module, name):
                monkeypatch.setattr(module, name, value)
    monkeypatch.setattr(chapter06, "CHECKPOINT", tmp_path / "vit.pt")  # written there; chapter 9 reads the real one
    return tmp_path


def test_step_speed_measures_one_thread_then_gives_the_others_back():
    before = torch.get_num_threads()
    tiny = dict(QUICK_CONFIG, dim=16, depth=1, num_heads=2, mlp_dim=32)
    assert speed.measure(build(tiny), {"threads": 1, "batch": 2}, torch.device("cpu"), images=2) > 0
    assert torch.get_num_threads() == before


HUNGER_RUNS = ("data_hunger", "data_hunger_converged", "data_hunger_short", "data_hunger_augmented", "compact_hunger")


@pytest.mark.parametrize("name", sorted(runs.RUNS))
def test_every_run_of_the_book_runs_end_to_end(sliver, name):
    record = runs.run(name, "cpu", sliver, progress=False)
    assert (sliver / f"{name}-cpu.json").is_file()
    results = record["results"]
    if name == "throughput":
        for part in results.values():
            assert part["ratio"] == pytest.approx(part["book_images_per_s"] / part["timm_images_per_s"])
    elif name == "quick":
        assert results["test_accuracy"]["values"] == [results["seeds"][0]["test_accuracy"]]
    elif name in HUNGER_RUNS:
        models = {
            "data_hunger": chapter08.HUNGER_MODELS,
            "data_hunger_converged": chapter08.CONVERGED_HUNGER_MODELS,
            "data_hunger_short": chapter08.CONVERGED_HUNGER_MODELS,
            "data_hunger_augmented": chapter08.CONVERGED_HUNGER_MODELS,
            "compact_hunger": {"compact ViT": chapter11.WINNER},
        }[name]
        assert list(results) == list(models)
        assert all(list(r) == ["0.01", "1"] and r["0.01"]["seeds"][0]["fraction"] == 0.01 for r in results.values())
        recipe = {  # the quick recipe on every share; cut to data_hunger's epochs, or with its augmentation
            "data_hunger_short": experiments.stretched(chapter08.QUICK_RECIPE, chapter08.HUNGER["epochs"]),
            "data_hunger_augmented": replace(chapter08.QUICK_RECIPE, augment=True),
        }.get(name, chapter08.QUICK_RECIPE)
        if name != "data_hunger":
            assert all(r[f]["seeds"][0]["recipe"] == asdict(recipe) for r in results.values() for f in r)
    elif name == "distillation":
        assert list(results) == ["ViT", "ViT, distilled from the ResNet", "teacher"]
        assert results["teacher"] == {
            "path": "resnet-quick.pt",
            "test_accuracy": load_trained(chapter08.TEACHER)[1]["test_accuracy"],
        }
        assert results["ViT"]["seeds"][0]["config"] == results["ViT, distilled from the ResNet"]["seeds"][0]["config"]
    elif name == "equal_time":
        assert list(results) == ["ViT", "MLP", "ResNet"]
        assert all(r["epoch_seconds"] > 0 and r["seeds"][0]["epochs"] == [1] for r in results.values())
    elif name == "resolution":
        assert list(results) == [
            "no fine-tuning",
            "fine-tuned, positions resampled",
            "fine-tuned, positions drawn anew",
            "trained at 56x56 from scratch",
        ]
        assert all(r["seeds"][0]["config"]["img_size"] == 56 for r in list(results.values())[1:])
        assert 0 <= results["no fine-tuning"]["test_accuracy"] <= 1
    elif name == "ddp_throughput":
        assert list(results) == ["1 process", "2 processes"]
        assert all(len(r["images_per_s"]) == 1 and r["images_per_s"][0] > 0 for r in results.values())
    elif name == "few_labels":
        assert list(results) == ["trained on classes 0-4", "0.1", "1"]
        for fraction, methods in list(results.items())[1:]:
            assert list(methods) == ["linear probe", "fine-tuning", "from scratch"]
            assert all(
                r["seeds"][0]["classes"] == [5, 6, 7, 8, 9]
                and r["seeds"][0]["fraction"] == float(fraction)
                and r["seeds"][0]["config"]["num_classes"] == 5
                for r in methods.values()
            )
        assert not list(sliver.glob(".few_labels-cpu.*")), "the pretrained model is cleared with the run's parts"
    elif name == "d2l":
        target = results["seed 0"]["validation_accuracy"][-1]
        race = results["quick setting to D2L's accuracy"]
        assert [r["seed"] for r in race] == [0] and all(r["target"] == target for r in race)
        assert all(r["reached"] == (r["validation_accuracy"][-1] >= target) for r in race)
    elif name == "sweep":
        seeds = {
            table: {variant: [curve["seed"] for curve in result["seeds"]] for variant, result in table_results.items()}
            for table, table_results in results.items()
        }
        assert seeds == {"quick, seeds 0 and 1": {"quick": [0, 1]}, "augmented, seed 0": {"augment": [0]}}
        curves = [curve for table in results.values() for result in table.values() for curve in result["seeds"]]
        assert all(len(c["validation_accuracy"]) == 1 and "test_accuracy" not in c for c in curves), "no test numbers"
        assert "validation split only" in record["description"]
    elif name == "schedule":
        assert list(results["epochs"]) == ["1", "2"] and results["converged_gain"] == chapter11.CONVERGED_GAIN
        assert [r["seeds"][0]["epochs"][-1] for r in results["epochs"].values()] == [1, 2]
    elif name == "levers":
        assert list(results) == list(chapter11.LEVERS)
        costs = {n: r["costs"] for n, r in results.items()}
        assert all(c["tokens"] == 16 and c["flops"] > 0 for c in costs.values())
        assert costs["convolutional tokenizer (CCT)"]["tokenizer flops"] > costs["quick setting"]["tokenizer flops"]
    elif name == "combinations":
        assert list(results) == ["conv, seq"] and "test_accuracy" not in results["conv, seq"]
        assert results["conv, seq"]["config"]["pool"] == "seq" and len(results["conv, seq"]["validation_accuracy"]) == 1
    elif name == "versus_resnet":
        assert list(results) == ["ResNet", "compact ViT"] and all(len(r["seeds"]) == 1 for r in results.values())
        resnet, vit = results["ResNet"], results["compact ViT"]
        ratio = resnet["epoch_seconds"] / vit["epoch_seconds"]
        assert vit["seeds"][0]["recipe"]["epochs"] == max(1, int(ratio)), "as many whole epochs as fit"
        assert vit["seeds"][0]["config"] == chapter11.WINNER and resnet["seeds"][0]["config"]["model"] == "resnet"
        assert vit["costs"]["flops"] > 0 and resnet["costs"]["parameters"] > 0
    elif name in ("augreg", "augreg_long", "augreg_long_mix"):
        levers = chapter11_training.SHORT_LEVERS if name == "augreg" else chapter11_training.AUGREG_LONG[name]
        assert list(results) == list(levers) and levers[0] == "without a lever"
        runs_ = {n: r["seeds"][0] for n, r in results.items()}
        assert all(run["epochs"][-1] == (1 if name == "augreg" else 2) for run in runs_.values())
        assert all(len(run["train_accuracy"]) == len(run["epochs"]) for run in runs_.values())
        for lever, run in runs_.items():
            config, recipe = chapter11_training.with_levers(QUICK_CONFIG, chapter11.scaled(run["epochs"][-1]), lever)
            assert run["config"] == config and run["recipe"] == asdict(recipe), lever
        if name == "augreg_long":
            assert runs_["shifts only (no flips)"]["recipe"] == {**runs_["shifts and flips"]["recipe"], "flip": False}
    elif name == "compact_long":
        assert list(results) == list(chapter11_training.COMPACT_LONG) and len(results["without a lever"]["seeds"]) == 1
        for lever, result in results.items():
            run = result["seeds"][0]
            config, recipe = chapter11_training.with_levers(chapter11.WINNER, chapter11.scaled(2), lever)
            assert run["epochs"][-1] == 2 and run["config"] == config and run["recipe"] == asdict(recipe), lever
        assert results["mixup (0.8) or CutMix (1.0)"]["seeds"][0]["recipe"]["mixup"] == 0.8
    elif name == "compact_augreg":
        assert list(results) == list(chapter11_training.SHORT_LEVERS)
        assert all("test_accuracy" not in r and r["recipe"]["epochs"] == 2 for r in results.values())
        assert results["stochastic depth (0.1)"]["config"] == dict(chapter11.WINNER, drop_path=0.1)
        assert "validation split only" in record["description"]
    elif name == "rematch":
        levers = chapter11_training.REMATCH_LEVERS
        assert results["levers"] == list(levers)
        models = {n: r for n, r in results.items() if n not in ("levers", "epoch_seconds")}
        assert list(models) == ["ResNet", "compact ViT", "ResNet with the same levers"]
        seconds = results["epoch_seconds"]
        vit, resnet = models["compact ViT"]["seeds"][0], models["ResNet with the same levers"]["seeds"][0]
        assert vit["recipe"]["epochs"] == max(1, int(seconds["ResNet"] / seconds["compact ViT"]))
        for run, (config, recipe) in (
            (vit, chapter11_training.with_levers(chapter11.WINNER, chapter11.scaled(vit["recipe"]["epochs"]), *levers)),
            (resnet, chapter11_training.with_levers(chapter08.BASELINES["ResNet"], chapter11.QUICK_RECIPE, *levers)),
        ):
            assert run["config"] == config and run["recipe"] == asdict(recipe)
    elif name == "distillation_token":
        assert list(results) == [*chapter11_training.TAUGHT, "teacher"]
        assert results["distillation token (DeiT)"]["seeds"][0]["config"]["model"] == "distilled vit"
        # its untaught reference is `schedule`'s arm of the same length, config and recipe
        taught = results["through the <cls> token (chapter 8)"]["seeds"][0]
        assert taught["config"] == QUICK_CONFIG
        assert taught["recipe"] == asdict(chapter11.scaled(taught["epochs"][-1]))
        assert chapter11_training.LONG_EPOCHS in chapter11.SCHEDULE_EPOCHS
        assert results["teacher"]["test_accuracy"] == load_trained(chapter08.TEACHER)[1]["test_accuracy"]
    elif name == "step_speed":
        assert list(results) == [*speed.STEP_MODELS, "profile", "cpu"]
        assert all(list(results[m]) == list(speed.STEP_SETTINGS) for m in speed.STEP_MODELS)
        for by_setting in (results[m] for m in speed.STEP_MODELS):
            assert by_setting[speed.BASELINE]["ratio"] == 1.0
            assert all(r["images_per_s"] > 0 and len(r["rounds"]) == 1 for r in by_setting.values())
            assert all(r["ratio_range"][0] <= r["ratio"] <= r["ratio_range"][1] for r in by_setting.values())
        profiled = dict(results["profile"])
        assert 0 < profiled.pop("AdamW step, inclusive") <= 1, "the optimizer's step with the arithmetic it calls"
        assert min(profiled.values()) >= 0 and sum(profiled.values()) == pytest.approx(1)
        assert results["cpu"]["capability"] and set(results["cpu"]["flags"]) <= set(speed.CPU_FLAGS)
    elif name == "lever_speed":
        assert list(results) == list(chapter11.LEVERS)
        assert all(len(r["rounds"]) == 1 and r["images_per_s"] > 0 for r in results.values())
    elif name in ("pipeline", "ablations", "baselines"):
        assert len(results) >= 2 and all(len(r["seeds"]) == 1 for r in results.values())
    elif name == "optimizer":
        first = results["D2L model, first 2 steps"]
        assert len(first) == 3 and all(len(r["loss"]) == len(r["validation_loss"]) == 2 for r in first.values())
        assert all(0 < r["training_seconds"] < r["part_wall_seconds"] for r in first.values())
        assert len(results["quick model"]) == 2
    else:
        run = results["seed 0"]
        assert 0 <= run["test_accuracy"] <= 1 and len(run["validation_accuracy"]) == 1
    kept = {
        "checkpoint": {"vit.pt": results.get("seed 0")},
        "quick": {"vit-quick.pt": results.get("seeds", [None])[0]},
        "baselines": {
            f"{config['model']}-quick.pt": results.get(variant, {}).get("seeds", [None])[0]
            for variant, config in chapter08.BASELINES.items()
        },
    }.get(name, {})
    for file, result in kept.items():
        model, info = load_trained(sliver / file)
        test = experiments.splits("cpu")[2]
        assert evaluate(model, test) == info["test_accuracy"] == result["test_accuracy"]
        assert info["command"] == f"python -m vitbook.runs run {name} --device cpu"


def test_a_long_part_restarts_at_its_last_finished_epoch(sliver, monkeypatch):
    """D2L's run takes hours on a CPU: interrupted in its second epoch, it goes on from
    the first epoch's checkpoint, and leaves no checkpoint behind once it is done."""
    monkeypatch.setattr(chapter06, "D2L_RECIPE", replace(chapter06.D2L_RECIPE, epochs=2))
    real_train, epochs_trained, interrupt = experiments.train, [], [True]

    def train(*args, **kwargs):
        if not kwargs.get("resume"):  # the quick setting's race that follows D2L's part
            return real_train(*args, **kwargs)

        def on_epoch(history):
            epochs_trained.append(history.epoch[-1])
            if interrupt.pop() if interrupt else False:
                raise KeyboardInterrupt

        return real_train(*args, on_epoch=on_epoch, **kwargs)

    monkeypatch.setattr(experiments, "train", train)
    with pytest.raises(KeyboardInterrupt):
        runs.run("d2l", "cpu", sliver, progress=False)
    assert [p.name for p in sliver.glob(".d2l-cpu.*")] == [".d2l-cpu.seed-0.pt"]
    record = runs.run("d2l", "cpu", sliver, progress=False)
    assert epochs_trained == [1, 2], "epoch 1 was not trained again"
    assert len(record["results"]["seed 0"]["validation_accuracy"]) == 2
    assert not list(sliver.glob(".d2l-cpu.*")), "the run's scratch files are gone"


def test_a_fraction_of_the_training_set_is_balanced_and_fills_an_epoch():
    from vitbook.data import balanced_subset, load_fashion_mnist, split_off

    rest = split_off(load_fashion_mnist("train"), 10_000)[0]
    subset = balanced_subset(rest, 0.01, seed=1)
    n = len(subset)
    train, validation, _ = experiments.splits("cpu", 0.01, seed=1)
    assert abs(len(train) - 50_000) <= n / 2, "the subset repeated: an epoch shows as many images"
    assert torch.equal(train.images[:n], subset.images) and torch.equal(train.images[n : 2 * n], subset.images)
    assert torch.bincount(subset.labels).tolist() == [int(0.01 * c) for c in torch.bincount(rest.labels).tolist()]
    assert not torch.equal(experiments.splits("cpu", 0.01, seed=2)[0].images[:n], subset.images)
    assert len(validation) == 10_000


def test_the_validation_split_is_fixed_and_takes_nothing_twice():
    from vitbook.data import load_fashion_mnist, split_off

    train = load_fashion_mnist("train")
    rest, validation = split_off(train, 10_000)
    assert len(rest) == 50_000 and len(validation) == 10_000
    assert torch.equal(validation.images, split_off(train, 10_000)[1].images), "same split every time"
    assert not torch.equal(validation.labels, train.labels[:10_000]), "drawn at random"
    together = torch.cat([rest.images, validation.images]).flatten(1).sum(1)
    assert torch.equal(together.sort().values, train.images.flatten(1).sum(1).sort().values)
    with pytest.raises(ValueError, match="cannot hold out 0 of"):
        split_off(train, 0)


def test_a_schedule_has_converged_when_doubling_it_gains_too_little():
    def result(final):
        return {"seeds": [{"validation_accuracy": [0.5, a]} for a in final]}

    rising = {10: result([0.880, 0.882]), 20: result([0.890, 0.892]), 40: result([0.893, 0.895])}
    assert chapter11.converged(rising) == 20  # 10 -> 20 gains 1 point, 20 -> 40 0.3
    assert chapter11.converged(rising, gain=0.002) is None  # every doubling gains more
    assert chapter11.scaled(40).warmup_epochs == 4 * chapter11.QUICK_RECIPE.warmup_epochs
    assert chapter11.scaled(10) == chapter11.QUICK_RECIPE
