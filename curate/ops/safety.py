"""Which addresses and URLs a crawler fed by web text may connect to: pure functions, no I/O.

A pool's URLs come from untrusted web pages. Without a check, a URL such as
``http://169.254.169.254/latest/meta-data/`` or ``http://10.0.0.5:8080/admin`` turns the
downloader against the network it runs in (server-side request forgery). The rule: only
*globally routable unicast* addresses are allowed. ``address_problem`` names the class of a
refused address; the connection code (``curate.io.fetch``) applies it to the address it is
about to connect to, on every redirect hop.

Addresses embedding an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
6to4 ``2002::/16``, Teredo) are judged by the embedded IPv4 address too, so
``::ffff:10.0.0.1`` is as private as ``10.0.0.1``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
LOOPBACK_ALLOWED = ("127.0.0.1", "::1")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address
    return None


def _category(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    # Order matters: the first matching class names the refusal (::1 is also "reserved").
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"  # includes 169.254.169.254, the cloud metadata service
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"  # RFC 1918, fc00::/7, documentation and benchmark ranges
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non_global"  # e.g. 100.64.0.0/10 carrier-grade NAT
    return None


def address_problem(address: str, allow_loopback: bool = False) -> str | None:
    """None if `address` (an IP literal) may be connected to, else its class: one of
    ``unspecified``, ``loopback``, ``link_local``, ``multicast``, ``private``, ``reserved``,
    ``non_global``, ``invalid``.

    ``allow_loopback`` allows exactly 127.0.0.1 and ::1 (tests and local pools), not the rest
    of 127.0.0.0/8.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return "invalid"
    if allow_loopback and str(ip) in LOOPBACK_ALLOWED:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the socket talks IPv4 to the embedded address
            return address_problem(str(ip.ipv4_mapped), allow_loopback)
        inner = _embedded_ipv4(ip)
        if inner is not None:
            problem = _category(inner)
            if problem:
                return problem
    return _category(ip)


def url_problem(url: str) -> str | None:
    """None for an http(s) URL with a host, else why not (a short text)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as e:
        return f"bad URL: {e}"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    if not host:
        return "URL has no host"
    return None
