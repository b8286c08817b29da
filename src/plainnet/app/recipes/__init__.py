"""The paper's experiments as one-command reproductions, written as Markdown + PNG.

One module per table or figure (`sweep` and `tune`: the user's own grid and search). Every
recipe is a grid of configs (rows) x seeds trained with `plainnet.app.trainer` through
`plainnet.app.grid`; the results go to `<out>/<name>.md` with the
exact command, machine, date and wall time, beside the paper's numbers where it gives them.
Sizes the paper does not give (width, beta, c, optimizer, epochs) are plainnet's defaults
(docs/defaults.md) unless a recipe says otherwise.
"""

from plainnet.app.recipes.activations import activations
from plainnet.app.recipes.cnn import cnn
from plainnet.app.recipes.components import components
from plainnet.app.recipes.depth import depth
from plainnet.app.recipes.evalgap import evalgap
from plainnet.app.recipes.plan import QUICK, Plan
from plainnet.app.recipes.sweep import sweep
from plainnet.app.recipes.table1 import PAPER_TABLE1, table1
from plainnet.app.recipes.table2 import PAPER_TABLE2, table2
from plainnet.app.recipes.tune import tune

# name -> recipe, as `plainnet reproduce NAME` runs them
RECIPES = dict(
    table1=table1,
    components=components,
    activations=activations,
    depth=depth,
    cnn=cnn,
    table2=table2,
    evalgap=evalgap,
)
__all__ = [
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "QUICK",
    "RECIPES",
    "Plan",
    "activations",
    "cnn",
    "components",
    "depth",
    "evalgap",
    "sweep",
    "table1",
    "table2",
    "tune",
]
