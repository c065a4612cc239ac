"""Every environment variable is declared once in features.settings, read through it, and documented from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features import config, settings
from features.settings import SettingError
from tests.helpers import ROOT, assert_one_line_error, salesml

#: Reads of the environment that are no salesml setting, and why.
NOT_SETTINGS = {
    "training/report/browser.py": "the browser driver's PATH",
    "training/compare.py": "saves the store's variables, to restore them after a private store",
}
ENV_READ = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)")


def test_docs_list_every_setting() -> None:
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings.markdown(), (
        "docs/settings.md is stale: python -m features.settings > docs/settings.md"
    )


def test_the_packages_read_the_environment_through_settings() -> None:
    readers = {
        path.relative_to(ROOT).as_posix()
        for package in ("features", "training", "serving")
        for path in (ROOT / package).rglob("*.py")
        if ENV_READ.search(path.read_text(encoding="utf-8"))
    }
    assert readers - {"features/settings.py", *NOT_SETTINGS} == set()


def test_names_are_declared_once() -> None:
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("setting", "raw", "message"),
    [
        (settings.MAX_BODY_MB, "abc", "SALESML_MAX_BODY_MB='abc': not a number"),
        (settings.BODY_TIMEOUT_S, "-1", "SALESML_BODY_TIMEOUT_S='-1': not a positive number"),
        (settings.WORKERS, "2.5", "SALESML_WORKERS='2.5': not a whole number"),
        (settings.MAX_CONCURRENCY, "0", "SALESML_MAX_CONCURRENCY='0': not 1 or more"),
        (settings.AUTH, "maybe", "SALESML_AUTH='maybe': not a switch (on or off, true or false, 1 or 0)"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, setting: settings.Setting, raw: str, message: str
) -> None:
    monkeypatch.setenv(setting.name, raw)
    with pytest.raises(SettingError) as caught:
        setting.get()
    assert str(caught.value) == message
    with pytest.raises(SettingError):
        settings.check_all()


@pytest.mark.parametrize(
    ("raw", "value"), [("on", True), ("TRUE", True), ("1", True), ("off", False), ("False", False), ("0", False)]
)
def test_switches_are_spelled_one_way(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    for switch in (settings.AUTH, settings.PUBLIC_METRICS, settings.LOG_FSYNC):
        monkeypatch.setenv(switch.name, raw)
        assert switch.get() is value


def test_empty_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in settings.SETTINGS:
        monkeypatch.setenv(setting.name, " ")
        assert setting.get() == setting.default
    monkeypatch.setenv(settings.API_KEYS.name, " a, ,b ")
    assert settings.API_KEYS.get() == ("a", "b")


def test_a_checkout_keeps_its_stores_beside_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    assert config.in_checkout()
    assert config.store_dir() == ROOT / ".mlflow"
    assert config.bentoml_home() == ROOT / ".bentoml"
    assert config.tracking_uri() == f"sqlite:///{ROOT / '.mlflow' / 'mlflow.db'}"


def test_an_installed_copy_keeps_its_stores_in_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setattr(config, "ROOT", tmp_path / "site-packages")  # no pyproject.toml beside the packages
    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".salesml"
    assert not config.in_checkout()
    assert (config.store_dir(), config.bentoml_home()) == (home / ".mlflow", home / ".bentoml")
    assert (config.report_dir(), config.prediction_log_dir()) == (home / "reports", home / "logs" / "predictions")
    assert config.run_dir() == tmp_path


def test_a_bad_setting_stops_serve_with_one_line(tmp_path: Path) -> None:
    env = {"BENTOML_HOME": str(tmp_path / "empty"), "SALESML_API_KEYS": "k", settings.MAX_BODY_MB.name: "abc"}
    proc = salesml("serve", "--port", "3999", env=env)
    assert_one_line_error(proc, "SALESML_MAX_BODY_MB='abc': not a number")


def test_a_short_log_hash_key_stops_serve_with_one_line_that_does_not_quote_it(tmp_path: Path) -> None:
    env = {"BENTOML_HOME": str(tmp_path / "empty"), "SALESML_API_KEYS": "k", settings.LOG_HASH_KEY.name: "tiny-secret"}
    proc = salesml("serve", "--port", "3999", env=env)
    assert_one_line_error(proc, "SALESML_LOG_HASH_KEY is shorter than 16 characters")
    assert "tiny-secret" not in proc.stderr + proc.stdout
