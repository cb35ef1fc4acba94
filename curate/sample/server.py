"""A loopback HTTP server that serves the sample pool's images with the failures of the web.

``SampleServer(root)`` serves ``<root>/images/`` (what ``curate sample`` writes) on
127.0.0.1. Use it as a context manager, or ``start()`` / ``stop()``. Routes:

==============================  =============================================================
``/img/<file>``                 the image (200, ``image/png``); a missing file is a 404
``/dead/<anything>``            404 Not Found (a dead link)
``/slow/<file>``                sleeps ``slow_seconds`` (default 15 s, bounded by 60 s), then
                                serves the image: longer than a download timeout
``/truncated/<file>``           200 ``image/png`` with the first 40% of the file's bytes
``/corrupt/<file>``             200 ``image/png`` with random bytes (seeded by the path)
``/html/<anything>``            200 ``text/html``: a web page where an image was expected
``/redirect/<file>``            302 to ``/img/<file>``
``/redirect-chain/<n>/<file>``  302 to ``/redirect-chain/<n-1>/<file>``; ``n = 0`` is a 302 to
                                ``/img/<file>``; ``n`` is capped at 100
``/noai/<file>``                the image with ``X-Robots-Tag: noai, noimageai`` (an opt-out)
==============================  =============================================================

Refused connections need no route: the pool points them at ``REFUSED_PORT`` on 127.0.0.1,
where nothing listens. The server binds only to loopback addresses and refuses any other
host, so tests and demos never expose anything or reach beyond 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765  # pool URLs embed host:port, and uids depend on URLs: keep it fixed
REFUSED_PORT = 1  # tcpmux: nothing listens there on ordinary machines
DEFAULT_SLOW_SECONDS = 15.0  # over img2dataset's default 10 s timeout with a margin: equal, they race
MAX_SLOW_SECONDS = 60.0
MAX_CHAIN = 100
TRUNCATE_FRACTION = 0.4
CORRUPT_BYTES = 2048

HTML_PAGE = (
    b"<!doctype html><html><head><title>Gallery</title></head><body>"
    b"<h1>Photo gallery</h1><p>This page moved. <a href='/'>Back to the home page</a></p>"
    b"</body></html>\n"
)


def check_loopback(host: str) -> str:
    """`host` if it is a loopback address ("localhost" means 127.0.0.1); ValueError otherwise."""
    if host == "localhost":
        return DEFAULT_HOST
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"SampleServer binds only to loopback addresses, got host {host!r}") from None
    if not addr.is_loopback:
        raise ValueError(f"SampleServer binds only to loopback addresses, got {host}")
    return host


def corrupt_bytes(path: str, n: int = CORRUPT_BYTES) -> bytes:
    """Deterministic random bytes for a path (same URL, same bytes on every request)."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{path}:{counter}".encode()).digest()
        counter += 1
    return out[:n]


def truncated(data: bytes) -> bytes:
    return data[: max(1, int(len(data) * TRUNCATE_FRACTION))]


class _Handler(BaseHTTPRequestHandler):
    server_version = "curate-sample/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - per-request logs are noise here
        pass

    # -- helpers --
    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self):
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _redirect(self, location: str):
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _image(self, rel: str) -> bytes | None:
        root: Path = self.server.images_root
        rel = posixpath.normpath("/" + rel).lstrip("/")
        if not rel or rel.startswith(".."):
            return None
        path = (root / rel).resolve()
        if root not in path.parents or not path.is_file():
            return None
        return path.read_bytes()

    # -- routes --
    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def do_GET(self):  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        route, _, rest = path.lstrip("/").partition("/")
        if route == "img":
            data = self._image(rest)
            return self._send(200, data, "image/png") if data is not None else self._not_found()
        if route == "dead":
            return self._not_found()
        if route == "html":
            return self._send(200, HTML_PAGE, "text/html; charset=utf-8")
        if route == "redirect":
            return self._redirect("/img/" + quote(rest))
        if route == "redirect-chain":
            n, _, file = rest.partition("/")
            if not n.isdigit() or not file:
                return self._not_found()
            n = min(int(n), MAX_CHAIN)
            target = "/img/" + quote(file) if n == 0 else f"/redirect-chain/{n - 1}/{quote(file)}"
            return self._redirect(target)
        if route == "corrupt":
            if self._image(rest) is None:
                return self._not_found()
            return self._send(200, corrupt_bytes(rest), "image/png")
        data = self._image(rest)
        if data is None:
            return self._not_found()
        if route == "slow":
            # Event.wait, not sleep: stop() releases sleeping handlers at once.
            self.server.stopping.wait(self.server.slow_seconds)
            return self._send(200, data, "image/png")
        if route == "truncated":
            return self._send(200, truncated(data), "image/png")
        if route == "noai":
            return self._send(200, data, "image/png", {"X-Robots-Tag": "noai, noimageai"})
        return self._not_found()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that gives up (the downloader's timeout on /slow/) is expected here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class SampleServer:
    """Serves a built sample (``<root>/images``) on a loopback address in a background thread.

    ``port=0`` picks a free port (tests); ``base_url`` is known after ``start()``.
    """

    def __init__(
        self,
        root: str | Path,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
    ):
        self.host = check_loopback(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {port}")
        if not 0 <= slow_seconds <= MAX_SLOW_SECONDS:
            raise ValueError(f"slow_seconds must be in 0..{MAX_SLOW_SECONDS}, got {slow_seconds}")
        self.root = Path(root)
        self.images_root = (self.root / "images").resolve()
        if not self.images_root.is_dir():
            raise FileNotFoundError(f"{self.images_root} not found; build it with `curate sample`")
        self.port = port
        self.slow_seconds = slow_seconds
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def bind(self) -> SampleServer:
        """Open the listening socket (the port is known from here on); serve nothing yet."""
        if self._httpd is not None:
            return self
        server_cls = _Server6 if ":" in self.host else _Server
        httpd = server_cls((self.host, self.port), _Handler)
        httpd.images_root = self.images_root
        httpd.slow_seconds = self.slow_seconds
        httpd.stopping = threading.Event()
        self.port = httpd.server_address[1]
        self._httpd = httpd
        return self

    def start(self) -> SampleServer:
        """Serve from a background thread (tests, benchmarks, `curate demo`)."""
        if self._thread is not None:
            return self
        self.bind()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="sample-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def serve_forever(self) -> None:
        """Serve from the calling thread until KeyboardInterrupt (``curate serve``), then
        close. The loop is the server's own, as ``python -m http.server`` runs it: Ctrl-C
        lands in its select() and nothing has to be joined under a signal."""
        if self._thread is not None:
            raise RuntimeError("already serving from a background thread (start()); use stop()")
        self.bind()
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SampleServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
