"""curate.io.shards: makedirs creating one new folder from many workers at once; WriteShards
through an exchange folder."""

import threading

import pytest

from curate.io import shards


def test_makedirs_creates_parents_and_accepts_an_existing_folder(tmp_path):
    path = str(tmp_path / "a" / "b" / "kept")
    shards.makedirs(path)
    shards.makedirs(path)  # a second worker finding it there is fine
    assert (tmp_path / "a" / "b" / "kept").is_dir()


def test_makedirs_from_many_threads_at_once(tmp_path):
    """Every writer of a shard creates its folder first; they must not trip on each other."""
    errors = []
    start = threading.Barrier(16)

    def create(path):
        start.wait()
        try:
            shards.makedirs(path)
        except Exception as e:  # noqa: BLE001 - any failure is what the test looks for
            errors.append(e)

    for round_ in range(20):
        path = str(tmp_path / f"r{round_}" / "kept")
        threads = [threading.Thread(target=create, args=(path,)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_makedirs_still_fails_where_a_file_is_in_the_way(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        shards.makedirs(str(tmp_path / "file" / "kept"))


def test_write_shards_through_an_exchange_folder_writes_the_same_bytes(tmp_path):
    """WriteShards with `exchange`: the rows reach their shard's writer through files there
    (only Segments through the GroupByKey), and every shard is byte-identical to the one
    written with the rows through the runner."""
    import os
    import random

    import apache_beam as beam
    import pyarrow as pa

    from curate import schema
    from curate.io import shards

    rng = random.Random(3)
    rows = [(f"http://example.com/{i}.jpg", f"caption {i} {rng.random()}") for i in range(5000)]
    table = schema.conform(pa.table({
        "uid": [schema.make_uid(u, t) for u, t in rows],
        "url": [u for u, _ in rows],
        "text": [t for _, t in rows],
    }))
    batches = [table.slice(i, 700) for i in range(0, table.num_rows, 700)]
    out = {}
    for name, exchange in (("runner", None), ("exchange", str(tmp_path / "x"))):
        with beam.Pipeline() as p:
            _ = p | beam.Create(batches) | shards.WriteShards(
                str(tmp_path / name / "part"), rows_per_shard=1000, exchange=exchange)
        out[name] = {f: (tmp_path / name / f).read_bytes() for f in sorted(os.listdir(tmp_path / name))}
    assert list(out["runner"]) == [f"part-{i:05d}-of-00005.parquet" for i in range(5)]
    assert out["exchange"] == out["runner"]
    assert os.listdir(tmp_path / "x")  # the pieces went through files
    assert shards.read_table(str(tmp_path / "exchange" / "*.parquet"), ["uid"]).num_rows == 5000
