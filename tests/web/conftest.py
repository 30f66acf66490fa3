"""A real `lookalike serve` (tiny model, open sign-up) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.api.conftest import Server, photo_files  # noqa: F401  (photo_files is a fixture)

CHROMIUM = os.environ.get("LOOKALIKE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


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


@contextmanager
def studio_page(browser, server: Server, *, phone: bool = False, **options):
    """A fresh browser context (no stored key) on the studio; fails on any JavaScript error in the page.

    ``page.bad_responses`` collects every answer of 400 or more, so a test can
    say which it expected (a favicon 404 on every load was one of the traps).
    """
    size = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone else {"viewport": DESKTOP}
    context = browser.new_context(base_url=server.url, **{**size, **options})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.bad_responses = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: page.bad_responses.append((r.status, r.url)) if r.status >= 400 else None)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def page(browser, studio_server):
    with studio_page(browser, studio_server) as page:
        yield page


@pytest.fixture
def phone_page(browser, studio_server):
    with studio_page(browser, studio_server, phone=True) as page:
        yield page


def shoot(page, name: str, target=None, *, full_page: bool = False) -> None:
    """Keep a screenshot for the docs (only when asked: tests must not dirty the tree).

    ``target`` (a locator) shoots that part only. Saved as a 256-colour PNG:
    the studio is flat colours, so this keeps each file small.
    """
    if not os.environ.get("LOOKALIKE_SCREENSHOTS"):
        return
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if target is not None:
        target.screenshot(path=str(path), animations="disabled")
    else:
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
