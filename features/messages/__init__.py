"""The words users read, per locale: one message file per locale (``zh-CN.yaml``, ``en.yaml``) beside this module.

Keys are namespaced by their nesting in the file (``concept.source``, ``report.title``). A message's ``{fields}`` are
filled by the code that shows it, so a rule figure a text quotes stays the constant the rule is computed with. Every
file must hold the same keys with the same fields: a word missing in one language fails at load, not when a user
reads it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import yaml

from features.errors import MessageError

Locale = Literal["zh-CN", "en"]
LOCALES: tuple[Locale, ...] = get_args(Locale)
FOLDER = Path(__file__).parent
#: libyaml's safe loader where installed: several times faster, and the files are read at import.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def locale_of(value: str) -> Locale:
    """``value`` as a Locale; MessageError naming the locales when salesml has no words for it."""
    for locale in LOCALES:
        if value == locale:
            return locale
    raise MessageError(f"unknown locale {value!r}; use one of: {', '.join(LOCALES)}")


def local(words: tuple[str, str], locale: Locale) -> str:
    """The locale's one of a (zh, en) pair of words."""
    return words[LOCALES.index(locale)]


def fields(message: str) -> set[str]:
    """The names of a message's ``{fields}``."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name is not None}


@dataclass(frozen=True)
class Messages:
    """Every locale's messages by key, checked to agree."""

    words: dict[Locale, dict[str, str]]

    def keys(self) -> list[str]:
        return sorted(self.words[LOCALES[0]])

    def template(self, key: str, locale: Locale) -> str:
        """A message with its fields unfilled; MessageError for an unknown key or locale."""
        try:
            return self.words[locale_of(locale)][key]
        except KeyError:
            raise MessageError(f"no message {key!r}") from None

    def text(self, key: str, locale: Locale, **values: object) -> str:
        """A message in the locale, its fields filled from ``values``."""
        return self.template(key, locale).format(**values)

    def pair(self, key: str, **values: object) -> tuple[str, str]:
        """(zh, en) of a message, where code keeps both (a feature's display names)."""
        return self.text(key, "zh-CN", **values), self.text(key, "en", **values)

    def compose(self, key: str, **parts: tuple[str, str]) -> tuple[str, str]:
        """(zh, en) of a message whose fields are (zh, en) words themselves: each locale takes its own."""
        zh, en = ({name: words[i] for name, words in parts.items()} for i in range(2))
        return self.text(key, "zh-CN", **zh), self.text(key, "en", **en)

    def section(self, namespace: str, locale: Locale) -> dict[str, str]:
        """The unfilled messages under ``namespace.``, by their key within it."""
        prefix = f"{namespace}."
        return {k.removeprefix(prefix): v for k, v in self.words[locale_of(locale)].items() if k.startswith(prefix)}


def _flat(tree: object, path: Path, prefix: str = "") -> dict[str, str]:
    """A message file's nested mapping as {dotted key: message}; MessageError for anything but text at the leaves."""
    if not isinstance(tree, dict):
        raise MessageError(f"{path}: {prefix.rstrip('.') or 'the file'} must be a mapping of keys to messages")
    out: dict[str, str] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if not isinstance(name, str):
            raise MessageError(f"{path}: key {key!r} is not text (quote it)")
        if isinstance(value, str):
            out[key] = value
        else:
            out.update(_flat(value, path, f"{key}."))
    return out


def read_messages(path: Path) -> dict[str, str]:
    """One message file as {dotted key: message}."""
    try:
        return _flat(yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER), path)
    except (OSError, yaml.YAMLError) as exc:
        raise MessageError(f"{path}: cannot read the messages ({' '.join(str(exc).split())})") from exc


@cache
def load(folder: Path = FOLDER) -> Messages:
    """Every locale's ``<locale>.yaml`` in ``folder``, read once; MessageError where they disagree on a key or on
    a message's fields."""
    words = {locale: read_messages(folder / f"{locale}.yaml") for locale in LOCALES}
    first, *others = LOCALES
    for locale in others:
        for missing_in, has in ((locale, first), (first, locale)):
            missing = sorted(set(words[has]) - set(words[missing_in]))
            if missing:
                raise MessageError(f"{folder / f'{missing_in}.yaml'} lacks {len(missing)} key(s) (first: {missing[0]})")
        for key, message in words[first].items():
            if fields(message) != fields(words[locale][key]):
                raise MessageError(
                    f"{key}: fields differ between {first} {sorted(fields(message))} and "
                    f"{locale} {sorted(fields(words[locale][key]))}"
                )
    return Messages(words)


def text(key: str, locale: Locale, **values: object) -> str:
    """A message in the locale, its fields filled from ``values``."""
    return load().text(key, locale, **values)


def pair(key: str, **values: object) -> tuple[str, str]:
    """(zh, en) of a message, where code keeps both."""
    return load().pair(key, **values)


def compose(key: str, **parts: tuple[str, str]) -> tuple[str, str]:
    """(zh, en) of a message whose fields are (zh, en) words themselves."""
    return load().compose(key, **parts)
