"""The engine on plain values (fit, callbacks, early stopping, evaluate), the trainer with a
user's own model and data, and the absence of global side effects."""

import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import plainnet
from plainnet.data import ArrayDataset
from plainnet.engine.loop import Steps, evaluate, fit


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)  # the models below draw their init from the global generator


def _blobs(n=256, seed=0):
    """Two well-separated Gaussian classes in 8 dimensions."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 8, generator=g) + 3 * y[:, None].float()
    return x, y


class Recorder(plainnet.Callback):
    def __init__(self):
        self.calls = []

    def on_train_start(self, state):
        self.calls.append("train_start")

    def on_epoch_start(self, state):
        self.calls.append(f"epoch_start {state.epoch}")

    def on_step_end(self, state):
        self.calls.append(f"step {state.step}")

    def on_train_epoch_end(self, state):
        self.calls.append(f"train_epoch_end {state.epoch} {sorted(state.metrics)}")

    def on_epoch_end(self, state):
        self.calls.append(f"epoch_end {state.epoch} val_err" + " in" * ("val_err" in state.metrics))

    def on_train_end(self, state):
        self.calls.append("train_end")


def test_fit_calls_every_point_in_order_on_a_plain_pytorch_model():
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder()
    state = fit(
        model,
        opt,
        batches=lambda epoch: [(x[:128], y[:128]), (x[128:], y[128:])],
        epochs=2,
        evaluate_on=lambda: [(x, y)],
        callbacks=[rec],
        steps_per_epoch=2,
    )
    keys = sorted(["epoch", "step", "lr", "train_loss", "train_err"])
    assert rec.calls == [
        "train_start",
        "epoch_start 1",
        "step 1",
        "step 2",
        f"train_epoch_end 1 {keys}",
        "epoch_end 1 val_err in",
        "epoch_start 2",
        "step 3",
        "step 4",
        f"train_epoch_end 2 {keys}",
        "epoch_end 2 val_err in",
        "train_end",
    ]
    assert state.epoch == 2 and state.step == 4 and 0 <= state.metrics["val_err"] <= 1
    # each callback's time and the loop's own parts, per epoch and over the run
    assert set(state.timings) == set(state.totals) == {"Recorder", "steps", "evaluation"}
    assert state.totals["steps"] >= state.timings["steps"] > 0


def test_fit_projects_after_every_step_and_follows_the_lr_function():
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    seen = []
    project = plainnet.MaxNorm([model[0].weight], c=0.3)

    class Check(plainnet.Callback):
        def on_step_end(self, state):
            seen.append((opt.param_groups[0]["lr"], plainnet.unit_norms(model[0].weight).max()))

    steps = Steps(lr=lambda s: 0.5 / (s + 1), project=project)
    fit(model, opt, lambda e: [(x, y)] * 3, 1, steps, callbacks=[Check()])
    assert [lr for lr, _ in seen] == [0.5, 0.25, 0.5 / 3]
    assert all(norm <= 0.3 * (1 + 1e-6) for _, norm in seen)


def test_fit_clips_the_global_gradient_norm_before_each_step():
    """Plain SGD at lr 1: a step moves the weights by exactly the (clipped) gradient, so with
    `clip` every step's move has norm at most `clip`, and the first one, whose gradient is
    large at this init, exactly `clip`."""
    x, y = _blobs()
    model = nn.Linear(8, 2)
    with torch.no_grad():
        model.weight.fill_(5.0)  # confidently wrong on one class: a large gradient
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    moves = []

    class Move(plainnet.Callback):
        def on_epoch_start(self, state):
            self.before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])

        def on_step_end(self, state):
            now = torch.cat([p.detach().flatten() for p in model.parameters()])
            moves.append((now - self.before).norm().item())
            self.before = now.clone()

    fit(model, opt, lambda e: [(x, y)] * 3, 1, Steps(clip=0.01), callbacks=[Move()])
    assert moves[0] == pytest.approx(0.01, rel=1e-4)
    assert all(m <= 0.01 * (1 + 1e-4) for m in moves)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    model = nn.Linear(8, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # nothing changes: no improvement
    x, y = _blobs()
    stop = plainnet.EarlyStopping("val_loss", patience=3)
    state = fit(model, opt, lambda e: [(x, y)], 50, evaluate_on=lambda: [(x, y)], callbacks=[stop])
    assert state.stop and state.epoch == 4  # epoch 1 sets the best; 2, 3, 4 fail to beat it
    assert "val_loss" in state.stopped_by
    for bad in (dict(patience=0), dict(patience=float("nan")), dict(min_delta=float("nan"))):
        with pytest.raises(ValueError):
            plainnet.EarlyStopping(**bad)
    # a split no epoch evaluates is refused before the first step
    stepped = []
    watch = plainnet.Callback()
    watch.on_step_end = lambda state: stepped.append(state.step)
    for evaluate_on, monitor in ((None, "val_err"), (lambda: [(x, y)], "test_loss")):
        with pytest.raises(ValueError, match="evaluated every epoch"):
            fit(model, opt, lambda e: [(x, y)], 5, evaluate_on=evaluate_on,
                callbacks=[plainnet.EarlyStopping(monitor), watch])  # fmt: skip
    assert not stepped


def test_evaluate_counts_errors_and_the_confusion_matrix_by_hand():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))  # predicts the larger coordinate
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    ev = evaluate(model, [(x[:2], y[:2]), (x[2:], y[2:])], classes=2)
    assert ev.error == 0.25
    assert ev.confusion.tolist() == [[1, 0], [1, 2]]
    assert ev.per_class_error.tolist() == [0.0, pytest.approx(1 / 3)]
    logits = x  # the identity model
    expect = nn.functional.cross_entropy(logits, y).item()
    assert ev.loss == pytest.approx(expect)


def test_train_accepts_a_users_model_data_and_callbacks(small_cfg, quiet):
    from plainnet.app.trainer import train

    rng = np.random.default_rng(0)
    y = np.arange(300) % 3
    x = (rng.normal(size=(300, 6, 6)) * 20 + 60 * y[:, None, None] + 40).clip(0, 255)
    x = x.astype(np.uint8)
    ds = ArrayDataset("mine", x[:180], y[:180], x[240:], y[240:], {}, x[180:240], y[180:240])
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 32), nn.ReLU())
    model.add_module("head", nn.Linear(32, 3))
    stop = plainnet.EarlyStopping("val_err", patience=3)
    cfg = small_cfg("train.epochs=30", "optim.lr=0.1")
    result = train(cfg, model=model, data=ds, console=quiet, callbacks=[stop])
    s = result.summary
    assert result.model is model and s["model"] == "Sequential (your model)"
    assert s["epochs"] < 30 and "early stopping" in s["stopped"]
    assert len(result.run_dir.read_metrics()) == s["epochs"]
    assert s["final_test_err"] < 0.5  # chance: 2/3


def test_no_global_side_effects(small_cfg):
    """Building a model keeps the caller's random state; the command line restores the
    warning and SIGTERM handlers it installs; figures never load pyplot."""
    from plainnet.app.build import init_model, make_data
    from plainnet.app.cli import main

    cfg = small_cfg()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    init_model(cfg, make_data(cfg))
    assert torch.equal(before, torch.get_rng_state())

    handler, show = signal.getsignal(signal.SIGTERM), warnings.showwarning
    with pytest.raises(SystemExit):
        main(["config", "show", "-p", "no-such-preset"])
    assert signal.getsignal(signal.SIGTERM) is handler and warnings.showwarning is show

    code = (
        "import sys, numpy as np; from plainnet.app import plots; "
        "fig, ax = plots.figure(); ax.plot([1, 2]); plots.save(fig, 'f.png'); "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_old_module_paths_still_import_the_same_objects():
    sys.modules.pop("plainnet.norms", None)
    with pytest.warns(DeprecationWarning, match="plainnet.nn.norms"):
        from plainnet.norms import recalibrate_
    from plainnet.nn.norms import recalibrate_ as new

    assert recalibrate_ is new


def test_a_callback_need_not_subclass_callback():
    seen = []

    class Plain:  # only the point it needs
        def on_epoch_end(self, state):
            seen.append(state.epoch)

    x, y = _blobs()
    model = nn.Linear(8, 2)
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), lambda e: [(x, y)], 3,
        callbacks=[Plain()])  # fmt: skip
    assert seen == [1, 2, 3]


def test_subpackages_export_their_public_names():
    import plainnet.app
    import plainnet.engine
    import plainnet.nn

    assert plainnet.engine.fit is fit and plainnet.engine.Steps is Steps
    assert plainnet.nn.MaxNorm is plainnet.MaxNorm and plainnet.app.load_run is plainnet.load_run
    for package in (plainnet.nn, plainnet.engine, plainnet.app):
        assert all(getattr(package, name) is not None for name in package.__all__)


def test_calibration_and_the_running_statistics_check_work_from_fit():
    """The trainer's BatchNorm callbacks are the engine's: a user of `fit` has them too."""
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def measure(split):
        return evaluate(model, [(x, y)])

    check, calibration = plainnet.RunningStatsCheck(["train"], measure), plainnet.Calibration(x)
    state = fit(model, opt, lambda e: [(x, y)], 2, callbacks=[check, calibration])
    assert 0 <= state.metrics["train_err_running_stats"] <= 1  # measured in the last epoch
    bn = model[1]
    with torch.no_grad():  # calibrated: the population statistics are those of the sample
        z = model[0](x)
    torch.testing.assert_close(bn.running_mean, z.mean(0))


def test_the_api_refuses_arrays_and_models_that_do_not_fit_before_a_run_folder_exists(
    small_cfg, quiet, tmp_path
):
    from plainnet.app.config import ConfigError
    from plainnet.app.trainer import train
    from plainnet.data.datasets import DataError

    x, y = np.zeros((30, 6, 6), np.uint8), np.arange(30) % 3
    with pytest.raises(DataError, match="x_train holds 30 samples, y_train 29"):
        ArrayDataset("mine", x, y[:29], x, y)
    with pytest.raises(DataError, match="integer labels from 0"):
        ArrayDataset("mine", x, y - 1, x, y)
    ds = ArrayDataset("mine", x, y, x, y)
    two = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))  # 2 logits for 3 classes
    two.add_module("head", nn.Identity())
    with pytest.raises(ConfigError, match=r"must give \(3,\) logits"):
        train(small_cfg(), model=two, data=ds, console=quiet)
    with pytest.raises(ConfigError, match="cannot take inputs"):
        train(small_cfg(), model=nn.Linear(5, 3), data=ds, console=quiet)
    headless = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))  # its classifier would be capped
    with pytest.raises(ConfigError, match="no module named head"):
        train(small_cfg(), model=headless, data=ds, console=quiet)
    assert not list(tmp_path.iterdir())  # no run folder was made
