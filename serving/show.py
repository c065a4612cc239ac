"""Pretty-print a scoring answer read from stdin: ``curl ... | python -m serving.show`` (used by ``make demo``)."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from features.scoring.explanations import evidence


def main() -> int:
    text = sys.stdin.read()
    try:
        answer = json.loads(text)
    except ValueError:
        print(text)
        return 1
    if "results" not in answer:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return 1
    console = Console()
    for item in answer["results"]:
        entity = item.get("lead_id") or item.get("opportunity_id")
        console.print(
            f"[bold]{entity}[/bold]: grade [bold]{item['grade']}[/bold], score {item['score']}, "
            f"probability {item['probability']:.1%} ({item['model']} v{item['model_version']}, as of {item['as_of']})"
        )
        table = Table("", "factor", "evidence", "effect")  # the effects add up: base + factors + others
        table.add_row("", "typical (base)", "", f"{item['base_probability']:.1%}")
        for sign, side in (("+", "top_positive"), ("-", "top_negative")):
            for f in item[side]:
                table.add_row(
                    sign, f["name"], evidence(f["feature_name"], f["value"], "en"), f"{f['delta_probability']:+.1%}"
                )
        table.add_row("", "all other factors", "", f"{item['other_effect']:+.1%}")
        console.print(table)
        for warning in item["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {warning}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
