"""Note keyword lexicon: phrases sales managers look for in activity notes, in zh-CN and en.

Each category is matched with one case-insensitive regular expression (an alternation of its phrases)
over all distinct notes at once, so Chinese needs no word segmenter: a note mentions a category when
any of its phrases occurs in it as a substring. Negations ("预算未审批") are not recognised.
Pass your own mapping (e.g. with your competitors' names) wherever a ``lexicon`` argument is taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import re2

from features.messages import pair
from features.pit.timeline import FEW_VALUES, arrow_strings


@dataclass(frozen=True)
class Category:
    """One keyword category: display names and the phrases (any language) that signal it."""

    zh: str
    en: str
    terms: tuple[str, ...]

    @cached_property
    def pattern(self) -> str:
        return "(?i)" + "|".join(re.escape(term) for term in self.terms)


Lexicon = Mapping[str, Category]

DEFAULT_LEXICON: dict[str, Category] = {
    "budget_approval": Category(
        *pair("keyword.budget_approval"),
        ("预算审批", "预算已批", "预算批准", "预算获批", "预算已审", "已立项", "budget approv", "approved budget"),
    ),
    "go_live_timeline": Category(
        *pair("keyword.go_live_timeline"),
        ("上线周期", "上线时间", "计划上线", "何时上线", "go-live", "go live", "launch date", "rollout date"),
    ),
    "data_migration": Category(
        *pair("keyword.data_migration"), ("数据迁移", "迁移数据", "历史数据导入", "data migration", "migrate data")
    ),
    "implementation_period": Category(
        *pair("keyword.implementation_period"),
        ("实施周期", "实施时间", "实施计划", "implementation period", "implementation timeline", "implementation plan"),
    ),
    "price_comparison": Category(
        *pair("keyword.price_comparison"),
        ("比价", "价格对比", "比较价格", "货比三家", "压价", "price comparison", "comparing prices", "cheaper offer"),
    ),
    "competitor": Category(
        *pair("keyword.competitor"),
        ("竞品", "竞争对手", "友商", "同时在接触", "同时接触", "competitor", "competing vendor", "also evaluating"),
    ),
    "decision_maker": Category(
        *pair("keyword.decision_maker"),
        ("决策人", "拍板", "决策层", "老板同意", "总经理", "decision maker", "decision-maker", "sign-off", "signoff"),
    ),
    "contract_terms": Category(
        *pair("keyword.contract_terms"),
        ("合同条款", "付款方式", "账期", "违约", "法务", "contract terms", "payment terms", "legal review"),
    ),
}


def match_notes(notes: pd.Series | list[str | None], lexicon: Lexicon = DEFAULT_LEXICON) -> dict[str, np.ndarray]:
    """Per category, whether each note mentions it (a missing note mentions nothing).

    Each distinct note is matched once, so templated or repeated notes cost little, and always by RE2: up to
    ``FEW_VALUES`` of them (a request's) against every category at once with a set of the categories' expressions
    compiled once per lexicon, more in one vectorised pass per category in Arrow, which compiles its pattern on
    every call (30 us a category, more than matching a request's notes). Python's ``re`` would be slower on them
    (case-insensitive search of many phrases: 1 ms for 100 distinct notes) and would fold some letters otherwise
    than the history's features were matched with. A request's notes may come as a list.
    """
    if isinstance(notes, list):
        found = dict.fromkeys(note for note in notes if note is not None)
        distinct, texts = None, list(found)
    else:
        encoded = arrow_strings(notes).dictionary_encode()
        distinct = encoded.dictionary
        texts = distinct.to_pylist() if len(distinct) <= FEW_VALUES else None
    hits = np.zeros((len(lexicon), len(texts if texts is not None else distinct) + 1), dtype=bool)  # last: no note
    if texts is None:
        for row, category in enumerate(lexicon.values()):
            hits[row, :-1] = pc.match_substring_regex(distinct, category.pattern).to_numpy(zero_copy_only=False)
    else:
        categories = _categories(tuple(lexicon.values()))
        utf8 = (text.encode("utf-8", "surrogatepass") for text in texts)  # a lone surrogate sent: bytes matching none
        mentions = [(row, i) for i, text in enumerate(utf8) for row in categories.Match(text) or ()]
        hits[[row for row, _ in mentions], [i for _, i in mentions]] = True
    if distinct is None:
        position = {note: i for i, note in enumerate(found)}
        index = np.fromiter((-1 if note is None else position[note] for note in notes), np.int64, len(notes))
    else:
        index = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return dict(zip(lexicon, hits[:, index], strict=True))  # index -1 (no note): the last column's False


@lru_cache(maxsize=16)
def _categories(categories: tuple[Category, ...]) -> re2.Set:
    """The categories' expressions as one RE2 set: a search of a note answers which of them it mentions."""
    found = re2.Set.SearchSet(re2.Options())
    for category in categories:
        found.Add(category.pattern)
    found.Compile()
    return found
