import csv
import json
import os
from pathlib import Path

import pytest
import torch

from plainnet.app.build import make_data, make_model
from plainnet.app.config import ConfigError, resolve
from plainnet.app.runs import METRICS, RunDir, RunError
from plainnet.app.trainer import TrainingDiverged, train
from plainnet.engine.schedule import lr_factor
from plainnet.nn.constraints import unit_norms
from plainnet.nn.correlation import resolve_beta
from plainnet.nn.models import hidden_weights


def test_proposed_net_learns_digits_and_writes_a_complete_run(small_cfg, quiet):
    cfg = small_cfg("model.depth=20", "model.beta=0.5", "train.epochs=6")  # auto is ~ReLU here
    result = train(cfg, console=quiet)
    run = result.run_dir
    assert result.summary["final_test_err"] < 0.3  # chance is 0.9
    assert result.summary["final_train_err"] < 0.3
    with run.metrics_path.open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert list(rows[0]) == METRICS
    # With a validation split the test split is not read per epoch (blank), only at the end.
    assert all(r["test_err"] == r["test_loss"] == "" for r in rows)
    # the running-averages check is off by default: its column is blank, as unmeasured
    assert all(r["running_stats_check_s"] == "" for r in rows)
    measured = [
        v
        for r in rows
        for k, v in r.items()
        if not k.startswith("test") and k != "running_stats_check_s"
    ]
    assert all(float(v) == float(v) for v in measured)  # no NaN, no blanks
    assert float(rows[-1]["val_err"]) == result.summary["final_val_err"]
    assert run.config().model_dump() == cfg.model_dump()
    summary = json.loads(run.summary_path.read_text())
    assert summary["epochs"] == 6 and summary["seeds"] == {"train": 0, "split": 0}
    prov = summary["provenance"]
    assert prov["torch"] == str(torch.__version__) and prov["cpu_threads"] >= 1
    assert {"plainnet", "git_commit", "command", "device", "cpu", "gpu"} <= prov.keys()
    assert prov["cpu_instructions"].startswith(torch.backends.cpu.get_cpu_capability())
    state = run.load_checkpoint()
    assert state["epoch"] == 6 and state["provenance"]["command"] == prov["command"]


def test_trainer_applies_max_norm_every_step(small_cfg, quiet):
    cfg = small_cfg("max_norm.c=0.5", "optim.lr=0.5", "train.epochs=1")
    run = train(cfg, console=quiet).run_dir
    model = make_model(cfg, make_data(cfg))
    model.load_state_dict(run.load_checkpoint()["model"])
    assert max(unit_norms(w).max().item() for w in hidden_weights(model)) <= 0.5 * (1 + 1e-5)


def test_resume_continues_from_the_saved_epoch_and_matches_an_unbroken_run(
    small_cfg, quiet, monkeypatch
):
    cfg = small_cfg("train.epochs=4", "run.checkpoint_every=1")
    full = train(cfg, console=quiet).run_dir

    save = RunDir.save_checkpoint

    def crash_at_epoch_3(self, state, path=None):
        if state["epoch"] == 3 and path is None:  # last.pt, after epoch 3's metrics row
            raise KeyboardInterrupt
        save(self, state, path)

    monkeypatch.setattr(RunDir, "save_checkpoint", crash_at_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, console=quiet)
    monkeypatch.setattr(RunDir, "save_checkpoint", save)
    (part,) = [p for p in full.path.parent.iterdir() if p != full.path]
    part = RunDir.open(part)
    assert part.load_checkpoint()["epoch"] == 2

    train(part.config(), part, resume=True, console=quiet)
    assert [r["epoch"] for r in part.read_metrics()] == [1, 2, 3, 4]  # row 3 written once
    a, b = full.load_checkpoint()["model"], part.load_checkpoint()["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert full.read_metrics()[-1]["test_err"] == part.read_metrics()[-1]["test_err"]


def test_divergence_stops_and_keeps_the_last_good_checkpoint(small_cfg, quiet, monkeypatch):
    import plainnet.app.trainer

    # continue a good run with a blown-up lr (a change resume() itself would refuse)
    monkeypatch.setattr(plainnet.app.trainer, "check_same_config", lambda *a: None)
    naive = ("model.norm=none", "model.act=relu", "max_norm.enabled=false")
    run = train(small_cfg("train.epochs=1", *naive), console=quiet).run_dir
    good = run.checkpoint_path.read_bytes()
    bad = small_cfg("train.epochs=3", "optim.lr=1e30", *naive)
    with pytest.raises(TrainingDiverged, match="Last finite checkpoint: .*last.pt") as e:
        train(bad, run, resume=True, console=quiet)
    assert str(e.value).endswith("Try a lower optim.lr or enable max_norm.")
    assert run.checkpoint_path.read_bytes() == good
    assert [r["epoch"] for r in run.read_metrics()] == [1]
    with pytest.raises(TrainingDiverged) as e:  # max-norm on: only what the run did not have
        train(small_cfg("optim.lr=1e30", "model.norm=none"), console=quiet)
    assert str(e.value).endswith("Try a lower optim.lr.")


def test_run_folders_are_never_reused(small_cfg):
    cfg = small_cfg("run.name=same")
    a, b = RunDir.create(cfg), RunDir.create(cfg)
    assert a.path != b.path and a.path.exists() and b.path.exists()


@pytest.mark.parametrize(
    "name,expect",
    [
        ("constant", [1, 1, 1, 1]),
        ("multistep", [1, 1, 0.1, 0.01]),
        ("cosine", [1, None, None, None]),
    ],
)
def test_schedules(name, expect):
    got = [lr_factor(s, 100, 0, name, (0.5, 0.75), 0.1) for s in (0, 40, 60, 80)]
    for g, e in zip(got, expect, strict=True):
        if e is not None:
            assert g == pytest.approx(e)
    if name == "cosine":
        assert got == sorted(got, reverse=True) and got[-1] < 0.5
    assert [lr_factor(s, 100, 4, "constant") for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_probe_every_logs_per_layer_statistics(small_cfg, quiet):
    import json

    cfg = small_cfg("run.probe_every=2", "train.epochs=4", "run.probe_samples=300")
    run = train(cfg, console=quiet).run_dir
    lines = [json.loads(line) for line in run.probe_path.read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [0, 2, 4]  # at init, then every 2 epochs
    assert len(lines[0]["layers"]) == 9  # depth 10: nine hidden layers
    assert {"normalized_mean_activation", "condition_number", "grad_norm"} <= set(
        lines[0]["layers"][0]
    )


def test_resume_refuses_a_hand_edited_config_and_fewer_epochs_than_done(small_cfg, quiet):
    from plainnet.app.trainer import resume

    run = train(small_cfg("train.epochs=2"), console=quiet).run_dir
    original = run.config_path.read_text()
    run.config_path.write_text(original.replace("lr = 0.02", "lr = 0.05"))
    with pytest.raises(RunError, match=r"optim.lr \(0.02 in the checkpoint, 0.05 now\)"):
        resume(run.path, console=quiet)
    run.config_path.write_text(original)
    with pytest.raises(ConfigError, match="cannot change"):
        resume(run.path, ["model.depth=3"], console=quiet)
    with pytest.raises(ConfigError, match="has trained 2 epochs"):
        resume(run.path, ["train.epochs=1"], console=quiet)
    assert run.config_path.read_text() == original  # a refused resume rewrites nothing
    with pytest.raises(ConfigError, match="--extend"):
        resume(run.path, ["train.epochs=3"], console=quiet)
    result = resume(run.path, ["train.epochs=3"], extend=True, console=quiet)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]
    assert result.run_dir.config().train.epochs == 3


def test_a_run_folder_in_use_is_refused(small_cfg):
    run = RunDir.create(small_cfg())
    held = pytest.raises(RunError, match=f"in use by process {os.getpid()}")
    with run.lock(), held, RunDir(run.path).lock():
        pass
    with run.lock():  # released
        pass


def test_metrics_truncation_drops_a_half_written_row_and_later_epochs(small_cfg):
    run = RunDir.create(small_cfg())
    for epoch in (1, 2, 3):
        run.append_metrics(dict(epoch=epoch, step=epoch, lr=0.1, train_loss=1.0, train_err=0.5))
    with run.metrics_path.open("a") as f:
        f.write("4,4,0.1,0.9")  # killed in the middle of a row
    with pytest.warns(UserWarning, match="half-written"):
        run.truncate_metrics(2)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    assert not [p for p in run.path.iterdir() if p.suffix == ".tmp"]


def test_load_run_gives_the_trained_model_and_its_preprocessing(small_cfg, quiet):
    import plainnet
    from plainnet.data.datasets import load_dataset

    cfg = small_cfg("train.epochs=3", "run.select=best")
    result = train(cfg, console=quiet)
    d = cfg.data
    raw = load_dataset(d.dataset, test_fraction=d.test_fraction, val_fraction=d.val_fraction)
    for which, key in (("best", "best_test_err"), ("last", "final_test_err")):
        loaded = plainnet.load_run(result.run_dir.path, which)
        assert not loaded.model.training and loaded.classes == 10
        with torch.no_grad():
            pred = loaded.model(loaded.preprocess(raw.x_test)).argmax(1)
        err = (pred != torch.from_numpy(raw.y_test)).float().mean().item()
        assert err == pytest.approx(result.summary[key], abs=1e-6)  # float32 mean
    with pytest.raises(ConfigError):
        plainnet.load_run(result.run_dir.path, "newest")
    state = torch.load(result.run_dir.checkpoint_path, weights_only=True)
    del state["data"]
    torch.save(state, result.run_dir.checkpoint_path)
    with pytest.raises(RunError, match="older plainnet"):
        plainnet.load_run(result.run_dir.path, "last")


def test_a_last_batch_of_one_sample_is_merged_into_the_one_before(small_cfg, quiet):
    from plainnet.app.build import make_data

    # digits without a validation split: 1,437 training images; 1,025 = 8 x 128 + 1
    cfg = small_cfg("data.val_fraction=0", "data.train_subset=1025", "train.epochs=1")
    data = make_data(cfg)
    assert data.batch_bounds(128) == [*range(0, 1024, 128), 1025]
    gen = torch.Generator().manual_seed(0)
    sizes = [len(y) for _, y in data.train_batches(128, gen)]
    assert sizes == [128] * 7 + [129]
    assert train(cfg, console=quiet).summary["final_train_err"] < 1  # no BatchNorm error


def test_sigterm_stops_a_run_like_ctrl_c_keeping_its_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    args = [
        "train",
        "--epochs",
        "200",
        "--out",
        str(tmp_path),
        "--name",
        "t",
        "run.checkpoint_every=1",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "plainnet", *args], stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 900  # a guard against a hang only: a busy machine is slow
    while not list(tmp_path.glob("*/checkpoints/last.pt")) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-800:]
        time.sleep(0.2)
    assert list(tmp_path.glob("*/checkpoints/last.pt")), "no checkpoint after 15 minutes"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    (run,) = tmp_path.iterdir()
    assert f"--resume {run}" in err  # the message names the folder to resume
    assert RunDir.open(run).load_checkpoint()["epoch"] >= 1


# The crash tests' run: 4 epochs of a small net, a checkpoint after every epoch.
CRASH_RUN = ["train", "--depth", "6", "model.width=16", "--epochs", "4", "--name", "k",
             "run.checkpoint_every=1", "run.select=best"]  # fmt: skip
KILL_POINTS = ["last.pt:2", "metrics.csv:3", "best.pt:2", "summary.json:1"]


@pytest.fixture(scope="module")
def crash_runs(tmp_path_factory):
    """The crash tests' processes, each batch started together (each is mostly a fresh
    interpreter's start): the run never interrupted ("unbroken") and one SIGKILLed at each
    kill point; then `plainnet train --resume` of every killed run that left a folder.
    Point -> (exit status, stderr, out folder), and (point, "resume") -> (exit status,
    stderr, run folder)."""
    import subprocess
    import sys

    def together(commands: dict) -> dict:
        pipes = dict(text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs = {k: subprocess.Popen(cmd, **pipes) for k, (cmd, _) in commands.items()}
        done = {}
        for k, p in procs.items():  # a run's notes are far below a pipe's buffer
            err = p.communicate(timeout=300)[1]
            done[k] = (p.returncode, err, commands[k][1])
        return done

    worker = str(Path(__file__).with_name("crash_worker.py"))
    runs = {}
    for point in ["unbroken", *KILL_POINTS]:
        out = tmp_path_factory.mktemp(point.replace(":", "-").replace(".", "-"))
        cmd = (
            [sys.executable, worker, point] if ":" in point else [sys.executable, "-m", "plainnet"]
        )
        runs[point] = ([*cmd, *CRASH_RUN, "--out", str(out)], out)
    done = together(runs)
    resumes = {
        (point, "resume"): ([sys.executable, "-m", "plainnet", "train", "--resume", str(run)], run)
        for point in KILL_POINTS
        for run in done[point][2].iterdir()
    }
    return done | together(resumes)


@pytest.fixture(scope="module")
def unbroken_run(crash_runs):
    """The crash tests' reference: the same run, never interrupted."""
    code, err, out = crash_runs["unbroken"]
    assert code == 0, err[-500:]
    (ref,) = out.iterdir()
    return ref


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_sigkill_anywhere_then_resume_is_bit_identical_to_an_unbroken_run(
    kill_at, crash_runs, unbroken_run
):
    """SIGKILL (no cleanup) while writing a checkpoint, a metrics row, the summary...: a
    resume ends with the same metrics and weights as a run that was never interrupted."""

    code, err, out = crash_runs[kill_at]
    assert code == -9, err[-500:]
    (run,) = out.iterdir()
    # every kill point here lands after the first checkpoint: the run must resume
    assert (run / "config.toml").exists() and (run / "checkpoints/last.pt").exists()
    code, err, _ = crash_runs[kill_at, "resume"]  # plainnet train --resume RUN
    assert code == 0, err[-500:]
    from plainnet.app.runs import TIMING as timing

    def numbers(path):
        return [
            {k: v for k, v in r.items() if k not in timing} for r in RunDir(path).read_metrics()
        ]

    assert numbers(run) == numbers(unbroken_run)
    a, b = (torch.load(p / "checkpoints/last.pt", weights_only=True)["model"]
            for p in (run, unbroken_run))  # fmt: skip
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert not list(run.rglob("*.tmp"))


def test_the_deep_preset_trains_a_net_without_batchnorm(quiet, tmp_path):
    """No BatchNorm, delta-orthogonal init, lr 0.2 / depth, TAT's slope for eta 0.5: a
    60-layer net learns digits."""
    cfg = resolve("deep", overrides=["model.depth=60", "model.width=64", "train.epochs=10"])
    result = train(cfg, console=quiet)
    s = result.summary
    assert s["final_val_err"] < 0.3  # chance: 0.9
    saved = result.run_dir.config()
    assert saved.optim.lr == 0.2 / 60  # the "auto"s as numbers
    assert saved.model.beta == resolve_beta("auto", 60, 0.5, "none") > 0.7
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in result.model.modules())


def test_run_files_follow_the_umask_like_metrics_csv(small_cfg, quiet):
    old = os.umask(0o027)
    try:
        run = train(small_cfg("train.epochs=1"), console=quiet).run_dir
    finally:
        os.umask(old)
    modes = {
        p.name: p.stat().st_mode & 0o777
        for p in (run.config_path, run.summary_path, run.checkpoint_path, run.metrics_path)
    }
    assert set(modes.values()) == {0o640}, modes


def test_auto_checkpoints_save_a_minute_apart_and_always_the_last_epoch(
    small_cfg, quiet, monkeypatch
):
    """run.checkpoint_every = "auto" (the default): a run shorter than a minute writes its
    checkpoints once, after the last epoch, with best.pt naming the epoch that last.pt
    records as best; an early stop between two saves still saves where it stopped."""
    from plainnet.app.callbacks import LastCheckpoint
    from plainnet.engine.callbacks import EarlyStopping

    saves = []
    real = RunDir.save_checkpoint

    def counting(self, ckpt, path=None):
        saves.append((Path(path or self.checkpoint_path).name, ckpt["epoch"]))
        real(self, ckpt, path)

    monkeypatch.setattr(RunDir, "save_checkpoint", counting)
    result = train(small_cfg("train.epochs=4", "run.select=best"), console=quiet)
    last = result.run_dir.load_checkpoint()
    assert saves == [("best.pt", last["best_epoch"]), ("last.pt", 4)]
    assert torch.load(result.run_dir.best_path, weights_only=False)["epoch"] == last["best_epoch"]

    saves.clear()  # every epoch "a minute later": the old every-epoch behaviour
    monkeypatch.setattr(LastCheckpoint, "AUTO_SECONDS", 0.0)
    train(small_cfg("train.epochs=3"), console=quiet)
    assert [s for s in saves if s[0] == "last.pt"] == [("last.pt", e) for e in (1, 2, 3)]

    saves.clear()  # never due: an early stop still saves the epoch it stopped at
    monkeypatch.setattr(LastCheckpoint, "AUTO_SECONDS", 1e9)
    stop = EarlyStopping("train_loss", patience=1, min_delta=1e9)
    result = train(small_cfg("train.epochs=10"), console=quiet, callbacks=[stop])
    assert result.summary["epochs"] == 2 and saves[-1] == ("last.pt", 2)


def test_a_callback_with_state_is_saved_in_checkpoints_and_restored_on_resume(small_cfg, quiet):
    """A user's callback with `state_dict`/`load_state_dict` continues where it stopped, as
    the trainer's own best-epoch tracker does."""
    from plainnet.engine.callbacks import Callback

    class Epochs(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, state):
            self.seen.append(state.epoch)

        def state_dict(self):
            return dict(seen=list(self.seen))

        def load_state_dict(self, saved):
            self.seen = saved["seen"]

    first = Epochs()
    result = train(small_cfg("train.epochs=2"), console=quiet, callbacks=[first])
    assert first.seen == [1, 2]
    again = Epochs()  # a fresh process's callback: its state comes from the checkpoint
    train(small_cfg("train.epochs=3"), result.run_dir, resume=True, console=quiet,
          callbacks=[again])  # fmt: skip
    assert again.seen == [1, 2, 3]


def test_a_run_of_a_model_built_in_python_reopens_as_what_it_is(small_cfg, quiet, capsys):
    """The config describes another net than the one given; the run records the given one."""
    import plainnet
    from plainnet.app.cli import main
    from plainnet.app.trainer import resume
    from plainnet.data import load_dataset

    cfg = small_cfg("train.epochs=1")  # a 10-layer width-32 net
    model = plainnet.plain_mlp(in_shape=(1, 8, 8), num_classes=10, depth=4, width=16, beta=0.3)
    result = train(cfg, model=model, data=load_dataset("digits", val_fraction=0.1), console=quiet)
    run = result.run_dir
    assert run.path.name.endswith("-mlp4-digits")
    saved = run.config().model
    assert (saved.depth, saved.width, saved.beta) == (4, 16, 0.3)
    loaded = plainnet.load_run(run.path, "last")
    for a, b in zip(loaded.model.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    main(["eval", str(run.path), "--split", "val"])  # the command line rebuilds it too
    assert "error" not in capsys.readouterr().err
    assert resume(run.path, ["train.epochs=2"], extend=True, console=quiet).summary["epochs"] == 2


def test_a_run_of_a_model_the_config_cannot_describe_needs_it_back(small_cfg, quiet):
    import plainnet
    from plainnet.app.trainer import resume
    from plainnet.data import load_dataset

    def mine():
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU())
        net.add_module("head", torch.nn.Linear(16, 10))
        return net

    changed = plainnet.plain_mlp(in_shape=(1, 8, 8), num_classes=10, depth=3, width=8)
    changed.head = torch.nn.Linear(8, 10, bias=False)  # no longer what its builder makes
    data = load_dataset("digits", val_fraction=0.1)
    for model, kind in ((mine(), "Sequential"), (changed, "PlainNet")):
        run = train(small_cfg("train.epochs=1"), model=model, data=data, console=quiet).run_dir
        assert run.path.name.endswith(f"-{kind.lower()}-digits")
        with pytest.raises(RunError, match=rf"given from Python \(.*{kind}\).*model=\.\.\."):
            plainnet.load_run(run.path)
        with pytest.raises(RunError, match="given from Python"):
            resume(run.path, console=quiet)
    loaded = plainnet.load_run(run.path, "last", model=changed)
    assert loaded.model is changed
    run = train(small_cfg("train.epochs=1"), model=mine(), data=data, console=quiet).run_dir
    again = resume(run.path, ["train.epochs=2"], extend=True, console=quiet, model=mine())
    assert again.summary["epochs"] == 2


def test_callbacks_named_in_the_config_run_and_their_stop_is_printed(small_cfg, tmp_path):
    from rich.console import Console

    from plainnet.app.config import ConfigError

    said = Console(file=(out := __import__("io").StringIO()), width=200)
    stop = 'train.callbacks=[{class = "plainnet.EarlyStopping", monitor = "train_loss", ' \
        "patience = 1, min_delta = 100.0}]"  # fmt: skip
    result = train(small_cfg("train.epochs=5", stop), console=said)
    s = result.summary
    assert s["epochs"] == 2 and "no better train_loss for 1 epochs" in s["stopped"]
    assert "stopped after epoch 2: early stopping" in out.getvalue()
    from plainnet.app.trainer import resume  # an early-stopped run resumed stays stopped

    again = resume(result.run_dir.path, console=said).summary
    assert (again["epochs"], again["stopped"]) == (2, s["stopped"])
    assert len(result.run_dir.read_metrics()) == 2
    before = set(tmp_path.iterdir())
    for bad, message in (('[{class = "nosuch.Stop"}]', "importing nosuch failed"),
                         ('[{class = "plainnet.EarlyStopping", patience = 0}]', "patience"),
                         ('[{name = "x"}]', "needs class")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            train(small_cfg(f"train.callbacks={bad}"), console=said)
    assert set(tmp_path.iterdir()) == before  # refused before any run folder exists


def test_without_a_validation_split_no_number_names_a_best_pt_that_does_not_exist(small_cfg):
    from rich.console import Console

    from plainnet.app.tables import summary

    cfg = small_cfg("train.epochs=2", "data.val_fraction=0", "run.select=best")
    result = train(cfg, console=Console(quiet=True))
    assert not result.run_dir.best_path.exists()
    said = Console(file=(out := __import__("io").StringIO()), width=300)
    said.print(summary(result.summary))
    assert "best.pt" not in out.getvalue() and "its best epoch, not kept" in out.getvalue()


def test_off_a_terminal_a_long_epoch_says_how_far_it_got(small_cfg):
    import io

    from rich.console import Console

    from plainnet.app.callbacks import ProgressLines

    out = io.StringIO()
    lines = ProgressLines(Console(file=out, width=200), every=0.0)  # every step, for the test
    train(small_cfg("train.epochs=1", "train.batch_size=512"), console=Console(quiet=True),
          callbacks=[lines])  # fmt: skip
    said = out.getvalue().splitlines()
    assert said[0].startswith("  epoch 1/1: step 1/3, loss ") and "step 3/3" in said[-1]


def test_killed_while_its_first_checkpoint_or_metrics_row_is_written_it_starts_over(
    small_cfg, quiet
):
    """best.pt whole but last.pt not, and half a header in metrics.csv: as if killed inside
    the first epoch's writes; --resume starts over and trains what an unbroken run trains."""
    from plainnet.app.trainer import resume

    def losses(run):
        return [(r["epoch"], r["train_loss"], r["val_err"]) for r in run.read_metrics()]

    unbroken = train(small_cfg("train.epochs=2", "run.select=best"), console=quiet).run_dir
    run = train(small_cfg("train.epochs=2", "run.select=best"), console=quiet).run_dir
    run.checkpoint_path.unlink()
    run.metrics_path.write_text("epo")
    assert run.best_path.exists()
    resume(run.path, console=quiet)
    assert losses(run) == losses(unbroken)


def test_what_a_run_refits_is_in_its_summary_whatever_it_selects(small_cfg, quiet):
    cfg = small_cfg("train.epochs=1", "run.refit_of='grid.md: row a'", "run.select=best")
    assert train(cfg, console=quiet).summary["refit_of"] == "grid.md: row a"
