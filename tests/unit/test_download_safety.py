"""Address and URL safety rules, and the check in the connection path. Nothing here connects
to a non-loopback address: refusals are checked by classification, and a guard fails the
test if any socket tries to connect elsewhere."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from curate.io import fetch
from curate.ops.safety import address_problem, url_problem


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any connect() to a non-loopback address fails the test before a packet leaves."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "::1"), f"test tried to connect to {host}"
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.mark.parametrize(
    "address, expected",
    [
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link_local"),  # cloud metadata service
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("::1", "loopback"),
        ("fe80::1", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("fc00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non_global"),  # carrier-grade NAT
        ("240.0.0.1", "private"),  # reserved class E (Python counts it as private)
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),  # documentation range
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("not an ip", "invalid"),
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:93.184.216.34", None),
    ],
)
def test_address_classes(address, expected):
    assert address_problem(address) == expected


@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1", None),
        ("::1", None),
        ("::ffff:127.0.0.1", None),
        ("127.0.0.2", "loopback"),  # only the two test addresses, not all of 127/8
        ("10.0.0.1", "private"),
        ("169.254.169.254", "link_local"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_allow_loopback_allows_only_127_0_0_1_and_ipv6_loopback(address, expected):
    assert address_problem(address, allow_loopback=True) == expected


@pytest.mark.parametrize(
    "url, ok",
    [
        ("http://example.com/a.jpg", True),
        ("https://example.com/a.jpg", True),
        ("ftp://example.com/a.jpg", False),
        ("file:///etc/passwd", False),
        ("gopher://example.com/", False),
        ("http:///nohost", False),
        ("http://example.com:99999/", False),
    ],
)
def test_url_problem(url, ok):
    assert (url_problem(url) is None) == ok


def _fake_resolver(monkeypatch, table):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in table:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in table[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_name_resolving_to_private_address_is_refused_before_connecting(monkeypatch):
    _fake_resolver(monkeypatch, {"images.example": ["10.0.0.7"], "meta.example": ["169.254.169.254"]})
    policy = fetch.FetchPolicy(timeout=1)
    for host in ("images.example", "meta.example"):
        with pytest.raises(fetch.FetchError) as e:
            fetch.fetch(f"http://{host}/cat.jpg", policy)
        assert e.value.reason == "private_address"


def test_loopback_url_refused_without_the_option():
    with pytest.raises(fetch.FetchError) as e:
        fetch.fetch("http://127.0.0.1:9/cat.jpg", fetch.FetchPolicy(timeout=1))
    assert e.value.reason == "private_address"
    assert "loopback" in str(e.value)


class _RedirectTo(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(302)
        self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def redirect_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RedirectTo)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    "location, reason",
    [
        ("http://10.0.0.1/cat.jpg", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[fe80::1]/cat.jpg", "private_address"),
        ("http://rebind.example/cat.jpg", "private_address"),  # resolves to 192.168.0.2
        ("file:///etc/passwd", "unsafe_url"),
        ("ftp://127.0.0.1/cat.jpg", "unsafe_url"),
    ],
)
def test_every_redirect_hop_is_checked(monkeypatch, redirect_server, location, reason):
    _fake_resolver(monkeypatch, {"rebind.example": ["192.168.0.2"]})
    redirect_server.location = location
    url = f"http://127.0.0.1:{redirect_server.server_address[1]}/start"
    with pytest.raises(fetch.FetchError) as e:
        fetch.fetch(url, fetch.FetchPolicy(timeout=2, allow_loopback=True))
    assert e.value.reason == reason


def test_only_vetted_addresses_of_a_name_are_connected_to(monkeypatch, redirect_server):
    # A name that resolves to a private and a loopback address (the rebinding pattern): the
    # private one is skipped, the connection goes to the allowed one, never to 10.0.0.1.
    port = redirect_server.server_address[1]
    _fake_resolver(monkeypatch, {"mixed.example": ["10.0.0.1", "127.0.0.1"]})
    sock = fetch.safe_create_connection(
        ("mixed.example", port), 2, policy=fetch.FetchPolicy(allow_loopback=True)
    )
    try:
        assert sock.getpeername()[0] == "127.0.0.1"
    finally:
        sock.close()
    with pytest.raises(fetch.RefusedAddress):
        fetch.safe_create_connection(("mixed.example", port), 2, policy=fetch.FetchPolicy())


class _Drip(BaseHTTPRequestHandler):
    """Headers at once, then one byte every 0.2 s: each read is quick, the whole is not."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                if self.server.stopping.wait(0.2):
                    return
        except OSError:
            pass


def test_request_time_limit_bounds_a_slow_drip():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    httpd.daemon_threads = True
    httpd.stopping = threading.Event()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/x.png"
        policy = fetch.FetchPolicy(timeout=1.0, request_time_limit=1.0, allow_loopback=True)
        start = time.monotonic()
        with pytest.raises(fetch.FetchError) as e:
            fetch.fetch(url, policy)
        assert e.value.reason == "timeout"
        assert time.monotonic() - start < 3.0
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()


def test_shard_deadline_stops_new_requests():
    policy = fetch.FetchPolicy(allow_loopback=True, deadline=time.monotonic() - 1)
    key, stream, error = fetch.download_image((7, "http://127.0.0.1:9/a.png"), policy, None, None)
    assert (key, stream) == (7, None) and error.startswith("[shard_timeout]")


def test_body_over_max_bytes_is_too_large():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    httpd.daemon_threads = True
    httpd.stopping = threading.Event()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/x.png"
        with pytest.raises(fetch.FetchError) as e:
            fetch.fetch(url, fetch.FetchPolicy(timeout=1.0, max_bytes=10, allow_loopback=True))
        assert e.value.reason == "too_large"
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
