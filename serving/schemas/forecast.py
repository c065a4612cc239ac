"""``/v1/forecast`` and ``/v1/targets/attainment``: a time, a period and a grouping in; rows per period and group,
or per target, out.

A forecast request names no deals: they come from the CRM history the service holds, and an ``as_of`` outside that
history is refused (``ForecastOptions.at``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from features.errors import DataError
from features.insights.forecast import GroupBy
from features.insights.periods import Period
from serving.schemas.common import ModelKind, Strict, UtcTime, documented, example

FORECAST_EXAMPLE: dict[str, Any] = example("forecast")
ATTAINMENT_EXAMPLE: dict[str, Any] = example("attainment")

Level = Literal["rep", "team", "region"]  # the levels targets are set at (features.insights.targets.LEVELS)


class ForecastOptions(Strict):
    """What both forecast calls share: a time inside the CRM history the service holds, and the period length."""

    as_of: UtcTime | None = Field(
        None,
        description="Forecast as of this time, between the first deal of the CRM history the service holds and its "
        "export time (default: the export time). No zone means UTC.",
    )
    period: Period = Field(
        "month",
        description="week (Monday to Sunday), month or quarter: calendar periods in UTC, the first holds as_of.",
    )

    def at(self, first: datetime, exported: datetime) -> datetime:
        """``as_of``, by default the export time. Outside the history it is refused: before its first deal there is
        nothing to forecast from, and what happened after its export is unknown to the service."""
        at = exported if self.as_of is None else self.as_of
        if at > exported:
            raise DataError(
                f"{at.isoformat()} is after the export time of the CRM history this service holds "
                f"({exported.isoformat()}); export newer data (salesml export) to forecast from a later time",
                field="as_of",
            )
        if at < first:
            raise DataError(
                f"{at.isoformat()} is before the first deal of the CRM history ({first.isoformat()})", field="as_of"
            )
        return at


class ForecastRequest(ForecastOptions):
    """Won revenue per period and group, as of one time."""

    model_config = documented("forecast")

    by: GroupBy = Field("team", description="Group by the deal owner (rep), its team or region, the product, or all.")
    periods: int = Field(
        3, ge=1, le=12, strict=True, description="How many periods, the first holding as_of (1 to 12)."
    )


class AttainmentRequest(ForecastOptions):
    """Each rep's, team's or region's chance of reaching its targets in the period holding ``as_of``."""

    model_config = documented("attainment")

    level: Level = Field("team", description="The level the targets are set at: rep, team or region.")


class ForecastRow(BaseModel):
    """One period and group: won so far, what the open pipeline and deals not yet created add, and the interval."""

    period: str = Field(description="The period: 2026-01 (month), 2026Q1 (quarter), or its Monday, 2026-01-05 (week).")
    start: datetime = Field(description="Its first instant (UTC).")
    end: datetime = Field(description="The first instant after it (UTC).")
    group: str = Field(description="The rep, team, region or product; all; (none) for deals without one.")
    won_to_date: float = Field(description="Revenue won inside the period by as_of.")
    pipeline: float = Field(description="Expected revenue won inside the period from the deals open at as_of.")
    new_deals: float = Field(description="Expected revenue won inside the period from deals created after as_of.")
    expected: float = Field(description="won_to_date + pipeline + new_deals.")
    p10: float = Field(description="10th percentile of the period's won revenue (seeded simulation).")
    p50: float = Field(description="Median of the period's won revenue.")
    p90: float = Field(description="90th percentile of the period's won revenue.")
    open_deals: int = Field(description="The group's deals open at as_of.")


class AttainmentRow(BaseModel):
    """One target: its lines, the forecast against them, and the color on the board."""

    period: str = Field(description="The period the target is set for, e.g. 2026-01.")
    level: str = Field(description="rep, team or region.")
    key: str = Field(description="The rep, team or region.")
    red: float = Field(description="Warning line.")
    yellow: float = Field(description="Base line.")
    green: float = Field(description="Challenge line.")
    won_to_date: float = Field(description="Revenue won inside the period by as_of.")
    expected: float = Field(description="Expected won revenue of the period.")
    p10: float = Field(description="10th percentile of the period's won revenue.")
    p50: float = Field(description="Median of the period's won revenue.")
    p90: float = Field(description="90th percentile of the period's won revenue.")
    p_red: float = Field(ge=0, le=1, description="Probability the period's won revenue reaches the red line.")
    p_yellow: float = Field(ge=0, le=1, description="Probability it reaches the yellow line.")
    p_green: float = Field(ge=0, le=1, description="Probability it reaches the green line.")
    color: Literal["red", "yellow", "green"] = Field(
        description="The highest line the median reaches: green (challenge), yellow (base), else red."
    )
    early_warning: bool = Field(
        description="Won to date below 85% of the base line pro-rated to the days elapsed, at as_of and a week "
        "earlier (only the period holding as_of)."
    )


class ForecastAnswer(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    model: str = Field(description="Registered model name of the close-probability model.")
    model_version: str = Field(description="MLflow registry version.")
    model_kind: ModelKind = "ml"
    as_of: datetime = Field(description="The time the forecast is made as of (UTC).")
    period: str = Field(description="week, month or quarter.")


class ForecastResponse(ForecastAnswer):
    by: str = Field(description="What the rows are grouped by.")
    rows: list[ForecastRow] = Field(description="One per period and group, periods in order.")


class AttainmentResponse(ForecastAnswer):
    level: str = Field(description="The level of the targets.")
    rows: list[AttainmentRow] = Field(description="One per target of the level in the period.")
