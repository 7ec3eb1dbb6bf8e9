"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser.

Without Playwright or a Chromium binary the browser tests are skipped and the summary says
so, unless HASHSHARE_REQUIRE_BROWSER=1 (set by .ci/run), which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("HASHSHARE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("HASHSHARE_REQUIRE_BROWSER") == "1"
# What the machine's closed network and a root user need: no sandbox, no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_skip_reason: str | None = None


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


# Module scope: Playwright's sync API runs an event loop in this thread while it is open,
# which asyncio tests of other modules could not run beside.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    global _skip_reason
    reason = _unavailable()
    if reason is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"HASHSHARE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        _skip_reason = reason
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every page's screenshot goes: HASHSHARE_CONSOLE_SCREENSHOTS, or a temporary dir."""
    global _screenshot_dir
    chosen = os.environ.get("HASHSHARE_CONSOLE_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    _screenshot_dir = path
    return path


_screenshot_dir: Path | None = None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skip_reason:
        terminalreporter.write_sep("!", "browser tests SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_skip_reason)
    elif _screenshot_dir is not None:
        shots = sorted(p.name for p in _screenshot_dir.glob("*.png"))
        terminalreporter.write_sep("-", f"console screenshots in {_screenshot_dir}")
        terminalreporter.write_line(", ".join(shots))
