import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plainnet.app import recipes
from plainnet.app.config import ConfigError
from plainnet.app.grid import Row, grid_table, run_grid
from plainnet.app.recipes import PAPER_TABLE1
from plainnet.app.recipes.components import COMPONENT_BETAS
from plainnet.nn import speed

HAS_USPS = (Path(os.environ.get("PLAINNET_DATA", "")) / "usps.npz").exists()
needs_usps = pytest.mark.skipif(not HAS_USPS, reason="PLAINNET_DATA has no usps.npz")


def test_grid_counts_diverged_runs_as_failures(tmp_path):
    rows = [Row("ok", "proposed", []), Row("blows up", "naive", ["optim.lr=1e30"])]
    base = ["model.depth=4", "model.width=8", "train.epochs=1"]
    results = run_grid(rows, [0, 1], base, str(tmp_path), log=lambda *_: None)
    assert len(results[0].summaries) == 2 and results[0].diverged == 0
    assert results[1].summaries == [] and results[1].diverged == 2
    table = grid_table(results)
    assert "| blows up | 2 | diverged (2/2)" in table
    assert len(list(tmp_path.iterdir())) == 4  # every run keeps its folder


@needs_usps
def test_table1_quick_writes_the_table_beside_the_papers(table1_quick):
    done, folder = table1_quick  # `plainnet reproduce table1 --quick`, as the README has it
    assert done.returncode == 0, done.stderr[-2000:]
    text = (folder / "table1-quick.md").read_text()
    # the report names the CPU's instructions, its own and its runs' (read back, they may
    # come from other machines): float results differ between AVX2 and AVX-512
    report_on, runs_on = text.splitlines()[4].split("Runs trained on: ")
    assert f"({speed.cpu_instructions()})" in report_on
    assert runs_on.endswith(f"({speed.cpu_instructions()}).")
    results = {}  # row -> (test error cell, max unit norm)
    for row, paper in PAPER_TABLE1.items():
        line = next(x for x in text.splitlines() if x.startswith(f"| {row} |"))
        if paper:
            assert f"| {paper[0]:.2f} | {paper[1]:.2f} |" in line
        cells = line.split("|")
        results[row] = (tuple(cells[4:7]), cells[-2].strip())  # (train, val, test), max norm
    # every component changes the result, as in the full table: no two rows alike (two rows
    # may share one error by chance: bn and bn_maxnorm had the same test error on one CPU),
    # and max-norm binding (at the quick variant's c) wherever it is on and the net trains
    assert len({errors for errors, _ in results.values()}) == len(PAPER_TABLE1)
    assert results["proposed"][1] == results["bn_maxnorm"][1] == "1.50"
    assert "quick smoke variant" in text and "Wall time" in text
    assert (folder / "table1-quick.png").stat().st_size > 0


@needs_usps
def test_depth_quick(tmp_path, monkeypatch):
    plan = recipes.Plan(tmp_path, quick=True, seeds=[0], log=lambda *_: None)
    text = recipes.depth(plan).read_text()
    assert "| naive |" in text and "| proposed (beta auto) |" in text
    assert "| depth 3 | depth 5 |" in text
    assert (tmp_path / "depth-quick.png").exists()
    # a second run into the same folder does not replace the report unless asked
    with pytest.raises(ConfigError, match="--overwrite"):
        recipes.depth(plan)


def test_a_resumed_grid_reads_back_finished_runs_and_continues_interrupted_ones(
    tmp_path, monkeypatch
):
    """`resume`: finished and diverged runs are read back, not trained again; a grid stopped
    in a run continues it from its last checkpoint to the numbers of an unbroken grid; a run
    whose config changed is trained in a new folder; a relabelled row's runs are read back."""
    from plainnet.app.runs import RunDir

    rows = [Row("blows up", "naive", ["optim.lr=1e30"]), Row("ok", "proposed", [])]
    base = ["model.depth=4", "model.width=8", "train.epochs=3", "run.checkpoint_every=1"]
    quiet = lambda *_: None  # noqa: E731
    unbroken = run_grid(rows, [0, 1], base, str(tmp_path / "unbroken"), quiet)
    save = RunDir.save_checkpoint

    def stop_in_epoch_3(self, state, path=None):
        if state["epoch"] == 3 and "ok-s1" in self.path.name:  # Ctrl-C in the last run
            raise KeyboardInterrupt
        save(self, state, path)

    out = tmp_path / "stopped"
    monkeypatch.setattr(RunDir, "save_checkpoint", stop_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run_grid(rows, [0, 1], base, str(out), quiet)
    monkeypatch.setattr(RunDir, "save_checkpoint", save)
    folders = sorted(p.name for p in out.iterdir())
    logs = []
    again = run_grid(rows, [0, 1], base, str(out), logs.append, resume=True)
    assert sorted(p.name for p in out.iterdir()) == folders  # no new folder
    assert [len(r.read_back) for r in again] == [2, 1]  # both diverged runs, seed 0 of "ok"
    assert sum(line.startswith("read back") for line in logs) == 3
    assert again[0].diverged == 2 and again[0].reasons[0].startswith("diverged")
    keys = ("final_train_err", "final_test_err", "hidden_unit_norm_max")
    for a, b in zip(unbroken[1].summaries, again[1].summaries, strict=True):
        assert [a[k] for k in keys] == [b[k] for k in keys]
    assert [m["epoch"] for m in again[1].runs[1].read_metrics()] == [1, 2, 3]
    moved = tmp_path / "moved"  # e.g. copied into docs/: still read back, not retrained
    shutil.copytree(out, moved)
    from_copy = run_grid(rows, [0, 1], base, str(moved), quiet, resume=True)
    assert [len(r.read_back) for r in from_copy] == [2, 2]
    renamed = [Row("ok, relabelled", "proposed", [])]  # a run's name is not what it trained
    assert len(run_grid(renamed, [0, 1], base, str(moved), quiet, resume=True)[0].read_back) == 2
    changed = run_grid(rows[1:], [0], [*base, "model.width=6"], str(out), quiet, resume=True)
    assert not changed[0].read_back and changed[0].runs[0].path.name not in folders


def test_recipe_settings_layer_under_each_row(tmp_path, monkeypatch):
    """Preset < recipe base < -c FILE < the user's overrides < the row's own."""
    cfg_file = tmp_path / "mine.toml"
    cfg_file.write_text("[train]\nepochs = 2\n[model]\nwidth = 8\n")
    plan = recipes.Plan(tmp_path, seeds=[0], config_file=str(cfg_file), overrides=["model.width=6"])
    rows = [Row("r", "proposed", ["model.depth=3"])]
    (result,) = plan.grid(rows, ["train.epochs=1", "model.depth=9", "model.width=4"], "g")
    cfg = result.runs[0].config()
    assert (cfg.train.epochs, cfg.model.width, cfg.model.depth) == (2, 6, 3)
    assert plan.settings(["train.epochs=1"]) == f"train.epochs=1 -c {cfg_file} model.width=6"


def test_parallel_grid_matches_the_serial_one(tmp_path):
    """Two runs at once in worker processes give the same runs, numbers and table order."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # so that the serial runs use the workers' thread count
    try:
        rows = [Row("ok", "proposed", []), Row("blows up", "naive", ["optim.lr=1e30"])]
        base = ["model.depth=4", "model.width=8", "train.epochs=2"]
        logs = {1: [], 2: []}
        results = {
            jobs: run_grid(rows, [0, 1], base, str(tmp_path / str(jobs)), logs[jobs].append, jobs)
            for jobs in (1, 2)
        }
    finally:
        torch.set_num_threads(threads)
    serial, parallel = results[1], results[2]
    # Every run reports once, whichever order they finish in.
    assert sorted(x.split(":")[0] for x in logs[1]) == sorted(x.split(":")[0] for x in logs[2])
    for a, b in zip(serial, parallel, strict=True):
        assert a.diverged == b.diverged
        keys = ("final_train_err", "final_test_err", "hidden_unit_norm_max")
        assert [[s[k] for k in keys] for s in a.summaries] == [
            [s[k] for k in keys] for s in b.summaries
        ]
    assert parallel[1].diverged == 2 and len(parallel[0].summaries) == 2
    assert len(list((tmp_path / "2").iterdir())) == 4


def test_parallel_grid_reports_a_run_that_fails_by_its_row(tmp_path):
    """An error in a worker (here: a missing dataset) is that run's result, with its reason;
    the other rows finish."""
    rows = [Row("fine", None, []), Row("no data", None, ["data.dataset=usps"])]
    base = [
        "model.depth=3",
        "model.width=8",
        "train.epochs=1",
        f"data.data_dir={tmp_path / 'empty'}",
        "data.download=false",
    ]
    fine, missing = run_grid(rows, [0], base, str(tmp_path / "runs"), lambda *_: None, jobs=2)
    assert len(fine.summaries) == 1 and not fine.diverged
    assert missing.diverged == 1 and missing.failure == "failed"
    assert "downloads are off" in missing.reasons[0] and "failed (1/1)" in missing.cell("x")


def test_a_worker_prints_warnings_as_one_line_notes():
    """Under --jobs, a warning raised in a worker (e.g. a data file that is not the official
    release) reads as the command's note, once, without Python's source line."""
    code = (
        "import warnings; from plainnet.app import grid; grid._init_worker(1, [])\n"
        "for _ in range(2): warnings.warn('usps.npz is not the official release')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "plainnet: note: usps.npz is not the official release\n"
    # a module the parent imported that the worker cannot: a note, and the worker works on
    code = "from plainnet.app import grid; grid._init_worker(1, ['gone_since_xyz']); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
    assert out.stderr.startswith("plainnet: note: a worker process: importing gone_since_xyz")


@needs_usps
def test_evalgap_quick_measures_each_remedy_on_the_same_weights(tmp_path, monkeypatch):
    plan = recipes.Plan(tmp_path, quick=True, seeds=[0], log=lambda *_: None)
    text = recipes.evalgap(plan).read_text()
    rows = [x for x in text.splitlines() if x.startswith(("| BatchNorm |", "| Batch Renorm |"))]
    assert len(rows) == 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        pairs = [c for c in cells[3:] if c != "—"]
        assert all(len(c.split(" / ")) == 2 for c in pairs)  # train / test in every cell
        assert len(pairs) == (4 if cells[0] == "BatchNorm" else 1)


@needs_usps
def test_components_quick_maps_every_beta_and_bound(tmp_path, monkeypatch):
    plan = recipes.Plan(tmp_path, quick=True, seeds=[0], log=lambda *_: None)
    text = recipes.components(plan).read_text()
    header = "| beta | c = 1 | c = 2 | c = 4 | no max-norm | gradient ratio at init |"
    assert header in text
    val = text.split("**Validation error %**")[1].split("**Train error %**")[0]
    rows = [x for x in val.splitlines() if x.startswith("| 0.") or x.startswith("| auto")]
    assert len(rows) == len(COMPONENT_BETAS)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all("(1 seed)" in c or "diverged" in c for c in cells[1:5])
        assert float(cells[5]) > 0  # the probe's gradient ratio at init
    assert (tmp_path / "components-quick.png").stat().st_size > 0


def test_sweep_refit_retrains_the_validation_choice_and_reads_test_once(tmp_path):
    from plainnet.app.runs import RunDir

    rows = [
        Row("lr 0.0001", None, ["optim.lr=0.0001"]),  # barely moves: worse on validation
        Row("lr 0.05", None, ["optim.lr=0.05"]),
    ]
    small = ["model.depth=6", "model.width=16", "train.epochs=3"]
    plan = recipes.Plan(tmp_path, seeds=[0], log=lambda *_: None, overrides=small)
    text = recipes.sweep(plan, rows, refit=True).read_text()
    assert "Chosen on validation: **lr 0.05**" in text
    (run,) = Path("runs/reproduce/refit").iterdir()  # the test's own folder (conftest)
    cfg = RunDir.open(run).config()
    assert cfg.data.val_fraction == 0 and cfg.run.select == "final"
    assert cfg.run.refit_of.endswith("sweep.md: lr 0.05") and cfg.optim.lr == 0.05
    rows_read = RunDir.open(run).read_metrics()
    assert len(rows_read) == 3 and all(r["test_err"] is None for r in rows_read)  # not per epoch
    summary = json.loads((run / "summary.json").read_text())
    assert summary["selected_on"].startswith("final") and "best_test_err" not in summary
    assert 0 <= summary["final_test_err"] < 0.9


def test_sweep_figure_names_what_rows_vary_and_shows_small_errors_on_a_log_axis(
    tmp_path, monkeypatch
):
    """The title does not claim a shared setting that rows change; errors from near chance
    down to a few percent go on a log axis, where the low band stays readable."""
    import plainnet.app.plots as plots

    figs = []
    real = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, *a, **k: figs.append(fig) or real(fig, *a, **k))
    rows = [
        Row("barely moves", None, ["train.epochs=2", "optim.lr=0.00001"]),
        Row("learns", None, ["train.epochs=6", "optim.lr=0.1"]),
    ]
    small = ["model.depth=6", "model.width=32", "train.epochs=5"]
    plan = recipes.Plan(tmp_path, seeds=[0], log=lambda *_: None, overrides=small)
    recipes.sweep(plan, rows)
    (ax,) = figs[0].axes
    title = ax.get_title()
    assert "model.depth=6 model.width=32" in title and "train.epochs=5" not in title
    assert "varied by row: optim.lr, train.epochs" in title
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()


@pytest.mark.skipif(
    not (Path(os.environ.get("PLAINNET_DATA", "")) / "cifar10.npz").exists(),
    reason="PLAINNET_DATA has no cifar10.npz",
)
def test_table2_quick_says_it_is_shortened_in_its_figure_and_its_title(tmp_path, monkeypatch):
    import plainnet.app.plots as plots

    figs = []
    real = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, *a, **k: figs.append(fig) or real(fig, *a, **k))
    path = recipes.table2(recipes.Plan(tmp_path, quick=True, seeds=[0], log=lambda *_: None))
    assert "SHORTENED RUN (1 epochs, 256 training images)" in path.read_text().splitlines()[0]
    assert "SHORTENED run: 1 epochs, 256 training images" in figs[0].axes[0].get_title()


@pytest.mark.skipif(
    not (Path(os.environ.get("PLAINNET_DATA", "")) / "cifar10.npz").exists(),
    reason="PLAINNET_DATA has no cifar10.npz",
)
def test_table2_trains_and_reports_only_the_rows_asked_for(tmp_path):
    plan = recipes.Plan(tmp_path, quick=True, seeds=[0], log=lambda *_: None)
    text = recipes.table2(plan, rows=["resnet-56", "proposed-50"]).read_text()
    assert "| PlainNet-50 (proposed) |" in text and "| ResNet-56 |" in text
    assert "PlainNet-BN-56 |" not in text and "deep recipe |" not in text
    assert len(list((tmp_path / "runs").rglob("summary.json"))) == 2
    with pytest.raises(ConfigError, match="choose among"):
        recipes.table2(recipes.Plan(tmp_path / "x", quick=True), rows=["resnet-1202"])


@needs_usps
def test_cnn_quick_compares_plain_cnns_with_a_resnet_of_each_depth(tmp_path):
    plan = recipes.Plan(tmp_path, quick=True, seeds=[0], log=lambda *_: None)
    text = recipes.cnn(plan, nets=["proposed", "resnet"]).read_text()
    assert "| net | depth 8 | depth 14 |" in text  # 6n + 2: a ResNet at every depth
    for net in ("proposed", "resnet"):
        assert text.count(f"| {net} |") == 5  # test, val, train, parameters, seconds
    assert "model.channels [16, 32, 64]" in text  # settings read from the resolved config
    assert (tmp_path / "cnn-quick.png").stat().st_size > 0
    with pytest.raises(ConfigError, match="choose among"):
        recipes.cnn(recipes.Plan(tmp_path / "x", quick=True), nets=["vgg"])


def test_the_deepest_cells_train_one_seed_unless_asked_for_every_seed(tmp_path):
    from plainnet.app.grid import RowResult
    from plainnet.app.recipes.cnn import cnn_rows
    from plainnet.app.recipes.plan import seeds_by_depth

    plan = recipes.Plan(tmp_path, seeds=[0, 1, 2], log=lambda *_: None)
    for limit, at_218, said in (
        (110, [0], "seeds [0, 1, 2] up to depth 20, [0] above"),
        (218, [0, 1, 2], "seeds [0, 1, 2]"),
    ):
        rows, _ = cnn_rows(plan, [20, 218], ["deep"], 4000, 10, limit)
        assert {r.tags["depth"]: r.seeds for r in rows} == {20: [0, 1, 2], 218: at_218}
        by = {("deep", r.tags["depth"]): RowResult(r, [], []) for r in rows}
        assert seeds_by_depth(by) == said  # the report says what the rows trained


def test_a_report_names_the_machine_each_run_trained_on():
    from plainnet.app.runs import trained_on

    def record(**provenance):
        return dict(provenance=provenance)

    assert trained_on(record(cpu="AMD EPYC")) == "AMD EPYC"  # a record from before the field
    assert trained_on(record(cpu="Xeon", cpu_instructions="AVX512 with bf16")) == (
        "Xeon (AVX512 with bf16)"
    )
    assert trained_on(record(cpu="Xeon", gpu="NVIDIA H100")) == "GPU NVIDIA H100"


def test_error_vs_depth_draws_every_seed_beside_the_mean(tmp_path, monkeypatch):
    """A mean over seeds can hide one failed seed: the figure shows each seed too."""
    from plainnet.app import plots
    from plainnet.app.grid import RowResult

    figs = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figs.append(fig) or path)
    keys = ("final_test_err", "final_train_err", "final_running_train_err")
    by = {
        ("resnet", d): RowResult(
            Row(f"d={d}", None, []), [dict.fromkeys(keys, e) for e in errs], []
        )
        for d, errs in ((20, [0.05, 0.07]), (218, [0.09, 0.76]))
    }
    plots.error_vs_depth(by, tmp_path / "x.png", "two seeds")
    drawn = {tuple(round(y, 2) for y in line.get_ydata()) for line in figs[0].axes[0].lines}
    assert (6.0, 42.5) in drawn and (5.0, 7.0, 9.0, 76.0) in drawn  # means, then each seed


def test_the_winner_is_named_and_a_gap_within_the_seeds_spread_is_said_to_be_one():
    from plainnet.app.grid import RowResult, winner

    def row(label, *val_errs):
        return RowResult(Row(label, None, []), [dict(final_val_err=v) for v in val_errs], [])

    close = [row("a", 0.020, 0.040), row("b", 0.035, 0.036), row("c", 0.5, 0.5)]
    said = winner(close)
    assert "**a** (3.00 ± 1.41 %)" in said and "0.55 points ahead of b" in said
    assert "does not tell the two apart" in said
    clear = winner([row("a", 0.020, 0.021), row("b", 0.05, 0.051)])
    assert "more than the seeds' spread" in clear
    one = winner([row("a", 0.02), row("b", 0.03)])
    assert "no spread" in one and "(2.00 %, one seed)" in one and "±" not in one
    failed = RowResult(Row("x", None, []), [dict(final_val_err=0.0)], [], diverged=1)
    assert "**b**" in winner([failed, row("b", 0.1, 0.1)])  # a row with a failed run never wins
    assert "no winner" in winner([])
