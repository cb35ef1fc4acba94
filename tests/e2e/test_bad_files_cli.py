"""A pool with bad files: by default the run stops before any work, naming them; with
--skip-bad-files it runs without the unreadable ones, keeps the rows of files that break
part-way, and lists both in stats.json, the summary and `curate report`."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from curate.cli import main
from curate.io import shards


def _rows(start: int, n: int) -> list[dict]:
    return [{"url": f"http://e.org/{i}.jpg", "text": f"a caption number {i}"} for i in range(start, start + n)]


def _parquet(rows: list[dict], row_group_size: int = 10) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink, row_group_size=row_group_size, compression="zstd")
    return sink.getvalue()


def _pool(folder):
    folder.mkdir()
    (folder / "a-good.parquet").write_bytes(_parquet(_rows(0, 30)))
    (folder / "b-garbage.parquet").write_bytes(b"\x00\x17not parquet at all" * 50)
    # Cut after its first row groups (a partial download): no footer, nothing readable.
    whole = _parquet(_rows(100, 40))
    (folder / "c-cut.parquet").write_bytes(whole[: len(whole) // 2])
    # A damaged row group in the middle: the other three are read.
    data = bytearray(_parquet(_rows(200, 40)))
    col = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(0)
    start = col.dictionary_page_offset or col.data_page_offset
    data[start + 20 : start + col.total_compressed_size - 4] = b"\x00" * (col.total_compressed_size - 24)
    (folder / "d-bad-group.parquet").write_bytes(bytes(data))
    # A gzip stream cut mid-way: the complete lines before the cut are read.
    lines = "".join(json.dumps(r) + "\n" for r in _rows(300, 5000)).encode()
    packed = gzip.compress(lines, mtime=0)
    (folder / "e-cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])


def test_bad_files_stop_the_run_by_default(tmp_path, beam_args, capsys):
    _pool(tmp_path / "pool")
    code = main(["ingest", "--input", str(tmp_path / "pool"), "--output", str(tmp_path / "out"), *beam_args])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"curate ingest: error: {tmp_path}/pool/b-garbage.parquet: not a Parquet file (and 1 more bad "
        "files of 5); fix or remove it, or pass --skip-bad-files (ingest.skip_bad_files: true) to run without it"
    )
    assert not (tmp_path / "out").exists()


def test_skip_bad_files_runs_and_lists_them(tmp_path, beam_args, capsys):
    _pool(tmp_path / "pool")
    out = tmp_path / "out"
    code = main(["ingest", "--input", str(tmp_path / "pool"), "--output", str(out), "--skip-bad-files", *beam_args])
    assert code == 0
    printed = capsys.readouterr().out
    stats = shards.read_json(str(out / "stats.json"))
    (ingest,) = stats["stages"]
    assert ingest["files"] == {"in": 5, "read": 3, "skipped": 2}
    bad = {(f["path"].rsplit("/", 1)[1], f["problem"]) for f in stats["bad_files"]}
    assert bad == {("b-garbage.parquet", "skipped"), ("c-cut.parquet", "skipped"),
                   ("d-bad-group.parquet", "broken"), ("e-cut.jsonl.gz", "broken")}
    cut = next(f for f in stats["bad_files"] if f["path"].endswith("c-cut.parquet"))
    assert "no Parquet footer" in cut["reason"]
    # What was read: 30 good rows, 30 of the damaged Parquet (row group 1 lost), the complete
    # lines of the cut gzip. Each break is one removed record; in = kept + removed.
    kept = shards.read_table(str(out / "kept"))
    removed = shards.read_table(str(out / "removed"))
    sources = [s.rsplit("/", 1)[1] for s in kept["source"].to_pylist()]
    assert sources.count("a-good.parquet") == 30 and sources.count("d-bad-group.parquet") == 30
    rows_d = sorted(r for s, r in zip(sources, kept["source_row"].to_pylist(), strict=True) if s == "d-bad-group.parquet")
    assert rows_d == [*range(10), *range(20, 40)]
    gz_rows = sorted(r for s, r in zip(sources, kept["source_row"].to_pylist(), strict=True) if s == "e-cut.jsonl.gz")
    assert 1000 < len(gz_rows) < 5000 and gz_rows == list(range(len(gz_rows)))
    by_reason = ingest["removed_by_reason"]
    assert by_reason["broken_file"] == 2
    assert set(by_reason) <= {"broken_file", "malformed_row"}  # malformed: a partial last line
    assert ingest["in"] == ingest["kept"] + ingest["removed"] == kept.num_rows + removed.num_rows
    assert "bad file" in printed and "c-cut.parquet skipped (unreadable)" in printed
    # curate report lists them too.
    assert main(["report", "--run", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "## Bad input files" in report and "b-garbage.parquet | skipped" in report
    assert "d-bad-group.parquet | broken | row group 1: rows 10..19 (10) do not decode" in report
