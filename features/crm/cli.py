"""``salesml data ...``: import, generate, validate and check canonical CRM datasets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from features.cli import DATASET, DataDir, Seed, as_of_option, console, user_errors
from features.errors import DataError
from features.outputs import output_file

if TYPE_CHECKING:
    from features.crm.checks import CheckResult
    from features.crm.importers import ImportResult
    from features.crm.validate import ValidationResult

data_app = typer.Typer(help="Import, generate and validate canonical CRM datasets.", no_args_is_help=True)


@data_app.command("import")
@user_errors
def import_cmd(
    adapter: Annotated[str, typer.Option(help="Source format: x-education, maven-crm or csv.")],
    src: Annotated[Path, typer.Option(help="The raw export: a CSV file or a directory of CSV files.")],
    out: Annotated[Path, typer.Option(help="Directory to write the canonical dataset into.")],
    mapping: Annotated[
        Path | None, typer.Option(help="Mapping YAML for --adapter csv (columns, value maps, time formats).")
    ] = None,
    keep_post_outcome: Annotated[
        bool,
        typer.Option(help="Keep columns filled in after contact (they leak the outcome) for comparison."),
    ] = False,
    exported_at: Annotated[
        str | None, typer.Option(help="Export time (ISO 8601); default: taken from the source.")
    ] = None,
) -> None:
    """Import a raw CRM export into canonical tables; bad rows go to OUT/quarantine/ (exit 1: too many of them)."""
    from features.crm.importers import UnfitImport, import_dataset

    result = import_dataset(
        adapter, src, out, mapping=mapping, keep_post_outcome=keep_post_outcome, exported_at=exported_at
    )
    Console().print(import_table(result))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if result.unfit:
        raise UnfitImport(result.unfit)


@data_app.command("validate")
@user_errors
def validate_cmd(
    data: Annotated[Path, typer.Argument(help=f"{DATASET}.")],
) -> None:
    """Check a dataset against the canonical schema; exit 1 when rows break a rule."""
    from features.crm.validate import validate_directory

    result = validate_directory(data)
    Console().print(validation_table(result))
    if result.problem_count:
        raise typer.Exit(1)


@data_app.command("synth")
@user_errors
def synth_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Directory to write the synthetic dataset into.")],
    leads: Annotated[
        int, typer.Option(min=100, help="Number of leads to simulate (with --shape: in the export; default its own).")
    ] = 20_000,
    seed: Seed = 0,
    start: Annotated[str, typer.Option(help="First lead creation date (UTC).")] = "2024-01-01",
    end: Annotated[str, typer.Option(help="Export date: the simulation stops here (UTC).")] = "2025-12-31",
    shape: Annotated[
        str | None,
        typer.Option(
            show_default=False,
            help="Write a leads-only export shaped like a real one instead of the full CRM: growing (12 months, "
            "volume growing 3x, conversions months late, a landing page with ~500 values) or regime (30 months, a "
            "new contact channel, conversion rising to 25% in the latest quarter); it spans the months before --end.",
        ),
    ] = None,
    drift: Annotated[
        str | None,
        typer.Option(
            show_default=False,
            help="A date (YYYY-MM-DD) after which the world drifts: a paid channel takes half the leads and some "
            "planted drivers weaken or flip (recorded in OUT/_truth/drift.json).",
        ),
    ] = None,
    drift_strength: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="How much of the full drift happens (0: none, 1: all).")
    ] = 1.0,
    segment_drivers: Annotated[
        bool,
        typer.Option(
            "--segment-drivers",
            help="Lead conversion drivers differ by region: source effects reversed in one, response latency "
            "stronger in another (recorded in OUT/_truth/drivers.yaml under segments).",
        ),
    ] = False,
    partitions: Annotated[
        int | None,
        typer.Option(
            show_default=False,
            help="Write the large tables (leads, opportunities, stage_changes, activities and their truth) as "
            "directories of at least this many Parquet parts, generated chunk by chunk in bounded memory.",
        ),
    ] = None,
) -> None:
    """Simulate a mid-size B2B sales organisation's CRM (truth kept apart in OUT/_truth/)."""
    given = {name for name in ("leads", "start", "drift_strength") if ctx.get_parameter_source(name).name != "DEFAULT"}
    if "drift_strength" in given and drift is None:
        raise DataError("--drift-strength needs --drift DATE: the date the world starts to change")
    if shape is not None:
        from features.synth.shapes import synthesize_shape

        if "start" in given:
            raise DataError("--start does not apply with --shape: a shape spans its own months before --end")
        if drift is not None or segment_drivers:
            raise DataError("--drift and --segment-drivers do not apply with --shape: it plants changes of its own")
        if partitions is not None:
            raise DataError("--partitions does not apply with --shape: a shape is one small leads table")
        size = leads if "leads" in given else None
        Console().print(synthesize_shape(out, shape, leads=size, seed=seed, end=end).summary_table())
        return
    from features.synth import synthesize

    result = synthesize(
        out,
        leads=leads,
        seed=seed,
        start=start,
        end=end,
        progress=True,
        drift=drift,
        drift_strength=drift_strength,
        segment_drivers=segment_drivers,
        partitions=partitions,
    )
    Console().print(result.summary_table())


@data_app.command("check")
@user_errors
def check_cmd(
    data: DataDir,
    as_of: Annotated[str | None, as_of_option("all records")] = None,
    similarity: Annotated[
        float,
        typer.Option(min=0.01, max=1.0, help="Company-name similarity (0-1) at which a phone match is a duplicate."),
    ] = 0.8,
    out: Annotated[
        Path | None, typer.Option(help="CSV file for the findings; default: DATA/checks/findings.csv.")
    ] = None,
) -> None:
    """Flag duplicate leads and accounts, outlier deal amounts and discounts beyond authority (changes nothing)."""
    from features.crm.checks import check_directory

    result = check_directory(data, as_of=as_of, similarity=similarity)
    out = output_file(out or data / "checks" / "findings.csv")
    result.findings.to_csv(out, index=False)
    Console().print(checks_table(result, out))


def import_table(result: ImportResult) -> Table:
    """The validation of an import: rows imported and rows quarantined per table."""
    return validation_table(result.validation, kept="rows imported", bad="rows quarantined")


def validation_table(result: ValidationResult, kept: str = "rows ok", bad: str = "rows with problems") -> Table:
    """Rows kept and rows that broke a rule per table, with the most frequent rules."""
    table = Table(title=result.title)
    for header in ("table", kept, bad, "top reasons"):
        table.add_column(header, justify="right" if header in (kept, bad) else "left")
    for name, count in result.counts.items():
        rules = result.rules.get(name, pd.Series(dtype=int))
        top = "; ".join(f"{rule} ({n:,})" for rule, n in rules.head(3).items())
        table.add_row(name, f"{count:,}", f"{int(rules.sum()):,}", top)
    return table


def checks_table(result: CheckResult, out: Path) -> Table:
    """Findings per rule and action beside the records checked; the rules skipped in the caption."""
    table = Table(
        title=f"Data checks: {len(result.findings):,} findings in {out} (nothing was changed)",
        caption="\n".join(result.notes) or None,
    )
    for column, justify in (("rule", "left"), ("action", "left"), ("findings", "right"), ("checked", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    for row in result.counts().itertuples(index=False):
        table.add_row(row.rule, row.action, f"{row.findings:,}", f"{row.checked:,}")
    return table
