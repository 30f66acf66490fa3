"""Packs as one-click sets: "Make this set" queues a pack's prompts on the selected tune (POST /p/{id}/tunes)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.studio import job, make_tune, sign_up, wait_done

pytestmark = pytest.mark.slow


def test_make_a_headshot_set_in_one_click(page, photo_files, studio_server):
    key = sign_up(page)
    tune_id = make_tune(page, [photo_files["1.jpg"]], "Set")
    box = page.locator("#packs-box")
    expect(box).to_be_visible()
    packs = box.locator("li.pack")
    expect(packs).to_have_count(4)
    networking = packs.filter(has_text="Professional Networking Headshots")
    # A short explanation and what it makes for this tune's class.
    expect(networking).to_contain_text("Business clothes, a friendly confident look, studio light")
    expect(networking).to_contain_text("2 prompts, 8 pictures.")
    networking.get_by_role("button", name="Make this set").click()
    status = page.locator("#prompt-status")
    expect(status).to_have_text('The set "Professional Networking Headshots" is queued: 2 prompts, 8 pictures of "Set".')
    cards = page.locator("#results .job", has=page.locator(".job-label", has_text="Set: Professional Networking Headshots"))
    expect(cards).to_have_count(2)
    with studio_server.client(key) as api:
        made = api.get(f"/tunes/{tune_id}/prompts").json()
    assert len(made) == 2 and all(f"<faceid:{tune_id}:1>" in p["text"] for p in made)
    for prompt in made:
        card = wait_done(page, prompt["id"], timeout=300_000)  # 8 pictures of 30 steps: slow on a busy CPU
        expect(card).to_have_attribute("data-status", "succeeded")
        expect(job(page, prompt["id"]).locator("figure")).to_have_count(4)


def test_a_set_without_prompts_for_the_tunes_class_says_so(page, photo_files):
    sign_up(page)
    make_tune(page, [photo_files["1.jpg"]], "Young", cls="girl")
    pack = page.locator("#packs li.pack").first
    expect(pack.get_by_role("button", name="Make this set")).to_be_disabled()
    expect(pack).to_contain_text(re.compile(r'This set has prompts for man, woman, person; "Young" is a girl\.'))
