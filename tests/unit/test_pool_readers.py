import bz2
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.io import pool


def _rows(path):
    return [r for t in pool.read_pool_file(str(path), batch_rows=2) for r in t.to_pylist()]


def test_parquet_datacomp_columns(tmp_path):
    p = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"uid": ["a1", "b2", "c3"], "url": ["http://x/1", "http://x/2", None], "text": ["one", "two", "three"]}), p)
    rows = _rows(p)
    assert [r["source_uid"] for r in rows] == ["a1", "b2", "c3"]
    assert [r["text"] for r in rows] == [b"one", b"two", b"three"]
    assert [r["source_row"] for r in rows] == [0, 1, 2]
    assert rows[2]["url"] is None


def test_csv_img2dataset_columns_and_bad_rows(tmp_path):
    p = tmp_path / "pool.csv"
    p.write_bytes(b'url,caption\nhttp://x/1,"a, quoted caption"\nhttp://x/2,ok,extra\nhttp://x/3,caf\xe9 latin1\nhttp://x/\xff,bad url\n')
    rows = _rows(p)
    assert rows[0]["text"] == b"a, quoted caption" and rows[0]["parse_error"] is None
    assert rows[1]["parse_error"] == "row has 3 fields, header has 2"
    assert rows[2]["text"] == b"caf\xe9 latin1"  # kept raw: ingest removes it as undecodable
    assert rows[3]["parse_error"] == "url or uid is not valid UTF-8" and rows[3]["url"] is None


def test_tsv_gz_laion_columns(tmp_path):
    p = tmp_path / "pool.tsv.gz"
    with gzip.open(p, "wt") as f:
        f.write("URL\tTEXT\nhttp://x/1\thello there\n")
    rows = _rows(p)
    assert rows == [{"url": "http://x/1", "text": b"hello there", "source": str(p), "source_row": 0, "source_uid": None, "parse_error": None}]


def test_jsonl_bz2_with_broken_lines(tmp_path):
    p = tmp_path / "pool.jsonl.bz2"
    lines = [json.dumps({"url": "http://x/1", "caption": "fine"}), "{broken", json.dumps([1, 2]), json.dumps({"url": "http://x/2", "caption": "lone \udc80"}), json.dumps({"url": "http://x/\udc80", "caption": "bad url"})]
    p.write_bytes(bz2.compress("\n".join(lines).encode()))
    rows = _rows(p)
    assert len(rows) == 5
    assert rows[4]["url"] is None and rows[4]["parse_error"] == "url or uid is not valid UTF-8"
    assert rows[1]["parse_error"].startswith("json:") and rows[2]["parse_error"].startswith("json:")
    assert rows[3]["text"] == "lone \udc80".encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("name, content, message", [
    ("pool.xlsx", b"", "unknown pool format"),
    ("pool.csv", b"image,words\nhttp://x,t\n", "no url column"),
    ("pool.parquet", b"not parquet", "not a readable Parquet file"),
])
def test_bad_files_name_the_file(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(pool.PoolFormatError, match=message) as e:
        _rows(p)
    assert name in str(e.value)


def test_match_files_folder_and_glob(tmp_path):
    for n in ("b.csv", "a.csv"):
        (tmp_path / n).write_text("url,text\n")
    assert pool.match_files(str(tmp_path)) == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert pool.match_files(str(tmp_path / "a.*")) == [str(tmp_path / "a.csv")]
    with pytest.raises(pool.PoolFormatError, match="no files match"):
        pool.match_files(str(tmp_path / "*.parquet"))


def test_format_error_found_while_reading_is_raised_or_with_skip_a_broken_file_row(tmp_path):
    # The first record with keys lacks url/text, after lines the planning check read as rows.
    p = tmp_path / "pool.jsonl"
    p.write_bytes(b"{broken\n" * 3 + b'{"image": "x", "words": "y"}\n' + b'{"url": "http://x/1", "text": "t"}\n')
    with pytest.raises(pool.PoolFormatError, match="first record has no url/text keys"):
        list(pool.read_pool_file(str(p)))
    rows = [r for t in pool.read_pool_file(str(p), skip_bad_files=True) for r in t.to_pylist()]
    assert [r["source_row"] for r in rows] == [0, 1, 2, 3]
    assert rows[3]["parse_error"].startswith("broken_file: cannot read past row 3:")
