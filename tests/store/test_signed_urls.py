"""Signed, expiring image links: HMAC over path and expiry, key from the settings or shared through the database."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from lookalike.config import Settings
from lookalike.store.database import make_engine, migrate, session_factory
from lookalike.store.signed_urls import SIGNING_KEY_NAME, UrlSigner, load_signing_key, presigned_blob_url
from lookalike.store.tables import ServerSecretRow

KEY = b"k" * 32
NOW = 1_700_000_000
PATH = "/prompts/12/images/0.png"


def signer(key: bytes = KEY, ttl_s: int = 3600) -> UrlSigner:
    return UrlSigner(key, ttl_s=ttl_s, clock=lambda: NOW)


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def test_a_signed_path_verifies_until_it_expires():
    query = signer().sign(PATH)
    fields = {k: v[0] for k, v in parse_qs(query).items()}
    assert set(fields) == {"expires", "signature"} and int(fields["expires"]) == NOW + 3600
    assert signer().verify(PATH, query)
    assert signer().verify(PATH, fields)  # request.query_params works as well
    assert signer().verify(PATH, query, now=NOW + 3599)
    assert not signer().verify(PATH, query, now=NOW + 3600)  # expired at the second it names
    assert signer().signed_path(PATH) == f"{PATH}?{query}"


def test_an_explicit_expiry_is_signed():
    query = signer().sign(PATH, expires_at=NOW + 10)
    assert "expires=1700000010" in query and signer().verify(PATH, query)
    assert not signer().verify(PATH, query.replace("1700000010", "1700000011"))  # stretched expiry


@pytest.mark.parametrize(
    "other_path", ["/prompts/12/images/1.png", "/prompts/13/images/0.png", "/prompts/12/images/0.png/", "prompts/12/images/0.png", "/tunes/12"]
)
def test_a_signature_is_for_one_path_only(other_path):
    assert not signer().verify(other_path, signer().sign(PATH))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "expires=1700003600",
        "signature=abc",
        "expires=abc&signature=abc",
        "expires=+1700003600&signature=x",
        "expires=1700003600&signature=",
        "expires=99999999999999999999&signature=x",
    ],
)
def test_malformed_queries_are_refused(query):
    assert not signer().verify(PATH, query)


def test_tampered_signature_or_other_key_is_refused():
    query = signer().sign(PATH)
    expires, signature = (parse_qs(query)[name][0] for name in ("expires", "signature"))
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not signer().verify(PATH, {"expires": expires, "signature": flipped})
    assert not signer(b"z" * 32).verify(PATH, query)
    # A repeated field is ambiguous (which one would a proxy pass on?): refused.
    assert not signer().verify(PATH, f"{query}&expires={expires}")


def test_paths_with_a_query_cannot_be_signed_and_short_keys_are_refused():
    with pytest.raises(ValueError):
        signer().sign("/prompts/1/images/0.png?x=1")
    with pytest.raises(ValueError):
        signer().sign("relative/path")
    with pytest.raises(ValueError):
        UrlSigner(b"short", ttl_s=60)


def test_the_configured_key_wins(sessions):
    assert load_signing_key(sessions, "from-the-environment-0123") == b"from-the-environment-0123"
    with sessions() as session:
        assert session.get(ServerSecretRow, SIGNING_KEY_NAME) is None  # nothing written


def test_without_a_configured_key_one_is_made_once_and_shared(sessions):
    first = load_signing_key(sessions)
    assert len(first) >= 32
    assert load_signing_key(sessions) == first
    # Servers starting together agree on one key.
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_signing_key(sessions))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(keys) == {first}


def test_two_servers_on_one_database_verify_each_others_links(tmp_path, sessions):
    settings = Settings(data_dir=tmp_path, signed_url_ttl_s=600)
    one, two = UrlSigner.from_settings(settings, sessions), UrlSigner.from_settings(settings, sessions)
    assert two.verify(PATH, one.sign(PATH))
    configured = Settings(data_dir=tmp_path, url_signing_key=SecretStr("x" * 20))
    assert not UrlSigner.from_settings(configured, sessions).verify(PATH, one.sign(PATH))
    assert Settings(data_dir=tmp_path).signed_url_ttl_s == 7 * 24 * 3600


def test_presigned_urls_only_for_s3(tmp_path):
    import boto3

    from lookalike.store.blobs import LocalBlobStore
    from lookalike.store.blobs_s3 import S3BlobStore

    assert presigned_blob_url(LocalBlobStore(tmp_path), "prompts/1/0.png", 60) is None
    # Presigning is local computation: no request leaves the machine.
    client = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    url = presigned_blob_url(S3BlobStore(client, "bucket", "pre"), "prompts/1/0.png", 60)
    assert url.startswith("http://127.0.0.1:9/bucket/pre/prompts/1/0.png?")
    assert "Signature" in url and "Expires" in url
