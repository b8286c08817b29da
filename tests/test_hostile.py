"""Hostile inputs: planted links, damaged run folders, FIFOs, values that would fail late.

Every case ends in one clean line and a non-zero exit, or in a correct answer; nothing is
written outside the run folder or the file the user named."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_cli import FAST, one_line_error, run_cli


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished short run on digits (copied per test, so each may damage its copy)."""
    from plainnet.app.cli import main

    out = tmp_path_factory.mktemp("runs")
    main(["train", *FAST, "--out", str(out), "--name", "f", "run.tensorboard=false",
          "run.select=best"])  # fmt: skip
    (run,) = out.iterdir()
    return run


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


@pytest.fixture
def victim(tmp_path):
    """A user's file outside the run folder that a planted link points at."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    return path


def untouched(victim):
    return victim.read_text() == "my notes\n"


# ------------------------------------------------------------------ writes through links


@pytest.mark.parametrize("name", ["eval-last-test.csv", "eval-last-test.png"])
def test_eval_replaces_a_planted_link_instead_of_writing_through_it(capsys, run, victim, name):
    (run / name).symlink_to(victim)
    code, _, _ = run_cli(capsys, "eval", str(run), "--checkpoint", "last")
    assert code == 0 and untouched(victim)
    assert not (run / name).is_symlink() and (run / name).stat().st_size > 0


@pytest.mark.parametrize("fmt", ["pt2", "torchscript"])
def test_export_replaces_a_planted_link(capsys, run, victim, fmt):
    out = run / f"model-last.{'pt2' if fmt == 'pt2' else 'ts'}"
    out.symlink_to(victim)
    code, _, err = run_cli(capsys, "export", str(run), "--checkpoint", "last",
                           "--format", fmt, "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert untouched(victim) and not out.is_symlink()


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_predict_out_replaces_a_planted_link(capsys, run, victim, tmp_path, suffix):
    from plainnet.data.datasets import load_dataset

    np.save(tmp_path / "x.npy", load_dataset("digits").x_test[:5])
    out = tmp_path / f"link{suffix}"
    out.symlink_to(victim)
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "x.npy"),
                           "--checkpoint", "last", "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert untouched(victim) and not out.is_symlink()


@pytest.mark.parametrize(
    "name", ["metrics.csv", "probe.jsonl", "summary.json", "config.toml", "tb", "checkpoints"]
)
def test_resume_refuses_a_run_folder_with_a_planted_link(capsys, run, victim, tmp_path, name):
    """Appended files and folders cannot be replaced atomically: a run folder holding a link
    where plainnet writes is refused in one line, and what the link points at is untouched."""
    target = victim
    if name in ("tb", "checkpoints"):
        target = tmp_path / "elsewhere"
        shutil.copytree(run / name, target) if (run / name).exists() else target.mkdir()
        before = sorted(os.listdir(target))
    if (run / name).is_dir():
        shutil.rmtree(run / name)
    (run / name).unlink(missing_ok=True)
    (run / name).symlink_to(target)
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--extend")
    err = one_line_error(code, err)
    assert "symbolic link" in err or "not valid TOML" in err  # config.toml is read first
    if target is victim:
        assert untouched(victim)
    else:
        assert sorted(os.listdir(target)) == before


# ------------------------------------------------------------------ resume and run folders


def summary_of(run):
    import json

    return json.loads((run / "summary.json").read_text())


def test_resuming_a_finished_run_keeps_every_summary_field(capsys, run):
    before = summary_of(run)
    code, out, err = run_cli(capsys, "train", "--resume", str(run))
    assert code == 0, err
    after = summary_of(run)
    assert "nothing to do" in out
    for key in ("final_running_train_err", "final_val_err", "final_test_err"):
        assert after[key] == before[key] and after[key] is not None, key


def test_a_finished_runs_cut_short_metrics_are_said_on_resume(capsys, run):
    metrics = run / "metrics.csv"
    header, first, *_ = metrics.read_text().splitlines(keepends=True)
    metrics.write_text(header + first)  # the last epoch's row lost, e.g. by a bad copy
    code, out, err = run_cli(capsys, "train", "--resume", str(run))
    assert code == 0 and "nothing to do" in out, err
    assert "holds 1 of the 2 epochs trained so far" in err


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(capsys, run, finished):
    """Training is deterministic, so epoch 1 run again gives the rows it had."""
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    (run / "summary.json").unlink()
    code, _, err = run_cli(capsys, "train", "--resume", str(run))
    assert code == 0, err
    ref = (finished / "metrics.csv").read_text().splitlines()
    got = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[:9] for r in got] == [r.split(",")[:9] for r in ref]


def test_a_run_killed_while_writing_its_first_config_is_cleaned_and_refused(capsys, tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / ".config.toml.abc.tmp").write_text("[data]\n")
    code, _, err = run_cli(capsys, "train", "--resume", str(folder))
    assert "before any training" in one_line_error(code, err)
    assert not list(folder.glob("*.tmp"))


@pytest.mark.parametrize(
    "damage, expect",
    [("", None), ("epoch,lr\nnot,a\n", "damaged"), ("hello\n1,2\n", "damaged")],
)
def test_resume_with_an_emptied_or_damaged_metrics_csv(capsys, run, damage, expect):
    (run / "metrics.csv").write_text(damage)
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--extend")
    if expect:
        assert expect in one_line_error(code, err)
    else:  # emptied: the header comes back with the next row
        assert code == 0, err
        rows = (run / "metrics.csv").read_text().splitlines()
        assert rows[0].startswith("epoch,") and rows[1].startswith("3,")


def test_a_new_run_never_reuses_a_folder(monkeypatch, tmp_path):
    from plainnet.app.config import resolve
    from plainnet.app.runs import RunDir, RunError

    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-000000")
    cfg = resolve(overrides=[f"run.out_dir={tmp_path}", "run.name=x"])
    for i in range(1, 1000):
        (tmp_path / ("20260101-000000-x" + (f"-{i}" if i > 1 else ""))).mkdir()
    with pytest.raises(RunError, match="999 run folders"):
        RunDir.create(cfg)


@pytest.mark.parametrize("target", ["config.toml", "summary.json", "checkpoints/last.pt", ".lock"])
def test_predict_and_export_never_overwrite_a_runs_own_files(capsys, run, tmp_path, target):
    from plainnet.data.datasets import load_dataset

    np.save(tmp_path / "x.npy", load_dataset("digits").x_test[:5])
    before = (run / target).read_bytes()
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "x.npy"),
                           "--checkpoint", "last", "--out", str(run / target))  # fmt: skip
    assert "file of the run folder" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "export", str(run), "--checkpoint", "last",
                           "--out", str(run / target))  # fmt: skip
    assert "file of the run folder" in one_line_error(code, err)
    assert (run / target).read_bytes() == before


# ------------------------------------------------------------------ values that fail late


@pytest.mark.parametrize(
    "override, needle",
    [
        ("model.eta=1e-300", "model.eta"),
        ("schedule.warmup_epochs=inf", "warmup_epochs"),
        ("optim.lr=nan", "optim.lr"),
        ("optim.betas=[nan, 0.9]", "betas"),
        ("optim.betas=[2.0, 2.0]", "betas"),
        ("train.seed=9000000000000000000", "train.seed"),
        ("train.seed=-1", "train.seed"),
        ("train.batch_size=1", "train.batch_size"),
        ("run.probe_samples=1", "probe_samples"),
        ("train.calibrate_bn=1", "calibrate_bn"),
        ("data.image_size=100000000", "image_size"),
        ("model.width=1000000000000", "model.width"),
        ("data.train_subset=1", "training split holds 1 samples"),
        ("data.train_subset=5", "training split holds 5 samples"),
    ],
)
def test_values_that_would_fail_later_are_refused_up_front(capsys, tmp_path, override, needle):
    code, _, err = run_cli(capsys, "train", *FAST, "--out", str(tmp_path), override)
    assert needle in one_line_error(code, err)
    assert not list(tmp_path.iterdir())  # no run folder left behind


def test_a_batch_larger_than_the_data_is_capped_not_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *FAST, "--out", str(tmp_path),
                           "train.batch_size=1000000000")  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optim.name=adam", "optim.momentum=0.5"], "optim.momentum"),
        (["optim.betas=[0.8, 0.9]"], "optim.betas"),
        (["schedule.gamma=0.5"], "schedule.gamma"),
        (["schedule.milestones=[0.3]"], "schedule.milestones"),
        (["model.norm=none", "train.calibrate_bn=100"], "train.calibrate_bn"),
        (["optim.trust_coefficient=0.01"], "optim.trust_coefficient"),
    ],
)
def test_settings_that_do_nothing_are_noted(overrides, key):
    from plainnet.app.config import ConfigWarning, resolve

    with pytest.warns(ConfigWarning, match=f"{key} .* has no effect"):
        resolve(overrides=overrides)


def test_the_last_batch_gives_every_process_two_samples():
    from plainnet.data.datasets import load_dataset
    from plainnet.data.tensors import DeviceData

    data = DeviceData(load_dataset("digits"))  # 1,437 training samples: 11 x 129 + 18
    for processes, batch in ((1, 129), (2, 129), (4, 1436), (8, 1430)):
        bounds = data.batch_bounds(batch, processes)
        sizes = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
        assert sum(sizes) == 1437 and min(sizes) >= 2 * processes


# ------------------------------------------------------------------ grids


def test_a_sweep_with_an_invalid_row_starts_nothing(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", "--seeds", "0", "--out", str(tmp_path / "s"),
                           "model.depth=4", "--row", "ok: model.width=8",
                           "--row", "bad: model.width=-3")  # fmt: skip
    assert "row 'bad'" in one_line_error(code, err)
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").rglob("config.toml"))


def test_a_sweep_row_that_cannot_train_is_reported_by_name(capsys, tmp_path):
    code, out, err = run_cli(capsys, "sweep", "--seeds", "0", "--out", str(tmp_path / "s"),
                             "model.depth=4", "model.width=8", "train.epochs=1",
                             "--row", "fine: model.width=8",
                             "--row", "no data: data.val_fraction=0.999")  # fmt: skip
    assert code == 0, err
    report = (tmp_path / "s" / "sweep.md").read_text()
    assert "| no data | 1 | failed (1/1)" in report and "- no data: failed:" in report
    assert "| fine | 1 |" in report


def test_empty_seeds_are_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", "--seeds", "", "--out", str(tmp_path))
    assert "seeds" in one_line_error(code, err)


# ------------------------------------------------------------------ files that are not files


def test_a_config_that_is_a_fifo_a_device_or_nested_too_deep_is_one_line(capsys, tmp_path):
    fifo = tmp_path / "cfg.toml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    for path, needle in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                         (deep, "nested too deeply"), (tmp_path, "a folder")):  # fmt: skip
        code, _, err = run_cli(capsys, "train", "-c", str(path))
        assert needle in one_line_error(code, err)


# ------------------------------------------------------------------ predictions without meaning


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: np.save(p, np.zeros((0, 8, 8), np.uint8)), "no inputs"),
        (lambda p: np.save(p, np.array(3.0)), "no inputs"),
        (lambda p: np.save(p, np.array([["a"] * 8] * 8)[None]), "type"),
        (lambda p: np.save(p, np.full((2, 8, 8), np.nan, np.float32)), "NaN or inf"),
        (lambda p: np.save(p, np.full((2, 8, 8), -5.0, np.float32)), "0..255"),
        (lambda p: np.save(p, np.full((2, 8, 8), 0.5, np.float32)), "scaled to [0, 1]"),
        (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "not a readable array"),
        (lambda p: os.mkfifo(p), "not a regular file"),
    ],
)
def test_predict_refuses_inputs_without_meaning(capsys, run, tmp_path, make, needle):
    path = tmp_path / "x.npy"
    make(path)
    code, _, err = run_cli(capsys, "predict", str(run), str(path), "--checkpoint", "last",
                           "--out", str(tmp_path / "p.csv"))  # fmt: skip
    assert needle in one_line_error(code, err)
    assert not (tmp_path / "p.csv").exists()


def test_predict_on_a_truncated_npz_and_a_fifo_named_like_an_image(capsys, run, tmp_path):
    from plainnet.data.datasets import load_dataset

    np.savez(tmp_path / "x.npz", x=load_dataset("digits").x_test[:50])
    blob = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "x.npz").write_bytes(blob[: len(blob) // 2])
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "x.npz"))
    assert "not a readable array" in one_line_error(code, err)
    folder = tmp_path / "imgs"
    folder.mkdir()
    os.mkfifo(folder / "x.png")
    code, _, err = run_cli(capsys, "predict", str(run), str(folder))
    assert "no images" in one_line_error(code, err)


# ------------------------------------------------------------------ data and checkpoints


def _png(path, array, mode=None):
    from PIL import Image

    Image.fromarray(array, mode).save(path)


def test_user_datasets_that_cannot_train_meaningfully_are_refused(tmp_path):
    from plainnet.data.datasets import DataError, user_arrays

    x = np.zeros((20, 8, 8), np.uint8)
    cases = {
        "empty.npz": dict(x=x[:0], y=np.zeros(0, np.int64)),
        "oneclass.npz": dict(x=x, y=np.zeros(20, np.int64)),
        "huge_label.npz": dict(x=x, y=np.r_[np.zeros(19, np.int64), [2**40]]),
        "no_channels.npz": dict(x=np.zeros((20, 8, 8, 0), np.uint8), y=np.arange(20) % 2),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(DataError):
            user_arrays(str(tmp_path / name))
    folder = tmp_path / "imgs"
    for c in ("a", "b", "empty"):
        (folder / c).mkdir(parents=True)
    for c in ("a", "b"):
        _png(folder / c / "0.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="empty class folder"):
        user_arrays(str(folder))


def test_sixteen_bit_images_keep_their_gray_levels(tmp_path):
    from plainnet.data.datasets import user_arrays

    for c, level in (("dark", 16384), ("light", 49152)):
        (tmp_path / "f" / c).mkdir(parents=True)
        _png(tmp_path / "f" / c / "0.png", np.full((8, 8), level, np.uint16))
    x = user_arrays(str(tmp_path / "f"))["x"]
    assert x[0].max() == round(16384 * 255 / 65535) and x[1].max() == round(49152 * 255 / 65535)


def test_a_checkpoint_with_nan_weights_or_a_wrong_size_is_refused(capsys, run):
    import torch

    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    name = next(k for k in state["model"] if k.endswith("weight"))
    state["model"][name][0, 0] = float("nan")
    torch.save(state, path)
    code, _, err = run_cli(capsys, "eval", str(run), "--checkpoint", "last")
    assert "NaN" in one_line_error(code, err)
    state["data"]["num_classes"] = 10**9
    torch.save(state, path)
    code, _, err = run_cli(capsys, "eval", str(run), "--checkpoint", "last")
    assert "do not fit" in one_line_error(code, err)
    state["data"]["num_classes"] = 10
    state["data"]["in_shape"] = [1, 100000, 100000]
    torch.save(state, path)
    code, _, err = run_cli(capsys, "eval", str(run), "--checkpoint", "last")
    assert "do not fit" in one_line_error(code, err)


def test_probe_layers_outside_the_net_and_a_malformed_log(capsys, run, tmp_path):
    code, _, err = run_cli(capsys, "probe", "--depth", "6", "model.width=16", "--layers", "0,9",
                           "--max-samples", "50", "--out", str(tmp_path / "p"))  # fmt: skip
    assert "hidden layers 1..5" in one_line_error(code, err)
    (run / "probe.jsonl").write_text('{"epoch": 1, "layers": [1, 2]}\n')
    code, _, err = run_cli(capsys, "probe", "--log", str(run), "--out", str(tmp_path / "q"))
    assert "not plainnet probe entries" in one_line_error(code, err)


# ------------------------------------------------------------------ one "best"


def test_best_breaks_ties_by_validation_loss_and_can_select_on_loss():
    from types import SimpleNamespace

    from plainnet.app.callbacks import Best

    epochs = [(0.10, 0.50), (0.05, 0.40), (0.05, 0.30), (0.06, 0.20)]  # (val err, val loss)

    def pick(rule):
        best = Best(split="test", rule=rule)  # the test split: nothing is saved
        for i, (err, loss) in enumerate(epochs, 1):
            best.on_epoch_end(SimpleNamespace(epoch=i, metrics=dict(test_err=err, test_loss=loss)))
        return best.epoch

    assert pick("best") == 3  # epochs 2 and 3 tie at 5%: the lower loss wins, not the earlier
    assert pick("val_loss") == 4


def test_commands_load_what_the_run_selected_and_say_which(capsys, run, tmp_path):
    from plainnet.app.inference import load_run

    loaded = load_run(run)
    assert loaded.checkpoint == "best" and "best.pt (epoch" in loaded.describe()
    assert "lowest error, ties broken by loss" in loaded.describe()
    code, out, _ = run_cli(capsys, "eval", str(run))
    assert code == 0 and out.startswith("best.pt (epoch")
    (run / "checkpoints" / "best.pt").unlink()  # as a run.select = "final" run keeps none
    loaded = load_run(run)
    assert loaded.checkpoint == "last" and "the final model" in loaded.describe()


# ------------------------------------------------------------------ inputs against training


def test_predict_checks_inputs_against_the_recorded_training_range(capsys, run, tmp_path):
    """digits is stored as 0..16: 0..255 PNGs are refused, and --rescale maps them onto it
    with the same answers as the 0..16 arrays they came from."""
    from PIL import Image

    from plainnet.app.inference import load_run
    from plainnet.data.datasets import load_dataset

    raw = load_run(run).raw
    assert raw == dict(dtype="uint8", shape=[8, 8], min=0.0, max=16.0)
    x = load_dataset("digits").x_test[:6]
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "imgs").mkdir()
    for i, img in enumerate(x):  # saved the usual way: 0..255
        Image.fromarray((img.astype(np.float64) * 255 / 16).round().astype(np.uint8)).save(
            tmp_path / "imgs" / f"{i}.png"
        )
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "imgs"))
    assert code == 2 and "values 0..16" in err and "--rescale" in err
    code, out, err = run_cli(capsys, "predict", str(run), str(tmp_path / "imgs"), "--rescale",
                             "--out", str(tmp_path / "a.csv"))  # fmt: skip
    assert code == 0 and out.startswith("model: best.pt")
    code, _, _ = run_cli(capsys, "predict", str(run), str(tmp_path / "x.npy"),
                         "--out", str(tmp_path / "b.csv"))  # fmt: skip
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "big.png")
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "big.png"),
                           "--out", str(tmp_path / "c.csv"))  # fmt: skip
    assert code == 0 and "16x16 resized to 8x8" in err
    rows = [(tmp_path / f).read_text().splitlines()[1:] for f in ("a.csv", "b.csv")]
    assert [r.split(",")[1] for r in rows[0]] == [r.split(",")[1] for r in rows[1]]


def test_load_run_preprocess_warns_on_inputs_outside_the_training_range(run):
    from plainnet.app.inference import load_run
    from plainnet.data.tensors import InputRangeWarning

    prep = load_run(run).preprocess
    with pytest.warns(InputRangeWarning, match="outside the 0..16"):
        prep(np.full((2, 8, 8), 255, np.uint8))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prep(np.full((2, 8, 8), 16, np.uint8))  # inside: no warning
        prep(np.full((2, 8, 8), 17, np.uint8))  # within a tenth of the span beyond it: none


def test_the_range_rule_allows_a_training_split_that_misses_the_extremes():
    from plainnet.data.tensors import outside_range

    assert not outside_range(0, 255, dict(min=0.0, max=250.0))  # a split whose top is 250
    assert outside_range(0, 255, dict(min=0.0, max=16.0))  # another scale
    assert outside_range(-5, 10, dict(min=0.0, max=16.0))


# ------------------------------------------------------------------ a user's own model


MY_MODELS = """
import math

from torch import nn
from plainnet.nn.models import register_model


class Tiny(nn.Module):
    def __init__(self, in_shape, num_classes, width):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


@register_model
def tiny(in_shape, num_classes, width):
    return Tiny(in_shape, num_classes, width)
"""


def test_a_model_from_the_users_module_trains_evaluates_predicts_and_exports(tmp_path):
    """In fresh processes that put no folder on sys.path (-I): the run's config names the
    module, so every later command imports it on its own."""
    import subprocess
    import sys

    (tmp_path / "mymodels.py").write_text(MY_MODELS)

    def plainnet(*commands):  # started together, each in a fresh process
        procs = [subprocess.Popen([sys.executable, "-I", "-m", "plainnet", *args], cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in commands]  # fmt: skip
        return [(p.communicate(timeout=300), p.returncode) for p in procs]

    train = ["train", "model.module=mymodels", "model.arch=tiny", "--epochs", "2", "--out", "runs",
             "run.tensorboard=false"]  # fmt: skip
    [((out, err), code)] = plainnet(train)
    assert code == 0, err[-800:]
    (run,) = (tmp_path / "runs").iterdir()
    # described by what it is: named by its arch (its builder takes no depth), no BatchNorm
    assert run.name.endswith("-tiny-digits")
    (said,) = [line for line in out.splitlines() if line.startswith("model:")]
    assert (
        said.startswith("model: tiny (mymodels), 9,610 parameters,")
        and "batch" not in said
        and "beta" not in said
    )
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), np.uint8))
    uses = (["eval", str(run)], ["predict", str(run), "x.npy"], ["export", str(run)])
    missing = ["train", "model.module=nosuchmodule", "model.arch=tiny"]
    imported = ["--import", "mymodels", "model", "model.arch=tiny"]
    grid = ["--import", "mymodels", "sweep", "model.arch=tiny", "--seeds", "0,1", "--jobs", "2",
            "--epochs", "1", "--out", "grid", "run.tensorboard=false"]  # fmt: skip
    *done, missing, imported, grid = plainnet(*uses, missing, imported, grid)
    (out, err), code = grid  # the workers import what the parent imported
    assert code == 0 and "failed" not in out + err and out.count("test ") == 2, out + err
    for args, ((_, err), code) in zip(uses, done, strict=True):
        assert code == 0, (args, err[-800:])
    (_, err), code = missing
    assert "importing nosuchmodule failed" in one_line_error(code, err)
    (out, _), code = imported
    assert code == 0 and "Linear" in out
    elsewhere = subprocess.run([sys.executable, "-I", "-m", "plainnet", "eval", str(run)],
                               cwd=tmp_path.parent, capture_output=True, text=True)  # fmt: skip
    said = one_line_error(elsewhere.returncode, elsewhere.stderr)
    assert f"it was {tmp_path / 'mymodels.py'} when the run trained" in said
    # a run folder received with a file of that name beside it: never run unasked
    received = tmp_path.parent / "received"
    shutil.copytree(run, received)
    marker = tmp_path.parent / "ran"
    (received / "mymodels.py").write_text(f"open({str(marker)!r}, 'w')\n" + MY_MODELS)
    for cmd in (["eval", "."], ["train", "--resume", "."]):
        got = subprocess.run([sys.executable, "-I", "-m", "plainnet", *cmd], cwd=received,
                             capture_output=True, text=True)  # fmt: skip
        said = one_line_error(got.returncode, got.stderr)
        assert f"would be imported from {received / 'mymodels.py'}" in said, cmd
        assert f"recorded {tmp_path / 'mymodels.py'}" in said and "--import mymodels" in said
        assert not marker.exists()
    named = subprocess.run([sys.executable, "-I", "-m", "plainnet", "--import", "mymodels",
                            "eval", "."], cwd=received, capture_output=True, text=True)  # fmt: skip
    assert named.returncode == 0, named.stderr[-800:]
    assert (
        marker.exists()
        and f"model.module mymodels from {received / 'mymodels.py'}"
        in (named.stdout.splitlines()[0])
    )
    # the recorded file replaced in place (its content hashed when the run trained): not run
    changed = tmp_path.parent / "changed"
    (tmp_path / "mymodels.py").write_text(f"open({str(changed)!r}, 'w')\n" + MY_MODELS)
    got = subprocess.run([sys.executable, "-I", "-m", "plainnet", "eval", str(run)],
                         cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    said = one_line_error(got.returncode, got.stderr)
    assert f"{tmp_path / 'mymodels.py'} changed since the run trained" in said
    assert "--import mymodels" in said and not changed.exists()


def test_probe_refuses_targets_on_different_data_sets(capsys, run, tmp_path):
    code, _, err = run_cli(capsys, "probe", "-p", "proposed", "--dataset", "usps",
                           "--run", str(run), "--out", str(tmp_path / "p"))  # fmt: skip
    assert "different data sets (digits, usps)" in one_line_error(code, err)


def test_a_damaged_or_forged_summary_is_one_line_and_the_run_is_continued(capsys, tmp_path):
    """No number from a summary that does not agree with its run enters a report."""
    args = ["--seeds", "0", "model.depth=3", "model.width=8", "train.epochs=1",
            "run.tensorboard=false", "--out", str(tmp_path)]  # fmt: skip
    assert run_cli(capsys, "sweep", *args)[0] == 0
    (summary,) = (tmp_path / "runs").glob("*/summary.json")
    real = json.loads(summary.read_text())
    forged = dict(real, final_running_train_err=real["final_running_train_err"] / 2)
    for bad, why in (("{}", "final_train_err is None"), ("[]", "not a summary"),
                     (json.dumps(dict(real, final_test_err="0.1")), "'0.1', not an error rate"),
                     (json.dumps(dict(real, final_test_err=float("nan"))), "nan"),
                     (json.dumps(dict(real, epochs=7)), "7 epochs, metrics.csv has 1"),
                     (json.dumps(forged), "differs from metrics.csv")):  # fmt: skip
        summary.write_text(bad)
        code, out, err = run_cli(capsys, "sweep", "--resume", *args)
        assert code == 0 and why in err and "Traceback" not in err, (bad, err)
        assert json.loads(summary.read_text())["final_test_err"] == real["final_test_err"]


def test_a_16_bit_png_is_predicted_as_its_8_bit_copy(capsys, run, tmp_path):
    """predict reads 16-bit images as class folders do (scaled, not clipped to white)."""
    from PIL import Image

    from plainnet.data.datasets import load_dataset

    x = load_dataset("digits").x_test[:4]
    (tmp_path / "eight").mkdir()
    (tmp_path / "sixteen").mkdir()
    for i, img in enumerate(x):
        Image.fromarray(img).save(tmp_path / "eight" / f"{i}.png")
        wide = (img.astype(np.uint16) * 257).astype(np.uint16)
        Image.fromarray(wide).save(tmp_path / "sixteen" / f"{i}.png")  # mode I;16
    got = {}
    for kind in ("eight", "sixteen"):
        code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / kind),
                               "--out", str(tmp_path / f"{kind}.npz"))  # fmt: skip
        assert code == 0, err
        got[kind] = np.load(tmp_path / f"{kind}.npz")["probabilities"]
    assert np.allclose(got["eight"], got["sixteen"], atol=1e-6)


def test_a_checkpoint_copied_in_from_another_run_is_refused(small_cfg, quiet, run):
    import plainnet
    from plainnet.app.runs import RunError
    from plainnet.app.trainer import train

    other = train(small_cfg("train.epochs=1", "model.width=16"), console=quiet).run_dir
    shutil.copy(other.checkpoint_path, run / "checkpoints" / "last.pt")
    with pytest.raises(RunError, match=r"differs from its checkpoint: model.depth \(10 in"):
        plainnet.load_run(run, "last")


def test_a_grid_skips_a_run_another_process_holds_and_never_marks_it_failed(capsys, tmp_path):
    from plainnet.app.runs import RunDir

    args = ["--seeds", "0", "model.depth=3", "model.width=8", "train.epochs=1",
            "run.tensorboard=false", "--out", str(tmp_path)]  # fmt: skip
    assert run_cli(capsys, "sweep", *args)[0] == 0
    (folder,) = (tmp_path / "runs").iterdir()
    (folder / "summary.json").unlink()  # interrupted, and now held by another trainer
    with RunDir(folder).lock():
        code, out, _ = run_cli(capsys, "sweep", "--resume", *args)
    assert code == 0 and "skipped:" in out and "in use by" in out
    assert not (folder / "failed.txt").exists()
    code, out, _ = run_cli(capsys, "sweep", "--resume", *args)  # once free, it is finished
    assert code == 0 and (folder / "summary.json").exists() and "skipped" not in out
    from plainnet.app.runs import hold  # a second process on the same grid is refused

    with hold(tmp_path / ".runs.lock", "the grid"):
        code, _, err = run_cli(capsys, "sweep", "--resume", *args)
    assert "the grid in" in one_line_error(code, err) and "is in use by process" in err


def test_a_grid_never_writes_through_a_run_folder_that_is_a_link(capsys, tmp_path):
    import shutil

    args = ["--seeds", "0", "model.depth=3", "model.width=8", "train.epochs=1",
            "run.tensorboard=false", "--out", str(tmp_path / "g")]  # fmt: skip
    assert run_cli(capsys, "sweep", *args)[0] == 0
    (folder,) = (tmp_path / "g" / "runs").iterdir()
    target = tmp_path / "elsewhere"
    shutil.move(folder, target)
    (target / "summary.json").unlink()  # an interrupted run, reached through a link
    folder.symlink_to(target)
    before = sorted(p.name for p in target.rglob("*"))
    code, out, err = run_cli(capsys, "sweep", "--resume", *args)
    assert code == 0 and "is a symbolic link: left alone" in out + err
    assert sorted(p.name for p in target.rglob("*")) == before  # nothing written into it
    assert len(list((tmp_path / "g" / "runs").iterdir())) == 2  # trained in a folder of its own


KILLER = """
import os, signal
from plainnet.nn.models import plain_mlp, register_model

@register_model
def killer(in_shape, num_classes, depth=3):
    if not os.path.exists("killed"):  # the first build only: as the OOM killer would
        open("killed", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return plain_mlp(in_shape, num_classes, depth=depth, width=8)
"""


def test_a_killed_grid_worker_is_one_line_and_its_grid_resumes(tmp_path):
    import subprocess
    import sys

    (tmp_path / "killer.py").write_text(KILLER)
    args = [sys.executable, "-I", "-m", "plainnet", "sweep", "model.module=killer",
            "model.arch=killer", "--seeds", "0,1", "--jobs", "2", "--epochs", "1",
            "--out", "g", "run.tensorboard=false"]  # fmt: skip
    first = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    said = one_line_error(first.returncode, first.stderr)
    assert "a worker process died while training" in said and "--resume continues" in said
    again = subprocess.run([*args, "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-800:]
    assert again.stdout.count("test ") == 2 and "failed" not in again.stdout


def test_grid_workers_die_with_the_grid_process_even_when_it_is_killed(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "worker.pid"
    script = (
        "import multiprocessing, os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from plainnet.app.grid import _init_worker\n"
        "def work(path):\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    spawn = multiprocessing.get_context('spawn')\n"
        "    pool = ProcessPoolExecutor(1, spawn, _init_worker, (1, []))\n"
        "    pool.submit(work, sys.argv[1]).result()\n"
    )
    (tmp_path / "grid.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "grid.py"), str(pid_file)])
    for _ in range(600):  # the worker starts (torch imports) in seconds
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(300):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return  # gone with its parent
        if Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
            return  # dead, waiting to be reaped
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived the grid process")


def test_a_stratified_subset_smaller_than_the_classes_is_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *FAST, "--out", str(tmp_path),
                           "data.train_subset=5", "data.train_subset_by=stratified")  # fmt: skip
    assert "one of each of the 10 classes" in one_line_error(code, err)
    assert not list(tmp_path.iterdir())
