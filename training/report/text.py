"""The manager report's words in zh-CN and en. The rules' figures the definitions quote (thresholds, windows, due
times) come from the constants the rules are computed with, so the page says what the numbers mean."""

from __future__ import annotations

from features.insights.health import (
    ACTIVATION_HEALTHY,
    ACTIVATION_WARNING,
    COMPLIANCE_HEALTHY,
    DWELL_HEALTHY,
    DWELL_SWING_WARNING,
    DWELL_WARNING,
    FIRST_CONTACT_DUE,
    FOLLOW_UP_DUE,
    TRAILING_WEEKS,
)
from features.insights.targets import WARNING_SHARE
from features.pit.activity_log import MIN_EFFECTIVE_CALL_S
from features.pit.families.response import ACTIVATION_DAYS, ACTIVATION_MIN_INTERACTIONS

LOCALES = ("zh-CN", "en")

_CALL_MINUTES = f"{MIN_EFFECTIVE_CALL_S / 60:g}"
_FIRST_CONTACT_HOURS = f"{FIRST_CONTACT_DUE.total_seconds() / 3600:g}"
_FOLLOW_UP_DAYS = f"{FOLLOW_UP_DUE.days}"

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
        "activation_def": f"某周新线索中,{ACTIVATION_DAYS} 天内有 {ACTIVATION_MIN_INTERACTIONS} 次及以上有效互动"
        f"(拜访、会议、演示、{_CALL_MINUTES} 分钟以上通话)的比例;健康 >= {ACTIVATION_HEALTHY:.0%},连续两周低于 "
        f"{ACTIVATION_WARNING:.0%} 为预警。",
        "dwell": "需求确认阶段平均停留天数",
        "dwell_def": f"近 {TRAILING_WEEKS} 周离开需求确认阶段的商机在该阶段的平均停留天数;健康 <= {DWELL_HEALTHY:g} 天,"
        f"超过 {DWELL_WARNING:g} 天且周环比波动超过 {DWELL_SWING_WARNING:.0%} 为预警。",
        "compliance": "动作执行率(完成/应完成)",
        "compliance_def": f"近 {TRAILING_WEEKS} 周到期的应做动作中按时完成的比例:新线索 {_FIRST_CONTACT_HOURS} "
        f"小时内首次联系;在途商机创建及每次联系后 {_FOLLOW_UP_DAYS} 天内再次联系(商机已关闭则不再要求)。健康 >= "
        f"{COMPLIANCE_HEALTHY:.0%}。",
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
        "board_note": f"颜色:P50 预测达到的最高目标线;预警:已赢单金额连续两周低于按天折算黄线的 {WARNING_SHARE:.0%}。",
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
        f"demo, call over a minute) within {ACTIVATION_DAYS} days; healthy >= {ACTIVATION_HEALTHY:.0%}, warning below "
        f"{ACTIVATION_WARNING:.0%} two weeks running.",
        "dwell": "Mean days in needs-confirmed",
        "dwell_def": "Mean days in the needs-confirmed stage of the deals that left it in the last "
        f"{TRAILING_WEEKS} weeks; healthy <= {DWELL_HEALTHY:g} days, warning above {DWELL_WARNING:g} days with a "
        f"week-to-week swing above {DWELL_SWING_WARNING:.0%}.",
        "compliance": "Action compliance (done / due)",
        "compliance_def": f"Of the actions due in the last {TRAILING_WEEKS} weeks, the share done in time: a new "
        f"lead's first contact within {_FIRST_CONTACT_HOURS} hours; after an open deal's creation and each contact, "
        f"the next contact within {_FOLLOW_UP_DAYS} days (unless the deal closed). Healthy >= "
        f"{COMPLIANCE_HEALTHY:.0%}.",
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
        "board_note": "Color: the highest line the median (P50) forecast reaches; warning: won so far below "
        f"{WARNING_SHARE:.0%} of the pro-rated yellow line two weeks running.",
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
