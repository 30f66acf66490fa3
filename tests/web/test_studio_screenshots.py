"""docs/screenshots: every state of the studio, on a desktop and on a phone.

Made with ``LOOKALIKE_SCREENSHOTS=1 pytest tests/web/test_studio_screenshots.py``
(skipped otherwise: the other tests check the same states; this only
photographs them). Each state is reached the way a person reaches it; the
progress bar is caught mid-way by giving the page a fixed progress state.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from playwright.sync_api import expect

from tests.api.conftest import photo_upload
from tests.web.conftest import shoot, studio_page
from tests.web.studio import (
    add_photos,
    generate,
    job,
    preset,
    quick_settings,
    sign_up,
    wait_done,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("LOOKALIKE_SCREENSHOTS"), reason="set LOOKALIKE_SCREENSHOTS=1 to make them"),
]


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_screenshots(browser, studio_server, photo_files, device):
    phone = device == "phone"
    with studio_page(browser, studio_server, phone=phone) as page:
        def snap(name, part=None, **kw):
            shoot(page, f"{device}-{name}", None if part is None else page.locator(part), **kw)

        page.goto("/")
        expect(page.locator("html")).to_have_attribute("data-ready", "true")
        snap("01-start")

        # A wrong key: said in words, the field marked and focused.
        page.locator("#api-key").fill("lk_not-a-key")
        page.locator("#api-key").press("Enter")
        expect(page.locator("#key-status")).to_have_class(re.compile("error"))
        snap("02-wrong-key", "header")

        key = sign_up(page)
        snap("03-new-key", "header")
        page.get_by_role("button", name="Create a key").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        snap("04-key-again")
        page.get_by_role("button", name="Keep my key").click()

        # Photos: checked, a cat refused, the same photo twice, then two people.
        page.locator("#tune-title").fill("Astronaut")
        add_photos(page, [photo_files["1.jpg"], photo_files["2.jpg"], photo_files["cat.jpg"]])
        expect(page.locator("#photo-list .verdict.bad")).to_have_count(1)
        add_photos(page, [photo_files["1.jpg"]])
        expect(page.locator("#tune-status")).to_contain_text("same photo")
        snap("05-photos-checked", "#tune-section")
        page.get_by_role("button", name="Remove photo 3").click()
        page.get_by_role("button", name="Remove photo 2").click()
        add_photos(page, [photo_files["hopper.jpg"]])
        page.locator("#tune-class").select_option("woman")
        expect(page.locator("#photo-list .verdict.ok")).to_have_count(2)
        page.get_by_role("button", name="Create tune").click()
        expect(page.locator("#tune-status")).to_contain_text("same person")
        snap("06-photos-mismatch", "#tune-section")
        page.get_by_role("button", name="Remove photo 2").click()
        page.get_by_role("button", name="Create tune").click()
        expect(page.locator("#tune-status")).to_contain_text("is ready")

        # The prompt form with the sets, presets and explained settings.
        preset(page, "Professional networking").click()
        snap("07-prompt-form", "#prompt-form")

        # Progress, caught at step 12 of 20 (the page is given that state while it polls).
        fake = {"on": True}

        def post(route):
            response = route.fetch()
            body = response.json()
            body.pop("events_url", None)
            route.fulfill(response=response, json=body)

        def poll(route):
            if route.request.method != "GET" or not fake["on"]:
                route.continue_()
                return
            response = route.fetch()
            body = response.json()
            progress = {"phase": "denoising", "queue_position": None, "step": 12, "steps": 20, "image": None, "images": 2,
                        "finishing_step": None, "elapsed_s": 3.4, "updated_at": body["updated_at"]}
            route.fulfill(response=response, json={**body, "status": "processing", "images": [], "image_details": [], "progress": progress})

        page.route(re.compile(r".*/tunes/\d+/prompts$"), post)
        page.route(re.compile(r".*/prompts/\d+$"), poll)
        quick_settings(page, images=2, steps=4, seed=11)
        running = generate(page)
        expect(job(page, running).locator(".job-line")).to_contain_text("Step 12 of 20")
        snap("08-progress", "#results")
        fake["on"] = False
        page.unroute(re.compile(r".*/prompts/\d+$"))
        page.unroute(re.compile(r".*/tunes/\d+/prompts$"))
        card = wait_done(page, running)
        snap("09-pictures", "#results")
        card.locator("figure").first.get_by_text("Seed and settings").click()
        snap("10-picture-settings", f"#results .job[data-prompt-id='{running}'] figure >> nth=0")
        card.locator("figure").first.locator("button.open").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        snap("11-full-size")
        page.keyboard.press("Escape")

        # A model this server lacks: refused before anything is made, with the operator's command.
        with studio_server.client(key) as api:
            made = api.post("/tunes", data={"tune[title]": "On Realistic Vision", "tune[name]": "woman",
                                             "tune[base_tune_id]": "690204"}, files=[photo_upload(photo_files["1.jpg"])]).json()
        page.get_by_role("button", name="Refresh").click()
        page.locator("#prompt-tune").select_option(str(made["id"]))
        preset(page, "History professor").click()
        page.get_by_role("button", name="Generate").click()
        expect(page.locator("#prompt-operator")).to_be_visible()
        snap("12-model-missing", "#prompt-form")

        # A set in one click, then the gallery with its filter.
        astronaut = page.locator("#prompt-tune option", has_text="Astronaut").get_attribute("value")
        page.locator("#prompt-tune").select_option(astronaut)
        page.locator("#packs li.pack").filter(has_text="History Professor").get_by_role("button", name="Make this set").click()
        expect(page.locator("#prompt-status")).to_contain_text("is queued")
        snap("13-set-queued", "#prompt-section")
        page.get_by_label("Show pictures of").select_option(astronaut)
        snap("14-gallery", "#gallery-section")
        with studio_server.client(key) as api:
            for prompt in api.get("/prompts").json():
                api.delete(f"/prompts/{prompt['id']}")  # the set need not finish: free the worker for the next run
        assert json.dumps(page.bad_responses).count("/favicon.ico") == 0
