"""The studio in a real browser against a real server: sign up, tune from photos, preset prompt, gallery."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import shoot

pytestmark = pytest.mark.slow


def sign_up(page) -> str:
    page.goto("/")
    page.get_by_role("button", name="Create a key").click()
    expect(page.locator("#key-status")).to_contain_text("new key was created")
    key = page.locator("#api-key").input_value()
    assert len(key) > 20
    return key


def make_tune(page, photos, title: str, *, screenshot: bool = False) -> str:
    page.locator("#tune-title").fill(title)
    page.locator("#tune-class").select_option("woman")
    page.locator("#tune-base").select_option("999")
    page.locator("#photos").set_input_files(photos)
    verdicts = page.locator("#photo-list .verdict")
    expect(verdicts).to_have_count(len(photos))
    for n in range(len(photos)):
        expect(verdicts.nth(n)).to_contain_text("Face found")
    expect(page.locator("#photo-list img[alt^='face found']")).to_have_count(len(photos))
    if screenshot:
        shoot(page, "1-photos-checked")
    page.get_by_role("button", name="Create tune").click()
    status = page.locator("#tune-status")
    expect(status).to_contain_text("is ready")
    return re.search(r"Tune (\d+)", status.inner_text()).group(1)


def test_whole_job_from_photos_to_images(page, photo_files, studio_server):
    key = sign_up(page)
    tune_id = make_tune(page, [photo_files["1.jpg"], photo_files["2.jpg"]], "Astronaut", screenshot=True)

    # The tune is usable at once: a preset fills in its token and a negative prompt.
    expect(page.locator("#prompt-tune")).to_have_value(tune_id)
    page.get_by_role("button", name="Professional networking").click()
    assert f"<faceid:{tune_id}:1.0>" in page.locator("#prompt-text").input_value()
    assert "blurry" in page.locator("#prompt-negative").input_value()
    page.locator("#num-images").fill("2")
    page.locator("#steps").fill("2")
    page.locator("#seed").fill("7")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#prompt-status")).to_contain_text(re.compile("queued|processing|succeeded"))
    expect(page.locator("#prompt-status")).to_contain_text("succeeded", timeout=120_000)
    figures = page.locator("#results figure")
    expect(figures).to_have_count(2)
    for n in range(2):
        expect(figures.nth(n).locator(".score")).to_contain_text(re.compile(r"identity( -?\d\.\d{3}|: no face in image)"))
        expect(figures.nth(n).get_by_role("link", name="Download")).to_have_attribute("download", re.compile(r"\.png$"))
    # The pictures really are the server's PNGs, decoded by the browser.
    width = figures.first.locator("img").evaluate("img => img.naturalWidth")
    assert width > 0
    shoot(page, "2-images")

    # The same work is visible through the API with the key the studio made.
    with studio_server.client(key) as api:
        prompts = api.get("/prompts").json()
        assert prompts[0]["status"] == "succeeded" and len(prompts[0]["images"]) == 2
        assert str(prompts[0]["tune_id"]) == tune_id

    # Gallery: past prompts and tunes, and deleting one.
    expect(page.locator("#tune-list li:not(.empty)")).to_have_count(1)
    expect(page.locator("#prompt-list li:not(.empty)")).to_have_count(1)
    shoot(page, "3-gallery")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"delete prompt {prompts[0]['id']}").click()
    expect(page.locator("#gallery-status")).to_contain_text(f"Deleted prompt {prompts[0]['id']}")
    expect(page.locator("#prompt-list li:not(.empty)")).to_have_count(0)
    expect(page.locator("#prompt-list")).to_contain_text("No prompts yet.")
    with studio_server.client(key) as api:
        assert api.get(f"/prompts/{prompts[0]['id']}").status_code == 404


def test_cat_photo_is_refused_next_to_it(page, photo_files):
    sign_up(page)
    page.locator("#photos").set_input_files([photo_files["1.jpg"], photo_files["cat.jpg"]])
    verdicts = page.locator("#photo-list .verdict")
    expect(verdicts.nth(0)).to_contain_text("Face found")
    expect(verdicts.nth(1)).to_contain_text("Photo 1 has no human face")
    expect(page.locator("#photo-list li.bad")).to_have_count(1)
    # A tune cannot be made while a photo is refused; removing it clears the way.
    expect(page.get_by_role("button", name="Create tune")).to_be_disabled()
    shoot(page, "4-cat-refused")
    page.get_by_role("button", name="remove photo 2").click()
    expect(page.get_by_role("button", name="Create tune")).to_be_enabled()


def test_wrong_key_is_reported_where_it_was_typed(page):
    page.goto("/")
    page.locator("#api-key").fill("not-a-real-key")
    page.locator("#api-key").press("Enter")
    expect(page.locator("#key-status")).to_have_text("This key is not valid.")
    expect(page.locator("#key-status")).to_have_class(re.compile("error"))


def test_phone_screen_and_keyboard(browser, studio_server, photo_files):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=studio_server.url, is_mobile=True)
    try:
        page = context.new_page()
        sign_up(page)
        # Nothing wider than the screen: no sideways scrolling on a phone.
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
        # The photo picker is reachable with Tab and opens the file chooser on Space.
        page.locator("#tune-title").focus()
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "photos":
                break
        assert page.evaluate("document.activeElement.id") == "photos"
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files([photo_files["1.jpg"]])
        expect(page.locator("#photo-list .verdict").first).to_contain_text("Face found")
        shoot(page, "5-phone")
    finally:
        context.close()


def test_a_finishing_step_without_weights_is_explained_under_the_prompt(page, photo_files):
    sign_up(page)
    make_tune(page, [photo_files["1.jpg"]], "Finishing")
    page.get_by_role("button", name="Educator").click()
    page.get_by_label("Face correct").check()
    page.get_by_role("button", name="Generate").click()
    status = page.locator("#prompt-status")
    expect(status).to_contain_text("lookalike models pull gfpgan_v1.4")
    expect(status).to_have_class(re.compile("error"))
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
