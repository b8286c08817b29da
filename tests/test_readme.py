"""The README's Python blocks and its command lines marked (quick) run as written, so they
cannot drift from the code."""

import os
import re
from pathlib import Path

import pytest
from conftest import TABLE1_QUICK, run_line

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, capsys):
    from plainnet.nn import models

    # a block may register a model: the registry is put back, so later tests see the built-ins
    registered, conv = dict(models.MODELS), set(models.CONV_MODELS)
    try:
        exec(compile(code, str(README), "exec"), {})
    finally:
        models.MODELS.clear()
        models.MODELS.update(registered)
        models.CONV_MODELS.clear()
        models.CONV_MODELS.update(conv)
    out = capsys.readouterr().out
    if "test error" in code:
        error = float(re.search(r"test error (?:after \d+ epochs: )?([\d.]+)%", out).group(1))
        assert error < 50  # trained, far from chance (90%)


def quick_lines() -> list[str]:
    """Command lines of the README's bash blocks whose comment says (quick)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.rstrip().endswith("(quick)"):
                lines.append(line.split("#")[0].strip())
    return lines


QUICK = quick_lines()


def test_the_readme_marks_quick_command_lines():
    assert len(QUICK) >= 5


@pytest.mark.parametrize("line", QUICK)
def test_readme_quick_command_line_runs(line, tmp_path, request):
    if (
        "reproduce" in line
        and not (Path(os.environ.get("PLAINNET_DATA", "")) / "usps.npz").exists()
    ):
        pytest.skip("PLAINNET_DATA has no usps.npz")
    # Table 1's quick run is also what test_reproduce reads: run once for both.
    done = request.getfixturevalue("table1_quick")[0] if line == TABLE1_QUICK else None
    p = done or run_line(line, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]


def test_api_reference_is_current():
    """docs/api.md is generated from the docstrings; regenerate it when they change."""
    import runpy

    tool = runpy.run_path(str(README.parent / "tools" / "api_doc.py"))
    current = (README.parent / "docs" / "api.md").read_text()
    assert current == tool["render"](), "run: .venv/bin/python tools/api_doc.py > docs/api.md"


def test_config_reference_is_current():
    """docs/config.md is generated from config.py's comments; regenerate it when they change."""
    import runpy

    tool = runpy.run_path(str(README.parent / "tools" / "config_doc.py"))
    current = (README.parent / "docs" / "config.md").read_text()
    assert current == tool["render"](), "run: .venv/bin/python tools/config_doc.py > docs/config.md"


def test_the_config_reference_spells_every_type_in_toml_words():
    """A constrained type inside a union reads "integer (>= 0) or "auto"", not pydantic's repr."""
    import re
    import runpy

    tool = runpy.run_path(str(README.parent / "tools" / "config_doc.py"))
    rows = {
        r.split("|")[1].strip(" `"): r.split("|")[2]
        for r in tool["render"]().splitlines()
        if r.startswith("| `")
    }
    assert rows["calibrate_bn"].strip() == 'integer (>= 0) or "auto"'
    assert rows["betas"].strip().startswith("list of number (>= 0, < 1)")
    assert not [k for k, t in rows.items() if re.search(r"annotation=|metadata=|Field", t)]


def test_every_config_field_is_documented():
    from plainnet.app.config import SECTIONS, field_comments

    docs = field_comments()
    fields = [f"{s}.{k}" for s, c in SECTIONS.items() for k in c.model_fields]
    assert [f for f in fields if not docs.get(f)] == []


def test_the_readme_quotes_the_depths_beyond_which_the_deep_recipe_is_chosen():
    from plainnet.app.config import DEEP_BEYOND

    text = " ".join(README.read_text().split())
    assert f"a plain MLP of more than {DEEP_BEYOND['mlp']} layers" in text
    assert f"a plain CNN of more than {DEEP_BEYOND['cnn']} trains with the `deep` preset" in text
