import tomllib
import warnings

import pytest

from plainnet.app.config import Config, ConfigError, parse_override, presets, resolve, validate


def test_defaults_are_the_papers_proposed_plainnet():
    cfg = Config()
    assert (cfg.model.norm, cfg.model.act, cfg.model.init) == ("batch", "leaky_relu", "he_uniform")
    assert cfg.max_norm.enabled and cfg.model.depth == 100 and cfg.data.dataset == "digits"
    assert resolve("proposed") == resolve()


ABLATION = {  # preset: (BN, LReLU, max-norm)
    "naive": (False, False, False),
    "bn": (True, False, False),
    "lrelu": (False, True, False),
    "maxnorm": (False, False, True),
    "bn_lrelu": (True, True, False),
    "bn_maxnorm": (True, False, True),
    "lrelu_maxnorm": (False, True, True),
    "proposed": (True, True, True),
}


@pytest.mark.parametrize("name", sorted(ABLATION))
def test_presets_are_the_ablation_rows(name):
    cfg = resolve(name)
    got = (cfg.model.norm == "batch", cfg.model.act == "leaky_relu", cfg.max_norm.enabled)
    assert got == ABLATION[name]
    assert cfg.model.init == "he_uniform"


def test_every_preset_is_listed():
    assert set(presets()) == set(ABLATION) | {"deep", "usps100", "cifar10"}


def test_auto_learning_rate_scales_with_depth_without_normalization():
    from plainnet.app.build import resolve_lr, with_numbers

    assert resolve_lr("auto", 1000, "none") == 0.0002 and resolve_lr("auto", 50, "none") == 0.004
    assert resolve_lr("auto", 1000, "none", clipped=True) == 0.001  # clipping: 1 / depth
    assert resolve_lr("auto", 1000, "batch") == 0.02  # BatchNorm: the default lr at any depth
    assert resolve_lr(0.3, 1000, "none") == 0.3
    cfg = with_numbers(resolve("deep", overrides=["model.depth=400"]))
    assert cfg.optim.lr == 0.2 / 400 and cfg.model.norm == "none"
    clipped = with_numbers(
        resolve("deep", overrides=["model.depth=400", "optim.clip_grad_norm=20"])
    )
    assert clipped.optim.lr == 1 / 400  # with clipping, "auto" is 1 / depth
    assert cfg.model.init == "delta_orthogonal" and cfg.model.beta > 0.5
    with pytest.raises(ConfigError, match="optim.lr"):
        resolve(overrides=["optim.lr=0"])
    resnet = ["model.arch=resnet", "model.depth=20", "model.norm=none", "optim.lr=auto"]
    with pytest.warns(UserWarning, match="resnet is always BatchNorm"):
        assert with_numbers(resolve(overrides=resnet)).optim.lr == 0.02


def test_override_precedence_and_types(tmp_path):
    f = tmp_path / "my.toml"
    f.write_text('[model]\ndepth = 30\nact = "elu"\n[optim]\nlr = 0.2\n')
    cfg = resolve("naive", f, ["model.depth=40", "model.channels=[8, 16]", "model.act=gelu"])
    assert cfg.model.depth == 40  # override beats file
    assert cfg.model.act == "gelu"  # a bare word is a string
    assert cfg.model.channels == [8, 16]
    assert cfg.optim.lr == 0.2  # file beats preset/defaults
    assert cfg.model.norm == "none"  # from the preset
    assert parse_override("max_norm.c=3") == ("max_norm", "c", 3)


def test_resolved_config_round_trips_through_toml():
    cfg = resolve("bn", overrides=["model.depth=7", "schedule.name=multistep"])
    assert validate(tomllib.loads(cfg.to_toml())) == cfg


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.dept=5", "model.dept: unknown key (did you mean model.depth?)"),
        ("data.augment=yes", "data.augment: got 'yes', expected boolean or 'auto'"),
        ("modle.depth=5", "modle: unknown key"),
        ('model.depth="5"', "model.depth: got '5', expected integer"),
        ("model.depth=0", "model.depth: got 0, expected greater than or equal to 2"),
        ("max_norm.c=-1.0", "max_norm.c: got -1.0, expected greater than 0"),
        ("model.beta=1.0", "model.beta: must be in [0, 1) or 'auto' (got 1.0)"),
        ("model.beta=automatic", "model.beta"),
        ("model.norm=layer", "model.norm: got 'layer', expected 'batch', 'batch_renorm' or 'none'"),
        ("model.act=swishy", "model.act: must be one of"),
        ("max_norm.enabled=yes", "max_norm.enabled: got 'yes', expected boolean"),
        ("optim.nesterov=true", None),  # fine with SGD momentum 0.9
        ("schedule.milestones=[0.5, 2.0]", "milestones are fractions"),
        ("depth=5", "must look like section.key=value"),
        ("optim.clip_grad_norm=1e-300", "optim.clip_grad_norm: must be 0 (off) or a norm from"),
        ("optim.clip_grad_norm=inf", "optim.clip_grad_norm"),
    ],
)
def test_bad_values_give_one_line_errors(override, message):
    if message is None:
        resolve(overrides=[override])
        return
    with pytest.raises(ConfigError) as e:
        resolve(overrides=[override])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_files_and_presets(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\ndepth = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve(config_file=bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve(config_file=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        resolve("nope")


@pytest.mark.parametrize(
    "overrides, preset, expect",
    [
        (["max_norm.c=2.0", "model.beta=0.3"], "naive", ["max_norm.c", "model.beta"]),
        (["model.act=relu", "model.beta=0.2"], None, ["model.beta"]),
        (["model.arch=resnet", "model.depth=20", "model.act=relu"], None, ["model.act"]),
        (["model.channels=[8]"], None, ["model.channels"]),
        (["model.arch=cnn", "model.zero_init_residual=true"], None, ["model.zero_init_residual"]),
        (["model.arch=resnet", "model.depth=20", "model.zero_init_residual=true"], None, []),
        (["model.arch=cnn", "model.width=64"], None, ["model.width"]),
        (["model.beta=0.5", "model.eta=0.5"], None, ["model.eta"]),
        (["model.beta=auto", "model.eta=0.5", "max_norm.c=2.0"], None, []),
        ([], "naive", []),  # a preset's own settings never warn
    ],
)
def test_settings_without_effect_warn_once_each(overrides, preset, expect):
    import warnings

    from plainnet.app.config import ConfigWarning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        resolve(preset, None, overrides)
    msgs = [str(w.message) for w in seen if w.category is ConfigWarning]
    assert [m.split(" = ")[0] for m in msgs] == expect
    assert all("has no effect" in m for m in msgs)


def test_config_show_says_where_each_value_came_from(tmp_path):
    import tomllib

    from plainnet.app.config import origins, resolve

    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("[optim]\nlr = 0.05\n[model]\nwidth = 64\n")
    b.write_text("[model]\nwidth = 32\n")
    args = (["bn", "lrelu"], [a, b], ["model.depth=30"])
    cfg = resolve(*args)
    where = origins(*args)
    assert where["optim.lr"] == f"file {a}" and where["model.width"] == f"file {b}"
    assert where["model.depth"] == "command line" and where["model.norm"] == "preset lrelu"
    text = cfg.annotated(where, comments=True)
    assert f"lr = 0.05  # file {a}" in text and "depth = 30  # command line" in text
    assert "# weight layers, classifier included" in text
    assert tomllib.loads(text)["model"]["width"] == 32  # still a config file


def test_validating_a_config_imports_nothing_and_building_its_model_restores_sys_path(
    tmp_path, monkeypatch
):
    """A config naming a module is checked without importing it (reading a grid back, showing
    a config run no code); the model's builder imports it, once, and `sys.path` is as before."""
    import sys

    from plainnet.app.build import data_shape, make_model

    (tmp_path / "planted_models.py").write_text(
        "from plainnet.nn.models import register_model, plain_mlp\n"
        "@register_model\n"
        "def planted(in_shape, num_classes, depth=3):\n"
        "    return plain_mlp(in_shape, num_classes, depth=depth, width=4)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "planted_models", raising=False)
    before = list(sys.path)
    cfg = resolve(overrides=["model.module=planted_models", "model.arch=planted"])
    assert "planted_models" not in sys.modules and sys.path == before
    model = make_model(cfg, data_shape(cfg))
    assert "planted_models" in sys.modules and sys.path == before
    assert model.head.in_features == 4  # the planted builder's net
    from plainnet.nn import models

    del models.MODELS["planted"]  # for good: no later test's worker looks for its module
    with pytest.raises(ConfigError, match="is a file name; give the module's name"):
        resolve(overrides=["model.module=planted_models.py"])
    with pytest.raises(ConfigError, match="not a module name"):
        resolve(overrides=["model.module=my-models"])
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")  # not a silent success
    monkeypatch.delitem(sys.modules, "exits", raising=False)
    cfg = resolve(overrides=["model.module=exits", "model.arch=mlp"])
    with pytest.raises(ConfigError, match=r"importing exits failed \(SystemExit: 0\)"):
        make_model(cfg, data_shape(cfg))


def test_a_modules_output_and_interrupt_at_import_are_reported_as_its_own(
    tmp_path, monkeypatch, capsys
):
    """What a module prints at import goes to stderr under its name, never into plainnet's
    output (a printed config stays valid TOML); Ctrl-C during its import fails that import."""
    import sys

    from plainnet.app.config import import_user_module

    chatty = "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n"
    (tmp_path / "chatty.py").write_text(chatty)
    (tmp_path / "stuck.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.chdir(tmp_path)
    for name in ("chatty", "stuck"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import_user_module("chatty")
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == ["[chatty at import] hello", "[chatty at import] oops"]
    with pytest.raises(ValueError, match=r"importing stuck failed \(KeyboardInterrupt"):
        import_user_module("stuck")


def test_with_no_preset_a_net_beyond_the_crossover_trains_with_the_deep_recipe(tmp_path):
    from plainnet.app.config import DEEP_BEYOND, DepthNote

    deep = resolve("deep")
    for arch, beyond in DEEP_BEYOND.items():
        at = resolve(overrides=[f"model.arch={arch}", f"model.depth={beyond}"])
        assert at.model.norm == "batch"  # up to the crossover: the paper's components
        with pytest.warns(DepthNote, match="-p proposed gives the paper's net"):
            cfg = resolve(overrides=[f"model.arch={arch}", f"model.depth={beyond + 1}"])
        assert (cfg.model.norm, cfg.model.init, cfg.model.eta, cfg.optim.lr) == (
            deep.model.norm, deep.model.init, deep.model.eta, deep.optim.lr
        )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve("proposed", overrides=["model.depth=1000"]).model.norm == "batch"
        resnet = resolve(overrides=["model.arch=resnet", "model.depth=1202"])
        assert resnet.model.init == "he_uniform"
        mine = tmp_path / "mine.toml"
        mine.write_text('[model]\ndepth = 1000\nnorm = "batch"\neta = 0.9\ninit = "he_uniform"\n')
        kept = resolve(config_file=mine, overrides=["max_norm.c=4.0", "optim.lr=0.02"])
        assert (kept.model.norm, kept.model.init) == ("batch", "he_uniform")  # the file wins
