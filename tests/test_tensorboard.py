"""TensorBoard logs (`run.tensorboard`) and `plainnet probe --log`: read back, not just written."""

import sys

import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from plainnet.app.cli import main
from plainnet.app.config import ConfigError
from plainnet.app.runs import RunDir
from plainnet.app.tensorboard import TensorBoardMissing
from plainnet.app.trainer import train


def events(folder):
    """Every event file under `folder` (the hparams summary is written beside the curves)."""
    mux = EventMultiplexer().AddRunsFromDirectory(str(folder))
    mux.Reload()
    return mux


def test_run_logs_config_curves_probe_and_hparams(small_cfg, quiet):
    cfg = small_cfg("run.probe_every=1", "run.tensorboard=true", "train.epochs=2")
    run = train(cfg, console=quiet).run_dir
    mux = events(run.path / "tb")
    tags = {t for r in mux.Runs() for t in mux.GetAccumulator(r).Tags()["scalars"]}
    assert {"lr", "train_loss", "val_err", "probe/effective_rank/layer0001"} <= tags
    assert "probe/normalized_mean_activation/layer0009" in tags  # the last hidden layer
    acc = next(
        mux.GetAccumulator(r)
        for r in mux.Runs()
        if "val_err" in mux.GetAccumulator(r).Tags()["scalars"]
    )
    assert [e.step for e in acc.Scalars("val_err")] == [1, 2]
    assert acc.Scalars("val_err")[-1].value == pytest.approx(run.read_metrics()[-1]["val_err"])
    text = [t for r in mux.Runs() for t in mux.GetAccumulator(r).Tags()["tensors"]]
    assert any(t.startswith("config") for t in text)
    plugins = {p for r in mux.Runs() for p in mux.PluginRunToTagToContent("hparams")}
    assert plugins  # the HPARAMS tab has this run, with the config and its final errors


def test_tensorboard_true_without_the_package_is_one_clear_error(small_cfg, quiet, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ConfigError, match="pip install"):
        train(small_cfg("run.tensorboard=true", "train.epochs=1"), console=quiet)
    with pytest.warns(TensorBoardMissing):
        run = train(small_cfg("train.epochs=1"), console=quiet).run_dir  # auto: a note
    assert not (run.path / "tb").exists()
    run = train(small_cfg("run.tensorboard=false", "train.epochs=1"), console=quiet).run_dir
    assert not (run.path / "tb").exists()


def test_probe_log_draws_a_runs_probes_over_epochs(small_cfg, quiet, tmp_path, capsys):
    run = train(small_cfg("run.probe_every=1", "train.epochs=2"), console=quiet).run_dir
    with open(run.probe_path, "a") as f:
        f.write('{"epoch": 3, "lay')  # a line cut short by a crash is left out
    assert [e["epoch"] for e in RunDir.open(run.path).read_probes()] == [0, 1, 2]
    main(["probe", "--log", str(run.path), "--out", str(tmp_path / "log")])
    for name in ("normalized_mean_activation", "singularity", "gradient_norms", "correlation"):
        assert (tmp_path / "log" / f"{name}.png").stat().st_size > 0


def test_an_extended_run_keeps_one_hparams_entry(small_cfg, quiet):
    from plainnet.app.trainer import resume

    run = train(small_cfg("run.tensorboard=true", "train.epochs=2"), console=quiet).run_dir
    resume(run.path, ["train.epochs=3"], extend=True, console=quiet)
    files = list((run.path / "tb" / "hparams").iterdir())
    assert len(files) == 1
    mux = events(run.path / "tb" / "hparams")
    assert len(mux.PluginRunToTagToContent("hparams")) == 1
    (run.path / "tb" / "hparams" / "planted").mkdir()  # tb/ not as written: one note, no loss
    with pytest.warns(UserWarning, match="is a folder"):
        s = resume(run.path, ["train.epochs=4"], extend=True, console=quiet).summary
    assert s["epochs"] == 4 and run.summary_path.exists()
