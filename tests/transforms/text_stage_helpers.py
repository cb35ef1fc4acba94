"""Run text-curation stages through curate.pipeline.run on a table, read the outputs back."""

import pyarrow as pa
import pyarrow.parquet as pq

from curate import config as cfg
from curate import pipeline
from curate.io import shards


def write_queries(folder, entries):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entries.txt").write_text("\n".join(entries) + "\n", encoding="utf-8")
    return str(folder)


def pairs(texts, entries=None):
    n = len(texts)
    cols = {
        "uid": [f"{i * 7919 % 100003:032x}" for i in range(n)],
        "url": [f"http://127.0.0.1/{i}.png" for i in range(n)],
        "text": texts,
        "source": ["t"] * n,
        "source_row": list(range(n)),
    }
    table = pa.table(cols)
    if entries is not None:
        table = table.append_column(
            pa.field("matched_entries", pa.list_(pa.int32())), pa.array(entries, pa.list_(pa.int32()))
        )
    return table


def run_stages(tmp_path, table, stages, beam_args, queries=None, seed=0, name="out"):
    """(kept, removed, stats) after running `stages` ({name: config}) on `table`."""
    src = tmp_path / f"{name}_in"
    src.mkdir(exist_ok=True)
    pq.write_table(table, src / "part-0.parquet")
    out = tmp_path / name
    config = cfg.PipelineConfig(
        input=str(src / "*.parquet"), output=str(out), queries=queries, seed=seed, stages=stages
    )
    stats = pipeline.run(config, beam_args)
    kept = shards.read_table(str(out / "kept" / "*.parquet"))
    removed = shards.read_table(str(out / "removed" / "*.parquet"))
    return kept, removed, stats
