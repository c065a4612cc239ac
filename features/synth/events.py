"""Activities as columns of codes: built in groups by the lead and deal stages, then recorded and written.

Notes are codes into one vocabulary of Chinese and English phrases, so a million notes cost an int16 each
until they are written.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES, DIRECTIONS
from features.synth.draw import lognormal, pick
from features.synth.world import World

TYPE = {name: code for code, name in enumerate(ACTIVITY_TYPES)}
ROLE = {name: code for code, name in enumerate(CONTACT_ROLES)}
INBOUND, OUTBOUND = DIRECTIONS.index("inbound"), DIRECTIONS.index("outbound")
NONE = -1
TRACKED = tuple(TYPE[t] for t in ("web_visit", "download", "form", "call", "message"))  # website, dialer, chat apps
LONG = (TYPE["visit"], TYPE["meeting"], TYPE["demo"])
EFFECTIVE_CALL_S = 60  # a call this long or longer counts as an effective interaction

COMPETITORS = ("华拓科技", "西创智能", "Apex Systems", "Nordtek", "友商")
NOTE_GROUPS: dict[str, tuple[str, ...]] = {
    "vague": ("已沟通", "待推进", "跟进中", "已联系", "客户考虑中", "followed up"),
    "lead": (
        "客户咨询产品价格",
        "发送产品资料",
        "初步了解需求",
        "约了下周电话",
        "客户要求发送案例",
        "Sent brochure and case studies",
        "Asked about delivery time",
    ),
    "deal": (
        "确认技术需求",
        "方案讲解",
        "客户提出两个主要顾虑",
        "约定下次会议议程",
        "整理会议纪要",
        "Reviewed requirements with their engineers",
        "Walked through the solution",
        "Agreed the next meeting agenda",
    ),
    "project": (
        "讨论上线周期",
        "上线周期预计三个月",
        "数据迁移方案评估",
        "确认实施周期",
        "Discussed go-live timeline",
        "Data migration scope reviewed",
    ),
    "budget": (
        "客户预算审批已启动",
        "预算审批通过，等待采购流程",
        "财务确认预算审批节点",
        "Budget approval started on the customer side",
        "Budget approval confirmed by finance",
    ),
    "competitor": tuple(f"客户同时在接触{c}" for c in COMPETITORS)
    + tuple(f"Customer also evaluating {c}" for c in COMPETITORS),
    "price": ("客户在比价", "比价中，要求再降价", "客户拿我们的报价去比价", "Customer is comparing prices"),
    "download": (
        "白皮书下载",
        "选型指南下载",
        "产品手册下载",
        "Downloaded the selection guide",
        "Downloaded a white paper",
    ),
    "poc_start": ("POC 环境搭建完成，开始测试", "POC kick-off"),
    "poc_end": ("POC 测试结束，提交报告", "POC wrap-up report sent"),
    "quote": ("发送报价单", "发送修订报价", "Sent quote", "Sent revised quote"),
    "contract": ("合同条款修订", "法务修改付款条款", "Contract redlines returned", "Legal revised payment terms"),
}
NOTES: tuple[str, ...] = tuple(note for group in NOTE_GROUPS.values() for note in group)
NEXT_STEPS: tuple[str, ...] = (
    "下周二前发送修订方案",
    "约客户技术负责人做演示",
    "周五电话确认预算审批进度",
    "安排与采购总监会面",
    "发送合同草稿给法务",
    "Send the revised proposal by Tuesday",
    "Book a demo with their CTO",
    "Call on Friday to confirm the budget approval",
    "Meet the procurement director next week",
)
#: Share of rep actions recording a next step: effective ones (visits, meetings, demos, calls of a minute or more,
#: quotes, POCs, contract rounds) and the rest; a vague note rarely comes with one.
NEXT_STEP_SHARE = {"effective": 0.6, "other": 0.15, "vague": 0.03}
#: Share of each type with a document or meeting note attached (other types: ATTACHMENT_OTHER).
ATTACHMENT_SHARE = {
    "document": 0.95,
    "quote_sent": 0.85,
    "contract_revision": 0.85,
    "poc_end": 0.8,
    "meeting": 0.7,
    "demo": 0.6,
    "visit": 0.4,
    "email": 0.2,
}
ATTACHMENT_OTHER = 0.02
_NOTE_START = dict(zip(NOTE_GROUPS, np.cumsum([0] + [len(g) for g in NOTE_GROUPS.values()]), strict=False))


def notes(rng: np.random.Generator, group: str, n: int, share: float = 1.0) -> np.ndarray:
    """Note codes from one group; ``share`` of the rows get a note, the rest none."""
    code = _NOTE_START[group] + rng.integers(0, len(NOTE_GROUPS[group]), n)
    return np.where(rng.random(n) < share, code, NONE).astype(np.int16)


@dataclass
class Events:
    """Activity rows as parallel arrays.

    While a stage builds them, ``row`` is the lead's or deal's row in the chunk and ``occurred`` may be on
    that stage's own clock; ``place`` then turns them into lead numbers, days since start and reps.
    """

    row: np.ndarray
    on_deal: np.ndarray
    occurred: np.ndarray
    kind: np.ndarray  # code into ACTIVITY_TYPES
    direction: np.ndarray
    duration: np.ndarray  # seconds, NaN when not timed
    role: np.ndarray  # code into CONTACT_ROLES, -1 unknown
    note: np.ndarray  # code into NOTES, -1 none
    rep: np.ndarray  # code into reps, -1: logged by the website (set by ``place``)
    recorded: np.ndarray  # days since start the row was entered (set by ``record``)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, rows: np.ndarray) -> Events:
        return Events(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Events)})


def events(
    rng: np.random.Generator,
    row: np.ndarray,
    on_deal: bool,
    occurred: np.ndarray,
    kind: np.ndarray | int,
    direction: np.ndarray | int,
    role: np.ndarray | int = NONE,
    note: np.ndarray | int = NONE,
    answered: float = 0.67,
) -> Events:
    """One group of activities; scalars apply to every row, durations follow from the type."""
    n = len(row)
    kind = np.broadcast_to(np.asarray(kind, dtype=np.int8), n)
    return Events(
        row=row,
        on_deal=np.full(n, on_deal),
        occurred=occurred,
        kind=kind,
        direction=np.broadcast_to(np.asarray(direction, dtype=np.int8), n),
        duration=durations(rng, kind, answered),
        role=np.broadcast_to(np.asarray(role, dtype=np.int8), n),
        note=np.broadcast_to(np.asarray(note, dtype=np.int16), n),
        rep=np.full(n, NONE),
        recorded=np.full(n, np.nan),
    )


def place(world: World, ev: Events, number: np.ndarray, owner: np.ndarray) -> Events:
    """Lead numbers for rows, and the rep who logged each row: the owner, or the successor once they left."""
    logged_by = np.where(np.isin(ev.kind, TRACKED), NONE, world.reps.at(owner[ev.row], ev.occurred))
    return replace(ev, row=number[ev.row], rep=logged_by)


def durations(rng: np.random.Generator, kind: np.ndarray, answered: float) -> np.ndarray:
    """Seconds: ``answered`` of calls last a minute or more (the rest ring out), meetings about an hour."""
    n = len(kind)
    call = np.where(
        rng.random(n) < answered, np.maximum(lognormal(rng, 200.0, 0.7, n), EFFECTIVE_CALL_S), rng.uniform(3, 45, n)
    )
    out = np.full(n, np.nan)
    out = np.where(kind == TYPE["call"], np.round(call), out)
    out = np.where(np.isin(kind, LONG), np.round(lognormal(rng, 3600.0, 0.4, n), -1), out)
    return np.where(kind == TYPE["web_visit"], np.round(lognormal(rng, 90.0, 1.0, n)), out)


def kinds(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    """Activity type codes drawn from a {type: share} mix."""
    codes = np.array([TYPE[t] for t in mix], dtype=np.int8)
    return codes[pick(rng, np.array(list(mix.values())), n)]


BACKFILL_SHARE = 0.22  # rep activities entered later than they happened
MONTH_END_SHARE = 0.6  # of those, entered in the month-end clean-up, half with a vague note
MONTH_END_EVENING = 0.5  # days before the next month starts (20:00 local on the last day)


def record(rng: np.random.Generator, world: World, ev: Events) -> Events:
    """When each row was entered.

    Website rows are logged at once and most rep rows minutes after the fact, but a share is back-filled
    days later or in the month-end clean-up, often with nothing but a vague note.
    """
    n = len(ev)
    tracked = np.isin(ev.kind, TRACKED)
    backfill = ~tracked & (rng.random(n) < BACKFILL_SHARE)
    month_end = backfill & (rng.random(n) < MONTH_END_SHARE)
    prompt = ev.occurred + (np.nan_to_num(ev.duration) + rng.uniform(60, 2400, n)) / 86_400
    late = ev.occurred + lognormal(rng, 1.5, 0.6, n)
    evening = np.maximum(world.next_month_start(ev.occurred) - MONTH_END_EVENING, ev.occurred + 0.05)
    recorded = np.where(tracked, ev.occurred, np.where(backfill, np.where(month_end, evening, late), prompt))
    note = np.where(month_end & (rng.random(n) < 0.5), notes(rng, "vague", n), ev.note).astype(np.int16)
    return replace(ev, recorded=recorded, note=note)
