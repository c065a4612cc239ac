"""``salesml report``: one self-contained HTML page for sales managers (zh-CN or en), pictures embedded.

Sections: the champion models' card (data window, metrics beside the baselines, calibration, grades), the key deal
factors in plain words with SHAP pictures, each rep's process health on the field's three hard metrics
(``features.insights.health.rep_health``), the forecast fan chart and target board, and the note-keyword heat maps (open
deals x categories, teams x categories). Everything is computed as of ``--as-of`` (default: the export) with the
champions in the MLflow registry, through the code the service and the notebooks use.

The latest report per locale is also kept where the service finds it (``features.config.latest_report``).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: reports are written on servers without a display
import jinja2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from features.cli import money  # noqa: E402
from features.config import latest_report  # noqa: E402
from features.crm.dataset import (  # noqa: E402
    Dataset,
    as_of_time,  # noqa: E402
    read_dataset,
)
from features.errors import DataError  # noqa: E402
from features.insights import health  # noqa: E402
from features.insights.forecast import model_forecast  # noqa: E402
from features.insights.targets import attainment  # noqa: E402
from features.outputs import output_file  # noqa: E402
from features.pit.build import build_features  # noqa: E402
from features.pit.catalog import note_name  # noqa: E402
from features.pit.frames import dataset_as_of, scoring_frame  # noqa: E402
from features.pit.keywords import DEFAULT_LEXICON, Lexicon  # noqa: E402
from features.scoring.pyfunc import CHAMPION  # noqa: E402
from features.scoring.scorer import Scorer  # noqa: E402
from training.evaluate import global_factors, shap_explanation  # noqa: E402
from training.fonts import cjk_font, quiet_drawing  # noqa: E402
from training.forecasting import fan_chart  # noqa: E402
from training.registry import load_scorer  # noqa: E402
from training.summary import CANDIDATE_NAMES, SHOWN, comparison_rows  # noqa: E402

LOCALES = ("zh-CN", "en")
MODELS = ("lead_score", "close_probability")
TEMPLATES = Path(__file__).parent / "templates"
HEAT_DEALS = 15  # open deals with the most keyword mentions in the per-deal heat map
FACTORS_SHOWN = 12  # key factors in words and bars, the largest mean effects first
DPI = 90

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "销售管理报告",
        "as_of": "数据截至",
        "model_card": "模型卡片",
        "factors": "关键成交因素",
        "health": "销售过程健康度(按销售人员)",
        "forecast": "业绩预测与目标看板",
        "keywords": "跟进备注关键词热力图",
        "model": "模型",
        "version": "版本",
        "window": "训练数据时间窗",
        "skill": "判别能力",
        "served": "模型与标签",
        "metrics_note": "测试集上 salesml 与三个基线模型的对比(同一批样本)。ROC AUC、PR AUC、提升度越高越好;"
        "Brier 与 ECE(校准误差)越低越好。",
        "calibration": "校准图:预测概率与实际转化率",
        "grades": "各等级占比与转化率(测试集)",
        "grade": "等级",
        "share": "占比",
        "conversion": "转化率",
        "raises": "提高赢单机会的因素",
        "lowers": "降低赢单机会的因素",
        "mixed": "影响因商机而异的因素",
        "higher_raises": "{name}越高,赢单机会越大",
        "higher_lowers": "{name}越高,赢单机会越小",
        "depends": "{name}:影响方向因商机而异",
        "factors_note": "基于 {n} 个在途商机的 SHAP 贡献(对数几率),按平均影响大小排序。",
        "factors_from_test": "当前没有在途商机:以下因素取自模型测试集。",
        "factor_bars": "各因素的平均影响(|SHAP|)",
        "beeswarm": "SHAP 蜂群图:每个点是一个在途商机",
        "health_note": "三项硬指标按每位销售人员计算,而非团队平均。",
        "activation": "线索激活率",
        "activation_def": "某周新线索中,7 天内有 2 次及以上有效互动(拜访、会议、演示、1 分钟以上通话)的比例;"
        "健康 >= 65%,连续两周低于 52% 为预警。",
        "dwell": "需求确认阶段平均停留天数",
        "dwell_def": "近 4 周离开需求确认阶段的商机在该阶段的平均停留天数;健康 <= 5.2 天,"
        "超过 7.8 天且周环比波动超过 35% 为预警。",
        "compliance": "动作执行率(完成/应完成)",
        "compliance_def": "近 4 周到期的应做动作中按时完成的比例:新线索 24 小时内首次联系;在途商机创建及每次联系后 7 "
        "天内再次联系(商机已关闭则不再要求)。健康 >= 88%。",
        "rep": "销售",
        "team": "团队",
        "new_leads": "新线索",
        "previous": "上周",
        "swing": "周波动",
        "due": "应完成",
        "verdict": "判断",
        "healthy": "健康",
        "watch": "关注",
        "warning": "预警",
        "health_chart": "各销售最新一周的三项指标(虚线为健康线)",
        "week_of": "周(起始日)",
        "fan": "未来三个月各团队赢单收入预测(P10-P90 区间)",
        "board": "目标看板",
        "won": "已赢单",
        "red": "红线",
        "yellow": "黄线",
        "green": "绿线",
        "p_line": "达成概率",
        "color": "颜色",
        "early_warning": "预警",
        "board_note": "颜色:P50 预测达到的最高目标线;预警:已赢单金额连续两周低于按天折算黄线的 85%。",
        "kw_deals": "在途商机 x 关键词类别(提及次数最多的 {n} 个商机)",
        "kw_teams": "团队 x 关键词类别(每个在途商机的平均提及次数)",
        "kw_note": "统计截至报告时间已记录的跟进备注中提及各类关键词的次数(不识别否定句)。",
        "skipped": "未计算",
        "no_cjk": "本机未安装中文字体(例如 Debian 的 fonts-noto-cjk),图中文字以英文显示。",
        "no_model": "注册表中没有 {name} 的冠军模型:请先运行 salesml train。",
        "yes": "是",
        "deal": "商机",
    },
    "en": {
        "title": "Sales management report",
        "as_of": "Data as of",
        "model_card": "Model card",
        "factors": "Key deal factors",
        "health": "Process health per rep",
        "forecast": "Forecast and target board",
        "keywords": "Note keyword heat maps",
        "model": "Model",
        "version": "Version",
        "window": "Training data window",
        "skill": "Skill",
        "served": "Model and label",
        "metrics_note": "salesml beside three baselines on the same test rows. Higher is better for ROC AUC, PR AUC "
        "and lift; lower is better for Brier and ECE (calibration error).",
        "calibration": "Calibration: predicted probability against the observed rate",
        "grades": "Share and conversion of each grade (test split)",
        "grade": "Grade",
        "share": "Share",
        "conversion": "Conversion",
        "raises": "What raises win odds",
        "lowers": "What lowers win odds",
        "mixed": "What depends on the deal",
        "higher_raises": "{name}: the higher, the better the win odds",
        "higher_lowers": "{name}: the higher, the worse the win odds",
        "depends": "{name}: which way it acts depends on the deal",
        "factors_note": "From the SHAP contributions (log-odds) on {n} open deals, by mean size of effect.",
        "factors_from_test": "No open deals now: the factors below come from the model's test split.",
        "factor_bars": "Mean effect of each factor (|SHAP|)",
        "beeswarm": "SHAP beeswarm: each dot is an open deal",
        "health_note": "The three hard metrics, computed for each rep (not team averages).",
        "activation": "Lead activation rate",
        "activation_def": "Of a week's new leads, the share with two or more effective interactions (visit, meeting, "
        "demo, call over a minute) within 7 days; healthy >= 65%, warning below 52% two weeks running.",
        "dwell": "Mean days in needs-confirmed",
        "dwell_def": "Mean days in the needs-confirmed stage of the deals that left it in the last 4 weeks; healthy "
        "<= 5.2 days, warning above 7.8 days with a week-to-week swing above 35%.",
        "compliance": "Action compliance (done / due)",
        "compliance_def": "Of the actions due in the last 4 weeks, the share done in time: a new lead's first contact "
        "within 24 hours; after an open deal's creation and each contact, the next contact within 7 days (unless "
        "the deal closed). Healthy >= 88%.",
        "rep": "Rep",
        "team": "Team",
        "new_leads": "New leads",
        "previous": "Week before",
        "swing": "Swing",
        "due": "Due",
        "verdict": "Verdict",
        "healthy": "healthy",
        "watch": "watch",
        "warning": "warning",
        "health_chart": "Each rep's latest week on the three metrics (dashed: the healthy line)",
        "week_of": "week of",
        "fan": "Won revenue per team, next three months (P10-P90 band)",
        "board": "Target board",
        "won": "Won",
        "red": "Red",
        "yellow": "Yellow",
        "green": "Green",
        "p_line": "Chance",
        "color": "Color",
        "early_warning": "Warning",
        "board_note": "Color: the highest line the median (P50) forecast reaches; warning: won so far below 85% of "
        "the pro-rated yellow line two weeks running.",
        "kw_deals": "Open deals x keyword categories (the {n} deals with most mentions)",
        "kw_teams": "Teams x keyword categories (mentions per open deal)",
        "kw_note": "Notes recorded by the report time that mention each category (negations are not recognised).",
        "skipped": "not computed",
        "no_cjk": "No Chinese font is installed (e.g. Debian's fonts-noto-cjk): picture labels are in English.",
        "no_model": "No {name} champion in the registry: run salesml train first.",
        "yes": "yes",
        "deal": "Deal",
    },
}


@dataclass
class Section:
    """One section of the page: heading, paragraphs, tables (header, rows of (text, css class)) and pictures."""

    key: str
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    pictures: list[dict[str, str]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _png(fig: plt.Figure | None = None) -> str:
    """The figure (default: the current one) as a data URI; the figure is closed."""
    fig = fig or plt.gcf()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png_file(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _pct(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.0%}"


def _num(value: float, digits: int = 1) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


@dataclass
class Champion:
    """A champion model: its version, its training run's report and calibration plot."""

    name: str
    version: str
    report: dict[str, Any]
    calibration_png: Path | None
    scorer: Scorer


def load_champion(name: str, folder: Path) -> Champion | None:
    """The champion of ``name`` in salesml's registry with its run's artifacts (downloaded under ``folder``)."""
    try:
        scorer, version = load_scorer(name, CHAMPION)
    except DataError:
        return None
    run_id = MlflowClient().get_model_version(name, version).run_id
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)  # the report has its own progress bar
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    report = json.loads(
        Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/report.json", dst_path=str(target))).read_text()
    )
    try:
        calibration = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/calibration.png", dst_path=str(target)))
    except mlflow.exceptions.MlflowException:
        calibration = None
    return Champion(name, version, report, calibration, scorer)


def _grade_chart(grades: list[dict[str, Any]], words: dict[str, str]) -> str:
    """Share of each grade (bars) and its conversion rate (line) on the test split, labelled in ``words``."""
    names = [g["grade"] for g in grades]
    fig, ax = plt.subplots(figsize=(4.6, 3))
    ax.bar(names, [g["share"] for g in grades], color="#9ecae1", label=words["share"])
    ax.set_ylabel(words["share"])
    right = ax.twinx()
    right.plot(names, [g["conversion_rate"] for g in grades], "o-", color="#d62728", label=words["conversion"])
    right.set_ylabel(words["conversion"])
    for axis in (ax, right):
        axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    fig.legend(loc="upper center", fontsize=8, ncols=2)
    return _png(fig)


def model_card(champions: dict[str, Champion | None], t: dict[str, str], zh_labels: bool) -> Section:
    section = Section("model-card", t["model_card"])
    for name in MODELS:
        champion = champions.get(name)
        if champion is None:
            section.notes.append(t["no_model"].format(name=name))
            continue
        r = champion.report
        section.paragraphs.append(
            f"{name} ({t['version']} {champion.version}) · {t['window']}: {r['data_window'][0][:10]} .. "
            f"{r['data_window'][1][:10]} · {t['skill']}: {r['test']['skill']['verdict']}"
        )
        if "chosen" in r:  # older versions' reports do not say
            label = r["horizon_note"] if r["horizon_days"] else "eventual outcome"
            section.paragraphs.append(f"{t['served']}: {CANDIDATE_NAMES[r['chosen']]} · {label}")
        section.tables.append(
            {
                "caption": f"{name}: {t['metrics_note']}",
                "header": [t["model"], *SHOWN],
                "rows": [
                    [(label, "")] + [(_num(m.get(k, float("nan")), 3), "") for k in SHOWN]
                    for label, m in comparison_rows(r)
                ],
            }
        )
        if champion.calibration_png is not None:
            section.pictures.append(
                {"title": f"{name}: {t['calibration']}", "uri": _png_file(champion.calibration_png), "css": "small"}
            )
        section.pictures.append(
            {
                "title": f"{name}: {t['grades']}",
                "uri": _grade_chart(r["test"]["grades"], t if zh_labels else TEXT["en"]),
            }
        )
    return section


def _sentence(factor: dict[str, Any], feature: tuple[str, str], t: dict[str, str], zh: bool) -> tuple[str, str]:
    """(which list, the sentence) for one key factor, in terms of its leading feature ((zh, en) names): the
    direction that feature's value moves the odds."""
    name = feature[0] if zh else feature[1]
    if factor["direction"] == "higher raises odds":
        return "raises", t["higher_raises"].format(name=name)
    if factor["direction"] == "higher lowers odds":
        return "lowers", t["higher_lowers"].format(name=name)
    return "mixed", t["depends"].format(name=name)


def deal_factors(
    champion: Champion | None, x: pd.DataFrame | None, t: dict[str, str], zh: bool, zh_labels: bool
) -> Section:
    """The close-probability model's key factors on the open deals, in words, with a bar chart and a beeswarm."""
    section = Section("factors", t["factors"])
    if champion is None:
        section.notes.append(t["no_model"].format(name="close_probability"))
        return section
    if x is None or not len(x):
        section.notes.append(t["factors_from_test"])
        factors = champion.report["global_factors"]
    else:
        section.paragraphs.append(t["factors_note"].format(n=len(x)))
        factors = global_factors(champion.scorer, x)
    shown = factors[:FACTORS_SHOWN]
    groups: dict[str, list[str]] = {"raises": [], "lowers": [], "mixed": []}
    features = {f.name: (f.zh, f.en) for f in champion.scorer.inputs}
    for factor in shown:
        kind, words = _sentence(factor, features.get(factor["leading_feature"], (factor["zh"], factor["en"])), t, zh)
        groups[kind].append(words)
    section.lists = [{"title": t[kind], "items": items, "kind": kind} for kind, items in groups.items() if items]
    labels = [f["zh"] if zh_labels else f["en"] for f in shown][::-1]
    colors = {"higher raises odds": "#2ca02c", "higher lowers odds": "#d62728"}
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(shown) + 1))
    ax.barh(
        labels,
        [f["mean_abs_shap"] for f in shown][::-1],
        color=[colors.get(f["direction"], "#7f7f7f") for f in shown][::-1],
    )
    ax.set_xlabel("mean |SHAP| (log-odds)")
    section.pictures.append({"title": t["factor_bars"], "uri": _png(fig)})
    if x is not None and len(x):
        explanation = shap_explanation(champion.scorer, x)
        names = [f.zh if zh_labels else f.en for f in champion.scorer.inputs]
        explanation = shap.Explanation(
            values=explanation.values, base_values=explanation.base_values, data=explanation.data, feature_names=names
        )
        plt.figure()
        shap.plots.beeswarm(explanation, max_display=12, show=False)
        plt.gcf().set_size_inches(8, 5.5)
        section.pictures.append({"title": t["beeswarm"], "uri": _png()})
    return section


VERDICT_CLASS = {"healthy": "ok", "watch": "watch", "warning": "bad", "": ""}


def _health_chart(summary: pd.DataFrame, t: dict[str, str], zh_labels: bool) -> str:
    """Per rep, the latest figure of each metric as a bar colored by its verdict, with the healthy line."""
    words = t if zh_labels else TEXT["en"]
    panels = [
        ("activation_rate", "activation_verdict", words["activation"], health.ACTIVATION_HEALTHY),
        ("nc_dwell_days", "dwell_verdict", words["dwell"], health.DWELL_HEALTHY),
        ("compliance", "compliance_verdict", words["compliance"], health.COMPLIANCE_HEALTHY),
    ]
    colors = {"healthy": "#2ca02c", "watch": "#ffbf00", "warning": "#d62728", "": "#cccccc"}
    named = cjk_font() is not None  # rep names are often Chinese: without such a font, ids alone
    labels = [f"{r.name} {r.rep_id}" if named and pd.notna(r.name) else str(r.rep_id) for r in summary.itertuples()]
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.2 * len(summary) + 1.2), sharey=True)
    for ax, (column, verdict, title, line) in zip(axes, panels, strict=True):
        ax.barh(labels, summary[column].fillna(0), color=[colors[v] for v in summary[verdict]])
        ax.axvline(line, color="k", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].invert_yaxis()  # shared: the first rep on top
    return _png(fig)


def rep_health_section(ds: Dataset, t: dict[str, str], zh_labels: bool) -> Section:
    """Each rep's three hard metrics (latest complete week) with verdicts, the definitions and a chart."""
    section = Section("health", t["health"], paragraphs=[t["health_note"]])
    report = health.rep_health(ds)
    section.lists = [
        {"title": t[key], "items": [t[f"{key}_def"]], "kind": "definition"}
        for key in ("activation", "dwell", "compliance")
    ]
    section.notes += [f"{t['skipped']}: {note}" for note in report.notes]
    summary = report.summary
    if summary.empty:
        return section
    cohort = summary["activation_week"].iloc[0]
    week = summary["week"].iloc[0]

    def verdict(value: str) -> tuple[str, str]:
        return (t[value] if value else "", VERDICT_CLASS[value])

    rows = [
        [
            (f"{r.name} ({r.rep_id})" if pd.notna(r.name) else str(r.rep_id), ""),
            ("" if pd.isna(r.team) else str(r.team), ""),
            (_num(r.new_leads, 0), ""),
            (_pct(r.activation_rate), ""),
            (_pct(r.activation_rate_before), ""),
            verdict(r.activation_verdict),
            (_num(r.nc_dwell_days), ""),
            (_pct(r.nc_dwell_swing), ""),
            verdict(r.dwell_verdict),
            (
                f"{_pct(r.compliance)} ({_num(r.actions_done, 0)}/{_num(r.actions_due, 0)})"
                if pd.notna(r.compliance)
                else "",
                "",
            ),
            verdict(r.compliance_verdict),
        ]
        for r in summary.itertuples()
    ]
    section.tables.append(
        {
            "caption": f"{t['activation']}: {t['week_of']} {cohort:%Y-%m-%d}; {t['dwell']}, {t['compliance']}: "
            f"{t['week_of']} {week:%Y-%m-%d}",
            "header": [
                t["rep"],
                t["team"],
                t["new_leads"],
                t["activation"],
                t["previous"],
                t["verdict"],
                t["dwell"],
                t["swing"],
                t["verdict"],
                t["compliance"],
                t["verdict"],
            ],
            "rows": rows,
        }
    )
    section.pictures.append({"title": t["health_chart"], "uri": _health_chart(summary, t, zh_labels)})
    return section


def forecast_section(
    ds: Dataset, champion: Champion | None, at: pd.Timestamp, t: dict[str, str], folder: Path
) -> Section:
    """The team fan chart for the next three months and the target board of the current month."""
    section = Section("forecast", t["forecast"])
    if champion is None:
        section.notes.append(t["no_model"].format(name="close_probability"))
        return section
    try:
        fc = model_forecast(ds, champion.scorer, at, "month", "team", 3)
    except DataError as error:
        section.notes.append(f"{t['skipped']}: {error}")
        return section
    section.pictures.append({"title": t["fan"], "uri": _png_file(fan_chart(fc, folder / "forecast.png"))})
    try:
        board = attainment(ds, fc)
    except DataError as error:
        section.notes.append(f"{t['board']} {t['skipped']}: {error}")
        return section
    board = board[board["period"] == fc.windows[0].label]
    color_class = {"green": "ok", "yellow": "watch", "red": "bad"}
    section.tables.append(
        {
            "caption": f"{t['board']} {fc.windows[0].label}. {t['board_note']}",
            "header": [
                t["team"],
                t["won"],
                "P50",
                t["red"],
                t["yellow"],
                t["green"],
                f"{t['p_line']} ({t['yellow']})",
                t["color"],
                t["early_warning"],
            ],
            "rows": [
                [
                    (r.key, ""),
                    (money(r.won_to_date), ""),
                    (money(r.p50), ""),
                    (money(r.red), ""),
                    (money(r.yellow), ""),
                    (money(r.green), ""),
                    (_pct(r.p_yellow), ""),
                    (t[r.color], color_class[r.color]),
                    (t["yes"] if r.early_warning else "", "bad" if r.early_warning else ""),
                ]
                for r in board.itertuples()
            ],
        }
    )
    return section


def _heat_map(table: pd.DataFrame, fmt: str) -> str:
    """A heat map of a rows x categories table with each cell's value written in it."""
    fig, ax = plt.subplots(figsize=(0.9 * table.shape[1] + 2.5, 0.32 * table.shape[0] + 1.4))
    ax.imshow(table.to_numpy(dtype=float), cmap="YlOrRd", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    top = float(np.nanmax(table.to_numpy(dtype=float))) if table.size else 0
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(
            j,
            i,
            format(value, fmt),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.6 * top else "black",
        )
    return _png(fig)


def keyword_section(
    ds: Dataset, deals: pd.DataFrame | None, t: dict[str, str], zh_labels: bool, lexicon: Lexicon = DEFAULT_LEXICON
) -> Section:
    """Note keyword mentions on the open deals (as known at the report time): the deals with most mentions, and
    each team's mentions per open deal, by category."""
    section = Section("keywords", t["keywords"], paragraphs=[t["kw_note"]])
    if not ds.has("activities") or "note" not in ds.get("activities").columns:
        section.notes.append(f"{t['skipped']}: activities have no note column")
        return section
    if deals is None or not len(deals):
        section.notes.append(f"{t['skipped']}: no open deals")
        return section
    names = [c.zh if zh_labels else c.en for c in lexicon.values()]
    counts = pd.DataFrame(deals[[note_name(k) for k in lexicon]].to_numpy(), columns=names, index=deals["entity_id"])
    top = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index[:HEAT_DEALS]]
    top = top[top.sum(axis=1) > 0]
    if len(top):
        section.pictures.append({"title": t["kw_deals"].format(n=len(top)), "uri": _heat_map(top, ".0f")})
    reps = ds.get("reps")
    owners = ds.get("opportunities").set_index("opportunity_id").get("owner_rep_id")
    if "team" not in reps.columns or owners is None:
        section.notes.append(f"{t['skipped']}: {t['kw_teams']} (no reps.team or opportunities.owner_rep_id)")
        return section
    team = counts.index.map(owners).map(reps.set_index("rep_id")["team"])
    per_team = counts.groupby(pd.Series(team, index=counts.index).fillna("(none)").to_numpy()).mean()
    section.pictures.append({"title": t["kw_teams"], "uri": _heat_map(per_team, ".2f")})
    return section


def render(sections: list[Section], locale: str, at: pd.Timestamp, data: Path, notes: list[str]) -> str:
    """The page: inline CSS, pictures as data URIs, no external URL."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]))
    return env.get_template("manager_report.html").render(
        t=TEXT[locale],
        lang=locale,
        sections=sections,
        as_of=f"{at:%Y-%m-%d %H:%M} UTC",
        dataset=data.name,
        notes=notes,
    )


def build_report(data: Path, locale: str = "zh-CN", as_of: str | None = None, progress: bool = False) -> str:
    """The report's HTML for a dataset as of a time (default: the export) with the registry's champions."""
    if locale not in LOCALES:
        raise DataError(f"unknown locale {locale!r}; use one of: {', '.join(LOCALES)}")
    t = TEXT[locale]
    ds = read_dataset(data)
    at = as_of_time(ds, as_of)
    font = cjk_font()
    zh = locale == "zh-CN"
    zh_labels = zh and font is not None
    notes = [t["no_cjk"]] if zh and font is None else []
    with tempfile.TemporaryDirectory() as tmp, quiet_drawing(font):
        folder = Path(tmp)
        steps: list[tuple[str, Callable[[], Any]]] = []
        state: dict[str, Any] = {}

        def champions() -> None:
            state["champions"] = {name: load_champion(name, folder) for name in MODELS}

        def open_deals() -> None:
            champion = state["champions"]["close_probability"]
            frame = scoring_frame(ds, "opportunity", at)
            state["deals"] = build_features(ds, "opportunity", frame) if len(frame) else None
            state["x"] = champion.scorer.encode(state["deals"])[0] if champion and state["deals"] is not None else None

        sections: list[Section] = []
        as_known = ds if at == ds.manifest.exported_at else dataset_as_of(ds, at)
        steps = [
            ("models", champions),
            ("open deals", open_deals),
            ("model card", lambda: sections.append(model_card(state["champions"], t, zh_labels))),
            (
                "deal factors",
                lambda: sections.append(
                    deal_factors(state["champions"]["close_probability"], state["x"], t, zh, zh_labels)
                ),
            ),
            ("rep health", lambda: sections.append(rep_health_section(as_known, t, zh_labels))),
            (
                "forecast",
                lambda: sections.append(forecast_section(ds, state["champions"]["close_probability"], at, t, folder)),
            ),
            ("keywords", lambda: sections.append(keyword_section(as_known, state["deals"], t, zh_labels))),
        ]
        with Progress(console=Console(stderr=True), transient=True, disable=not progress) as bar:
            task = bar.add_task("report", total=len(steps))
            for name, step in steps:
                bar.update(task, description=name)
                step()
                bar.advance(task)
    return render(sections, locale, at, data, notes)


def write_report(
    data: Path, out: Path, locale: str = "zh-CN", as_of: str | None = None, progress: bool = False
) -> Path:
    """Writes the report to ``out`` and keeps a copy as the latest report of its locale for the service."""
    html = build_report(data, locale, as_of, progress)
    output_file(out).write_text(html, encoding="utf-8")
    latest = latest_report(locale)
    latest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, latest)
    return out
