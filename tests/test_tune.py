"""`plainnet tune`: an Optuna search chosen on validation, pruned per epoch, test read once,
one study shared by several processes through its database."""

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from test_cli import run_cli

from plainnet.app.config import resolve
from plainnet.app.recipes.tune import Field, import_optuna
from plainnet.app.runs import RunDir

TINY = ["--depth", "6", "model.width=16", "--epochs", "3"]
LR = "optim.lr=log:1e-3:3"


def test_a_search_chooses_on_validation_prunes_and_reads_test_once(capsys, tmp_path):
    out = tmp_path / "search"
    code, said, err = run_cli(capsys, "tune", *TINY, "--field", LR, "--field",
                              "model.eta=0.3:0.9", "--trials", "8", "--sampler-seed", "0",
                              "--out", str(out))  # fmt: skip
    assert code == 0, err
    study = optuna.load_study(study_name="plainnet", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 8 and said.count("trial ") == 8
    states = {t.state for t in trials}
    assert optuna.trial.TrialState.PRUNED in states  # some trials stopped early
    for t in trials:
        run = RunDir.open(t.user_attrs["run"])
        rows = run.read_metrics()
        assert all(r["test_err"] is None for r in rows)  # no trial reads the test split
        assert "final_test_err" not in run.summary_path.read_text()
        if t.state == optuna.trial.TrialState.PRUNED:
            assert len(rows) < 3 and t.user_attrs["epochs"] == len(rows)
        else:  # the score is the final validation error, and every epoch was reported
            assert t.value == rows[-1]["val_err"] and len(t.intermediate_values) == 3
    best = study.best_trial
    evaluated = list(out.glob("trials/*/eval-last-test.csv"))
    assert [p.parent for p in evaluated] == [Path(best.user_attrs["run"])]  # read once, best
    report = (out / "tune.md").read_text()
    assert f"**Best trial: {best.number}**" in report and "Test error of its final model" in report
    assert report.count("\n| ") >= 8 + 2 and "Importance of each field" in report
    cfg = resolve(config_file=str(out / "best.toml"))  # loadable with -c
    assert cfg.optim.lr == pytest.approx(best.params["optim.lr"])
    assert (out / "tune.png").stat().st_size > 0


def test_diverged_trials_are_shown_and_a_refit_reads_test(capsys, tmp_path):
    out = tmp_path / "search"
    wild = ["--field", "optim.lr=log:1e5:1e7", "max_norm.enabled=false"]
    code, said, err = run_cli(capsys, "tune", *TINY, *wild, "--trials", "2", "--out", str(out))
    assert code == 0, err
    report = (out / "tune.md").read_text()
    assert "No trial finished" in report and report.count("| diverged |") == 2
    assert not (out / "best.toml").exists()
    assert len(list(out.glob("trials/*/failed.txt"))) == 2  # each run folder says why
    code, said, err = run_cli(capsys, "tune", *TINY, "--field", "optim.lr=log:0.05:0.2",
                              "--trials", "2", "--refit", "--out", str(tmp_path / "r"))  # fmt: skip
    assert code == 0, err
    (refit,) = (tmp_path / "r" / "refit").iterdir()
    cfg = RunDir.open(refit).config()
    assert cfg.data.val_fraction == 0 and cfg.run.select == "final"
    assert "tune.md: trial" in cfg.run.refit_of
    assert "Refit:" in (tmp_path / "r" / "tune.md").read_text()


def test_two_processes_share_one_study_without_repeating_a_trial(tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    line = [sys.executable, "-m", "plainnet", "tune", *TINY, "--field", LR, "--field",
            "model.beta=0.05:0.5", "--trials", "3", "--study", "shared",
            "--storage", db]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*line, "--out", str(tmp_path / f"p{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    trials = optuna.load_study(study_name="shared", storage=db).get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    params = {tuple(sorted(t.params.items())) for t in trials}
    assert len(params) == 6  # no point drawn twice
    workers = [t.user_attrs["worker"] for t in trials]
    assert len(set(workers)) == 2 and all(workers.count(w) == 3 for w in set(workers))
    runs = {t.user_attrs["run"] for t in trials}
    assert len(runs) == 6  # each trial its own run folder


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--field", "optim.lr=1:0.1"], "LOW < HIGH"),
        (["--field", "optim.lr=log:0:1"], "LOW > 0"),
        (["--field", "optim.lr"], "section.key=LOW:HIGH"),
        (["--field", "model.act=nope,relu"], "model.act=nope"),
        (["--field", LR, "data.val_fraction=0"], "data.val_fraction must be > 0"),
        ([], "name a field"),
        (["--field", LR, "--storage", "nosuchdb://x"], "--storage nosuchdb://x"),
    ],
)
def test_bad_searches_are_one_line(capsys, tmp_path, args, needle):
    code, _, err = run_cli(capsys, "tune", *TINY, "--trials", "1", "--out", str(tmp_path), *args)
    assert code != 0 and "Traceback" not in err and err.count("\n") == 1, err
    assert needle in err
    assert not list(tmp_path.glob("trials/*"))  # nothing trained


def test_optuna_missing_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(Exception, match=r"pip install 'plainnet\[optuna\]'"):
        import_optuna()


def test_field_ranges_parse():
    assert Field.parse("optim.lr=log:1e-4:0.1") == Field("optim.lr", "log", 1e-4, 0.1)
    assert Field.parse("model.depth=int:10:50") == Field("model.depth", "int", 10, 50)
    assert Field.parse("model.init=a,b").choices == ("a", "b")


def test_processes_creating_one_new_study_at_once_all_get_it(tmp_path):
    """Several processes opening one new database at once race to write its schema (without
    a retry about one in eight lost that race here); each gets the study."""
    code = (
        "import sys; from pathlib import Path; from plainnet.app.recipes import Plan;"
        "from plainnet.app.recipes.tune import Field, Search, _study, import_optuna;"
        "s = Search(Plan(Path(sys.argv[2])), [Field.parse('optim.lr=0.1:0.2')],"
        "storage=sys.argv[1]);"
        "print(_study(import_optuna(), s, Path(sys.argv[2])).study_name)"
    )
    db = f"sqlite:///{tmp_path / 'new.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db, str(tmp_path / f"o{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [o for o, _ in outs] == ["plainnet\n"] * 4, [e for _, e in outs]
