"""Chinese in matplotlib pictures: find an installed CJK font and draw with it, without glyph warnings."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import font_manager

#: Font families (any installed one) that draw Chinese; Debian's fonts-noto-cjk gives the first.
CJK_FAMILIES = ("Noto Sans CJK", "Source Han Sans", "WenQuanYi", "Droid Sans Fallback", "SimHei", "Microsoft YaHei")


def cjk_font() -> str | None:
    """The family name of an installed font that draws Chinese, registered with matplotlib; None without one.

    Fonts installed after matplotlib built its font cache are found too (the system font files are scanned)."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        found = next((name for name in known if name.startswith(family)), None)
        if found:
            return found
    for path in font_manager.findSystemFonts():
        if any(family.replace(" ", "").lower() in Path(path).name.lower() for family in CJK_FAMILIES + ("wqy",)):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


@contextmanager
def quiet_drawing(font: str | None) -> Iterator[None]:
    """Matplotlib with the CJK font as fallback, and never a missing-glyph warning or font log line."""
    families = ["DejaVu Sans", font] if font else ["DejaVu Sans"]
    logger = logging.getLogger("matplotlib.font_manager")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), plt.rc_context({"font.family": families, "axes.unicode_minus": False}):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
