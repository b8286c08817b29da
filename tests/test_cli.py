import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from plainnet.app.cli import main
from plainnet.app.config import presets, resolve, validate
from plainnet.app.runs import RunDir


def run_cli(capsys, *args):
    """Run `plainnet ARGS` in-process; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


FAST = ["--depth", "6", "model.width=16", "--epochs", "2"]


def test_train_shortcuts_and_overrides(capsys, tmp_path):
    code, out, _ = run_cli(
        capsys, "train", *FAST, "--out", str(tmp_path), "--name", "t", "--seed", "3"
    )
    assert code == 0
    assert "test (final model)" in out and "plain mlp-6," in out
    (run,) = tmp_path.iterdir()
    assert run.name.endswith("-t")
    cfg = tomllib.loads((run / "config.toml").read_text())
    assert cfg["model"]["depth"] == 6 and cfg["train"]["seed"] == 3


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--depth", "abc"], "'abc' is not a valid integer"),
        (["train", "--depth", "0"], "model.depth"),
        (["train", "--bogus"], "No such option '--bogus'"),
        (["train", "model.widht=3"], "model.widht: unknown key"),
        (["train", "optim.lr=-1"], "optim.lr"),
        (["train", "--preset", "nope"], "unknown preset"),
        (["train", "--model", "rnn"], "must be one of ['cnn', 'mlp', 'resnet'] (got 'rnn')"),
        (["train", "-c", "/nonexistent.toml"], "cannot read config file"),
        (["train", "--dataset", "imagenet"], "data.dataset: must be one of"),
        (["train", "--device", "tpu9"], "device"),
        (["train", "--resume", "/nonexistent"], "not a plainnet run folder"),
        (["train", "--device", "meta"], "cpu or cuda, not 'meta'"),
        pytest.param(
            ["train", "--device", "cuda"],
            "no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here"),
        ),
        (["train", "--name", "../../x"], "must not hold path separators"),
        (["train", "-c", "/bin/ls"], "not a text (TOML) file"),
        (["probe", "--max-samples", "0"], "0 is not in the range"),
        (["sweep", "--seeds", "0,1,0"], "[0, 1, 0] repeats a seed"),
        (["config", "show", "model.beta=2"], "model.beta"),
        (["nonsense"], "No such command"),
        (["train", "model.width=1000000", "--depth", "3"], "GiB free"),
        (["train", "-p", "proposed", "model.depth=100000"], "GiB free"),
        (["train", "data.val_fraction=0.9999"], "cannot hold out 0.9999 of 1437 samples"),
        (["train", "data.test_fraction=0.001"], "should be greater or equal"),
        (["data", "info", "usps", "--data-dir", "/etc/passwd"], "/etc/passwd"),
    ],
)
def test_bad_input_gives_one_line_error(capsys, tmp_path, args, needle):
    out = ["--out", str(tmp_path)] if args[0] == "train" and "--resume" not in args else []
    code, _, err = run_cli(capsys, *args, *out)
    assert needle in one_line_error(code, err)
    if args[0] == "train":
        assert not any(tmp_path.iterdir())  # nothing half-made


def test_resume_in_a_read_only_run_folder_is_one_line(capsys, tmp_path, monkeypatch):
    assert run_cli(capsys, "train", *FAST, "--out", str(tmp_path))[0] == 0
    (run,) = tmp_path.iterdir()
    before = sorted(p.name for p in run.rglob("*"))
    real_open = os.open

    def read_only(path, flags, *a, **k):  # what a read-only mount answers (root ignores chmod)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and str(path).startswith(str(run)):
            raise PermissionError(30, "Read-only file system")
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", read_only)
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--extend")
    assert "Read-only file system" in one_line_error(code, err)
    monkeypatch.undo()
    assert sorted(p.name for p in run.rglob("*")) == before  # nothing lost or half-written


def test_resume_rules_and_corrupt_checkpoint(capsys, tmp_path):
    assert run_cli(capsys, "train", *FAST, "--out", str(tmp_path))[0] == 0
    (run,) = tmp_path.iterdir()
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "model.depth=7")
    assert "cannot change ['model.depth'] when resuming" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3")
    assert "pass --extend" in one_line_error(code, err)
    code, out, _ = run_cli(capsys, "train", "--resume", str(run), "--epochs", "3", "--extend")
    assert code == 0 and "epoch    3" in out
    ckpt = run / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    code, _, err = run_cli(capsys, "train", "--resume", str(run), "--epochs", "4", "--extend")
    assert "is not a readable checkpoint" in one_line_error(code, err)
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 3  # results kept


def test_diverged_run_exits_non_zero(capsys, tmp_path):
    args = ["--preset", "naive", "optim.lr=1e30", "--out", str(tmp_path)]
    code, _, err = run_cli(capsys, "train", *FAST, *args)
    assert code == 1
    assert "loss became" in one_line_error(code, err)


def test_config_show_is_a_valid_config_file(capsys):
    code, out, _ = run_cli(capsys, "config", "show", "--preset", "naive", "model.depth=30")
    assert code == 0
    cfg = validate(tomllib.loads(out))
    assert cfg.model.depth == 30 and cfg.model.act == "relu"


def test_config_presets_and_model(capsys, monkeypatch):
    code, out, _ = run_cli(capsys, "config", "presets")
    assert code == 0 and len(out.splitlines()) == len(presets()) == 11 and "proposed" in out
    assert all(line.endswith(".") for line in out.splitlines())  # whole sentences, never cut

    def no_data(*_a, **_k):
        raise AssertionError("plainnet model must not read data")

    monkeypatch.setattr("plainnet.app.build.load_dataset", no_data)
    code, out, _ = run_cli(
        capsys, "model", "--model", "cnn", "--depth", "50", "--dataset", "cifar10"
    )
    assert code == 0, out
    assert "plain cnn-50: 755,802 parameters, 222.66M FLOPs per sample" in out
    assert "(x16)" in out and "(64, 8, 8)" in out  # identical layers folded; output shapes
    assert "PlainNet(" not in out  # the repr only with --verbose
    code, out, _ = run_cli(capsys, "model", "--depth", "5", "-v")
    assert code == 0 and "PlainNet(" in out and "(layer4): PlainBlock" in out


def test_model_table_matches_the_built_model():
    from plainnet.nn.models import count_parameters, layer_table, plain_mlp

    model = plain_mlp(in_shape=(1, 8, 8), num_classes=10, depth=4, width=32)
    rows = layer_table(model, (1, 8, 8))
    assert [r["name"] for r in rows] == ["flatten", "layer1", "layer2", "layer3", "head"]
    assert sum(r["parameters"] for r in rows) == count_parameters(model)
    assert rows[1]["output"] == (32,) and rows[-1]["output"] == (10,)
    assert rows[2]["flops"] == 2 * 32 * 32  # one multiply-add per weight


def test_commands_that_need_no_torch_do_not_import_it():
    code = (
        "import sys; from plainnet.app.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'pydantic') if m in sys.modules]\n"
        "assert not heavy, f'--help imported {heavy}'\n"
        "for args in (['config', 'show'], ['data', 'list']):\n"
        "    try: main(args)\n"
        "    except SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_huge_model_is_described_without_allocating(capsys):
    code, out, _ = run_cli(capsys, "model", "model.width=1000000", "--depth", "3")
    assert code == 0 and "1,000,078,000,010 parameters" in out.replace("\n", "")


def test_module_entry_point_errors_without_traceback():
    p = subprocess.run(
        [sys.executable, "-m", "plainnet", "train", "--depth", "0"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert p.stderr.startswith("plainnet: error: config: model.depth")
    assert "Traceback" not in p.stderr


SHARED_OK = (Path(os.environ.get("PLAINNET_DATA", "")) / "cifar10.npz").exists()
needs_shared = pytest.mark.skipif(not SHARED_OK, reason="PLAINNET_DATA has no prepared datasets")


def test_data_list_and_missing_dataset_offline(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "data", "list", "--data-dir", str(tmp_path))
    assert code == 0 and "mnist    not downloaded" in out and "digits   embedded" in out
    code, _, err = run_cli(capsys, "data", "info", "mnist", "--data-dir", str(tmp_path))
    assert "by hand and put it at" in one_line_error(code, err)
    code, _, err = run_cli(
        capsys,
        "train",
        "--dataset",
        "mnist",
        "data.download=false",
        "--data-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "runs"),
    )
    assert "downloads are off" in one_line_error(code, err)
    assert not (tmp_path / "runs").exists()


@needs_shared
def test_data_info_and_corrupt_copy(capsys, tmp_path):
    shared = Path(os.environ["PLAINNET_DATA"])
    code, out, err = run_cli(capsys, "data", "info", "usps", "--data-dir", str(shared))
    assert code == 0 and "x_train  uint8 (7291, 16, 16)" in out
    assert "not the official release" in err
    (tmp_path / "usps.npz").write_bytes((shared / "usps.npz").read_bytes()[:50_000])
    code, _, err = run_cli(capsys, "data", "info", "usps", "--data-dir", str(tmp_path))
    assert f"{tmp_path / 'usps.npz'}: not a readable dataset file" in one_line_error(code, err)


@needs_shared
@pytest.mark.parametrize(
    "args",
    [
        ["--dataset", "usps", "--depth", "10"],
        # 16x16: evaluating CIFAR-10's 15,000 held-out images dominates at 32x32
        [
            "--dataset",
            "cifar10",
            "--model",
            "cnn",
            "--depth",
            "8",
            "data.train_subset=256",
            "data.image_size=16",
        ],  # fmt: skip
        ["--dataset", "coil20", "--model", "cnn", "--depth", "5", "data.split=pose"],
    ],
)
def test_train_on_real_datasets(capsys, tmp_path, args):
    code, out, _ = run_cli(capsys, "train", *args, "--epochs", "1", "--out", str(tmp_path))
    assert code == 0, out
    assert "test (final model)" in out
    if "cifar10" in args:
        assert (
            "augmented (crop + flip)" in out and "256 train / 1000 validation / 10000 test" in out
        )


def test_probe_compares_presets_and_a_trained_run(capsys, tmp_path):
    assert run_cli(capsys, "train", *FAST, "--out", str(tmp_path / "runs"))[0] == 0
    (run,) = (tmp_path / "runs").iterdir()
    out_dir = tmp_path / "probe"
    code, out, err = run_cli(
        capsys,
        "probe",
        "--compare",
        "naive",
        "--compare",
        "proposed",
        "--depth",
        "6",
        "model.width=16",
        "--run",
        str(run),
        "--layers",
        "2,5",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    assert "naive: 5 hidden layers" in out and "(trained): 5 hidden layers" in out
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert "heatmap_naive_layer5.png" in pngs and len(pngs) == 4 + 3 * 2
    code, _, err = run_cli(capsys, "probe", "--layers", "a,b", "--out", str(out_dir))
    assert "not a comma-separated list" in one_line_error(code, err)


def test_a_trained_run_can_be_labelled_and_two_targets_never_share_a_label(capsys, tmp_path):
    """Figures label a run by its folder's name (a timestamp and the sweep's row) unless
    "LABEL: PATH" names it; two targets with one label would draw as one line."""
    assert run_cli(capsys, "train", *FAST, "--out", str(tmp_path / "runs"))[0] == 0
    (run,) = (tmp_path / "runs").iterdir()
    code, out, err = run_cli(capsys, "probe", "--run", f"short lr: {run}", "--run", str(run),
                             "--out", str(tmp_path / "probe"))  # fmt: skip
    assert code == 0, err
    assert "short lr (trained): 5 hidden layers" in out
    assert f"{run.name} (trained): 5 hidden layers" in out
    code, _, err = run_cli(capsys, "probe", "--run", f"a: {run}", "--run", f"a: {run}")
    assert "two targets are labelled 'a (trained)'" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "probe", "--run", f"a: {tmp_path / 'nothing'}")
    assert "not a plainnet run folder" in one_line_error(code, err)


def test_flags_mean_the_same_in_every_command(capsys, tmp_path):
    """-p composes presets everywhere (probe compares presets with --compare), and the
    shortcut flags are accepted by every command that resolves a config."""
    from plainnet.app.probe import probe_targets

    (target,) = probe_targets(["naive", "usps100"])
    assert target.label == "naive+usps100" and target.cfg == resolve(["naive", "usps100"])
    targets = probe_targets(["usps100"], compare=["naive", "bn"])
    assert [t.cfg for t in targets] == [resolve(["usps100", p]) for p in ("naive", "bn")]
    code, out, _ = run_cli(capsys, "config", "show", "--depth", "10", "--model", "cnn")
    assert code == 0 and "depth = 10" in out and 'arch = "cnn"' in out
    code, out, _ = run_cli(capsys, "model", "--epochs", "3", "--depth", "4")
    assert code == 0 and "mlp-4" in out
    code, _, err = run_cli(capsys, "sweep", "-p", "naive", "-p", "bn", "--dataset", "nosuch",
                           "--out", str(tmp_path / "s"))  # fmt: skip
    assert "nosuch" in one_line_error(code, err)


def test_sweep_trains_the_product_of_varied_fields_over_seeds(capsys, tmp_path):
    args = [
        "--vary", "model.beta=0.3,0.5",
        "--vary", "model.channels=[4,8],[8]",
        "--row", "narrow: model.width=8",
        "--seeds", "0,1",
        "--out", str(tmp_path),
        "model.depth=3", "train.epochs=1", "model.arch=cnn", "data.train_subset=200",
    ]  # fmt: skip
    code, out, _ = run_cli(capsys, "sweep", *args)
    assert code == 0, out
    text = (tmp_path / "sweep.md").read_text()
    labels = [
        f"narrow model.beta={b} model.channels={c}" for b in (0.3, 0.5) for c in ("[4,8]", "[8]")
    ]
    for label in labels:
        assert f"| {label} | 2 |" in text
    runs = [RunDir.open(p) for p in (tmp_path / "runs").iterdir()]
    assert len(runs) == 8
    assert {tuple(r.config().model.channels) for r in runs} == {(4, 8), (8,)}
    assert {r.config().model.width for r in runs} == {8}
    code, _, err = run_cli(capsys, "sweep", "--vary", "model.beta", "--out", str(tmp_path))
    one_line_error(code, err)
    # the same sweep again: refused over its report, or read back with --resume
    code, _, err = run_cli(capsys, "sweep", *args)
    assert "--resume" in one_line_error(code, err)
    code, out, _ = run_cli(capsys, "sweep", "--resume", *args)
    assert code == 0 and out.count("read back") == 8, out
    assert "8 of 8 runs read back" in (tmp_path / "sweep.md").read_text()
    assert len(list((tmp_path / "runs").iterdir())) == 8


def test_one_headline_number_in_train_eval_and_reports(capsys, tmp_path):
    """By default the run keeps its final model: the training summary leads with its test
    error, `eval` loads it and gives that number, and a sweep's report leads with it too."""
    code, out, _ = run_cli(capsys, "train", *FAST, "--out", str(tmp_path / "t"))
    assert code == 0, out
    (run,) = (tmp_path / "t").iterdir()
    s = json.loads((run / "summary.json").read_text())
    assert "best_test_err" not in s and not (run / "checkpoints" / "best.pt").exists()
    first = next(line for line in out.splitlines() if "test" in line and "%" in line)
    assert "test (final model)" in first and f"{s['final_test_err']:.2%}" in first
    code, out, _ = run_cli(capsys, "eval", str(run))
    assert code == 0 and out.startswith("last.pt") and f"error {s['final_test_err']:.2%}" in out
    code, out, _ = run_cli(capsys, "sweep", "--vary", "model.depth=4,6", *FAST[2:], "--seeds",
                           "0", "--out", str(tmp_path / "s"))  # fmt: skip
    assert code == 0, out
    report = (tmp_path / "s" / "sweep.md").read_text().splitlines()
    header = next(x for x in report if x.startswith("| row |"))
    assert "test error % (final)" in header and "best epoch" not in header


def test_a_grid_run_with_auto_values_reopens(capsys, tmp_path):
    """A grid makes its run folders before training; the config.toml they end with holds
    the numbers the "auto"s resolved to, as the checkpoint does, so `eval` opens the run."""
    args = ["--row", "r: model.depth=4", "--seeds", "0", "--out", str(tmp_path)]
    args += ["train.epochs=1", "data.train_subset=200", "model.beta=auto", "optim.lr=auto"]
    code, out, _ = run_cli(capsys, "sweep", *args)
    assert code == 0, out
    (folder,) = (tmp_path / "runs").iterdir()
    cfg = RunDir.open(folder).config()
    assert isinstance(cfg.model.beta, float) and isinstance(cfg.optim.lr, float)
    code, out, err = run_cli(capsys, "eval", str(folder))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "sweep", "--resume", *args)
    assert code == 0 and "1 of 1 runs read back" in (tmp_path / "sweep.md").read_text()
    # what changes none of its numbers does not make it another run (e.g. older defaults)
    neutral = ["run.select=best", "train.eval_batch_size=7", "train.check_running_stats=true"]
    code, out, _ = run_cli(capsys, "sweep", "--resume", *args, *neutral)
    assert code == 0 and "1 of 1 runs read back" in (tmp_path / "sweep.md").read_text()
    code, out, _ = run_cli(capsys, "sweep", "--resume", *args, "train.calibrate_bn=64")
    assert code == 0 and "read back" not in (tmp_path / "sweep.md").read_text()


def test_the_api_and_the_cli_give_the_same_numbers(capsys, tmp_path):
    from plainnet.app.config import resolve
    from plainnet.app.trainer import train

    args = ["model.depth=6", "model.width=16", "train.epochs=2"]
    api = train(resolve(None, None, [*args, f"run.out_dir={tmp_path / 'api'}"]))
    code, _, _ = run_cli(capsys, "train", *args, "--out", str(tmp_path / "cli"))
    assert code == 0
    (cli_run,) = (tmp_path / "cli").iterdir()
    from plainnet.app.runs import TIMING as timing

    def numbers(rows):
        return [{k: v for k, v in r.items() if k not in timing} for r in rows]

    assert numbers(RunDir.open(cli_run).read_metrics()) == numbers(api.run_dir.read_metrics())


def test_eval_reports_the_summary_numbers_and_writes_the_confusion_matrix(capsys, tmp_path):
    import json

    assert run_cli(capsys, "train", *FAST, "--out", str(tmp_path), "--name", "e")[0] == 0
    (run,) = tmp_path.iterdir()
    summary = json.loads((run / "summary.json").read_text())
    code, out, _ = run_cli(capsys, "eval", str(run), "--checkpoint", "last")
    assert code == 0
    assert f"error {summary['final_test_err']:.2%}" in out
    code, out, _ = run_cli(capsys, "eval", str(run), "--split", "val", "--checkpoint", "last")
    assert f"error {summary['final_val_err']:.2%}" in out
    table = (run / "eval-last-val.csv").read_text().splitlines()
    assert len(table) == 1 + 10 and (run / "eval-last-val.png").stat().st_size > 0
    counts = sum(int(r.split(",")[1]) for r in table[1:])
    assert counts == 144  # the validation split of digits
    code, _, err = run_cli(capsys, "eval", str(tmp_path / "nowhere"))
    one_line_error(code, err)


def test_predict_and_export_a_trained_run(capsys, tmp_path):
    import numpy as np
    from PIL import Image

    from plainnet.data.datasets import load_dataset

    assert run_cli(capsys, "train", *FAST, "--out", str(tmp_path / "runs"))[0] == 0
    (run,) = (tmp_path / "runs").iterdir()
    x = load_dataset("digits").x_test[:20]
    np.savez(tmp_path / "x.npz", x=x)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(x[i]).save(tmp_path / "imgs" / f"{i}.png")
    code, out, _ = run_cli(capsys, "predict", str(run), str(tmp_path / "x.npz"),
                           "--out", str(tmp_path / "p.npz"))  # fmt: skip
    assert code == 0 and "20 inputs" in out
    probs = np.load(tmp_path / "p.npz")["probabilities"]
    assert probs.shape == (20, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    code, _, _ = run_cli(capsys, "predict", str(run), str(tmp_path / "imgs"),
                         "--out", str(tmp_path / "p.csv"))  # fmt: skip
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == [str(p) for p in probs[:3].argmax(1)]
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "p.csv"))
    one_line_error(code, err)
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 5), np.uint8))
    code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "bad.npy"))
    assert "the model takes" in one_line_error(code, err)
    # exported files load and run in a fresh process that never imports plainnet, in the
    # layouts predict takes: N,C,H,W; N,H,W,C; N,H,W; flat
    layouts = {"nchw": x[:, None], "nhwc": x[..., None], "nhw": x, "flat": x.reshape(20, 64)}
    for arr in layouts.values():  # predict: the same layouts, any dtype
        for dtype in (np.uint8, np.float32):
            np.save(tmp_path / "l.npy", arr.astype(dtype))
            code, _, err = run_cli(capsys, "predict", str(run), str(tmp_path / "l.npy"),
                                   "--out", str(tmp_path / "l.npz"))  # fmt: skip
            assert code == 0, err
            assert np.allclose(np.load(tmp_path / "l.npz")["probabilities"], probs, atol=1e-6)
    jobs = []
    for fmt in ("pt2", "torchscript"):
        for layout, arr in layouts.items():
            path = tmp_path / f"m-{fmt}-{layout}"
            code, out, err = run_cli(capsys, "export", str(run), "--format", fmt,
                                     "--layout", layout, "--out", str(path))  # fmt: skip
            assert code == 0, err
            assert f"N,{','.join(map(str, arr.shape[1:]))} raw values" in out
            np.save(tmp_path / f"{layout}.npy", arr.astype(np.float32))
            jobs.append(f"{fmt} {path} {tmp_path / layout}.npy {tmp_path / fmt}-{layout}.out.npy")
    script = (
        "import sys, numpy, torch\n"
        "for job in sys.argv[1:]:\n"
        "    fmt, p, x, out = job.split()\n"
        "    m = torch.export.load(p).module() if fmt == 'pt2' else torch.jit.load(p)\n"
        "    y = m(torch.from_numpy(numpy.load(x)))\n"
        "    numpy.save(out, torch.softmax(y, 1).detach().numpy())\n"
        "assert 'plainnet' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script, *jobs], check=True, cwd=tmp_path)
    for job in jobs:
        assert np.allclose(np.load(job.split()[-1]), probs, atol=1e-5), job
    code, _, err = run_cli(capsys, "export", str(run), "--layout", "nhwc3")
    one_line_error(code, err)


def test_a_copied_grid_resumes_its_interrupted_runs(capsys, tmp_path):
    import shutil

    args = ["--seeds", "0", "model.depth=3", "model.width=8", "train.epochs=1",
            "run.tensorboard=false"]  # fmt: skip
    assert run_cli(capsys, "sweep", *args, "--out", str(tmp_path / "a"))[0] == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (run,) = (tmp_path / "b" / "runs").iterdir()
    (run / "summary.json").unlink()  # as if killed after its last checkpoint
    code, out, err = run_cli(capsys, "sweep", "--resume", *args, "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert (run / "summary.json").exists() and not (run / "failed.txt").exists()
