"""Download stage rules as pure functions: shard planning, content checks, failure reasons.

Reasons (the ``reason`` column of a removed record; ``detail`` is the original message):

- ``http_404``: the server answered 404 Not Found
- ``http_error``: any other HTTP error status (403, 410, 500, a 3xx without Location...)
- ``connection_refused``: nothing listens on the host's port
- ``connection_error``: the connection was reset or closed without a response
- ``dns_error``: the host name does not resolve
- ``tls_error``: the TLS handshake or certificate check failed
- ``timeout``: a socket operation took longer than ``timeout`` or the whole request
  (connect, redirects, body) longer than ``request_time_limit``
- ``shard_timeout``: the shard's ``shard_time_limit`` ran out before this URL was fetched
- ``too_many_redirects``: more than ``max_redirects`` redirect hops
- ``private_address``: the host resolves only to private, loopback, link-local, multicast,
  reserved or unspecified addresses (``curate.ops.safety``), on the first or any later hop
- ``unsafe_url``: not http(s) (also a redirect to ``file:``/``ftp:``), or no host
- ``opt_out``: the response carries an ``X-Robots-Tag`` directive in
  ``disallowed_header_directives`` (img2dataset's default: noai, noimageai, noindex,
  noimageindex)
- ``too_large``: the body is over ``max_bytes`` (by Content-Length or as read)
- ``too_many_pixels``: width x height over ``max_pixels`` (decompression-bomb guard, checked
  from the image header before any decoding)
- ``not_an_image``: a non-image Content-Type (text/html, application/json...), or bytes
  that no image decoder recognises served without an ``image/*`` Content-Type
- ``truncated``: the body ended early (short read, or a JPEG/PNG/GIF without its end marker)
- ``decode_error``: served as ``image/*`` or with a recognised image header, but the
  image cannot be decoded (corrupt bytes)
- ``too_small``: smaller than ``min_image_size`` on its shorter side
- ``bad_aspect_ratio``: more elongated than ``max_aspect_ratio``
- ``download_error``: anything else (the detail says what)

Errors raised by ``curate.io.fetch`` carry their reason as a ``[reason] `` prefix that
survives img2dataset's string-only error channel; img2dataset's own resizer messages are
mapped by ``RESIZER_MESSAGES``.
"""

from __future__ import annotations

import hashlib
import io
import math
import re

STAGE = "download"

REASONS = (
    "http_404",
    "http_error",
    "connection_refused",
    "connection_error",
    "dns_error",
    "tls_error",
    "timeout",
    "shard_timeout",
    "too_many_redirects",
    "private_address",
    "unsafe_url",
    "opt_out",
    "too_large",
    "too_many_pixels",
    "not_an_image",
    "truncated",
    "decode_error",
    "too_small",
    "bad_aspect_ratio",
    "download_error",
)

# img2dataset's messages (downloader.py and resizer.py of img2dataset 1.47) -> reason.
RESIZER_MESSAGES = {
    "Image decoding error": "decode_error",
    "image too small": "too_small",
    "image area too large": "too_many_pixels",
    "aspect ratio too large": "bad_aspect_ratio",
    "Use of image disallowed by X-Robots-Tag directive": "opt_out",
}

# Ordered patterns for messages not tagged by curate.io.fetch (e.g. from an unpatched
# img2dataset download_image, kept so that its messages still get a sensible reason).
MESSAGE_PATTERNS = (
    (re.compile(r"HTTP Error 404"), "http_404"),
    (re.compile(r"infinite loop", re.I), "too_many_redirects"),
    (re.compile(r"HTTP Error \d+"), "http_error"),
    (re.compile(r"Connection refused", re.I), "connection_refused"),
    (re.compile(r"timed out|timeout", re.I), "timeout"),
    (re.compile(r"Name or service not known|nodename nor servname|getaddrinfo", re.I), "dns_error"),
    (re.compile(r"SSL|CERTIFICATE", re.I), "tls_error"),
    (re.compile(r"IncompleteRead", re.I), "truncated"),
    (re.compile(r"unknown url type", re.I), "unsafe_url"),
    (re.compile(r"Connection reset|Remote end closed|Broken pipe", re.I), "connection_error"),
)

TAG = re.compile(r"^\[([a-z0-9_]+)\] ?(.*)$", re.S)


def tag(reason: str, message: str) -> str:
    """An error message that carries its reason through img2dataset's string channel."""
    if reason not in REASONS:
        raise ValueError(f"unknown download failure reason {reason!r}")
    return f"[{reason}] {message}"


def reason_for(error_message: str | None) -> tuple[str, str | None]:
    """(reason, detail) of a failed row from its error message."""
    if not error_message:
        return "download_error", None
    m = TAG.match(error_message)
    if m and m.group(1) in REASONS:
        return m.group(1), m.group(2)
    reason = RESIZER_MESSAGES.get(error_message.strip())
    if reason is not None:
        return reason, error_message
    for pattern, reason in MESSAGE_PATTERNS:
        if pattern.search(error_message):
            return reason, error_message
    if "decod" in error_message.lower() or "cv2" in error_message or "imdecode" in error_message:
        return "decode_error", error_message
    return "download_error", error_message


# Shard planning ------------------------------------------------------------------------

MAX_SHARD_SIZE = 10_000  # img2dataset's default number_sample_per_shard
MIN_AUTO_SHARD_SIZE = 256  # below this, per-shard overhead (thread pool, tar) dominates


def shard_size_for(total_rows: int, shard_size: int, target_shards: int) -> int:
    """URLs per shard: `shard_size` if set (> 0), else enough shards to keep
    `target_shards` workers busy, between MIN_AUTO_SHARD_SIZE and MAX_SHARD_SIZE URLs each.

    img2dataset's fixed 10,000 would put a small pool in one shard, so one process."""
    if shard_size > 0:
        return shard_size
    per_shard = math.ceil(max(total_rows, 1) / max(target_shards, 1))
    return max(MIN_AUTO_SHARD_SIZE, min(MAX_SHARD_SIZE, per_shard))


def num_shards_for(total_rows: int, shard_size: int, target_shards: int) -> int:
    return max(1, math.ceil(total_rows / shard_size_for(total_rows, shard_size, target_shards)))


def shard_name(uids: list[str], fingerprint: str) -> str:
    """Content address of a shard: sha256 over its sorted uids and the settings that change
    the stored images (size, format...). A rerun with the same rows and settings finds the
    same name and skips the shard; other rows or settings give another name."""
    h = hashlib.sha256(fingerprint.encode())
    for uid in sorted(uids):
        h.update(b"\x00")
        h.update(uid.encode())
    return h.hexdigest()[:24]


# Content checks --------------------------------------------------------------------------

NON_IMAGE_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/xhtml",
    "application/javascript",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-",
    "audio/",
    "video/",
    "multipart/",
    "font/",
)


def content_type_problem(content_type: str | None) -> str | None:
    """A message if the Content-Type says it is not an image. Missing or generic types
    (application/octet-stream, binary/octet-stream) pass: many CDNs serve images that way,
    and the bytes are sniffed later."""
    if not content_type:
        return None
    ct = content_type.split(";", 1)[0].strip().lower()
    if any(ct.startswith(p) for p in NON_IMAGE_TYPES):
        return f"Content-Type {ct}"
    return None


def _truncated(data: bytes, fmt: str | None) -> bool:
    # The end markers: JPEG EOI (FF D9), PNG IEND chunk, GIF trailer (3B). Trailing padding
    # after the marker is common, so look near the end rather than at the last byte.
    tail = data[-1024:].rstrip(b"\x00\r\n\t ")
    if fmt == "JPEG":
        return b"\xff\xd9" not in tail[-64:]
    if fmt == "PNG":
        return b"IEND" not in tail[-64:]
    if fmt == "GIF":
        return not tail.endswith(b";")
    return False


def image_problem(data: bytes, max_pixels: int, claimed_image: bool = False) -> tuple[str, str] | None:
    """(reason, message) if `data` must not be decoded, else None. Reads only the header
    (PIL's lazy open), so a decompression bomb is refused before any pixel is allocated.

    Bytes no decoder recognises are ``decode_error`` when the server said they are an image
    (``claimed_image``: an ``image/*`` Content-Type), else ``not_an_image``."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return "not_an_image", "empty body"
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            fmt = im.format
    except Image.DecompressionBombError as e:
        return "too_many_pixels", str(e)
    except UnidentifiedImageError:
        if claimed_image:
            return "decode_error", "served as an image, but no image decoder recognises the bytes"
        return "not_an_image", "no image decoder recognises the bytes"
    except Exception as e:  # noqa: BLE001 - a broken header of any kind
        return "decode_error", f"bad image header: {e}"
    if width * height > max_pixels:
        return "too_many_pixels", f"{width}x{height} = {width * height} pixels > {max_pixels}"
    if _truncated(data, fmt):
        return "truncated", f"{fmt} without its end marker ({len(data)} bytes)"
    return None


# Results -> kept and removed -------------------------------------------------------------


def split_results(table, results):
    """(kept pairs with the download columns, removed records) for a shard's input pairs
    `table` and its img2dataset results (one row per uid, ``curate.io.download.RESULT_SCHEMA``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from curate import schema

    download_cols = [c for c in results.column_names if c != "uid"]
    table = table.sort_by("uid")
    index = pc.index_in(table["uid"], value_set=results["uid"])
    if index.null_count:
        raise ValueError("download results lack some of the shard's uids")
    joined = table
    for c in download_cols:
        joined = schema.with_column(joined, c, results[c].take(index))
    ok = pc.equal(joined["status"], pa.scalar("success"))
    kept, failed = schema.split_by_mask(joined, ok)
    reasons, details = [], []
    for message in failed["error_message"].to_pylist():
        reason, detail = reason_for(message)
        reasons.append(reason)
        details.append(detail)
    return schema.conform(kept), schema.removed(failed, STAGE, reasons, details)
