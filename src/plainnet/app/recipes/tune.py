"""A search over config fields with Optuna (`plainnet tune`): a study of trials, each one an
ordinary training run, chosen on validation only.

Each trial draws values for the searched fields (TPE), trains the config with them, reports
its validation error after every epoch (the median pruner stops a trial that falls behind the
others at the same epoch) and scores its final validation error. The test split is never read
by a trial; it is read once, for the best trial's final model (or, with `refit`, for the best
config trained again on the training and validation splits). A run that diverges scores 100%
(the error of a net that predicts nothing useful) and says so, so the sampler moves away from it.

The study lives in a database: SQLite in the report folder by default, any database Optuna
takes (`storage`, e.g. `postgresql://...`) to share one study between `plainnet tune`
processes on several machines; each process runs its own `trials` and the report covers all.

Optuna is an optional extra (`pip install plainnet[optuna]`).
"""

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from plainnet.app.config import Config, ConfigError, resolve
from plainnet.app.inference import evaluate_run
from plainnet.app.recipes.plan import Plan, matrix, refit_overrides
from plainnet.app.runs import RunDir
from plainnet.app.trainer import train
from plainnet.engine.callbacks import Callback
from plainnet.errors import PlainnetError, TrainingDiverged
from plainnet.files import write_atomic

DIVERGED = 1.0  # a trial's score when its run diverged or could not train


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("plainnet tune needs Optuna: pip install 'plainnet[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class Field:
    """A searched config field: `kind` "float" (uniform), "log" (log-uniform), "int" or
    "choice" (one of `choices`)."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Field":
        """`optim.lr=log:1e-4:1e-1`, `model.eta=0.3:0.9`, `model.depth=int:10:50`,
        `model.init=he_uniform,delta_orthogonal`."""
        name, eq, spec = text.partition("=")
        if not eq or "." not in name or not spec:
            raise ConfigError(f"--field {text!r} must look like section.key=LOW:HIGH")
        parts = spec.split(":")
        kind = parts.pop(0) if parts[0] in ("log", "int") else "float"
        if len(parts) == 1 and kind == "float":
            choices = tuple(v.strip() for v in parts[0].split(",") if v.strip())
            if len(choices) < 2:
                raise ConfigError(f"--field {text!r}: give a range LOW:HIGH or two values or more")
            return cls(name, "choice", choices=choices)
        try:
            low, high = (int(p) if kind == "int" else float(p) for p in parts)
        except ValueError:
            raise ConfigError(f"--field {text!r}: LOW:HIGH must be two numbers") from None
        if not low < high or (kind == "log" and low <= 0):
            raise ConfigError(f"--field {text!r}: needs LOW < HIGH (and LOW > 0 for log)")
        return cls(name, kind, low, high)

    def suggest(self, trial):
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high)
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")

    def ends(self) -> list:
        """The values at the ends of the range (every choice): each must make a valid config."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"{self.name} in {{{', '.join(self.choices)}}}"
        return f"{self.name} in [{self.low:g}, {self.high:g}]" + (" (log)" * (self.kind == "log"))


class Pruning(Callback):
    """Reports a trial's validation error after each epoch; ends the run when the pruner says
    it falls behind the other trials at that epoch."""

    def __init__(self, trial):
        self.trial = trial

    def on_epoch_end(self, state) -> None:
        err = state.metrics.get("val_err")
        if err is None:
            return
        self.trial.report(err, state.epoch)
        if self.trial.should_prune():
            state.stop, state.stopped_by = True, f"pruned after epoch {state.epoch}"


@dataclass
class Search:
    """What a `plainnet tune` process searches and where: the fields, the user's settings,
    the study (name, database), this process's trials, the sampler's seed, pruning."""

    plan: Plan  # the report folder, the user's settings (-c FILE, overrides), the log
    fields: list[Field]
    preset: list[str] | None = None
    trials: int = 20
    study_name: str = "plainnet"
    storage: str | None = None  # None: SQLite in the report folder
    seed: int | None = None
    prune: bool = True
    refit: bool = False

    def config(self, values: dict, where: list[str] = ()) -> Config:
        """The config of a trial with `values`: preset < file < overrides < the values."""
        mine = [*self.plan.overrides, *(f"{k}={v}" for k, v in values.items()), *where]
        return resolve(self.preset, self.plan.config_file, mine)

    def check(self) -> None:
        """Every end of every range gives a valid config, and there is a validation split
        to choose on: a bad field is one line before any trial trains."""
        if not self.fields:
            raise ConfigError("name a field to search: --field section.key=LOW:HIGH")
        if self.config({}).data.val_fraction == 0:
            raise ConfigError("a search chooses on validation: data.val_fraction must be > 0")
        for f in self.fields:
            for value in f.ends():
                try:
                    self.config({f.name: value})
                except ConfigError as e:
                    raise ConfigError(f"--field {f.name}={value}: {e}") from None


def tune(search: Search) -> Path:
    """Run this process's trials of the study, then write the report of the whole study
    (`<out>/tune.md`, `tune.png`, `best.toml`); returns the report's path."""
    optuna = import_optuna()
    search.check()
    out = search.plan.out
    out.mkdir(parents=True, exist_ok=True)
    study = _study(optuna, search, out)
    if search.trials:
        study.optimize(lambda t: _trial(optuna, search, t), n_trials=search.trials)
    return _report(optuna, search, study)


def _study(optuna, search: Search, out: Path):
    storage = search.storage or f"sqlite:///{(out / 'study.db').absolute()}"
    sampler = optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=5)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
        if search.prune
        else optuna.pruners.NopPruner()
    )
    for attempt in range(4):
        try:
            return optuna.create_study(storage=storage, sampler=sampler, pruner=pruner,
                                       study_name=search.study_name, direction="minimize",
                                       load_if_exists=True)  # fmt: skip
        except Exception as e:  # a URL Optuna or its database driver cannot use: many types
            # Two processes creating one new database at once race to write its schema (the
            # loser's insert fails); a moment later the schema is there: try again.
            if attempt == 3:
                raise ConfigError(f"--storage {storage}: {str(e).splitlines()[0][:200]}") from None
            time.sleep(0.5 * (attempt + 1))


def _trial(optuna, search: Search, trial) -> float:
    """One trial: a training run with the drawn values; its final validation error."""
    values = {f.name: f.suggest(trial) for f in search.fields}
    where = [f"run.out_dir={search.plan.out / 'trials'}", f"run.name=trial-{trial.number}"]
    cfg = search.config(values, where)
    run = RunDir.create(cfg)
    trial.set_user_attr("run", str(run.path.absolute()))
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    said = " ".join(f"{k}={_short(v)}" for k, v in values.items())
    try:
        result = train(cfg, run, console=Console(quiet=True), callbacks=[Pruning(trial)],
                       read_test=False)  # fmt: skip
    except TrainingDiverged as e:
        return _failed(search, trial, run, said, f"diverged: {e}")
    except PlainnetError as e:
        return _failed(search, trial, run, said, f"failed: {e}")
    s = result.summary
    trial.set_user_attr("epochs", s["epochs"])
    if s.get("stopped", "").startswith("pruned"):
        search.plan.log(f"trial {trial.number}: {said}: {s['stopped']}")
        raise optuna.TrialPruned(s["stopped"])
    search.plan.log(f"trial {trial.number}: {said}: val {s['final_val_err']:.2%}")
    return s["final_val_err"]


def _failed(search: Search, trial, run: RunDir, said: str, reason: str) -> float:
    """A trial whose run diverged or could not train: said, kept (its folder's failed.txt,
    as a grid's), and scored `DIVERGED`."""
    trial.set_user_attr("failure", reason)
    run.write_failure(reason)
    search.plan.log(f"trial {trial.number}: {said}: {reason.split(';')[0]}")
    return DIVERGED


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _report(optuna, search: Search, study) -> Path:
    from plainnet.app.plots import search_figure

    plan, out = search.plan, search.plan.out
    State = optuna.trial.TrialState
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    finished = [t for t in trials if t.state == State.COMPLETE and "failure" not in t.user_attrs]
    names = [f.name for f in search.fields]
    body = [_settings(search, study, trials, State)]
    if finished:
        best = min(finished, key=lambda t: t.value)
        cfg = search.config(best.params)
        head = (
            f"# plainnet tune, study {study.study_name}: trial {best.number}, best on validation\n"
        )
        write_atomic(out / "best.toml", head + cfg.to_toml(changed_only=True))
        body += [_best(best, names), _test_once(search, best, cfg)]
    else:
        body.append("No trial finished with a validation error: no best config.\n")
    body.append(_importance(optuna, study, finished, names))
    points = [dict(params=t.params, state=_state(t, State), err=_last(t)) for t in trials]
    preset = "".join(f"-p {p} " for p in search.preset or [])
    title = f"plainnet tune, study {study.study_name}: {preset}{plan.settings([]) or 'defaults'}"
    figure = search_figure(points, search.fields, out / "tune.png", title)
    body += [_trials_table(trials, names, State), f"\n![the search]({figure.name})\n"]
    return plan.report("tune", f"Search: {', '.join(names)}", "\n".join(body))


def _state(t, State) -> str:
    if "failure" in t.user_attrs:
        return t.user_attrs["failure"].split(":")[0]  # "diverged" or "failed"
    return {State.COMPLETE: "finished", State.PRUNED: "pruned", State.RUNNING: "running"}.get(
        t.state, "interrupted"
    )


def _last(t) -> float | None:
    """A trial's validation error: its score, else the last epoch it reported."""
    if t.value is not None:
        return t.value
    steps = t.intermediate_values
    return steps[max(steps)] if steps else None


def _settings(search: Search, study, trials, State) -> str:
    counts = {}
    for t in trials:
        counts[_state(t, State)] = counts.get(_state(t, State), 0) + 1
    plan = search.plan
    preset = f"preset {' + '.join(search.preset)}; " if search.preset else ""
    return (
        f"Settings shared by every trial: {preset}`{plan.settings([]) or 'defaults'}`.\n\n"
        f"Fields searched: {'; '.join(str(f) for f in search.fields)}.\n\n"
        f"Study `{study.study_name}`: {len(trials)} trials "
        f"({', '.join(f'{n} {k}' for k, n in counts.items())}); TPE sampler (5 random trials "
        f"first, {'seed ' + str(search.seed) if search.seed is not None else 'unseeded'}), "
        + (
            "median pruner (from the 4th trial on, at epoch 2 and later)"
            if search.prune
            else "no pruning"
        )
        + ". Each trial's score: its final validation error (a diverged run: 100%). The test "
        "split is read by no trial; once below, for the best.\n"
    )


def _best(best, names: list[str]) -> str:
    values = ", ".join(f"{n}={_short(best.params[n])}" for n in names)
    return (
        f"\n**Best trial: {best.number}** ({values}): validation error {100 * best.value:.2f}%. "
        "Its config: `best.toml` (`plainnet train -c best.toml`).\n"
    )


def _test_once(search: Search, best, cfg: Config) -> str:
    """The test split, read once: the best trial's final model, or the refit's."""
    if search.refit:
        return _refit(search, best, cfg)
    run = Path(best.user_attrs.get("run", ""))
    if not (run / "checkpoints" / "last.pt").is_file():
        return (
            f"Its run folder is not on this machine ({best.user_attrs.get('worker', '?')}: "
            f"{run}); `plainnet eval {run} --checkpoint last` there reads its test split, or "
            "pass --refit here.\n"
        )
    _, ev, _ = evaluate_run(run, "test", "last")
    return (
        f"Test error of its final model, read once here: **{100 * ev.error:.2f}%** "
        f"({int(ev.confusion.sum())} images).\n"
    )


def _refit(search: Search, best, cfg: Config) -> str:
    selection = f"{search.plan.out / 'tune.md'}: trial {best.number}"
    where = [f"run.out_dir={search.plan.out / 'refit'}", "run.name=refit",
             *refit_overrides(selection)]  # fmt: skip
    s = train(search.config(best.params, where), console=Console(quiet=True)).summary
    return (
        "Refit: the best config trained again on the training and validation splits together, "
        f"no per-epoch choice; test error **{100 * s['final_test_err']:.2f}%** (read once), "
        f"training error {100 * s['final_train_err']:.2f}%.\n"
    )


def _importance(optuna, study, finished, names: list[str]) -> str:
    varied = [n for n in names if len({str(t.params.get(n)) for t in finished}) > 1]
    if len(finished) < 3 or not varied:
        return "\nImportance: needs three finished trials that differ in a field.\n"
    importance = optuna.importance.get_param_importances(study, params=varied)
    lines = matrix("Importance of each field (fANOVA over the finished trials):", "field",
                   list(importance), ["importance"],
                   lambda n, _: f"{importance[n]:.2f}")  # fmt: skip
    return "\n" + lines


def _trials_table(trials, names: list[str], State) -> str:
    def cell(t, col):
        if col == "state":
            return _state(t, State)
        if col == "val":
            err = _last(t)
            return "—" if err is None else f"{100 * err:.2f}"
        if col == "epochs":
            return str(t.user_attrs.get("epochs", len(t.intermediate_values)))
        if col == "worker":
            return t.user_attrs.get("worker", "—")
        return _short(t.params[col]) if col in t.params else "—"

    cols = [*names, "state", "val", "epochs", "worker"]
    heads = [*names, "state", "validation error %", "epochs", "worker"]
    return "\n" + matrix("Every trial (pruned ones: the last epoch's validation error):",
                         "trial", trials, cols, cell, names=[str(t.number) for t in trials],
                         heads=heads)  # fmt: skip
