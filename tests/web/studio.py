"""What a person does in the studio, as steps the tests share."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import expect


def sign_up(page) -> str:
    """Open the studio with no key and press "Create a key"; the new key is shown once, with Copy."""
    page.goto("/")
    page.get_by_role("button", name="Create a key").click()
    expect(page.locator("#key-status")).to_contain_text("new key was created")
    expect(page.locator("#new-key")).to_be_visible()
    key = page.locator("#api-key").input_value()
    assert len(key) > 20 and page.locator("#new-key-value").input_value() == key
    expect(page.locator("html")).to_have_attribute("data-ready", "true")
    return key


def add_photos(page, photos) -> None:
    page.locator("#photos").set_input_files([str(p) for p in photos])


def make_tune(page, photos, title: str, *, cls: str = "woman") -> int:
    page.locator("#tune-title").fill(title)
    page.locator("#tune-class").select_option(cls)
    expect(page.locator("#tune-base")).to_have_value("999")
    add_photos(page, photos)
    verdicts = page.locator("#photo-list .verdict")
    expect(verdicts).to_have_count(len(photos))
    for n in range(len(photos)):
        expect(verdicts.nth(n)).to_contain_text("Face found")
    expect(page.locator("#photo-list img[alt^='face found']")).to_have_count(len(photos))
    page.get_by_role("button", name="Create tune").click()
    status = page.locator("#tune-status")
    expect(status).to_contain_text("is ready")
    return int(re.search(r"\(tune (\d+)\)", status.inner_text()).group(1))


def preset(page, title: str):
    """A preset button (a set of the same name has its own "Make this set" button)."""
    return page.locator("#presets").get_by_role("button", name=title, exact=True)


def quick_settings(page, *, images: int = 1, steps: int = 2, seed: int | None = 7) -> None:
    page.locator("#num-images").fill(str(images))
    page.locator("#steps").fill(str(steps))
    page.locator("#seed").fill("" if seed is None else str(seed))


def generate(page) -> int:
    """Press Generate; the id of the prompt it queued (the newest job card)."""
    return new_job(page, lambda: page.get_by_role("button", name="Generate").click())


def new_job(page, action) -> int:
    """Do ``action``; the id of the prompt card it added."""
    before = set(job_ids(page))
    action()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = set(job_ids(page)) - before
        if new:
            return max(new)
        page.wait_for_timeout(50)
    raise AssertionError(f"no new prompt card: {page.locator('#prompt-status').inner_text()}")


def job_ids(page) -> list[int]:
    return [int(x) for x in page.locator("#results .job").evaluate_all("cards => cards.map(c => c.dataset.promptId)")]


def job(page, prompt_id: int):
    return page.locator(f"#results .job[data-prompt-id='{prompt_id}']")


def wait_done(page, prompt_id: int, timeout: float = 120_000):
    card = job(page, prompt_id)
    expect(card).to_have_attribute("data-status", re.compile("succeeded|failed"), timeout=timeout)
    return card


def api_wait(client: httpx.Client, prompt_id: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompt = client.get(f"/prompts/{prompt_id}").json()
        if prompt["status"] in ("succeeded", "failed"):
            return prompt
        time.sleep(0.1)
    raise AssertionError(f"prompt {prompt_id} not done in {timeout} s")
