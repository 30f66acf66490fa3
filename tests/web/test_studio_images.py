"""What can be done with each picture, and the gallery: full size, settings, again, upscale, download, delete, filters."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.web.studio import (
    generate,
    job,
    make_tune,
    new_job,
    preset,
    quick_settings,
    sign_up,
    wait_done,
)

pytestmark = pytest.mark.slow


def test_each_picture_opens_full_size_shows_its_settings_and_comes_back(page, photo_files, studio_server):
    key = sign_up(page)
    tune_id = make_tune(page, [photo_files["1.jpg"]], "Pictures")
    preset(page, "Professional networking").click()
    quick_settings(page, images=2, steps=3, seed=40)
    first = generate(page)
    card = wait_done(page, first)
    second_picture = card.locator("figure").nth(1)

    # Full size: a dialog with the picture at its own size, and a link to open it alone.
    second_picture.get_by_role("button", name=f"Open picture 2 of prompt {first} full size").click()
    viewer = page.get_by_role("dialog", name=f"Picture 2 of prompt {first}")
    expect(viewer).to_be_visible()
    expect(viewer.locator("img")).to_have_js_property("complete", True)
    assert viewer.locator("img").evaluate("i => i.naturalWidth") == 64
    expect(viewer.get_by_role("link", name="Open in a new tab")).to_have_attribute("href", re.compile(rf"/prompts/{first}/images/1\.png\?"))
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # Its seed and settings.
    second_picture.get_by_text("Seed and settings").click()
    settings = second_picture.locator("dl")
    expect(settings).to_contain_text("Seed41")
    expect(settings).to_contain_text("Size64 × 64")
    expect(settings).to_contain_text("Steps3")
    expect(settings).to_contain_text("Schedulerlcm")

    # Use these settings: the form is filled to make that very picture again.
    page.locator("#prompt-text").fill("something else")
    second_picture.get_by_role("button", name="Use these settings").click()
    expect(page.locator("#seed")).to_have_value("41")
    expect(page.locator("#num-images")).to_have_value("1")
    expect(page.locator("#steps")).to_have_value("3")
    expect(page.locator("#prompt-text")).to_have_value(re.compile(rf"^Professional headshot of <faceid:{tune_id}:1\.0>"))
    expect(page.locator("#prompt-status")).to_contain_text("Generate makes the same picture again")
    again = generate(page)
    wait_done(page, again)
    with studio_server.client(key) as api:
        a = api.get(f"/prompts/{first}").json()
        b = api.get(f"/prompts/{again}").json()
    assert b["image_details"][0]["seed"] == 41
    assert httpx.get(a["images"][1]).content == httpx.get(b["images"][0]).content  # the same pixels

    # Download keeps the PNG's generation parameters.
    href = second_picture.get_by_role("link", name="Download").get_attribute("href")
    with Image.open(io.BytesIO(httpx.get(studio_server.url + href if href.startswith("/") else href).content)) as png:
        assert "Seed: 41" in png.info["parameters"]


def test_upscale_one_picture_alone_and_face_correct_says_why_not(page, photo_files, studio_server):
    key = sign_up(page)
    make_tune(page, [photo_files["1.jpg"]], "Upscale")
    preset(page, "History professor").click()
    quick_settings(page, images=2, steps=2, seed=90)
    first = generate(page)
    card = wait_done(page, first)
    picture = card.locator("figure").nth(1)
    # Face correct's weights are not on this server: the button is off and says why.
    correct = picture.get_by_role("button", name=re.compile("^Face correct"))
    expect(correct).to_be_disabled()
    expect(correct).to_have_attribute("title", "Face correct: not installed on this server")
    expect(card).to_contain_text("Upscale and Face correct make a new prompt: the same picture again from its seed and settings, then that step.")
    upscaled = new_job(page, lambda: picture.get_by_role("button", name="Upscale x4").click())
    expect(page.locator("#prompt-status")).to_have_text(
        f"Prompt {upscaled} is queued: it makes picture 2 of prompt {first} again from its seed, then super resolution x4."
    )
    new_card = wait_done(page, upscaled)
    expect(new_card.locator(".job-label")).to_have_text(f"Upscale x4 of picture 2 of prompt {first} (same seed and settings)")
    expect(new_card.locator("figure")).to_have_count(1)
    with studio_server.client(key) as api:
        made = api.get(f"/prompts/{upscaled}").json()
    assert made["status"] == "succeeded", made
    assert made["num_images"] == 1 and made["super_resolution"] is True and made["image_details"][0]["seed"] == 91
    assert (made["image_details"][0]["width"], made["image_details"][0]["height"]) == (256, 256)
    # An upscaled picture is not offered the upscale again.
    expect(new_card.get_by_role("button", name="Upscale x4")).to_have_count(0)


def test_gallery_faces_dates_full_text_filter_and_deleting_a_tune(page, photo_files, studio_server):
    sign_up(page)
    ada = make_tune(page, [photo_files["1.jpg"], photo_files["2.jpg"]], "Ada")
    preset(page, "Professional networking").click()
    quick_settings(page)
    on_ada = generate(page)
    bob = make_tune(page, [photo_files["hopper.jpg"]], "Bob", cls="man")
    preset(page, "Fitness and wellness coach").click()
    quick_settings(page)
    on_bob = generate(page)
    wait_done(page, on_ada)
    wait_done(page, on_bob)

    tunes = page.locator("#tune-list li")
    expect(tunes).to_have_count(2)
    ada_item = tunes.filter(has_text="Ada")
    # Face thumbnails of each tune (its photos' signed links) and the date it was made.
    expect(ada_item.locator(".faces img")).to_have_count(2)
    expect(ada_item.locator(".faces img").first).to_have_js_property("complete", True)
    assert ada_item.locator(".faces img").first.evaluate("i => i.naturalWidth") > 0
    expect(ada_item.locator("time")).to_contain_text("made ")
    prompts = page.locator("#prompt-list li")
    expect(prompts).to_have_count(2)
    item = page.locator(f"#prompt-list li[data-prompt-id='{on_ada}']")
    expect(item.locator("img.thumb")).to_have_count(1)
    expect(item.locator("time")).not_to_be_empty()
    # The whole prompt text: on hover (title) and when opened.
    summary = item.locator("summary")
    full = summary.get_attribute("title")
    assert full.startswith("Professional headshot") and full.endswith("ISO 100")
    assert summary.evaluate("s => s.scrollWidth > s.clientWidth")  # cut to one line while closed
    summary.click()
    expect(item.locator("details")).to_have_attribute("open", "")
    expect(summary).to_have_text(full)
    assert summary.evaluate("s => s.scrollWidth <= s.clientWidth + 1")  # opened, it wraps: nothing cut
    # Show brings back that prompt's pictures.
    item.get_by_role("button", name=f"Show prompt {on_ada}").click()
    expect(job(page, on_ada).locator("figure")).to_have_count(1)

    # Filter by tune.
    page.get_by_label("Show pictures of").select_option(str(bob))
    expect(prompts).to_have_count(1)
    expect(prompts.first).to_have_attribute("data-prompt-id", str(on_bob))
    page.get_by_label("Show pictures of").select_option("")
    expect(prompts).to_have_count(2)

    # Deleting a tune says its prompts stay, and they do, marked.
    messages = []

    def answer(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    page.get_by_role("button", name="Delete tune Ada").click()
    expect(page.locator("#gallery-status")).to_have_text('Deleted tune "Ada". Its prompt stays below, marked "tune deleted".')
    assert 'The prompt made with it stays in your gallery, marked "tune deleted"' in messages[0]
    expect(tunes).to_have_count(1)
    expect(item).to_contain_text("tune deleted")
    item.get_by_role("button", name=f"Show prompt {on_ada}").click()
    expect(job(page, on_ada).locator("figure img")).to_have_count(1)
    assert ada  # the id was real
