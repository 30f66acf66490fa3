"""Which addresses a user's URL may make this server connect to.

The policy: only public unicast addresses. Refused are loopback, private
(RFC 1918, ULA, CGNAT 100.64/10), link-local (cloud metadata at
169.254.169.254), multicast, unspecified, reserved, site-local and anything
else Python does not call global. An IPv6 address that carries an IPv4
address inside it (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) is judged
by that IPv4 address, because the packets end up there: ``::ffff:127.0.0.1``
is loopback, ``64:ff9b::808:808`` is 8.8.8.8 through a NAT64 gateway.

Judging an IPv6 form by its IPv4 also lets the good ones through: on an
IPv6-only host with DNS64, public IPv4-only sites resolve to ``64:ff9b::/96``
and must stay reachable. Teredo (``2001::/32``) is refused whatever it
carries (nothing legitimate serves photos or receives callbacks through it);
the reason names its embedded server or client address when one is not public.
"""

from __future__ import annotations

import socket
import threading
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

_NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix; the local-use /48 stays refused


def parse_address(text: str | IPAddress) -> IPAddress:
    """An address from a literal, a zone id (``fe80::1%eth0``) kept; ``ValueError`` when it is not one."""
    if isinstance(text, (IPv4Address, IPv6Address)):
        return text
    return ip_address(text)


def embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address stands for (none for a plain IPv6 address)."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    value = int(address)
    # IPv4-compatible (::a.b.c.d, deprecated); :: and ::1 are themselves, not IPv4.
    if value >> 32 == 0 and value > 1:
        return (IPv4Address(value),)
    return ()


def refusal_reason(address: str | IPAddress) -> str | None:
    """Why a user's URL must not reach this address, or None when it is public."""
    try:
        address = parse_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(address, IPv6Address):
        inner = embedded_ipv4(address)
        for ipv4 in inner:
            reason = _plain_refusal(ipv4)
            if reason is not None:
                return f"{reason} (IPv4 {ipv4} inside)"
        if address.teredo is not None:
            return "Teredo tunnel"
        if inner and (address.ipv4_mapped is not None or address in _NAT64 or int(address) >> 32 == 0):
            # Pure encodings of an IPv4 address: its verdict is the whole verdict
            # (Python calls ::/8 "reserved", which would refuse all of NAT64).
            return None
    return _plain_refusal(address)


def _plain_refusal(address: IPAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "site-local"
    if isinstance(address, IPv4Address) and address in IPv4Network("100.64.0.0/10"):
        return "shared (CGNAT)"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not global"
    return None


def is_public(address: str | IPAddress) -> bool:
    return refusal_reason(address) is None


def resolve(host: str, port: int, *, timeout_s: float | None = None) -> list[str]:
    """Every address ``host`` resolves to, as connectable literals (zone ids kept), in the resolver's order.

    An IP literal comes back as itself without a lookup. ``socket.gaierror``
    when the name does not resolve; ``TimeoutError`` after ``timeout_s``
    (getaddrinfo has no timeout of its own, so it runs in a daemon thread that
    is left to finish on its own).
    """
    try:
        return [str(parse_address(host))]
    except ValueError:
        pass

    def lookup() -> list[str]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        seen: dict[str, None] = {}
        for info in infos:
            seen.setdefault(str(info[4][0]), None)
        return list(seen)

    if timeout_s is None:
        return lookup()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["addresses"] = lookup()
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="lookalike-resolve", daemon=True)
    thread.start()
    thread.join(max(timeout_s, 0.0))
    if thread.is_alive():
        raise TimeoutError(f"resolving {host!r} took longer than {timeout_s:.1f} s")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, UnicodeError):
            raise socket.gaierror(f"{host!r} is not a valid host name") from error
        raise error  # type: ignore[misc]
    return outcome["addresses"]  # type: ignore[return-value]
