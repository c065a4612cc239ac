"""The message files: every locale has the same words with the same fields, every word the code asks for exists, and
the loader refuses what it has no words for."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import Manifest
from features.crm.schema import ExtraColumn
from features.errors import MessageError
from features.messages import FOLDER, LOCALES, fields, load, locale_of, read_messages, text
from features.pit.catalog import CONCEPTS, feature_catalog
from features.scoring.factors import factor_of
from training.report.text import report_words

ROOT = Path(__file__).resolve().parents[2]
#: A key the code names in a call to the loader: literal, or an f-string's literal start (``f"concept.{name}"``).
_KEY_IN_CODE = re.compile(r"\b(?:text|pair|compose)\(\s*(f?)\"([a-z0-9_]+\.[a-z0-9_.]*)")
#: Helpers that name a key within their namespace: routing's reasons and the sweep's notes.
_KEY_IN_HELPER = {
    "routing.reason.": re.compile(r"\bsay\(\s*locale,\s*()\"(\w+)\""),
    "sweep.note.": re.compile(r"\bnote\(\s*()\"(\w+)\""),
}
_REPORT_KEY = re.compile(r"\b(?:t|words)\[[\"'](\w+)[\"']\]|\bt\.(\w+)\b")


def _files() -> dict[str, dict[str, str]]:
    return {locale: read_messages(FOLDER / f"{locale}.yaml") for locale in LOCALES}


def test_every_locale_has_the_same_keys() -> None:
    files = _files()
    first = set(files[LOCALES[0]])
    assert len(first) > 200
    for locale, words in files.items():
        assert set(words) == first, f"{locale}: {sorted(set(words) ^ first)[:5]}"


def test_every_message_has_the_same_fields_in_every_locale() -> None:
    files = _files()
    differ = [k for k in files["en"] if len({frozenset(fields(files[loc][k])) for loc in LOCALES}) > 1]
    assert differ == []


def test_every_key_the_code_names_exists() -> None:
    keys = load().keys()
    named: list[str] = []
    for package in ("features", "training", "serving"):
        for path in sorted((ROOT / package).rglob("*.py")):
            code = path.read_text(encoding="utf-8")
            if "from features.messages import" not in code:
                continue
            for namespace, pattern in {"": _KEY_IN_CODE, **_KEY_IN_HELPER}.items():
                for match in pattern.finditer(code):
                    key = namespace + match[2]
                    named.append(key)
                    assert any(k.startswith(key) if match[1] else k == key for k in keys), (path, key)
    assert {"value.missing", "routing.reason.load_cap", "sweep.note.fell", "concept."} <= set(named)


def test_every_feature_and_concept_has_its_names() -> None:
    extra = ExtraColumn("customer_id", "categorical", "Customer ID")
    manifest = Manifest("x", pd.Timestamp("2024-01-01", tz="UTC"), extra_columns={"leads": [extra]})
    for entity in ("lead", "opportunity"):
        for feature in feature_catalog(manifest, entity):
            factor = factor_of(feature)
            for name in (feature.zh, feature.en, factor.zh, factor.en):
                assert name.strip() and "{" not in name, (feature.name, name)
    assert {f"concept.{c}" for c in CONCEPTS} <= set(load().keys())


def test_every_report_word_the_pages_use_exists_with_its_figures() -> None:
    sources = [*(ROOT / "training" / "report").rglob("*.py"), *(ROOT / "training" / "report").rglob("*.html")]
    used = {next(g for g in m.groups() if g) for p in sources for m in _REPORT_KEY.finditer(p.read_text("utf-8"))}
    used -= {"format", "get", "items", "keys"}
    assert {"title", "skipped", "higher_raises", "no_cjk"} <= used  # the pattern still finds them
    for locale in LOCALES:
        words = report_words(locale)
        assert used <= set(words), sorted(used - set(words))
        assert all(fields(words[k]) == set() for k in ("activation_def", "dwell_def", "compliance_def", "board_note"))
    assert "65%" in report_words("en")["activation_def"]  # ACTIVATION_HEALTHY, filled in


def test_an_unknown_locale_is_refused_naming_the_locales() -> None:
    for ask in (lambda: locale_of("fr"), lambda: text("report.title", "fr")):  # type: ignore[arg-type]
        with pytest.raises(MessageError, match=r"unknown locale 'fr'; use one of: zh-CN, en"):
            ask()
    with pytest.raises(MessageError, match="no message 'report.nope'"):
        text("report.nope", "en")


def _plant(folder: Path, zh: str, en: str) -> Path:
    folder.mkdir()
    (folder / "zh-CN.yaml").write_text(zh, encoding="utf-8")
    (folder / "en.yaml").write_text(en, encoding="utf-8")
    return folder


def test_a_word_missing_in_one_locale_fails_at_load(tmp_path: Path) -> None:
    good = _plant(tmp_path / "good", "a:\n  b: 一\n  c: '{n} 个'\n", "a:\n  b: one\n  c: '{n} of them'\n")
    assert load(good).text("a.c", "en", n=2) == "2 of them"
    assert load(good).pair("a.b") == ("一", "one")
    missing = _plant(tmp_path / "missing", "a:\n  b: 一\n  c: 二\n", "a:\n  b: one\n")
    with pytest.raises(MessageError, match=r"en\.yaml lacks 1 key\(s\) \(first: a\.c\)"):
        load(missing)


def test_fields_that_differ_or_keys_yaml_reads_as_booleans_fail_at_load(tmp_path: Path) -> None:
    differ = _plant(tmp_path / "differ", "a: '{n} 个'\n", "a: '{count} of them'\n")
    with pytest.raises(MessageError, match=r"a: fields differ"):
        load(differ)
    boolean = _plant(tmp_path / "boolean", "yes: 是\n", "yes: 'yes'\n")
    with pytest.raises(MessageError, match="is not text"):
        load(boolean)


def test_every_monitor_word_the_page_uses_exists() -> None:
    page = (ROOT / "training" / "report" / "templates" / "monitor.html").read_text("utf-8")
    used = set(re.findall(r"\bw\.(\w+)\b", page))
    assert {"title", "estimated_note", "drift_note"} <= used
    for locale in LOCALES:
        assert used <= set(load().section("monitor", locale)), sorted(used - set(load().section("monitor", locale)))
