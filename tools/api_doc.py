"""Write docs/api.md: every public name of `plainnet` (its `__all__`) with its signature and
docstring, and the modules a user reaches into beyond them. The test suite checks that the
file is current.

    .venv/bin/python tools/api_doc.py > docs/api.md
"""

import importlib
import inspect

import plainnet

# Modules whose functions the README and docs use directly, beside the top-level names.
MODULES = {
    "plainnet.nn.correlation": [
        "c_map",
        "c_map_depth",
        "tat_beta",
        "bn_gradient_beta",
        "resolve_beta",
    ],
    "plainnet.nn.norms": ["recalibrate_", "precise_bn_", "BatchRenorm1d", "BatchRenorm2d"],
    "plainnet.nn.models": ["layer_table", "register_model"],
    "plainnet.nn.diagnostics": ["probe"],
    "plainnet.data": ["load_dataset", "DeviceData"],
    "plainnet.engine.loop": ["State", "evaluate"],
    "plainnet.app.config": ["resolve", "Config", "layers", "origins"],
    "plainnet.app.trainer": ["train", "resume"],
    "plainnet.app.probe": ["probe_config"],
    "plainnet.app.inference": [
        "LoadedRun",
        "read_inputs",
        "check_raw",
        "predict",
        "logits",
        "evaluate_raw",
        "export",
        "save_evaluation",
    ],
    "plainnet.app.plots": [
        "figure",
        "save",
        "normalized_mean_activation",
        "spectrum",
        "gradient_norms",
        "correlation",
        "heatmap",
    ],
}


def entry(qualname: str, obj) -> str:
    kind = "class" if inspect.isclass(obj) else "def"
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        sig = "(...)"
    doc = inspect.cleandoc(obj.__doc__ or "(no docstring)")
    return f"### `{qualname}`\n\n```python\n{kind} {qualname.split('.')[-1]}{sig}\n```\n\n{doc}\n"


def render() -> str:
    parts = [
        "# API reference\n",
        "Generated from the docstrings by `tools/api_doc.py`; the test suite checks it is "
        "current. Everything here is plain PyTorch: models are `nn.Module`s, the "
        "constraint and the inits are functions you call in your own loop.\n",
        "## `plainnet`\n",
    ]
    parts += [entry(f"plainnet.{name}", getattr(plainnet, name)) for name in plainnet.__all__]
    for module, names in MODULES.items():
        mod = importlib.import_module(module)
        parts.append(f"## `{module}`\n")
        parts.append(inspect.cleandoc(mod.__doc__ or "").split("\n\n")[0] + "\n")
        parts += [entry(f"{module}.{name}", getattr(mod, name)) for name in names]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
