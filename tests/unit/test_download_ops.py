"""Download stage rules: failure messages to reasons, shard planning, content checks."""

import io
import struct
import zlib

import pyarrow as pa
import pytest
from PIL import Image

from curate.ops import download as ops


@pytest.mark.parametrize(
    "message, reason, detail",
    [
        ("[http_404] HTTP Error 404: Not Found", "http_404", "HTTP Error 404: Not Found"),
        ("[private_address] h: 10.0.0.1 is private", "private_address", "h: 10.0.0.1 is private"),
        ("[timeout] timed out", "timeout", "timed out"),
        ("[not_a_reason] x", "download_error", "[not_a_reason] x"),
        # img2dataset's own messages (resizer / unpatched downloader)
        ("Image decoding error", "decode_error", "Image decoding error"),
        ("image too small", "too_small", "image too small"),
        ("image area too large", "too_many_pixels", "image area too large"),
        ("aspect ratio too large", "bad_aspect_ratio", "aspect ratio too large"),
        ("Use of image disallowed by X-Robots-Tag directive", "opt_out", None),
        ("HTTP Error 404: Not Found", "http_404", None),
        ("HTTP Error 503: Service Unavailable", "http_error", None),
        ("<urlopen error [Errno 111] Connection refused>", "connection_refused", None),
        ("The read operation timed out", "timeout", None),
        ("<urlopen error [Errno -2] Name or service not known>", "dns_error", None),
        ("HTTP Error 302: The HTTP server returned a redirect error that would lead to an infinite loop.", "too_many_redirects", None),
        ("<urlopen error unknown url type: ftp>", "unsafe_url", None),
        ("something odd", "download_error", None),
        (None, "download_error", None),
    ],
)
def test_reason_for(message, reason, detail):
    got_reason, got_detail = ops.reason_for(message)
    assert got_reason == reason
    assert got_detail == (detail if detail is not None or message is None else message)


def test_every_reason_is_documented():
    for reason in ops.REASONS:
        assert f"``{reason}``" in ops.__doc__
    with pytest.raises(ValueError):
        ops.tag("made_up", "x")


@pytest.mark.parametrize(
    "total, shard_size, target, expected_size, expected_shards",
    [
        (100, 0, 16, 256, 1),  # a small pool: one shard (per-shard overhead dominates)
        (10_000, 0, 16, 625, 16),
        (1_000_000, 0, 16, 10_000, 100),  # capped at img2dataset's 10,000
        (0, 0, 16, 256, 1),
        (100, 7, 16, 7, 15),  # explicit size wins
    ],
)
def test_shard_planning(total, shard_size, target, expected_size, expected_shards):
    assert ops.shard_size_for(total, shard_size, target) == expected_size
    assert ops.num_shards_for(total, shard_size, target) == expected_shards


def test_shard_name_is_a_content_address():
    a = ops.shard_name(["b", "a", "c"], "cfg")
    assert a == ops.shard_name(["c", "b", "a"], "cfg")  # order does not matter
    assert a != ops.shard_name(["a", "b"], "cfg")  # other rows, other name
    assert a != ops.shard_name(["b", "a", "c"], "cfg2")  # other image settings, other name
    assert ops.shard_name(["ab", "c"], "x") != ops.shard_name(["a", "bc"], "x")


@pytest.mark.parametrize(
    "content_type, bad",
    [
        ("image/jpeg", False),
        ("image/png; charset=binary", False),
        ("application/octet-stream", False),
        (None, False),
        ("", False),
        ("text/html; charset=utf-8", True),
        ("TEXT/PLAIN", True),
        ("application/json", True),
        ("application/xhtml+xml", True),
        ("video/mp4", True),
    ],
)
def test_content_type_problem(content_type, bad):
    assert (ops.content_type_problem(content_type) is not None) == bad


def _encode(fmt: str, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, fmt)
    return buf.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's header)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, claimed, reason",
    [
        (_encode("PNG"), True, None),
        (_encode("JPEG"), True, None),
        (_encode("GIF"), True, None),
        (_encode("WEBP"), True, None),
        (_encode("JPEG") + b"\0\0\0", True, None),  # padding after the end marker is fine
        (_encode("PNG")[:-20], True, "truncated"),
        (_encode("JPEG", (200, 200))[:-200], True, "truncated"),
        (_encode("GIF")[:-1], True, "truncated"),
        (_png_header_claiming(20_000, 20_000), True, "too_many_pixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\x13" * 500, True, "decode_error"),
        (b"<html><body>hi</body></html>", False, "not_an_image"),
        (bytes(range(256)) * 4, True, "decode_error"),
        (bytes(range(256)) * 4, False, "not_an_image"),
        (b"", True, "not_an_image"),
    ],
)
def test_image_problem(data, claimed, reason):
    problem = ops.image_problem(data, max_pixels=10_000_000, claimed_image=claimed)
    assert (problem[0] if problem else None) == reason


def test_split_results_keeps_successes_and_removes_failures_with_reasons():
    table = pa.table(
        {"uid": ["u2", "u1", "u3"], "url": ["b", "a", "c"], "text": ["t2", "t1", "t3"], "source": ["s"] * 3}
    )
    from curate.io.download import RESULT_SCHEMA

    results = pa.Table.from_pylist(
        [
            {"uid": "u1", "key": "u1", "shard": "x.tar", "status": "success", "width": 4, "height": 3, "original_width": 8, "original_height": 6, "sha256": "ab"},
            {"uid": "u2", "status": "failed_to_download", "error_message": "[http_404] HTTP Error 404: Not Found"},
            {"uid": "u3", "status": "failed_to_resize", "error_message": "Image decoding error"},
        ],
        schema=RESULT_SCHEMA,
    )
    kept, removed = ops.split_results(table, results)
    assert kept.to_pylist() == [
        {"uid": "u1", "url": "a", "text": "t1", "source": "s", "key": "u1", "shard": "x.tar", "status": "success", "error_message": None, "width": 4, "height": 3, "original_width": 8, "original_height": 6, "sha256": "ab"}
    ]
    assert sorted(zip(removed["uid"].to_pylist(), removed["reason"].to_pylist(), removed["detail"].to_pylist(), strict=True)) == [
        ("u2", "http_404", "HTTP Error 404: Not Found"),
        ("u3", "decode_error", "Image decoding error"),
    ]
    assert set(removed["stage"].to_pylist()) == {"download"}
