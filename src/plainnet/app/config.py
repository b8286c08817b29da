"""Run configuration: a validated schema, TOML presets and files, and `section.key=value` overrides.

Resolution order, later wins: built-in defaults (the paper's proposed PlainNet on `digits`)
< preset < config file < command-line overrides. Every run writes the resolved config to its
folder as `config.toml`, which is itself a valid config file.
"""

import math
import sys
import textwrap
import tomllib
import warnings
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from plainnet.data.datasets import SPECS, is_user_dataset
from plainnet.errors import ConfigError, FileError
from plainnet.files import regular_file


class Section(BaseModel):
    # strict: a TOML string is never coerced into a number or a bool.
    # no inf or nan anywhere: every number must mean something
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataConfig(Section):
    dataset: str = "digits"  # a registered name, or your .npz file or image folder
    data_dir: str = ""  # empty: $PLAINNET_DATA, else the per-user cache directory
    download: bool = True  # fetch missing official files (a prepared .npz needs no network)
    # true: random crop + flip (natural images); "shift": random shifts of up to 2 pixels, no
    # flip (digits, objects); "auto": crop + flip for cifar10, none for the others.
    augment: bool | Literal["auto", "shift"] = "auto"
    # Sets without an official split (digits, coil20): see plainnet.data.datasets.split_indices.
    test_fraction: float = Field(0.2, gt=0, lt=1)
    # Validation split carved (stratified, seeded by split_seed) from the training split: every
    # choice (best epoch, hyperparameters) is made on it; 0 turns it off.
    val_fraction: float = Field(0.1, ge=0, lt=1)
    # pose: COIL-20's images of the test split are other viewing angles (no pose in both)
    split: Literal["stratified", "pose"] = "stratified"
    # seeds the train / validation / test split, apart from train.seed
    split_seed: int = Field(0, ge=0, lt=2**32)
    # resize to image_size x image_size; 0 keeps the native size
    image_size: int = Field(0, ge=0, le=1024)
    # train on a seeded random subset of this size; 0: all. The test split stays whole, so
    # that test numbers compare with full runs (validation: data.val_subset).
    train_subset: int = Field(0, ge=0)
    # how train_subset picks its samples: random, or stratified (every class keeps its share of
    # the training split, seeded by split_seed)
    train_subset_by: Literal["random", "stratified"] = "random"
    # evaluate a stratified sample of this many validation samples (seeded by split_seed); 0:
    # the whole split; "auto": the whole split, but with train_subset at most 1,000, so that a
    # quick run on a subset is not mostly validation (CIFAR-10 holds out 5,000 images)
    val_subset: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        if is_user_dataset(v):
            return v
        if v.endswith("/") or "/" in v:
            raise ValueError(f"{v} is neither a .npz file nor a folder")
        return _one_of(v, SPECS)


class ModelConfig(Section):
    # A Python module imported first, so that the model.arch it registers exists
    # (@plainnet.nn.models.register_model): a module on sys.path or in the current folder.
    # Kept in the run's config, so eval, predict, export and resume import it too.
    module: str = ""
    arch: str = "mlp"  # a registered model (plainnet.nn.models.MODELS); resnet: for comparison only
    depth: int = Field(100, ge=2, le=100_000)  # weight layers, classifier included
    width: int = Field(128, ge=1, le=1_000_000)  # MLP hidden units
    channels: list[int] = Field([16, 32, 64], min_length=1)  # CNN stage widths
    norm: Literal["batch", "batch_renorm", "none"] = "batch"  # batch_renorm: plainnet.nn.norms
    act: str = "leaky_relu"  # a registered activation (plainnet.nn.models.ACTIVATIONS)
    # Leaky ReLU negative slope (eq. 1); "auto": chosen from the depth so that the net's
    # correlation map takes c = 0 to eta (plainnet.nn.correlation; docs/depth.md)
    beta: float | str = "auto"
    # TAT's target for beta = "auto": the correlation c = 0 maps to eta at the top
    eta: float = Field(0.9, gt=0, lt=1)
    init: str = "he_uniform"  # a registered init (plainnet.nn.init.INITS); eq. 3: he_uniform
    # resnet only: every block's last BatchNorm starts at weight 0, so each block starts as
    # its shortcut (torchvision's option of that name); He et al.'s ResNet: false
    zero_init_residual: bool = False

    @field_validator("module")
    @classmethod
    def _module_name(cls, v: str) -> str:
        if v:
            check_module_name(v)
        return v

    @field_validator("channels")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if min(v) < 1:
            raise ValueError("every channel count must be >= 1")
        return v

    @field_validator("beta")
    @classmethod
    def _beta(cls, v: float | str) -> float | str:
        if v != "auto" and (isinstance(v, str) or not 0 <= v < 1):
            raise ValueError("must be in [0, 1) or 'auto'")
        return v

    @field_validator("arch", "act", "init")
    @classmethod
    def _registered(cls, v: str, info: ValidationInfo) -> str:
        # Validating imports nothing: a name the user's module registers is checked when that
        # module is imported, as the model is built (`plainnet.app.build.make_model`).
        if info.data.get("module") and v not in registry(info.field_name):
            return v
        return _one_of(v, registry(info.field_name))


class MaxNormConfig(Section):
    enabled: bool = True  # eq. 2, projected after every optimizer step
    c: float = Field(4.0, gt=0)  # eq. 2: ||w_j||_2 <= c; docs/defaults.md
    layers: Literal["hidden", "all"] = "hidden"  # "all" also constrains the classifier


MIN_CLIP = 1e-3  # optim.clip_grad_norm's smallest norm (the deep preset's clipped rule: 20)


class OptimConfig(Section):
    # lars: SGD with each layer's step scaled to its weights' norm (plainnet.nn.lars)
    name: Literal["sgd", "lars", "adam", "adamw"] = "sgd"
    # "auto": without normalization 0.2 / depth, or 1 / depth with clip_grad_norm; with it
    # 0.02 (plainnet.app.build.resolve_lr)
    lr: float | Literal["auto"] = 0.02
    momentum: float = Field(0.9, ge=0, lt=1)  # SGD and LARS only
    nesterov: bool = False  # Nesterov momentum (SGD and LARS)
    # L2 penalty added to the gradient by the optimizer (decoupled for adamw)
    weight_decay: float = Field(0.0, ge=0)
    betas: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        [0.9, 0.999], min_length=2, max_length=2
    )  # Adam/AdamW only
    # Before every step, scale the gradient down to this global L2 norm at most; 0: off.
    clip_grad_norm: float = 0.0
    # LARS only: each step moves a layer by about lr * trust_coefficient of its norm
    trust_coefficient: float = Field(0.001, gt=0)

    @field_validator("lr")
    @classmethod
    def _lr(cls, v: float | str) -> float | str:
        if v != "auto" and not v > 0:
            raise ValueError("must be > 0 or 'auto'")
        return v

    @field_validator("clip_grad_norm")
    @classmethod
    def _clip(cls, v: float) -> float:
        # a norm far below any gradient's stops learning without a word: refused
        if v != 0 and not MIN_CLIP <= v < math.inf:
            raise ValueError(f"must be 0 (off) or a norm from {MIN_CLIP:g} up")
        return v

    @model_validator(mode="after")
    def _nesterov(self) -> "OptimConfig":
        if self.nesterov and (self.name not in ("sgd", "lars") or self.momentum == 0):
            raise ValueError("nesterov needs name = 'sgd' or 'lars' and momentum > 0")
        return self


class ScheduleConfig(Section):
    # the learning rate's shape over the run, after any warm-up
    name: Literal["constant", "multistep", "cosine"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)  # linear warm-up from 0, then the schedule
    milestones: list[float] = [0.5, 0.75]  # multistep: fractions of the run where lr *= gamma
    gamma: float = Field(0.1, gt=0, le=1)  # multistep: the factor at each milestone

    @field_validator("milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        if any(not 0 < m < 1 for m in v):
            raise ValueError("milestones are fractions of the run, each in (0, 1)")
        return sorted(v)


class TrainConfig(Section):
    epochs: int = Field(40, ge=1)  # passes over the training split
    batch_size: int = Field(128, ge=1)  # samples per optimizer step (over all processes together)
    seed: int = Field(0, ge=0, lt=2**32)  # seeds the init, the batches' order and the augmentation
    device: str = "auto"  # "auto": cuda if available, else cpu
    # samples per forward pass when evaluating and calibrating (speed and memory only: results
    # do not change); "auto": train.batch_size for conv nets on CPU (a large batch of feature
    # maps leaves the cache: CNN-50 on CIFAR-10 evaluated 2x slower at 1,000 than at 128),
    # else 1,000
    eval_batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    # SyncBatchNorm under torchrun (GPUs only; see plainnet.engine.distributed)
    sync_bn: bool = True
    # After every epoch, set BatchNorm's population statistics layer by layer from this many
    # training samples (plainnet.nn.norms.recalibrate_), so eval mode matches training at any
    # depth (docs/depth.md); 0 keeps PyTorch's running averages. Training itself is unchanged.
    # "auto": 1,024 for MLPs, 512 for conv nets (whose channels pool every position), each
    # measured as good as 2,048 on validation within the spread over samples (docs/depth.md).
    calibrate_bn: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"
    # In the last epoch, before the calibration: the validation error with PyTorch's running
    # averages instead (`final_val_err_running_stats`), a diagnostic of what calibration fixes.
    check_running_stats: bool = False
    # Speed and memory switches (plainnet.nn.speed; measured in docs/performance.md).
    compile: bool = False  # torch.compile, with an eager fallback
    channels_last: bool | Literal["auto"] = "auto"  # NHWC; "auto": on for CNNs
    amp: Literal["auto", "bf16", "off"] = "auto"  # bf16 autocast; "auto": on CUDA only
    checkpoint_segments: int = Field(0, ge=0)  # activation checkpointing; 0: off
    # Your callbacks (plainnet.Callback), each a table: `class` is its import path, the other
    # keys its arguments, e.g. [{class = "plainnet.EarlyStopping", patience = 5}]; they run
    # after the run's own, and their state_dict() is kept in checkpoints for --resume.
    callbacks: list[dict[str, Any]] = []

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for c in v:  # checked as names only: nothing is imported before training
            path = c.get("class")
            module, _, name = path.rpartition(".") if isinstance(path, str) else ("", "", "")
            if not module or not name.isidentifier():
                raise ValueError(f"{c}: needs class = an import path, e.g. 'mymod.MyCallback'")
            check_module_name(module)
        return v

    @field_validator("calibrate_bn")
    @classmethod
    def _calibration(cls, v: int | str) -> int | str:
        if v == 1:
            raise ValueError("must be 0 (off) or at least 2 samples (a variance needs two)")
        return v


# What `run.select` keeps as best.pt, in words.
RULES = {"best": "lowest error, ties broken by loss", "val_loss": "lowest loss"}
# What eval, predict, export and load_run can load: "selected" is what the run's `run.select`
# kept (best.pt, or last.pt when it keeps none), the model the training summary leads with.
CHECKPOINTS = ("selected", "best", "last")


class RunConfig(Section):
    out_dir: str = "runs"  # the folder that holds the run folders
    name: str = ""  # folder is <out_dir>/<timestamp>-<name>
    # checkpoints/last.pt (and best.pt) every this many epochs, or "auto": after the first
    # epoch that ends a minute or more after the last save; the final epoch is always saved
    checkpoint_every: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    # Which model the run keeps as its result: what the summary leads with and what eval,
    # predict, export and load_run load by default. "final": the last epoch's (no per-epoch
    # choice; without a validation split the test split is read once, at the end), as every
    # report of sweep and reproduce does; "best": also best.pt, the epoch with the lowest
    # validation error, ties broken by the lower validation loss (without a validation split:
    # the test split, read every epoch, an optimistic choice); "val_loss": the lowest loss.
    select: Literal["best", "val_loss", "final"] = "final"
    refit_of: str = ""  # what selection this run refits (plainnet sweep --refit writes it)
    probe_every: int = Field(0, ge=0)  # epochs between depth probes into probe.jsonl; 0: off
    # training samples each of those probes uses (at least 2: a correlation needs two)
    probe_samples: int = Field(2000, ge=2)
    # TensorBoard events in <run>/tb: true, false, or "auto" (when the package is installed)
    tensorboard: bool | Literal["auto"] = "auto"


class Config(Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    max_norm: MaxNormConfig = MaxNormConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    run: RunConfig = RunConfig()

    def to_toml(self, changed_only: bool = False) -> str:
        """The config as TOML; `changed_only`: only the fields that differ from the defaults
        (a file to load with -c that sets nothing it does not need)."""
        raw = self.model_dump()
        if changed_only:
            default = Config().model_dump()
            raw = {s: {k: v for k, v in f.items() if v != default[s][k]} for s, f in raw.items()}
        return tomli_w.dumps({s: f for s, f in raw.items() if f})

    def annotated(self, origins: dict[str, str] | None = None, comments: bool = False) -> str:
        """TOML as `to_toml`, with each value that is not the default followed by where it
        was set (`origins`), and with `comments` each field's documentation above it."""
        docs = field_comments() if comments else {}
        default = Config().model_dump()
        out = []
        for section, fields in self.model_dump().items():
            out.append(f"[{section}]")
            for key, value in fields.items():
                name = f"{section}.{key}"
                out += [f"# {line}" for line in textwrap.wrap(docs.get(name, ""), 88)]
                line = tomli_w.dumps({key: value}).strip()
                if origins is not None and value != default[section][key]:
                    line += f"  # {origins.get(name, 'resolved from auto')}"
                out.append(line)
            out.append("")
        return "\n".join(out)


SECTIONS: dict[str, type] = {name: f.annotation for name, f in Config.model_fields.items()}


def check_module_name(name: Any) -> str:
    """`name` if it is a module's dotted name (not a file: `x.py` would run x.py first)."""
    if isinstance(name, str) and name.endswith(".py"):
        raise ValueError(f"{name!r} is a file name; give the module's name ({name[:-3]})")
    if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")):
        raise ValueError(f"{name!r} is not a module name (e.g. mymodels)")
    return name


def import_user_module(name: Any) -> None:
    """Import the user's module `name` (dotted, on sys.path or in the current folder), which
    registers models, inits or activations; any failure is one line (a `ValueError`).

    The current folder is searched as `python -m` would, for this import only: `sys.path` is
    as before afterwards, so no later import picks up a file that happens to lie there. What
    the module prints at import goes to stderr under its name, so that it is told apart from
    plainnet's output (a config printed by `config show` stays valid TOML); its exit or an
    interrupt during its import is a failure of that import."""
    import contextlib
    import importlib
    import io

    check_module_name(name)
    if name in sys.modules:
        return
    saved, printed = list(sys.path), io.StringIO()
    sys.path.insert(0, str(Path.cwd()))
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            importlib.import_module(name)
    except (Exception, SystemExit, KeyboardInterrupt) as e:  # the user's code, at import
        raise ValueError(f"importing {name} failed ({type(e).__name__}: {e})") from None
    finally:
        sys.path[:] = saved
        for line in printed.getvalue().splitlines():
            print(f"[{name} at import] {line}", file=sys.stderr)


def module_origin(name: str) -> str | None:
    """The file `import_user_module(name)` would run first: that of `name`'s top-level module
    or package, found without running any of it (None: not found)."""
    import importlib.util

    top = name.partition(".")[0]
    if top in sys.modules:
        return getattr(sys.modules[top], "__file__", None)
    saved = list(sys.path)
    sys.path.insert(0, str(Path.cwd()))
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    finally:
        sys.path[:] = saved
    return spec.origin if spec else None


def file_digest(path: str | Path | None) -> str | None:
    """SHA-256 of the file at `path` (None: no such file)."""
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    except OSError:
        return None


def check_recorded_module(name: str, about: dict) -> None:
    """Where a reopened run's `model.module` comes from: the file the run recorded when it
    trained (its checkpoint's `about`: `module_file`), found again with the content it had
    then (`module_sha256`, when the run recorded one); a module imported already (`plainnet
    --import NAME`, or `import` in Python) is the user's choice. Any other file, or that file
    changed, is refused (a `ConfigError` naming both): a run folder received from elsewhere
    must not run a file that lies beside it or was put in its place. A module not found at
    all is left to the import, which says it is missing."""
    found = None if name in sys.modules else module_origin(name)
    if found is None:
        return
    recorded, digest = about.get("module_file"), about.get("module_sha256")
    here, then = Path(found).resolve(), Path(recorded or "")
    package = here.parent if here.name == "__init__.py" else here
    trust = f"if you trust it, import it by name: plainnet --import {name} ..."
    if not (then.is_absolute() and then.resolve().is_relative_to(package)):
        raise ConfigError(
            f"model.module {name} would be imported from {found}, but the run recorded "
            f"{recorded or 'no file'} when it trained; {trust}"
        )
    if digest and file_digest(then) != digest:
        raise ConfigError(f"model.module {name}: {recorded} changed since the run trained; {trust}")


def registry(field: str):
    """The registered names for `field` (arch, act, init; conv: the archs that convolve),
    imported on first use, so that reading a config that names none of them needs no torch."""
    from plainnet.nn.init import INITS
    from plainnet.nn.models import ACTIVATIONS, CONV_MODELS, MODELS

    return dict(arch=MODELS, act=ACTIVATIONS, init=INITS, conv=CONV_MODELS)[field]


def user_modules() -> list[str]:
    """The modules outside plainnet that registered a model, an activation or an init in this
    process (`plainnet --import`, `model.module`, or `import` in Python): what a fresh worker
    process must import to know the same names."""
    names = {
        getattr(fn, "__module__", None) or ""
        for field in ("arch", "act", "init")
        for fn in registry(field).values()
        if fn is not None
    }
    own = ("plainnet", "torch", "__main__", "__mp_main__", "")
    return sorted(n for n in names if n.partition(".")[0] not in own)


def _one_of(value: str, choices: dict) -> str:
    if value not in choices:
        raise ValueError(f"must be one of {sorted(choices)}")
    return value


def presets() -> dict[str, str]:
    """Preset name -> its TOML text (the paper's ablation rows; `proposed` is the default)."""
    files = resources.files("plainnet.app") / "presets"
    return {
        f.name.removesuffix(".toml"): f.read_text()
        for f in files.iterdir()
        if f.name.endswith(".toml")
    }


def _toml(text: str, origin: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{origin}: not valid TOML ({e})") from None
    except RecursionError:
        raise ConfigError(f"{origin}: nested too deeply to be a config") from None


# No config is near this size; a larger "file" (/dev/zero, a log) is refused before reading.
MAX_CONFIG_BYTES = 1 << 20


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        regular_file(path, "config file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is over 1 MiB: not a config")
        text = path.read_text()
    except FileError as e:
        raise ConfigError(str(e)) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (TOML) file") from None
    return _toml(text, str(path))


def parse_override(item: str) -> tuple[str, str, Any]:
    """`model.depth=50` -> ("model", "depth", 50). Values are TOML; a bare word is a string."""
    key, eq, raw = item.partition("=")
    parts = key.strip().split(".")
    if not eq or len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"override {item!r} must look like section.key=value, e.g. model.depth=50"
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return parts[0], parts[1], value


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    for item in overrides:
        section, key, value = parse_override(item)
        raw = merge(raw, {section: {key: value}})
    return raw


def merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _describe(err: ValidationError) -> str:
    """Pydantic's errors in the user's terms: the field, the value given, what is allowed."""
    msgs: dict[str, list[str]] = {}
    given: dict[str, Any] = {}
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        where = ".".join(loc[:2]) or "config"  # deeper parts name a union's member types
        if e["type"] == "extra_forbidden":
            msgs.setdefault(where, []).append("unknown key" + _did_you_mean(loc))
            continue
        if e["type"] == "value_error":  # plainnet's own validators say it in full
            msg = e["msg"].removeprefix("Value error, ")
            msgs.setdefault(where, []).append(f"{msg} (got {e['input']!r})")
            continue
        msg = e["msg"].removeprefix("Input should be ").removeprefix("a valid ")
        msgs.setdefault(where, []).append(msg)
        given[where] = e["input"]
    out = []
    for where, parts in msgs.items():
        if where in given:
            expected = " or ".join(dict.fromkeys(parts))
            out.append(f"{where}: got {given[where]!r}, expected {expected}")
        else:
            out.append(f"{where}: {'; '.join(parts)}")
    return "; ".join(out)


def _did_you_mean(loc: list[str]) -> str:
    import difflib

    if len(loc) == 1:
        known = list(Config.model_fields)
    else:
        section = Config.model_fields.get(loc[0])
        known = list(section.annotation.model_fields) if section else []
    close = difflib.get_close_matches(loc[-1], known, n=1)
    return f" (did you mean {'.'.join([*loc[:-1], close[0]])}?)" if close else ""


def validate(raw: dict, origin: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{origin}: {_describe(e)}") from None


def resolve(
    preset: str | list[str] | tuple[str, ...] | None = None,
    config_file: str | Path | list | tuple | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    base: list[str] | tuple[str, ...] = (),
) -> Config:
    """Defaults < presets < `base` overrides (a recipe's own settings) < files < overrides,
    validated. Several presets or files apply in the order given, later ones winning, as
    overrides do. Raises `ConfigError` with one line."""
    raw: dict[str, Any] = {}
    mine: dict[str, Any] = {}  # what the user set: the files and the overrides
    merged = layers(preset, config_file, overrides, base)
    for origin, layer in merged:
        raw = merge(raw, layer)
        if origin.startswith(("file ", "command line")):
            mine = merge(mine, layer)
    cfg = validate(raw)
    for message in no_effect(cfg, mine):
        warnings.warn(message, ConfigWarning, stacklevel=2)
    if merged and merged[0][0] == BY_DEPTH and cfg.model.norm == "none":  # not all overridden
        warnings.warn(_deep_note(cfg), DepthNote, stacklevel=2)
    return cfg


# With no preset, a plain net deeper than this trains with the deep preset underneath the
# user's settings: beyond it the deep recipe had the lower validation error than the paper's
# components (BatchNorm + Leaky ReLU + max-norm). MLPs: USPS, 20 epochs (docs/depth.md);
# CNNs: USPS images, 4,000 training images, 10 epochs (docs/cnn.md).
DEEP_BEYOND = {"mlp": 100, "cnn": 110}


class DepthNote(UserWarning):
    """Which recipe a net with no preset trains with at its depth, and why."""


def _deep_note(cfg: "Config") -> str:
    m = cfg.model
    return (
        f"{m.depth:,} layers with no preset: the deep recipe (-p deep: no BatchNorm, "
        f"delta-orthogonal init, lr by depth), which beyond {DEEP_BEYOND[m.arch]} layers trained "
        f"better than the paper's components (docs/depth.md); -p proposed gives the paper's net"
    )


def layers(preset=None, config_file=None, overrides=(), base=()) -> list[tuple[str, dict]]:
    """What `resolve` merges, in order, each with where it comes from: "preset NAME",
    "recipe" (a recipe's own settings), "file PATH", "command line"."""
    out = []
    known = presets()
    for name in _several(preset):
        if name not in known:
            raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(known)}")
        out.append((f"preset {name}", _toml(known[name], f"preset {name}")))
    if base:
        out.append(("recipe", apply_overrides({}, base)))
    out += [(f"file {path}", read_toml(path)) for path in _several(config_file)]
    if overrides:
        out.append(("command line", apply_overrides({}, overrides)))
    if not preset and _beyond_the_crossover(out):  # beneath everything the user set
        out.insert(0, (BY_DEPTH, _toml(known["deep"], "preset deep")))
    return out


BY_DEPTH = "preset deep (chosen by depth)"


def _beyond_the_crossover(user_layers: list[tuple[str, dict]]) -> bool:
    """Whether the user's settings name a plain net deeper than `DEEP_BEYOND` for its arch."""
    model: dict[str, Any] = {}
    for _, layer in user_layers:
        model = merge(model, layer.get("model", {}) if isinstance(layer.get("model"), dict) else {})
    arch, depth = model.get("arch", "mlp"), model.get("depth", 100)
    return isinstance(depth, int) and depth > DEEP_BEYOND.get(arch, math.inf)


def origins(preset=None, config_file=None, overrides=(), base=()) -> dict[str, str]:
    """ "section.key" -> where its value was last set (`layers`); unset keys are defaults."""
    return {
        f"{section}.{key}": origin
        for origin, layer in layers(preset, config_file, overrides, base)
        for section, fields in layer.items()
        if isinstance(fields, dict)
        for key in fields
    }


def field_comments() -> dict[str, str]:
    """ "section.key" -> the comment that documents it in this file (the lines just above the
    field and the one after it), so that the reference (docs/config.md) and
    `config show --comments` say what the source says, in one place."""
    import ast
    import inspect

    source = inspect.getsource(sys.modules[__name__])
    lines = source.splitlines()
    sections = {c.__name__: name for name, c in SECTIONS.items()}
    out = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.ClassDef) and node.name in sections):
            continue
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            above, i = [], item.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#"):
                above.insert(0, lines[i].strip().lstrip("# "))
                i -= 1
            inline = lines[item.end_lineno - 1].partition("  # ")[2].strip()
            text = " ".join([*above, inline]).strip()
            out[f"{sections[node.name]}.{item.target.id}"] = text
    return out


def _several(value) -> list:
    """None, one item or a sequence of them, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class ConfigWarning(UserWarning):
    """A setting that has no effect under the resolved config."""


def no_effect(cfg: Config, mine: dict) -> list[str]:
    """Why each field the user set (`mine`) changes nothing in `cfg`, one line each."""
    m, o, s = cfg.model, cfg.optim, cfg.schedule
    sized = {"channels", "width"} & mine.get("model", {}).keys()
    conv = bool(sized) and m.arch in registry("conv")
    rules = {
        "max_norm.c": (not cfg.max_norm.enabled, "max_norm.enabled is false"),
        "max_norm.layers": (not cfg.max_norm.enabled, "max_norm.enabled is false"),
        "model.beta": (m.act != "leaky_relu", f"model.act is {m.act!r}, not 'leaky_relu'"),
        "model.eta": (m.beta != "auto", "model.beta is not 'auto'"),
        "model.channels": (not conv, f"model.arch {m.arch!r} has no conv stages"),
        "model.width": (conv, f"model.arch {m.arch!r} sizes its layers by model.channels"),
        "model.zero_init_residual": (m.arch != "resnet", f"model.arch is {m.arch!r}"),
        "optim.momentum": (o.name not in ("sgd", "lars"), f"optim.name is {o.name!r}"),
        "optim.nesterov": (o.name not in ("sgd", "lars"), f"optim.name is {o.name!r}"),
        "optim.betas": (o.name not in ("adam", "adamw"), f"optim.name is {o.name!r}"),
        "optim.trust_coefficient": (o.name != "lars", f"optim.name is {o.name!r}"),
        "schedule.milestones": (s.name != "multistep", f"schedule.name is {s.name!r}"),
        "schedule.gamma": (s.name != "multistep", f"schedule.name is {s.name!r}"),
        "train.calibrate_bn": (m.norm != "batch", f"model.norm is {m.norm!r}"),
        "train.check_running_stats": (m.norm != "batch", f"model.norm is {m.norm!r}"),
        "train.sync_bn": (m.norm == "none", "model.norm is 'none'"),
    }
    if m.arch == "resnet":
        for key in ("norm", "act", "beta", "eta"):
            rules[f"model.{key}"] = (True, "resnet is always BatchNorm + ReLU")
    return [
        f"{key} = {mine[key.split('.')[0]][key.split('.')[1]]!r} has no effect: {why}"
        for key, (idle, why) in rules.items()
        if idle and key.split(".")[1] in mine.get(key.split(".")[0], {})
    ]
