"""The README's Python blocks run as written (so they cannot drift from the code)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, capsys):
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    if "test error" in code:
        error = float(re.search(r"test error after \d+ epochs: ([\d.]+)%", out).group(1))
        assert error < 50  # trained, far from chance (90%)
