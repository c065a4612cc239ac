"""The manager report in a real browser: headless Chromium driven by Selenium with the system's chromedriver
(Debian's ``chromium`` and ``chromium-driver``; ``make browser`` installs them), so nothing is downloaded.

Used by ``make report-screenshot`` (``python -m training.report.browser REPORT.html PNG``) and by the report's tests.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = "chromedriver"
WIDTH = 1280


def browser_paths() -> tuple[str, str] | None:
    """The Chromium binary and its driver on PATH (or /usr/bin), or None when either is missing."""
    search = f"{Path('/usr/bin')}:{os.environ.get('PATH', '')}"
    binary = next((found for name in CHROMIUM if (found := shutil.which(name, path=search))), None)
    driver = shutil.which(CHROMEDRIVER, path=search)
    return (binary, driver) if binary and driver else None


@contextmanager
def opened(page: Path, width: int = WIDTH) -> Iterator[Any]:
    """A headless Chromium showing ``page`` (a local HTML file), loaded; quits afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    if paths is None:
        raise RuntimeError("chromium and chromedriver are not installed: run `make browser` (Debian packages)")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)
    try:
        driver.get(page.resolve().as_uri())
        yield driver
    finally:
        driver.quit()


def images(driver: Any) -> list[dict[str, Any]]:
    """Every <img> on the page: its alt text, whether it finished loading and its natural width (0: broken)."""
    return driver.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));"
    )


def screenshot(page: Path, png: Path, width: int = WIDTH, colors: int = 128) -> Path:
    """A PNG of the whole page (the window grown to the page's height), in a palette of ``colors`` so that it
    stays small enough for the README (the report's charts and tables use few colors)."""
    from PIL import Image

    with opened(page, width) as driver:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height)
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    png.parent.mkdir(parents=True, exist_ok=True)
    shot.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    return png


if __name__ == "__main__":
    print(f"wrote {screenshot(Path(sys.argv[1]), Path(sys.argv[2]))}")
