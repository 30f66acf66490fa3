"""A prompt's input image in the service: checked before queueing, stored with the prompt, read by the worker.

In process (no HTTP) on the real execution path; tests/api/test_api_input_image.py
does the same through a server.
"""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import IdempotencyKeyReusedError, ImageTooLargeError, InvalidFieldError, InvalidImageError
from lookalike.errors import ModelUnavailableError
from lookalike.execution.input_image import engine_inputs
from lookalike.jobs.prompts import blob_prefix
from lookalike.jobs.queue import spec_of
from lookalike.schemas import PromptCreate, Upload
from lookalike.store.tables import PromptRow

TINY = 999


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo(astronaut) -> bytes:
    return png(astronaut[::4, ::4][:96, :128])  # 128x96: wider than tall


@pytest.fixture
def account(services) -> int:
    return services.accounts.create_key(name="images").account_id


def submit(services, account, photo, key=None, **fields):
    request = PromptCreate.parse({"text": "a portrait", "input_image": Upload(photo, "p.png"), **fields})
    return services.prompts.submit(account, TINY, request, key)


def stored_rows(services) -> int:
    with services.sessions() as session:
        return session.query(PromptRow).count()


def test_the_image_is_stored_with_the_prompt_and_read_back_for_the_engine(services, account, photo):
    row, created = submit(services, account, photo, controlnet="canny", steps=1)
    assert created
    record = row.options["input_image"]
    assert record["key"] == f"{blob_prefix(row.id)}/input.png" and (record["width"], record["height"]) == (128, 96)
    assert services.blobs.get(record["key"]) == photo  # the bytes as sent, there while queued
    resolved = row.options["resolved"]
    assert (resolved["w"], resolved["h"]) == (88, 64)  # the photo's shape at the tiny model's size
    assert (resolved["denoising_strength"], resolved["controlnet_conditioning_scale"]) == (0.8, 1.0)

    # A worker (here a fresh one on the same data, as after a restart) reads the stored image again.
    from lookalike.services import Services

    worker = Services(services.settings)
    try:
        checked = worker.prompt_engine.check(spec_of(worker.prompt_store.find(row.id)))
        assert checked.input_image.key == record["key"] and checked.input_image.data is None
        inputs = engine_inputs(worker.run_context, checked.options, checked.base_model, checked.input_image)
    finally:
        worker.close()
    assert inputs.init.image.size == (88, 64) and inputs.init.strength == 0.8
    assert inputs.control.kind == "canny" and inputs.control.image.size == (88, 64) and inputs.control.scale == 1.0
    edges = np.asarray(inputs.control.image)
    assert set(np.unique(edges)) <= {0, 255} and edges.any()

    services.prompt_store.delete(row.id, account_id=account)
    assert not services.blobs.exists(record["key"])


def test_txt2img_controlnet_has_no_start_image(services, account, photo):
    row, _ = submit(services, account, photo, controlnet="canny", controlnet_txt2img="true", controlnet_conditioning_scale="0.5")
    checked = services.prompt_engine.check(spec_of(services.prompt_store.find(row.id)))
    inputs = engine_inputs(services.run_context, checked.options, checked.base_model, checked.input_image)
    assert inputs.init is None and inputs.control.scale == 0.5


def test_a_replay_compares_the_image(services, account, photo, astronaut):
    first, _ = submit(services, account, photo, key="same-key", denoising_strength=0.3)
    again, created = submit(services, account, photo, key="same-key", denoising_strength=0.3)
    assert not created and again.id == first.id
    with pytest.raises(IdempotencyKeyReusedError):
        submit(services, account, png(astronaut[:64, :64]), key="same-key", denoising_strength=0.3)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"this is not an image\n", InvalidImageError),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, InvalidImageError),  # a PNG's signature, then garbage
        (None, ImageTooLargeError),
    ],
)
def test_bad_images_are_refused_before_anything_is_stored(services, account, photo, data, error):
    if data is None:
        services.prompts.input_images = type(services.prompts.input_images)(
            services.prompts.input_images.fetch_policy, max_pixels=50 * 50, max_bytes=10**7
        )
        data = photo
    with pytest.raises(error) as caught:
        submit(services, account, data, denoising_strength=0.5)
    assert caught.value.field == "input_image" and caught.value.message.startswith("input_image: ")
    assert stored_rows(services) == 0 and services.blobs.list_prefixes("prompts") == []


def test_a_failed_commit_leaves_no_file(services, account, photo, monkeypatch):
    from sqlalchemy.orm import Session

    def boom(self):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Session, "commit", boom)
    with pytest.raises(RuntimeError):
        submit(services, account, photo, denoising_strength=0.5)
    monkeypatch.undo()
    assert stored_rows(services) == 0 and services.blobs.list_prefixes("prompts") == []


def test_a_file_left_by_a_killed_process_is_swept(services, account, photo):
    first, _ = submit(services, account, photo, denoising_strength=0.5)
    second, _ = submit(services, account, photo, denoising_strength=0.5)
    # As if a process died after writing its input image but before its row committed.
    orphan = f"{blob_prefix(first.id + 100)}/input.png"
    services.blobs.put(orphan, photo)
    with services.sessions() as session:  # ids were handed out past it
        session.get(PromptRow, second.id).id = first.id + 200
        session.commit()
    old = time.time() - 2 * services.settings.blob_sweep_grace_s
    os.utime(services.blobs.local_path(orphan), (old, old))
    os.utime(services.blobs.local_path(blob_prefix(first.id + 100)), (old, old))
    removed = services.sweep_orphan_blobs()
    assert blob_prefix(first.id + 100) in removed and not services.blobs.exists(orphan)
    assert services.blobs.exists(first.options["input_image"]["key"])


def test_controlnet_checks_at_post(services, account, photo):
    settings = services.settings
    # Every file of the base model present (empty stand-ins: the check looks, it does not load)...
    from lookalike.catalog.base_models import get_base_model

    for remote in get_base_model(690204).pack.files:
        path = settings.models_dir / remote.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    request = PromptCreate.parse({"text": "a portrait", "input_image": Upload(photo, "p.png"), "controlnet": "canny"})
    # ...so what is missing is the ControlNet alone, named with its pull command, and nothing is stored.
    with pytest.raises(ModelUnavailableError) as caught:
        services.prompts.submit(account, 690204, request)
    assert caught.value.details["missing"] == ["control_v11p_sd15_canny"]
    assert "lookalike models pull control_v11p_sd15_canny" in caught.value.hint
    assert stored_rows(services) == 0
    lineart = PromptCreate.parse({"text": "a portrait", "input_image": Upload(photo, "p.png"), "controlnet": "lineart"})
    with pytest.raises(InvalidFieldError) as caught:
        services.prompts.submit(account, get_base_model("tiny-xl").gallery_id, lineart)  # the tiny SDXL model
    assert caught.value.field == "controlnet" and caught.value.details["offered"] == ["canny", "depth", "pose"]


@pytest.fixture
def photo_url(photo):
    """A local web server with the photo at /photo.png and a page at /page.html."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body, kind = (photo, "image/png") if self.path == "/photo.png" else (b"<html>hi</html>", "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_url_is_fetched_under_the_tune_photo_rules(tmp_path, monkeypatch, photo, photo_url):
    from lookalike.config import Settings
    from lookalike.errors import ImageUrlNotImageError
    from lookalike.services import Services

    monkeypatch.setenv("LOOKALIKE_FETCH_ALLOW_PRIVATE", "true")  # as the tune URL tests: loopback is allowed
    local = Services(Settings(data_dir=tmp_path / "data"))
    try:
        account = local.accounts.create_key(name="urls").account_id
        url = f"{photo_url}/photo.png"
        request = PromptCreate.parse({"text": "a portrait", "input_image_url": url, "denoising_strength": "0.5"})
        row, _ = local.prompts.submit(account, TINY, request, "url-key")
        assert row.options["input_image"]["url"] == url and local.blobs.get(row.options["input_image"]["key"]) == photo
        assert local.prompts.submit(account, TINY, request, "url-key")[0].id == row.id  # known by its URL
        page = PromptCreate.parse({"text": "a portrait", "input_image_url": f"{photo_url}/page.html"})
        with pytest.raises(ImageUrlNotImageError) as caught:
            local.prompts.submit(account, TINY, page)
        assert caught.value.field == "input_image_url"
    finally:
        local.close()


def test_a_tunes_prompts_attributes_may_bring_an_input_image(services, account, photo):
    from lookalike.schemas import TuneCreate

    request = TuneCreate.parse({
        "title": "with a pose", "name": "woman", "branch": "fast", "images": [Upload(photo, "me.png")],
        "prompts_attributes": [{"text": "dancing", "input_image": Upload(photo, "pose.png"), "controlnet": "pose"}],
    })
    made = services.intake.create(account, request, idempotency_key="tune-with-image")
    (prompt,) = made.prompts
    assert prompt.options["resolved"]["controlnet"] == "pose"
    assert services.blobs.get(prompt.options["input_image"]["key"]) == photo
    assert not services.intake.create(account, request, idempotency_key="tune-with-image").created
