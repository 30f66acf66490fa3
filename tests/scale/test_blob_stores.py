"""The blob store contract, held by the local directory and by S3 (moto's real server on loopback)."""

from __future__ import annotations

import time
import uuid

import pytest

from lookalike.config import Settings
from lookalike.errors import BlobStoreError
from lookalike.store.blobs import LocalBlobStore, open_blob_store
from lookalike.store.blobs_s3 import S3BlobStore

pytestmark = pytest.mark.s3


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    s3 = request.getfixturevalue("s3")
    env = s3.env("lookalike", f"t-{uuid.uuid4().hex[:8]}")
    settings = Settings(data_dir=tmp_path, **{k.removeprefix("LOOKALIKE_").lower(): v for k, v in env.items()})
    made = open_blob_store(settings)
    assert isinstance(made, S3BlobStore)
    return made


def test_put_get_overwrite_exists(store):
    store.put("prompts/1/a1/0.png", b"first")
    assert store.get("prompts/1/a1/0.png") == b"first"
    store.put("prompts/1/a1/0.png", b"second")
    assert store.get("prompts/1/a1/0.png") == b"second"
    assert store.exists("prompts/1/a1/0.png")
    assert not store.exists("prompts/1/a1/1.png")
    with pytest.raises(FileNotFoundError):
        store.get("prompts/1/a1/1.png")


def test_delete_prefix_takes_the_folder_and_nothing_beside_it(store):
    for key in ("prompts/1/a1/0.png", "prompts/1/a2/0.png", "prompts/10/a1/0.png"):
        store.put(key, key.encode())
    store.delete_prefix("prompts/1/a1")
    assert not store.exists("prompts/1/a1/0.png")
    assert store.exists("prompts/1/a2/0.png")
    store.delete_prefix("prompts/1")
    assert not store.exists("prompts/1/a2/0.png")
    assert store.exists("prompts/10/a1/0.png")  # a name that only starts the same is kept
    store.delete_prefix("prompts/nothing-here")  # no error


def test_list_prefixes_names_the_folders_directly_under(store):
    assert store.list_prefixes("tunes") == []
    for key in ("tunes/2/a.png", "tunes/2/b.png", "tunes/10/x/c.png", "tunes/loose.png", "tunesque/3/d.png"):
        store.put(key, key.encode())
    # One entry per folder (not per object), sorted; a loose key is no folder, a longer name is not under it.
    assert store.list_prefixes("tunes") == ["10", "2"]
    assert store.list_prefixes("tunes/10") == ["x"]
    assert store.list_prefixes("tunes/2") == []
    assert store.list_prefixes("nothing-here") == []


def test_last_modified_is_the_newest_key_under_the_folder(store):
    assert store.last_modified("tunes/1") is None
    before = time.time()
    store.put("tunes/1/a.png", b"a")
    store.put("tunes/1/deeper/b.png", b"b")
    changed = store.last_modified("tunes/1")
    # S3 keeps whole seconds; allow for that and a little clock skew on loopback.
    assert before - 2 <= changed <= time.time() + 2
    store.delete_prefix("tunes/1")
    assert store.last_modified("tunes/1") is None


@pytest.mark.parametrize("key", ["/abs", "../up", "a/../../b", ""])
def test_bad_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_s3_errors_are_typed(s3, tmp_path):
    env = s3.env("no-such-bucket", "")
    settings = Settings(data_dir=tmp_path, **{k.removeprefix("LOOKALIKE_").lower(): v for k, v in env.items()})
    with pytest.raises(BlobStoreError) as caught:
        open_blob_store(settings).put("a.png", b"x")
    assert caught.value.code == "blob_store_unavailable"
    with pytest.raises(BlobStoreError):
        open_blob_store(Settings(data_dir=tmp_path, blob_backend="s3"))  # no bucket named


def test_a_local_folder_removed_while_another_thread_removes_part_of_it(tmp_path, monkeypatch):
    """A prompt deleted while its worker drops an attempt's files: both removals succeed."""
    import os

    from lookalike.store.blobs import LocalBlobStore

    store = LocalBlobStore(tmp_path)
    store.put("prompts/7/a1/0.png", b"png")
    store.put("prompts/7/input.png", b"png")
    real_rmdir = os.rmdir

    def rmdir_after_the_other_thread(path, *args, **kwargs):
        if str(path).endswith("a1"):
            real_rmdir(path, *args, **kwargs)  # the worker got there first
        return real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", rmdir_after_the_other_thread)
    store.delete_prefix("prompts/7")
    assert not (tmp_path / "prompts" / "7").exists()
