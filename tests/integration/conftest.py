"""A small raw pool in several formats, written to any Beam filesystem, for the runner tests.

It holds what real pools hold: exact duplicates within and across files, a malformed JSON
line, a CSV row with the wrong field count, bad and missing URLs, undecodable text, a
compressed file. Contents are fixed (no randomness), so every runner must give the same output.
"""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# Common words: most pairs match a query-list entry, some entries match far more pairs than
# others (so balancing has heads and tails), and near-duplicate texts are few.
WORDS = (
    "red blue green black white small big old new happy cat dog bird horse fish tree flower "
    "house car boat train bicycle sun moon star river hill city beach forest mountain garden "
    "kitchen table chair window door book phone computer guitar piano ball shoe hat shirt "
    "dress cake apple bread coffee water snow rain cloud road bridge tower castle church"
).split()
COMMON = ("photo", "picture", "drawing")


def _pairs(start: int, n: int):
    for i in range(start, start + n):
        words = [WORDS[(i * k * 7 + k * 13 + i // 5) % len(WORDS)] for k in (1, 2, 3, 5)]
        text = f"{COMMON[i % 3] if i % 4 else 'a'} of {words[0]} {words[1]} with {words[2]} and {words[3]}"
        if i % 50 == 7:
            text = f"{text}!"  # a near-duplicate of nobody in particular
        yield f"https://img{i % 7}.example.org/p/{i}.jpg", text


def pool_files(n: int = 600) -> dict[str, bytes]:
    """Pool file name -> bytes: about `n` good pairs plus bad rows and duplicates."""
    q = n // 4
    files: dict[str, bytes] = {}
    a = list(_pairs(0, q))
    b = list(_pairs(q, q)) + a[:20]  # duplicates across files
    c = list(_pairs(2 * q, q)) + a[20:25]
    d = list(_pairs(3 * q, q)) + [(u.upper().replace("HTTPS", "https"), t) for u, t in a[30:33]]

    table = pa.table({"url": [u for u, _ in a] + [None, "ftp://x.org/a.png"], "caption": [t for _, t in a] + ["no url", "ftp"]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    files["a.parquet"] = sink.getvalue()

    lines = [json.dumps({"url": u, "text": t}) for u, t in b] + ["{not json", json.dumps({"url": "https://x.org/bad-text", "text": "bad \udc80 text"})]
    files["b.jsonl"] = "\n".join(lines).encode("utf-8", "surrogatepass")

    out = io.StringIO()
    out.write("url,caption,key\n")
    for i, (u, t) in enumerate(c):
        out.write(f'{u},"{t}",c{i}\n')
    out.write("https://x.org/only-two,fields\n")
    files["c.csv"] = out.getvalue().encode()

    tsv = "URL\tTEXT\n" + "".join(f"{u}\t{t}\n" for u, t in d) + "http://white space.org/a b\tspaces\n"
    files["d.tsv.gz"] = gzip.compress(tsv.encode(), mtime=0)
    return files


@pytest.fixture(scope="session")
def pool_bytes() -> dict[str, bytes]:
    return pool_files()


@pytest.fixture
def local_pool(tmp_path, pool_bytes):
    folder = tmp_path / "pool"
    folder.mkdir()
    for name, data in pool_bytes.items():
        (folder / name).write_bytes(data)
    return str(folder)


def output_files(folder) -> dict[str, bytes]:
    """Relative path -> bytes of a run's shards and stats (config.yaml names the folder)."""
    from pathlib import Path

    root = Path(folder)
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "config.yaml"
    }


def assert_same_output(got_folder, want_folder) -> None:
    """Two runs wrote byte-identical shards (so identical rows, row for row) and stats."""
    got, want = output_files(got_folder), output_files(want_folder)
    assert sorted(got) == sorted(want)
    assert any(name.startswith("kept/") for name in got)
    for name in want:
        assert got[name] == want[name], f"{name} differs"


# The checked-in sample query list.
QUERIES = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "queries" / "sample")

# Stages that need a service or a model (download: an HTTP server; embed, semdedup, capfilt,
# decontaminate: open_clip weights; dedup_images: downloaded images) are not in the runner
# comparison yet; every text stage is, including balance's global t selection.
WHOLE_PIPELINE_STAGES = ("ingest", "filter", "dedup_text", "balance")


def whole_pipeline_config(input_path: str, output: str, rows_per_shard: int = 100, queries: str = QUERIES, **stage_values):
    """The stages of WHOLE_PIPELINE_STAGES that exist, in pipeline order, with defaults
    (``stage_values`` overrides settings: ``ingest={"batch_rows": 64}``)."""
    from curate import config as cfg

    stages = {
        name: cfg.stage_config(name, stage_values.get(name))
        for name in WHOLE_PIPELINE_STAGES
        if name in cfg.STAGE_CONFIGS
    }
    return cfg.PipelineConfig(input=input_path, output=output, queries=queries, rows_per_shard=rows_per_shard, stages=stages)
