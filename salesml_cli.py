"""The ``salesml`` command: one Typer app composed of each package's commands."""

from __future__ import annotations

import typer

from features.crm.cli import data_app
from features.pit.cli import cut_cmd, features_app
from serving.cli import export_champions, export_cmd, exported_dataset, keys_app, serve_cmd, service_app
from training.cli import score_cmd, train_cmd
from training.compare_cli import compare_cmd
from training.evaluate_cli import evaluate_cmd
from training.forecasting_cli import backtest_cmd, forecast_cmd, targets_cmd
from training.insights_cli import insights_cmd
from training.models_cli import models_app
from training.monitor_cli import monitor_cmd
from training.report.cli import report_cmd
from training.routing_cli import route_cmd
from training.whatif_cli import whatif_cmd
from training.workflow_cli import activities_app, sweep_cmd

app = typer.Typer(
    name="salesml",
    help="ML lead scores, close probabilities and forecasts from CRM data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app.command("cut")(cut_cmd)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.command("train")(train_cmd)
app.command("score")(score_cmd)
app.command("forecast")(forecast_cmd)
app.command("backtest")(backtest_cmd)
app.command("compare-baselines")(compare_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("targets")(targets_cmd)
app.command("route")(route_cmd)
app.command("whatif")(whatif_cmd)
app.command("report")(report_cmd)
app.command("insights")(insights_cmd)
app.command("sweep")(sweep_cmd)
app.command("monitor")(monitor_cmd)
app.add_typer(activities_app, name="activities")
app.add_typer(models_app(export_champions, exported_dataset), name="models")
app.command("export")(export_cmd)
app.command("serve")(serve_cmd)
app.add_typer(service_app, name="service")
app.add_typer(keys_app, name="keys")

if __name__ == "__main__":
    app()
