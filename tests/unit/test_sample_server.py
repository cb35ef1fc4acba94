"""SampleServer routes, fetched over 127.0.0.1 with urllib and short timeouts."""

import http.client
import io
import socket
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from curate.sample.server import REFUSED_PORT, SampleServer, check_loopback, corrupt_bytes

# Never let an http_proxy from the environment see loopback requests.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url, timeout=3.0):
    with OPENER.open(url, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read(), r.geturl()


@pytest.fixture(scope="module")
def png():
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory, png):
    root = tmp_path_factory.mktemp("sample")
    (root / "images" / "sub").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(png)
    (root / "images" / "sub" / "b c.png").write_bytes(png)
    (root / "secret.txt").write_text("outside images/")
    with SampleServer(root, port=0, slow_seconds=1.0) as s:
        yield s


def decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return True
    except Exception:
        return False


def test_img_serves_the_file(server, png):
    status, headers, body, _ = fetch(server.base_url + "/img/a.png")
    assert (status, headers["Content-Type"], body) == (200, "image/png", png)
    assert fetch(server.base_url + "/img/sub/b%20c.png")[2] == png


@pytest.mark.parametrize("path", ["/img/missing.png", "/dead/a.png", "/dead/x", "/nothing/a.png",
                                  "/slow/missing.png", "/redirect-chain/x/a.png"])
def test_not_found(server, path):
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(server.base_url + path)
    assert e.value.code == 404


def test_no_escape_from_images_folder(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3)
    for raw in ("/img/../secret.txt", "/img/%2e%2e/secret.txt", "/img//etc/passwd"):
        conn.request("GET", raw)
        r = conn.getresponse()
        r.read()
        assert r.status == 404, raw
    conn.close()


def test_slow_is_slower_than_a_short_timeout(server, png):
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        fetch(server.base_url + "/slow/a.png", timeout=0.3)
    t = time.monotonic()
    assert fetch(server.base_url + "/slow/a.png", timeout=5)[2] == png
    assert time.monotonic() - t >= 0.9


def test_truncated_and_corrupt_do_not_decode(server, png):
    _, headers, body, _ = fetch(server.base_url + "/truncated/a.png")
    assert headers["Content-Type"] == "image/png"
    assert png.startswith(body) and len(body) < len(png) and not decodes(body)
    _, headers, body, _ = fetch(server.base_url + "/corrupt/a.png")
    assert headers["Content-Type"] == "image/png"
    assert body == corrupt_bytes("a.png") == fetch(server.base_url + "/corrupt/a.png")[2]
    assert not decodes(body)


def test_html_is_not_an_image(server):
    _, headers, body, _ = fetch(server.base_url + "/html/a.png")
    assert headers["Content-Type"].startswith("text/html")
    assert body.startswith(b"<!doctype html>") and not decodes(body)


def test_redirects(server, png):
    status, _, body, final = fetch(server.base_url + "/redirect/a.png")
    assert (status, body, final) == (200, png, server.base_url + "/img/a.png")
    assert fetch(server.base_url + "/redirect-chain/5/a.png")[2] == png
    with pytest.raises(urllib.error.HTTPError) as e:  # urllib gives up after 10 hops
        fetch(server.base_url + "/redirect-chain/40/a.png")
    assert e.value.code == 302


def test_noai_header(server, png):
    _, headers, body, _ = fetch(server.base_url + "/noai/a.png")
    assert body == png
    assert "noai" in headers["X-Robots-Tag"] and "noimageai" in headers["X-Robots-Tag"]


def test_refused_port_refuses():
    with pytest.raises(urllib.error.URLError) as e:
        fetch(f"http://127.0.0.1:{REFUSED_PORT}/img/a.png", timeout=2)
    assert isinstance(e.value.reason, ConnectionRefusedError)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "192.168.1.5", "example.com", "::", "8.8.8.8"])
def test_refuses_non_loopback_hosts(tmp_path, host):
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="loopback"):
        SampleServer(tmp_path, host=host, port=0)


@pytest.mark.parametrize("host,expected", [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"),
                                           ("127.0.0.2", "127.0.0.2"), ("::1", "::1")])
def test_loopback_hosts(host, expected):
    assert check_loopback(host) == expected


def test_stop_releases_a_sleeping_slow_request(tmp_path, png):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png)
    s = SampleServer(tmp_path, port=0, slow_seconds=30).start()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    conn.request("GET", "/slow/a.png")
    time.sleep(0.2)
    t = time.monotonic()
    s.stop()
    assert time.monotonic() - t < 5
    conn.close()


def test_serve_forever_refuses_a_server_already_serving_in_the_background(tmp_path):
    (tmp_path / "images").mkdir()
    s = SampleServer(tmp_path, port=0).start()
    try:
        with pytest.raises(RuntimeError, match="background thread"):
            s.serve_forever()
    finally:
        s.stop()
