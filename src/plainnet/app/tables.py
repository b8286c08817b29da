"""The tables the commands print (rich): a run's final numbers, a model's layers, an
evaluation's per-class errors. Presentation only: the numbers come from the application."""

from rich.table import Table

from plainnet.engine.loop import Evaluation


def summary(s: dict) -> Table:
    """A run's final numbers (`summary.json`): the selected model's test error first."""
    t = Table(title=f"{s['model']} on {s['dataset']}: {s['parameters']:,} parameters")
    t.add_column("split")
    t.add_column("loss", justify="right")
    t.add_column("error", justify="right")
    if "final_test_err" in s:
        final = ("test (final model)", f"{s['final_test_loss']:.4f}", f"{s['final_test_err']:.2%}")
    else:  # a search's trial: the test split is not read
        final = ("test", "", "not read")
    if "best_test_err" not in s:  # the kept model first: what eval, predict, export load
        t.add_row(*final)
    else:  # without a validation split the best epoch is only a number: no best.pt is kept
        kept = "best.pt" if s["selected_on"].startswith("val") else "its best epoch, not kept"
        t.add_row(
            f"test, {kept} (epoch {s['best_epoch']}, selected on {s['selected_on']})",
            f"{s['best_test_loss']:.4f}" if "best_test_loss" in s else "",
            f"{s['best_test_err']:.2%}",
        )
    t.add_row(
        "train (final, eval mode)", f"{s['final_train_loss']:.4f}", f"{s['final_train_err']:.2%}"
    )
    if s.get("final_running_train_err") is not None:
        t.add_row("train (last epoch, running)", "", f"{s['final_running_train_err']:.2%}")
    if "final_val_err" in s:
        t.add_row("validation (final)", f"{s['final_val_loss']:.4f}", f"{s['final_val_err']:.2%}")
    if "best_test_err" in s:
        t.add_row(*final)
    t.caption = f"{s['epochs']} epochs, {s['train_time_s']:.1f} s training on {s['device']}"
    return t


def layers(title: str, rows: list[dict], groups: list[list[dict]]) -> Table:
    """`plainnet.nn.models.layer_table`'s rows, consecutive identical layers on one line."""
    table = Table(title=title)
    for col in ("layer", "type", "output", "parameters", "FLOPs"):
        table.add_column(col, justify="right" if col in ("parameters", "FLOPs") else "left")
    for g in groups:
        name = g[0]["name"] if len(g) == 1 else f"{g[0]['name']}..{g[-1]['name']} (x{len(g)})"
        table.add_row(name, g[0]["type"], str(g[0]["output"]), f"{g[0]['parameters']:,}",
                      si(g[0]["flops"]))  # fmt: skip
    params, flops = sum(r["parameters"] for r in rows), sum(r["flops"] for r in rows)
    table.add_section()
    table.add_row("total", f"{len(rows)} modules", "", f"{params:,}", si(flops))
    return table


def per_class(ev: Evaluation, names: list[str]) -> Table:
    """Samples and error per class of an evaluation with its confusion matrix."""
    table = Table("class", "samples", "error", box=None, pad_edge=False)
    for name, row, e in zip(names, ev.confusion, ev.per_class_error, strict=True):
        table.add_row(name, str(int(row.sum())), f"{e:6.2%}")
    return table


def si(n: float) -> str:
    """`n` with an SI prefix: 1.23M."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"
