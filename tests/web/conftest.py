"""A real `lookalike serve` (tiny model, open sign-up) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Server, photo_files  # noqa: F401  (photo_files is a fixture)

CHROMIUM = os.environ.get("LOOKALIKE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("studio") / "data", env={"LOOKALIKE_OPEN_SIGNUP": "true"})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    missing = _browser_missing()
    if missing:
        # CI installs Chromium, so there a missing browser is a broken set-up, not a reason to skip.
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, studio_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=studio_server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def shoot(page, name: str) -> None:
    """Keep a screenshot for the docs (only when asked: tests must not dirty the tree)."""
    if os.environ.get("LOOKALIKE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
