"""lookalike.client.Client against a live server: the whole flow and typed errors."""

from __future__ import annotations

import pytest

from lookalike.client import Client
from lookalike.errors import AuthError, IdempotencyKeyReusedError, NoFaceError, PromptNotFoundError, ServerUnreachableError, TuneNotFoundError
from tests.api.conftest import free_port


@pytest.fixture(scope="module")
def client(fake_server):
    key = fake_server.new_key("client")
    with Client(fake_server.url, key["key"]) as c:
        yield c


def test_tune_prompt_wait_download(client, photo_files, tmp_path):
    tune = client.create_tune("Client Ada", "woman", [photo_files["1.jpg"], photo_files["2.jpg"]], base_tune_id=999)
    assert client.get_tune(tune["id"])["title"] == "Client Ada"
    # The same Idempotency-Key replays the first tune (a retry after a dropped connection);
    # the same key with other photos is refused; a new call is a new tune (Astria's default).
    again = client.create_tune("Client Ada", "woman", [photo_files["1.jpg"], photo_files["2.jpg"]], base_tune_id=999, idempotency_key="k1")
    assert client.create_tune("Client Ada", "woman", [photo_files["1.jpg"], photo_files["2.jpg"]], base_tune_id=999, idempotency_key="k1")["id"] == again["id"]
    with pytest.raises(IdempotencyKeyReusedError):
        client.create_tune("Client Ada", "woman", [photo_files["1.jpg"]], base_tune_id=999, idempotency_key="k1")
    client.delete_tune(again["id"])
    assert [t["id"] for t in client.list_tunes()] == [tune["id"]]
    assert any(g["id"] == 999 for g in client.gallery())
    prompt = client.create_prompt(999, f"<faceid:{tune['id']}:1.0> portrait", num_images=2, seed=3)
    done = client.wait(prompt, timeout=30)
    assert done["status"] == "succeeded"
    paths = client.download(done, tmp_path / "out")
    assert [p.name for p in paths] == [f"prompt-{done['id']}-0.png", f"prompt-{done['id']}-1.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    assert [p["id"] for p in client.list_prompts(999)] == [done["id"]]
    client.delete_prompt(done)
    with pytest.raises(PromptNotFoundError):
        client.get_prompt(done["id"])
    client.delete_tune(tune["id"])
    with pytest.raises(TuneNotFoundError) as info:
        client.get_tune(tune["id"])
    assert info.value.status == 404


def test_errors_are_typed(client, fake_server, photo_files):
    with pytest.raises(NoFaceError) as info:
        client.create_tune("cat", "woman", [photo_files["cat.jpg"]])
    assert info.value.status == 422 and info.value.image_index == 0 and info.value.hint
    with Client(fake_server.url, "lk_wrong") as stranger, pytest.raises(AuthError):
        stranger.list_tunes()
    with Client(f"http://127.0.0.1:{free_port()}", "k", max_retries=0) as nowhere, pytest.raises(ServerUnreachableError):
        nowhere.list_tunes()
