"""Fetching photos by URL against a local server: limits, redirects, address checks, DNS pinning, TLS."""

from __future__ import annotations

import socket
import time

import pytest

from lookalike.errors import (
    ImageUrlError,
    ImageUrlForbiddenError,
    ImageUrlInvalidError,
    ImageUrlNotImageError,
    ImageUrlTimeoutError,
    ImageUrlTooLargeError,
    ImageUrlUnreachableError,
)
from lookalike.net import addresses, pinned
from lookalike.net.safe_fetch import FetchPolicy, fetch_image, fetch_images, sniff_image_type
from tests.net.conftest import JPEG, TLS_NAME

LIMITS = {"max_bytes": 1024 * 1024, "timeout_s": 5.0, "max_redirects": 3}


def fetch(url: str, *, allow_private: bool = True, **kwargs):
    return fetch_image(url, allow_private=allow_private, **{**LIMITS, **kwargs})


def test_a_photo_is_fetched_and_sniffed(photo_server):
    image = fetch(photo_server.url("/photo.jpg"))
    assert image.data == JPEG and image.content_type == "image/jpeg"
    assert fetch_image(photo_server.url("/photo.jpg"), allow_private=True, **LIMITS).data == JPEG


def test_the_bytes_decide_not_the_content_type_header(photo_server):
    assert fetch(photo_server.url("/photo-as-html")).content_type == "image/jpeg"
    with pytest.raises(ImageUrlNotImageError) as caught:
        fetch(photo_server.url("/page.html"), image_index=2)
    assert caught.value.code == "image_url_not_image" and caught.value.image_index == 2
    with pytest.raises(ImageUrlNotImageError):
        fetch(photo_server.url("/empty"))


def test_sniffing_knows_jpeg_png_webp_only():
    assert sniff_image_type(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "image/png"
    assert sniff_image_type(b"RIFF\x10\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"GIF89a" + b"\0" * 10) is None
    assert sniff_image_type(b"RIFF\x10\0\0\0WAVEfmt ") is None


def test_redirects_are_followed_up_to_the_limit(photo_server):
    image = fetch(photo_server.url("/redirect/2"))  # 3 redirects, the limit
    assert image.data == JPEG and image.url == photo_server.url("/photo.jpg")
    assert fetch(photo_server.url("/absolute-redirect")).data == JPEG
    with pytest.raises(ImageUrlUnreachableError) as caught:
        fetch(photo_server.url("/redirect/3"), image_index=0)  # 4 redirects
    assert caught.value.details["reason"] == "too_many_redirects"
    assert caught.value.to_dict()["image_index"] == 0
    with pytest.raises(ImageUrlUnreachableError):
        fetch(photo_server.url("/redirect/0"), max_redirects=0)


def test_a_redirect_to_another_scheme_is_not_followed(photo_server):
    with pytest.raises(ImageUrlUnreachableError) as caught:
        fetch(photo_server.url("/to-file"))
    assert caught.value.details["reason"] == "bad_redirect"


def test_a_huge_body_is_cut_off_at_the_cap(photo_server):
    started = time.monotonic()
    with pytest.raises(ImageUrlTooLargeError) as caught:
        fetch(photo_server.url("/huge-announced"), image_index=1)
    assert caught.value.code == "image_url_too_large" and caught.value.image_index == 1
    assert caught.value.details["size"] == 50 * 1024 * 1024  # refused on the announced length
    # No Content-Length: stopped while reading, long before the 50 MB end.
    with pytest.raises(ImageUrlTooLargeError) as caught:
        fetch(photo_server.url("/huge-unannounced"))
    assert LIMITS["max_bytes"] < caught.value.details["size"] <= LIMITS["max_bytes"] + 256 * 1024
    assert time.monotonic() - started < 4


def test_a_slow_drip_is_stopped_by_the_total_time_limit(photo_server):
    # Each byte comes well within any per-read timeout; only a total limit stops this.
    started = time.monotonic()
    with pytest.raises(ImageUrlTimeoutError) as caught:
        fetch(photo_server.url("/slow"), timeout_s=1.0)
    assert caught.value.code == "image_url_timeout"
    assert time.monotonic() - started < 3.0  # the limit plus slack for a busy machine


def test_a_silent_server_times_out(photo_server):
    started = time.monotonic()
    with pytest.raises(ImageUrlTimeoutError):
        fetch(photo_server.url("/silent"), timeout_s=0.5)
    assert time.monotonic() - started < 2.5  # well before the server's 3 s


def test_error_statuses_and_closed_ports_are_unreachable(photo_server):
    with pytest.raises(ImageUrlUnreachableError) as caught:
        fetch(photo_server.url("/missing"))
    assert caught.value.details["status"] == 404
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(ImageUrlUnreachableError):
            fetch(f"http://127.0.0.1:{closed}/photo.jpg")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.jpg", "file:///etc/passwd", "http://user:pw@example.com/a.jpg", "http:///a.jpg", "not a url",
     "http://example.com:99999/", "http://exa mple.com/", "http://example.com/a\r\nX: y", "https://" + "a" * 3000],
)
def test_malformed_urls_are_invalid(url):
    with pytest.raises(ImageUrlInvalidError) as caught:
        fetch(url, image_index=4, field="tune[image_urls][4]")
    assert caught.value.code == "image_url_invalid"
    assert caught.value.to_dict()["field"] == "tune[image_urls][4]"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1", "2130706433", "0x7f.1"])
def test_loopback_is_refused_in_every_spelling(photo_server, host):
    url = f"http://{host}:{photo_server.port}/photo.jpg"
    with pytest.raises(ImageUrlForbiddenError) as caught:
        fetch(url, allow_private=False, image_index=0)
    assert caught.value.code == "image_url_forbidden" and caught.value.image_index == 0
    assert photo_server.seen == []  # refused before any connection


def test_every_resolved_address_must_be_public(photo_server):
    with pytest.raises(ImageUrlForbiddenError):
        fetch("http://mixed.example.test/photo.jpg", allow_private=False, resolver=lambda host, port: ["8.8.8.8", "10.0.0.1"])


def test_each_redirect_hop_is_checked_again(photo_server, monkeypatch):
    # Treat 127.0.0.1 as public for this test, so that the first hop passes and the
    # redirect to 127.0.0.2 (still this machine's loopback) is what gets refused.
    real = addresses.refusal_reason
    monkeypatch.setattr(addresses, "refusal_reason", lambda a: None if str(a) == "127.0.0.1" else real(a))
    photo_server.redirect_elsewhere = f"http://127.0.0.2:{photo_server.port}/photo.jpg"
    assert fetch(photo_server.url("/photo.jpg"), allow_private=False).data == JPEG
    with pytest.raises(ImageUrlForbiddenError) as caught:
        fetch(photo_server.url("/to-loopback2"), allow_private=False)
    assert "127.0.0.2" in caught.value.message
    assert [s.path for s in photo_server.seen] == ["/photo.jpg", "/to-loopback2"]


def test_dns_is_resolved_once_and_the_connection_goes_to_the_checked_address(photo_server, monkeypatch):
    """DNS rebinding: the first answer is checked and used; later answers are never asked for."""
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding_dns(host, port, *args, **kwargs):
        if host == "rebind.example.test":
            lookups.append(host)
            # First answer: this server. Any later one: an address nothing listens on.
            address = "127.0.0.1" if len(lookups) == 1 else "127.0.0.3"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    image = fetch(f"http://rebind.example.test:{photo_server.port}/photo.jpg")
    assert image.data == JPEG
    assert lookups == ["rebind.example.test"]
    # The request reached the checked address, named by the host in the URL.
    assert photo_server.seen[0].client == "127.0.0.1"
    assert photo_server.hosts == [f"rebind.example.test:{photo_server.port}"]


def test_the_pinned_connection_reports_its_peer(photo_server):
    target = pinned.resolve_url(
        f"http://named.example.test:{photo_server.port}/photo.jpg",
        allow_private=True,
        resolver=lambda host, port: ["127.0.0.1"],
    )
    reply = pinned.exchange(target, "GET", deadline=pinned.deadline_after(5))
    assert reply.status == 200 and reply.peer == "127.0.0.1" and reply.body == JPEG
    assert photo_server.hosts == [f"named.example.test:{photo_server.port}"]


def test_https_uses_the_name_for_sni_and_the_certificate(tls_photo_server, pki):
    url = f"https://{TLS_NAME}:{tls_photo_server.port}/photo.jpg"
    image = fetch(url, resolver=lambda host, port: ["127.0.0.1"], ssl_context=pki.client_context())
    assert image.data == JPEG
    assert tls_photo_server.sni == [TLS_NAME]
    assert tls_photo_server.hosts == [f"{TLS_NAME}:{tls_photo_server.port}"]


def test_https_refuses_a_certificate_for_another_name(tls_photo_server, pki):
    # The address is the same; the name in the URL is not the certificate's.
    url = f"https://other.example.test:{tls_photo_server.port}/photo.jpg"
    with pytest.raises(ImageUrlUnreachableError) as caught:
        fetch(url, resolver=lambda host, port: ["127.0.0.1"], ssl_context=pki.client_context())
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message or "certificate" in caught.value.message.lower()
    with pytest.raises(ImageUrlUnreachableError):  # nor an untrusted one (default roots)
        fetch(f"https://{TLS_NAME}:{tls_photo_server.port}/photo.jpg", resolver=lambda host, port: ["127.0.0.1"])


def test_unresolvable_names_are_unreachable():
    def nx(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ImageUrlUnreachableError) as caught:
        fetch("http://nothing.example.test/a.jpg", resolver=nx)
    assert caught.value.details["reason"] == "dns"


def test_fetch_images_keeps_order_and_reports_the_first_failing_index(photo_server):
    policy = FetchPolicy(allow_private=True, **LIMITS)
    urls = [photo_server.url("/photo.jpg"), photo_server.url("/redirect/1")]
    assert [i.data for i in fetch_images(urls, policy)] == [JPEG, JPEG]
    with pytest.raises(ImageUrlError) as caught:
        fetch_images([photo_server.url("/photo.jpg"), photo_server.url("/page.html"), photo_server.url("/missing")], policy)
    assert caught.value.code == "image_url_not_image"
    assert caught.value.image_index == 1 and caught.value.field == "tune[image_urls][1]"


def test_policy_from_settings():
    from lookalike.config import Settings

    settings = Settings(fetch_allow_private=True, fetch_timeout_s=3, fetch_max_redirects=1, max_upload_bytes=1234)
    assert FetchPolicy.from_settings(settings) == FetchPolicy(allow_private=True, max_bytes=1234, timeout_s=3, max_redirects=1)
