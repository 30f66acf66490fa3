"""The blob store contract, held by the local directory and by S3 (moto's real server on loopback)."""

from __future__ import annotations

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
