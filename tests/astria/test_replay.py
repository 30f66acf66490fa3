"""Astria's own documented examples, replayed against a real `lookalike serve`: only the host is changed.

The curl commands are copied from Astria's docs (docs/ASTRIA_FACTS.md names
the page of each) and run by bash and curl as a user would run them;
placeholders the docs leave for the reader (``tune_id:strength``) are
filled in, nothing else. The server runs prompts with the fake engine
(tests/api/fake_engine.py): these tests are about the contract (paths,
fields, statuses, links), not pixels.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import FAKE_ENGINE_ENV, Server, wait_done
from tests.conftest import encode
from tests.photos import brighter

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

ASTRIA = "https://api.astria.ai"


@pytest.fixture(scope="module")
def astria_server(tmp_path_factory):
    env = {**FAKE_ENGINE_ENV, "LOOKALIKE_FETCH_ALLOW_PRIVATE": "true"}
    server = Server(tmp_path_factory.mktemp("astria") / "data", env=env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def key(astria_server) -> str:
    return astria_server.new_key("astria-replay")["key"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, astronaut) -> Path:
    """An empty folder with 1.jpg to 4.jpg (one person), as the docs' curls expect."""
    root = tmp_path_factory.mktemp("curl")
    for n, image in enumerate([astronaut, brighter(astronaut), astronaut, brighter(astronaut)], start=1):
        (root / f"{n}.jpg").write_bytes(encode(image, "JPEG", quality=90 + n))
    return root


def run_curl(script: str, server: Server, key: str, cwd: Path) -> tuple[int, dict | list]:
    """Run a documented curl command with bash's defaults; returns (HTTP status, JSON body)."""
    script = script.replace(ASTRIA, server.url).replace("http://localhost:3000", server.url)
    # -w appends the status on its own line; -s keeps progress meters out of the output.
    script = script.replace("curl -X", "curl -s -w '\\n%{http_code}' -X", 1)
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env={"API_KEY": key, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body)


# docs/features/faceid.md, step 1, "With images as multipart/form-data" (verbatim).
FACEID_STEP_1 = """curl -X POST -H "Authorization: Bearer $API_KEY" https://api.astria.ai/tunes \\
          -F tune[title]="John Doe - UUID - 1234-6789-1234-56789" \\
          -F tune[name]=man \\
          -F tune[model_type]="faceid" \\
          -F tune[callback]="https://optional-callback-url.com/webhooks/astria?user_id=1&tune_id=1" \\
          -F tune[base_tune_id]=690204 \\
          -F "tune[images][]=@1.jpg" \\
          -F "tune[images][]=@2.jpg" \\
          -F "tune[images][]=@3.jpg" \\
          -F "tune[images][]=@4.jpg"
"""

# docs/features/faceid.md, step 2 (verbatim but for the reader's placeholders).
FACEID_STEP_2 = """curl -X POST -H "Authorization: Bearer $API_KEY" https://api.astria.ai/tunes/690204/prompts \\
          -F prompt[text]="<faceid:tune_id:strength> woman trekking in the alps" \\
          -F prompt[negative_prompt]="" \\
          -F prompt[super_resolution]=true \\
          -F prompt[face_correct]=true \\
          -F prompt[face_swap]=true \\
          -F prompt[callback]="https://optional-callback-url.com/to-your-service-when-ready?prompt_id=1" 
"""

# The FaceID guide's headshot example, with the token as the guide's HTML spells it, sent intact.
FACEID_HEADSHOT = """curl -X POST -H "Authorization: Bearer $API_KEY" https://api.astria.ai/tunes/690204/prompts \\
          --form-string prompt[text]="A professional headshot of a female software engineer, wearing a blue blazer, studio lighting &lt;faceid:TUNE_ID:1.0>" \\
          -F prompt[negative_prompt]="unprofessional, casual, blurry, low resolution" \\
          -F prompt[super_resolution]=true \\
          -F prompt[face_correct]=true
"""

# docs/api/1-prompt/1-create.md (verbatim, on the person's own tune).
PROMPT_CREATE = """curl -X POST -H "Authorization: Bearer $API_KEY" https://api.astria.ai/tunes/1/prompts \\
          -F prompt[text]="a painting of ohwx man in the style of Van Gogh" \\
          -F prompt[negative_prompt]="old, blemish, wrin" \\
          -F prompt[super_resolution]=true \\
          -F prompt[face_correct]=true \\
          -F prompt[callback]="https://optional-callback-url.com/to-your-service-when-ready?prompt_id=1" 
"""

# docs/api/0-tune/1-create.md, first example: a Flux LoRA, which this server does not train.
LORA_CREATE = """curl -X POST -H "Authorization: Bearer $API_KEY" http://localhost:3000/tunes \\
          -F "tune[title]=Jane Doe - UUID - 1234-6789-1234-56789" \\
          -F "tune[name]=woman" \\
          -F "tune[base_tune_id]=1504944" \\
          -F "tune[model_type]=lora" \\
          -F "tune[token]=ohwx" \\
          -F "tune[images][]=@1.jpg" \\
          -F "tune[images][]=@2.jpg"
"""


def test_faceid_guide_end_to_end(astria_server, key, workdir):
    status, tune = run_curl(FACEID_STEP_1, astria_server, key, workdir)
    assert status == 201, tune
    assert tune["name"] == "man" and tune["model_type"] == "faceid" and tune["branch"] == "sd15"
    assert tune["base_tune_id"] == 690204 and tune["trained_at"] and tune["eta"] == tune["trained_at"]
    assert tune["url"] == f"{astria_server.url}/tunes/{tune['id']}.json"
    assert tune["ckpt_url"] is None and tune["ckpt_urls"] == [] and len(tune["orig_images"]) == 4
    assert tune["id"] > 690204  # no user tune id can be a gallery id
    for url in tune["orig_images"]:
        photo = httpx.get(url)  # a plain link: no key
        assert photo.status_code == 200 and photo.headers["content-type"].startswith("image/")

    step_2 = FACEID_STEP_2.replace("tune_id:strength", f"{tune['id']}:1")
    # As printed, curl itself refuses this command before anything is sent: a -F value that
    # starts with "<" means "read this file" to curl (exit 26), against Astria as here. The
    # value is sent intact with --form-string, which is how the guide's text must be posted.
    assert subprocess.run(["bash", "-c", step_2.replace(ASTRIA, astria_server.url)], cwd=workdir,
                          env={"API_KEY": key, "PATH": "/usr/bin:/bin"}, capture_output=True).returncode == 26
    step_2 = step_2.replace("-F prompt[text]=", "--form-string prompt[text]=")
    status, prompt = run_curl(step_2, astria_server, key, workdir)
    assert status == 201, prompt
    assert prompt["tune_id"] == 690204 and prompt["trained_at"] is None
    assert prompt["cfg_scale"] is None and prompt["steps"] is None and prompt["seed"] is None
    assert prompt["super_resolution"] and prompt["face_correct"] and prompt["face_swap"]
    assert prompt["url"].endswith(f"/tunes/690204/prompts/{prompt['id']}.json")

    status, headshot = run_curl(FACEID_HEADSHOT.replace("TUNE_ID", str(tune["id"])), astria_server, key, workdir)
    assert status == 201, headshot
    assert "&lt;faceid" in headshot["text"]

    with astria_server.client(key) as client:
        done = wait_done(client, headshot["id"])
        assert done["status"] == "succeeded" and done["trained_at"] and done["images"]
        # The .json URL Astria clients follow is the same resource.
        assert client.get(f"/tunes/690204/prompts/{headshot['id']}.json").json()["id"] == headshot["id"]
        assert client.get(f"/tunes/{tune['id']}.json").json()["id"] == tune["id"]
    for url in done["images"]:
        image = httpx.get(url)  # no key: the link is signed
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_prompt_create_example_on_the_persons_own_tune(astria_server, key, workdir):
    status, tune = run_curl(FACEID_STEP_1.replace("John Doe", "Own tune"), astria_server, key, workdir)
    assert status == 201
    status, prompt = run_curl(PROMPT_CREATE.replace("/tunes/1/", f"/tunes/{tune['id']}/"), astria_server, key, workdir)
    assert status == 201, prompt
    assert prompt["tune_id"] == tune["id"] and prompt["negative_prompt"] == "old, blemish, wrin"
    assert prompt["callback"] == "https://optional-callback-url.com/to-your-service-when-ready?prompt_id=1"
    # docs/api/1-prompt/5-delete.md
    deleted = subprocess.run(
        ["curl", "-s", "-X", "DELETE", "-H", f"Authorization: Bearer {key}", f"{astria_server.url}/prompts/{prompt['id']}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(deleted.stdout)["message"] == "Prompt successfully deleted"


def test_a_lora_tune_is_refused_by_name_not_half_made(astria_server, key, workdir):
    status, body = run_curl(LORA_CREATE, astria_server, key, workdir)
    assert status == 422
    assert body["code"] in ("invalid_field", "unknown_base_model") and "tune[" in body["field"]
    with astria_server.client(key) as client:
        assert all(t["title"] != "Jane Doe - UUID - 1234-6789-1234-56789" for t in client.get("/tunes").json())


class _Photos(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 - the stdlib's name
        data = self.files.get(self.path)
        self.send_response(200 if data else 404)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *_args):
        pass


def test_a_json_client_with_image_urls_polls_and_opens_images_without_the_key(astria_server, key, workdir):
    _Photos.files = {f"/{n}.jpg": (workdir / f"{n}.jpg").read_bytes() for n in (1, 2)}
    photos = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Photos)
    threading.Thread(target=photos.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{photos.server_address[1]}"
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = {"tune": {"title": "By URL", "name": "man", "model_type": "faceid", "image_urls": [f"{base}/1.jpg", f"{base}/2.jpg"]}}
        tune = httpx.post(f"{astria_server.url}/tunes", content=json.dumps(body), headers=headers, timeout=60)
        assert tune.status_code == 201, tune.text
        tune = tune.json()
        assert len(tune["orig_images"]) == 2
        prompt = httpx.post(
            f"{astria_server.url}/tunes/690204/prompts",
            json={"prompt": {"text": f"a portrait <faceid:{tune['id']}:1>", "num_images": 2}},
            headers=headers,
        ).json()
        deadline = time.monotonic() + 30
        while not prompt.get("images") and time.monotonic() < deadline:
            time.sleep(0.2)
            prompt = httpx.get(prompt["url"], headers=headers).json()
        assert len(prompt["images"]) == 2
        for url in prompt["images"]:
            assert httpx.get(url).status_code == 200
        missing = httpx.post(
            f"{astria_server.url}/tunes",
            json={"tune": {"title": "Missing", "name": "man", "image_urls": [f"{base}/1.jpg", f"{base}/9.jpg"]}},
            headers=headers,
        )
        assert missing.status_code == 422
        assert missing.json()["code"] == "image_url_unreachable" and missing.json()["image_index"] == 1
    finally:
        photos.shutdown()


@pytest.fixture(scope="module")
def real_engine_server(tmp_path_factory):
    """The built-in engine, with no base model weights on disk: any real generation is a 503."""
    server = Server(tmp_path_factory.mktemp("astria-real") / "data")
    server.start()
    yield server
    server.stop()


def test_branch_fast_is_a_mock_that_never_loads_a_model(real_engine_server, workdir):
    key = real_engine_server.new_key("mock")["key"]
    with real_engine_server.client(key) as client:
        real = client.post("/tunes/690204/prompts", data={"prompt[text]": "a portrait"})
        assert real.status_code == 503 and real.json()["code"] == "model_unavailable"
        tune = client.post(
            "/tunes",
            data={"tune[title]": "Grumpy cat", "tune[name]": "cat", "tune[branch]": "fast"},
            files=[("tune[images][]", ("1.jpg", (workdir / "1.jpg").read_bytes(), "image/jpeg"))],
        )
        assert tune.status_code == 201, tune.text
        tune = tune.json()
        assert tune["branch"] == "fast" and tune["name"] == "cat"
        prompt = client.post(f"/tunes/{tune['id']}/prompts", data={"prompt[text]": "a cat astronaut", "prompt[num_images]": "3"})
        assert prompt.status_code == 201, prompt.text
        done = wait_done(client, prompt.json()["id"])
        assert done["status"] == "succeeded" and len(done["images"]) == 3
        assert all(detail["postprocess"] is None for detail in done["image_details"])
        # The FaceID flow on a gallery id with a mock tune in the text is a mock too.
        on_gallery = client.post("/tunes/690204/prompts", data={"prompt[text]": f"<faceid:{tune['id']}:1> a cat"})
        assert on_gallery.status_code == 201, on_gallery.text
        assert wait_done(client, on_gallery.json()["id"])["status"] == "succeeded"


# docs/api/0-tune/1-create.md's prompts_attributes form, on a FaceID tune.
WITH_PROMPTS = """curl -X POST -H "Authorization: Bearer $API_KEY" http://localhost:3000/tunes \\
          -F "tune[title]=Jane Doe - UUID - prompts" \\
          -F "tune[name]=man" \\
          -F "tune[base_tune_id]=690204" \\
          -F "tune[images][]=@1.jpg" \\
          -F "tune[images][]=@2.jpg" \\
          -F "tune[prompts_attributes][][text]=ohwx man holding flowers" \\
          -F "tune[prompts_attributes][][super_resolution]=true" \\
          -F "tune[prompts_attributes][][text]=ohwx man on a boat" \\
          -F "tune[prompts_attributes][][num_images]=2"
"""


def test_prompts_attributes_in_a_form_are_queued_with_the_tune(astria_server, key, workdir):
    status, tune = run_curl(WITH_PROMPTS, astria_server, key, workdir)
    assert status == 201, tune
    with astria_server.client(key) as client:
        prompts = client.get(f"/tunes/{tune['id']}/prompts").json()
    by_text = {p["text"]: p for p in prompts}
    face = f"<faceid:{tune['id']}:1>"
    assert set(by_text) == {f"{face} ohwx man holding flowers", f"{face} ohwx man on a boat"}
    assert by_text[f"{face} ohwx man holding flowers"]["super_resolution"] is True
    assert by_text[f"{face} ohwx man on a boat"]["num_images"] == 2
