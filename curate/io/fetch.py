"""Fetching one URL safely: the address check sits in the connection path.

``fetch(url, policy)`` resolves the host itself, refuses addresses that
``curate.ops.safety.address_problem`` rejects, and connects to the vetted IP address
directly. The address checked is the address connected to, so DNS rebinding (a name that
resolves to a public address for a check and to 10.0.0.1 for the connection) has no window.
Every redirect hop opens a new connection through the same check. TLS still verifies the
certificate against the host name (SNI and hostname come from the URL, not the IP).

Only http and https handlers are installed (no file:, ftp:, data:), no proxy is used
(an ``http_proxy`` variable would make the check apply to the proxy's address instead of
the target's), redirects are bounded, the body is read in chunks up to ``max_bytes``
within a total ``request_time_limit``, and the Content-Type and image header are checked
before any decoding.

``download_image`` has img2dataset's signature (``img2dataset.downloader.download_image``)
and is installed in its place by ``install_into_img2dataset``; the ``timeout`` argument it
receives is the ``FetchPolicy`` (img2dataset passes it through untouched), so each shard
carries its own policy and no global state is shared between shards.
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import io
import socket
import ssl
import time
import urllib.error
import urllib.request

from curate.ops import download as ops
from curate.ops import safety

USER_AGENT = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:72.0) Gecko/20100101 Firefox/72.0"
CHUNK = 64 * 1024


@dataclasses.dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 10.0  # per socket operation (connect, each read)
    request_time_limit: float = 30.0  # the whole request: connect, redirects, body
    max_bytes: int = 32 * 2**20
    max_pixels: int = 89_478_485  # PIL's default Image.MAX_IMAGE_PIXELS
    max_redirects: int = 5
    allow_loopback: bool = False
    deadline: float | None = None  # time.monotonic() after which the shard is over


class FetchError(Exception):
    """A failed fetch with its reason (one of ``curate.ops.download.REASONS``)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason

    def tagged(self) -> str:
        return ops.tag(self.reason, str(self))


class RefusedAddress(OSError):
    """Every address the host resolves to is refused by the safety rule."""


def safe_create_connection(address, timeout=None, source_address=None, *, policy: FetchPolicy):
    """socket.create_connection that only connects to addresses the safety rule allows."""
    host, port = address
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    refused, last_error = [], None
    for family, type_, proto, _, sockaddr in infos:
        problem = safety.address_problem(sockaddr[0], policy.allow_loopback)
        if problem:
            refused.append(f"{sockaddr[0]} is {problem}")
            continue
        sock = socket.socket(family, type_, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            last_error = e
    if last_error is not None:
        raise last_error
    raise RefusedAddress(f"{host}: " + ", ".join(sorted(set(refused))))


class _SafeHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, policy: FetchPolicy, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(safe_create_connection, policy=policy)


class _SafeHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, policy: FetchPolicy, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(safe_create_connection, policy=policy)


class _SafeHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: FetchPolicy):
        super().__init__()
        self.policy = policy

    def http_open(self, req):
        return self.do_open(functools.partial(_SafeHTTPConnection, policy=self.policy), req)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA store costs ~0.1 s: once per process (an SSLContext is thread-safe).
    return ssl.create_default_context()


class _SafeHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: FetchPolicy):
        super().__init__(context=_tls_context())
        self.policy = policy

    def https_open(self, req):
        return self.do_open(
            functools.partial(_SafeHTTPSConnection, policy=self.policy), req, context=self._context
        )


class _BoundedRedirectHandler(urllib.request.HTTPRedirectHandler):
    def __init__(self, max_redirects: int):
        super().__init__()
        self.max_redirections = max_redirects
        self.max_repeats = max_redirects

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        problem = safety.url_problem(newurl)
        if problem:
            raise FetchError("unsafe_url", f"redirect to {newurl[:200]}: {problem}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@functools.lru_cache(maxsize=64)
def build_opener(policy: FetchPolicy) -> urllib.request.OpenerDirector:
    """An opener with only the safe http/https handlers, bounded redirects and no proxy.

    One per policy (a shard's threads share it; openers keep no per-request state)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler({}),
        urllib.request.UnknownHandler(),
        _SafeHTTPHandler(policy),
        _SafeHTTPSHandler(policy),
        urllib.request.HTTPDefaultErrorHandler(),
        _BoundedRedirectHandler(policy.max_redirects),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _classify_os_error(err: BaseException) -> FetchError:
    if isinstance(err, FetchError):
        return err
    if isinstance(err, RefusedAddress):
        return FetchError("private_address", str(err))
    if isinstance(err, (TimeoutError, socket.timeout)):
        return FetchError("timeout", str(err) or "timed out")
    if isinstance(err, ConnectionRefusedError):
        return FetchError("connection_refused", str(err))
    if isinstance(err, socket.gaierror):
        return FetchError("dns_error", str(err))
    if isinstance(err, ssl.SSLError | ssl.CertificateError):
        return FetchError("tls_error", str(err))
    if isinstance(err, http.client.IncompleteRead):
        return FetchError("truncated", f"IncompleteRead: {len(err.partial)} bytes read")
    if isinstance(err, ConnectionError | http.client.HTTPException):
        return FetchError("connection_error", f"{type(err).__name__}: {err}")
    return FetchError("download_error", f"{type(err).__name__}: {err}")


def _classify(err: BaseException) -> FetchError:
    if isinstance(err, urllib.error.HTTPError):
        if err.code in (301, 302, 303, 307, 308) and "infinite loop" in str(err.reason):
            return FetchError("too_many_redirects", f"HTTP Error {err.code}: more than the allowed redirects")
        if "Redirection to url" in str(err.reason):  # urllib refuses non-http(s) targets
            return FetchError("unsafe_url", f"HTTP Error {err.code}: {err.reason}")
        reason = "http_404" if err.code == 404 else "http_error"
        return FetchError(reason, f"HTTP Error {err.code}: {err.reason}")
    if isinstance(err, urllib.error.URLError):
        inner = err.reason
        if isinstance(inner, BaseException):
            return _classify_os_error(inner)
        if "unknown url type" in str(inner):
            return FetchError("unsafe_url", str(inner))
        return FetchError("download_error", str(inner))
    return _classify_os_error(err)


def _opted_out(headers, user_agent_token, directives) -> bool:
    from img2dataset.downloader import is_disallowed  # img2dataset's own X-Robots-Tag rule

    return is_disallowed(headers, user_agent_token, directives)


def fetch(
    url: str,
    policy: FetchPolicy,
    user_agent_token: str | None = None,
    disallowed_header_directives=None,
) -> bytes:
    """The body of `url`, checked; raises FetchError(reason, message) otherwise."""
    start = time.monotonic()
    if policy.deadline is not None and start >= policy.deadline:
        raise FetchError("shard_timeout", "the shard's time limit ran out before this URL")
    problem = safety.url_problem(url)
    if problem:
        raise FetchError("unsafe_url", problem)
    limit = policy.request_time_limit
    if policy.deadline is not None:
        limit = min(limit, policy.deadline - start)
    ua = USER_AGENT
    if user_agent_token:
        ua += f" (compatible; {user_agent_token}; +https://github.com/rom1504/img2dataset)"
    request = urllib.request.Request(url, headers={"User-Agent": ua})
    try:
        with build_opener(policy).open(request, timeout=min(policy.timeout, limit)) as r:
            if disallowed_header_directives and _opted_out(
                r.headers, user_agent_token, disallowed_header_directives
            ):
                raise FetchError("opt_out", "Use of image disallowed by X-Robots-Tag directive")
            content_type = r.headers.get("Content-Type") or ""
            claimed_image = content_type.strip().lower().startswith("image/")
            bad_type = ops.content_type_problem(content_type)
            if bad_type:
                raise FetchError("not_an_image", bad_type)
            length = r.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise FetchError("too_large", f"Content-Length {length} > {policy.max_bytes} bytes")
            body = io.BytesIO()
            # read1: at most one recv per call. read(n) would block until n bytes arrive, so
            # a server dripping a byte per second would never hit the time check.
            read = getattr(r, "read1", r.read)
            while True:
                if time.monotonic() - start > limit:
                    raise FetchError("timeout", f"request took more than {limit:.1f} s")
                chunk = read(CHUNK)
                if not chunk:
                    break
                body.write(chunk)
                if body.tell() > policy.max_bytes:
                    raise FetchError("too_large", f"body over {policy.max_bytes} bytes")
    except FetchError:
        raise
    except Exception as e:  # noqa: BLE001 - every failure becomes a reason
        raise _classify(e) from e
    data = body.getvalue()
    bad = ops.image_problem(data, policy.max_pixels, claimed_image)
    if bad:
        raise FetchError(*bad)
    return data


def download_image(row, timeout, user_agent_token, disallowed_header_directives):
    """img2dataset's ``download_image`` contract: (key, BytesIO or None, error or None).

    `timeout` is the shard's FetchPolicy (see the module docstring)."""
    key, url = row
    policy = timeout if isinstance(timeout, FetchPolicy) else FetchPolicy(timeout=float(timeout))
    try:
        return key, io.BytesIO(fetch(url, policy, user_agent_token, disallowed_header_directives)), None
    except FetchError as e:
        return key, None, e.tagged()


def install_into_img2dataset() -> None:
    """Route img2dataset's downloads through ``download_image`` (idempotent).

    img2dataset's ``download_image_with_retry`` looks ``download_image`` up in its module
    at call time, so replacing the module attribute puts the safe fetch on its only path
    to the network."""
    import img2dataset.downloader as d

    d.download_image = download_image
