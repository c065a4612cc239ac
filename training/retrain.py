"""Retraining a variant from a notebook: write an edited spec to a file ``salesml train`` reads, and set the new
challenger beside the champion it was compared with on the same test rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from training.spec import ModelSpec
from training.summary import SHOWN


def write_spec(spec: ModelSpec, path: Path) -> Path:
    """Save an edited spec as YAML: training reads specs from files, so a variant is a file, not code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def champion_comparison(report: dict[str, Any]) -> pd.DataFrame:
    """Test metrics of the challenger and of the champion it was measured against (same rows), one row each."""
    rows = {f"challenger v{report['version']}": report["test"]["metrics"]}
    champion = report["champion"]
    if champion["champion_version"] is not None:
        rows[f"champion v{champion['champion_version']}"] = champion["champion_metrics"]
    return pd.DataFrame.from_dict(rows, orient="index")[list(SHOWN)]
