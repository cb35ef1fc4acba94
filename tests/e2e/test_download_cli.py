"""`curate download` from the command line on a tiny pool served on 127.0.0.1."""

import pyarrow as pa
from PIL import Image

from curate import schema
from curate.cli import main
from curate.io import shards, tars
from curate.sample.server import SampleServer


def test_curate_download_cli(tmp_path, beam_args, capsys):
    (tmp_path / "served" / "images").mkdir(parents=True)
    Image.new("RGB", (50, 40), (200, 10, 10)).save(tmp_path / "served" / "images" / "red.png")
    with SampleServer(tmp_path / "served", port=0) as srv:
        urls = [f"{srv.base_url}/img/red.png", f"{srv.base_url}/dead/x.png"]
        texts = ["a red square", "gone"]
        pool = pa.table(
            {
                "uid": [schema.make_uid(u, t) for u, t in zip(urls, texts, strict=True)],
                "url": urls,
                "text": texts,
                "source": ["pool"] * 2,
            }
        )
        shards.write_bytes(str(tmp_path / "in" / "part-0.parquet"), shards.table_to_parquet_bytes(pool))
        out = tmp_path / "out"
        code = main(
            ["download", "--input", str(tmp_path / "in"), "--output", str(out), "--allow-loopback",
             "--image-size", "32", "--timeout", "2", *beam_args]
        )
    assert code == 0
    assert "download: in 2, kept 1, removed 1 (http_404=1)" in capsys.readouterr().out
    kept = shards.read_table(str(out / "kept"))
    assert kept["url"].to_pylist() == [urls[0]] and kept["width"].to_pylist() == [32]
    (image,) = tars.read_images(kept["shard"].to_pylist(), kept["key"].to_pylist())
    assert image[:2] == b"\xff\xd8"  # a JPEG
    (caption,) = tars.read_images(kept["shard"].to_pylist(), kept["key"].to_pylist(), ext="txt")
    assert caption == b"a red square"
    removed = shards.read_table(str(out / "removed"))
    assert removed["reason"].to_pylist() == ["http_404"]
    assert (out / "stats.json").exists() and (out / "config.yaml").exists()


def test_curate_download_refuses_loopback_by_default(tmp_path, beam_args, capsys):
    url = "http://127.0.0.1:9/img/red.png"
    pool = pa.table({"uid": [schema.make_uid(url, "t")], "url": [url], "text": ["t"], "source": ["p"]})
    shards.write_bytes(str(tmp_path / "in" / "part-0.parquet"), shards.table_to_parquet_bytes(pool))
    code = main(["download", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), *beam_args])
    assert code == 0
    assert "removed 1 (private_address=1)" in capsys.readouterr().out
