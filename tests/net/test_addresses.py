"""The address policy shared by callbacks and photo fetching."""

from __future__ import annotations

import socket
import time

import pytest

from lookalike.net import addresses
from lookalike.net.addresses import embedded_ipv4, is_public, refusal_reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "private"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("192.0.2.7", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fe80::1%lo", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("2001:db8::1", "private"),
        ("64:ff9b:1::1", "reserved"),  # local-use NAT64: translates to whatever the site chose
    ],
)
def test_non_public_addresses_are_refused(address, reason):
    assert refusal_reason(address) == reason
    assert not is_public(address)


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("64:ff9b::7f00:1", "127.0.0.1"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:7f00:1::", "127.0.0.1"),  # 6to4
        ("2002:c0a8:101::1", "192.168.1.1"),
        ("::7f00:1", "127.0.0.1"),  # IPv4-compatible
        ("::e000:1", "224.0.0.1"),
    ],
)
def test_ipv6_forms_are_judged_by_the_ipv4_inside(address, inner):
    reason = refusal_reason(address)
    assert reason is not None and f"IPv4 {inner} inside" in reason


def test_teredo_is_refused_and_names_a_bad_inner_address():
    # Server 65.54.227.120, client 192.168.1.1 (obfuscated in the last 48 bits).
    teredo_private = "2001:0:4136:e378:8000:63bf:3f57:fefe"
    assert "192.168.1.1" in refusal_reason(teredo_private)
    # Both inner addresses public (client 8.8.8.8): still refused, Teredo reaches anything.
    assert refusal_reason("2001:0:4136:e378:8000:63bf:f7f7:f7f7") == "Teredo tunnel"


@pytest.mark.parametrize(
    "address",
    ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "::808:808"],
)
def test_public_addresses_pass_in_every_form(address):
    # NAT64 to a public IPv4 must pass: IPv6-only hosts with DNS64 reach IPv4 sites that way.
    assert refusal_reason(address) is None


def test_embedded_ipv4_of_plain_ipv6_is_empty():
    from ipaddress import ip_address

    assert embedded_ipv4(ip_address("2606:4700::1")) == ()
    assert embedded_ipv4(ip_address("::1")) == ()
    assert [str(a) for a in embedded_ipv4(ip_address("64:ff9b::102:304"))] == ["1.2.3.4"]


def test_not_an_address():
    assert refusal_reason("example.com") == "not an IP address"


def test_resolve_returns_literals_without_a_lookup(monkeypatch):
    def no_dns(*_args, **_kwargs):
        raise AssertionError("an IP literal needs no lookup")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert addresses.resolve("127.0.0.1", 80) == ["127.0.0.1"]
    assert addresses.resolve("::1", 80) == ["::1"]


def test_resolve_gives_up_after_its_timeout(monkeypatch):
    def slow(*_args, **_kwargs):
        time.sleep(2)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        addresses.resolve("slow.example.test", 80, timeout_s=0.2)
    assert time.monotonic() - started < 1.5


def test_resolve_keeps_every_answer_once(monkeypatch):
    def fake(host, port, *args, **kwargs):
        assert host == "two.example.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.5", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert addresses.resolve("two.example.test", 443, timeout_s=5) == ["203.0.113.5", "2001:db8::5"]
