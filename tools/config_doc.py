"""Write docs/config.md: every config field, its type, default and allowed values, and the
comment that documents it in plainnet/app/config.py. The test suite checks that the file is
current.

    .venv/bin/python tools/config_doc.py > docs/config.md
"""

import typing

from plainnet.app.config import SECTIONS, Config, field_comments


def _kind(annotation) -> str:
    """A field's type in TOML's words, with a Literal's values spelled out."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        bounds = _bounds(args[1:])
        return _kind(args[0]) + (f" ({bounds})" if bounds else "")
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(f'"{a}"' if isinstance(a, str) else str(a).lower() for a in args)
    if args and typing.get_origin(annotation) is not list:
        return " or ".join(_kind(a) for a in args)
    names = {str: "string", int: "integer", float: "number", bool: "true/false"}
    if typing.get_origin(annotation) is list:
        return f"list of {_kind(args[0]) if args else 'values'}"
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(metadata) -> str:
    """Pydantic's constraints (Field(ge=...) or annotated_types objects) in words."""
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "length >="}
    words["max_length"] = "length <="
    out = []
    # Annotated[int, Field(ge=0)] holds a FieldInfo whose own metadata has the constraints.
    flat = [c for m in metadata for c in getattr(m, "metadata", [m])]
    for m in flat:
        for attr, sign in words.items():
            if getattr(m, attr, None) is not None:
                out.append(f"{sign} {getattr(m, attr):,}")
    return ", ".join(out)


def render() -> str:
    docs, default = field_comments(), Config().model_dump()
    out = [
        "# Config reference",
        "",
        "Every field of a plainnet config, as `plainnet config show --comments` prints it. A",
        "config file (TOML) sets any of them by section; the command line takes",
        "`section.key=value`; presets (`-p`), files (`-c`) and overrides apply in that order,",
        "later ones winning, and `plainnet config show ...` says where each value came from.",
        "Generated from `plainnet/app/config.py` by `tools/config_doc.py`.",
        "",
    ]
    for section, cls in SECTIONS.items():
        out += [f"## [{section}]", "", "| field | type | default | meaning |", "|---|---|---|---|"]
        for key, field in cls.model_fields.items():
            kind = _kind(field.annotation)
            bounds = _bounds(field.metadata)
            kind += f" ({bounds})" if bounds else ""
            value = default[section][key]
            shown = f'"{value}"' if isinstance(value, str) else str(value).replace("True", "true")
            shown = shown.replace("False", "false")
            meaning = docs.get(f"{section}.{key}", "").replace("|", "\\|")
            out.append(f"| `{key}` | {kind} | `{shown}` | {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render(), end="")
