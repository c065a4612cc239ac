"""``salesml compare-baselines``: salesml beside a plain logistic regression and a default LightGBM, out of time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import ModelSpec, Trials, data_option, user_errors
from features.outputs import output_file


@user_errors
def compare_cmd(
    data: Annotated[Path, data_option("with outcomes")],
    model: ModelSpec,
    test_share: Annotated[
        float, typer.Option(help="Share of entities, latest by creation, scored after training on the rest.")
    ] = 0.25,
    trials: Trials = None,
    out: Annotated[Path | None, typer.Option(help="Also write the comparison as JSON here.")] = None,
    at_cut: Annotated[
        bool,
        typer.Option(
            help="Train on the earliest entities as known when the first held-out one was created (a fresh export:"
            " later outcomes unknown), not with the outcomes the export shows for them."
        ),
    ] = False,
) -> None:
    """Train with defaults on the earliest entities, score the latest, and rank salesml beside plain baselines
    (a throwaway MLflow store: your registry is not touched)."""
    from dataclasses import asdict

    from features.crm.dataset import read_manifest
    from training.compare import check_test_share, compare_baselines
    from training.spec import load_spec

    check_test_share(test_share)
    load_spec(model)  # a wrong model, share or --data refused before LightGBM and MLflow load
    read_manifest(data)
    result = compare_baselines(data, model, test_share, trials, at_cut=at_cut)
    table = Table(
        title=f"{result.model}: {result.test_entities:,} late entities ({result.test_positives:,} positive), "
        f"split {result.split}; trained on {result.train_entities:,}"
    )
    table.add_column("model")
    table.add_column("ROC AUC", justify="right")
    for name, auc in result.rows():
        table.add_row(name, f"{auc:.4f}")
    console = Console()
    console.print(table)
    console.print(
        f"salesml served {result.salesml['served']} ({result.salesml['split']} split; horizon "
        f"{result.salesml['horizon']}); {result.salesml['distinct_probabilities']:,} distinct probabilities"
    )
    if out is not None:
        output_file(out).write_text(json.dumps(asdict(result), indent=1), encoding="utf-8")
