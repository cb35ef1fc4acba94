"""Stage `download` end to end on the loopback SampleServer: every injected failure ends as
a removed record with its reason, the slow route cannot stall the stage, refusal of
loopback without the option, resume from complete shards, byte-identical tars."""

import hashlib
import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from curate import pipeline, schema
from curate.config import DownloadConfig, PipelineConfig
from curate.io import shards, tars
from curate.sample.server import REFUSED_PORT, SampleServer

SLOW_SECONDS = 30.0
MAX_BYTES = 60_000


def _png_header_claiming(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    images = root / "images"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (120 + 20 * i, 80), (40 * i, 120, 200)).save(images / f"a{i}.png")
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(images / "big.png")  # ~120 KB of incompressible pixels
    assert (images / "big.png").stat().st_size > MAX_BYTES
    (images / "bomb.png").write_bytes(_png_header_claiming(30_000, 30_000))
    with SampleServer(root, port=0, slow_seconds=SLOW_SECONDS) as srv:
        yield srv


# url path -> expected reason (None: downloaded)
CASES = {
    "/img/a0.png": None,
    "/img/a1.png": None,
    "/img/a2.png": None,
    "/redirect/a2.png": None,
    "/redirect-chain/2/a1.png": None,
    "/dead/gone.jpg": "http_404",
    "/slow/a0.png": "timeout",
    "/truncated/a1.png": "truncated",
    "/corrupt/a0.png": "decode_error",
    "/html/page": "not_an_image",
    "/redirect-chain/9/a0.png": "too_many_redirects",
    "/noai/a1.png": "opt_out",
    "/img/big.png": "too_large",
    "/img/bomb.png": "too_many_pixels",
}


def _pool(server) -> tuple[pa.Table, dict[str, str | None]]:
    expected = {server.base_url + path: reason for path, reason in CASES.items()}
    expected[f"http://127.0.0.1:{REFUSED_PORT}/img/a0.png"] = "connection_refused"
    expected["ftp://127.0.0.1/a0.png"] = "unsafe_url"
    return _table(sorted(expected)), expected


def _table(urls: list[str]) -> pa.Table:
    return pa.table(
        {
            "uid": [schema.make_uid(u, f"caption of {u}") for u in urls],
            "url": urls,
            "text": [f"caption of {u}" for u in urls],
            "source": ["pool.parquet"] * len(urls),
        }
    )


def _run(tmp: Path, name: str, table: pa.Table, beam_args, **overrides) -> tuple[dict, Path]:
    pool = tmp / "pool" / "part-0.parquet"
    if not pool.exists():
        shards.write_bytes(str(pool), shards.table_to_parquet_bytes(table))
    settings = dict(allow_loopback=True, timeout=1.0, request_time_limit=5.0, shard_size=4,
                    image_size=64, max_bytes=MAX_BYTES, max_redirects=5, thread_count=8)
    settings.update(overrides)
    out = tmp / name
    config = PipelineConfig(input=str(pool.parent), output=str(out), stages={"download": DownloadConfig(**settings)})
    stats = pipeline.run(config, beam_args)
    return stats, out


def test_every_failure_is_a_removed_record_with_its_reason(server, tmp_path, beam_args):
    table, expected = _pool(server)
    start = time.monotonic()
    stats, out = _run(tmp_path, "out", table, beam_args)
    elapsed = time.monotonic() - start
    assert elapsed < SLOW_SECONDS  # the slow route cannot hold the stage

    kept = shards.read_table(str(out / "kept"))
    removed = shards.read_table(str(out / "removed"))
    got = {u: None for u in kept["url"].to_pylist()}
    got.update(dict(zip(removed["url"].to_pylist(), removed["reason"].to_pylist(), strict=True)))
    assert got == expected
    assert set(removed["stage"].to_pylist()) == {"download"}
    assert all(d for d in removed["detail"].to_pylist())

    (s,) = stats["stages"]
    assert s["in"] == len(expected) and s["kept"] == 5 and s["removed"] == len(expected) - 5

    # Kept rows point at their image: key = uid, the tar member's sha256 and size match.
    rows = kept.to_pylist()
    images = tars.read_images([r["shard"] for r in rows], [r["key"] for r in rows])
    for row, data in zip(rows, images, strict=True):
        assert row["key"] == row["uid"] and row["status"] == "success"
        assert Path(row["shard"]).parent == out / "images"
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG" and im.size == (row["width"], row["height"]) == (64, 64)
        assert row["original_height"] == 80 and row["original_width"] in (120, 140, 160)
    assert not (out / "images" / ".tmp").exists()  # no work folders left behind


def test_loopback_is_refused_without_the_option(server, tmp_path, beam_args):
    table, _ = _pool(server)
    table = table.filter(pa.array([u.startswith("http://") for u in table["url"].to_pylist()]))
    _, out = _run(tmp_path, "out", table, beam_args, allow_loopback=False)
    removed = shards.read_table(str(out / "removed"))
    assert removed.num_rows == table.num_rows
    assert set(removed["reason"].to_pylist()) == {"private_address"}
    assert all("loopback" in d for d in removed["detail"].to_pylist())
    assert shards.read_table(str(out / "kept")).num_rows == 0


def _shard_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "images").iterdir()) if p.is_file()}


def test_rerun_resumes_from_complete_shards(server, tmp_path, beam_args):
    # Twelve quick URLs (the server ignores the query), so that hashing uids - which embed
    # the server's random port - into 6 shards cannot put them all in one (with the five
    # quick CASES alone that happened about once in 80 runs).
    table = _table([f"{server.base_url}/img/a{i % 3}.png?copy={i}" for i in range(12)])
    _, out = _run(tmp_path, "out", table, beam_args, shard_size=2)
    first = _shard_files(out)
    kept_first = shards.read_table(str(out / "kept")).sort_by("uid")
    assert kept_first.num_rows == table.num_rows
    expected_tars = len(np.unique(shards.shard_ids(table, 6)))
    assert expected_tars >= 2 and len([n for n in first if n.endswith(".tar")]) == expected_tars

    # With the server refusing everything (not allowed to connect), a rerun still keeps
    # every pair: every shard is complete, so nothing is downloaded. (Other settings into
    # the same folder need its config.yaml gone: the user's "this folder is mine now".)
    os.remove(out / "config.yaml")
    _, out = _run(tmp_path, "out", table, beam_args, shard_size=2, allow_loopback=False)
    assert shards.read_table(str(out / "kept")).sort_by("uid").equals(kept_first)
    assert _shard_files(out) == first

    # A shard without its marker (a crash between tar and marker) is downloaded again,
    # and comes out byte-identical.
    marker = next(n for n in first if n.endswith(".parquet"))
    os.remove(out / "images" / marker)
    (out / "images" / marker.replace(".parquet", ".tar")).write_bytes(b"half-written")
    os.remove(out / "config.yaml")
    _, out = _run(tmp_path, "out", table, beam_args, shard_size=2)
    assert _shard_files(out) == first
    assert shards.read_table(str(out / "kept")).sort_by("uid").equals(kept_first)
