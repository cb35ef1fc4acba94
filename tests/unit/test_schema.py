import pyarrow as pa
import pytest

from curate import schema


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://Example.COM/a.jpg", "http://example.com/a.jpg"),
        ("HTTPS://example.com:443/a?b=C", "https://example.com/a?b=C"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x#frag", "http://example.com:8080/x"),
        ("  http://example.com/Path/To.PNG  ", "http://example.com/Path/To.PNG"),
        ("http://[::1]:8765/img/a.png", "http://[::1]:8765/img/a.png"),
        ("http://user:pw@Host.org/x", "http://user:pw@host.org/x"),
    ],
)
def test_normalise_url(url, expected):
    assert schema.normalise_url(url) == expected


@pytest.mark.parametrize("url", ["http:///nohost", "http://example.com:99999/", "nothing"])
def test_normalise_url_rejects(url):
    with pytest.raises(ValueError):
        schema.normalise_url(url)


def test_uid_is_stable_and_separates_fields():
    a = schema.make_uid("http://x.org/a", "bc")
    assert a == schema.make_uid("http://x.org/a", "bc")
    assert len(a) == 32 and int(a, 16) >= 0
    assert a != schema.make_uid("http://x.org/ab", "c")
    # pinned: the uid rule is a contract with users' stored uid lists
    assert schema.make_uid("http://example.com/a.jpg", "a red car") == "be16cfc98b1cd5cc616c2105f05395eb"


def test_conform_orders_casts_and_rejects_unknown_columns():
    t = pa.table({"text": ["t"], "uid": ["u"], "width": pa.array([3], pa.int64())})
    c = schema.conform(t)
    assert c.column_names == ["uid", "text", "width"]
    assert c.schema.field("width").type == pa.int32()
    with pytest.raises(ValueError, match="not in the schema"):
        schema.conform(pa.table({"uid": ["u"], "bogus": [1]}))
    filled = schema.conform(t, fill=True)
    assert filled.column_names == [f.name for f in schema.PAIR_SCHEMA]


def test_removed_has_one_reason_per_row():
    t = pa.table({"uid": ["a", "b"], "url": ["u1", "u2"], "text": ["x", "y"]})
    r = schema.removed(t, "stage", ["r1", "r2"], ["d1", None])
    assert r.schema == schema.REMOVED_SCHEMA
    assert r["reason"].to_pylist() == ["r1", "r2"]
    assert r["stage"].to_pylist() == ["stage", "stage"]
    with pytest.raises(ValueError):
        schema.removed(t, "stage", ["only one"])


def test_with_column_replaces_a_null_column_from_earlier_shards():
    # shards written by an earlier run carry every column, nulls where a stage did not run:
    # a later stage run on them must set its column, not add a second one
    t = schema.conform(pa.table({"uid": ["a", "b"]}), fill=True)
    t2 = schema.with_column(t, "phash", [1, 2])
    assert t2.column_names == t.column_names
    assert t2["phash"].to_pylist() == [1, 2] and t2.schema.field("phash").type == pa.uint64()
    t3 = schema.with_column(pa.table({"uid": ["a"]}), "lang", ["en"])
    assert t3.column_names == ["uid", "lang"]


def _split_by_filter(table, keys):
    """The slow reference: one filter per distinct key, keys ascending."""
    import numpy as np

    keys = np.asarray(keys)
    return [(k, table.filter(pa.array(keys == k))) for k in sorted(set(keys.tolist()))]


@pytest.mark.parametrize("kind", ["ints", "large ints", "strings", "one key", "empty", "one row"])
def test_split_by_key_equals_one_filter_per_key(kind):
    import pickle
    import random

    rng = random.Random(kind)
    n = {"empty": 0, "one row": 1}.get(kind, 5000)
    table = pa.table({"uid": [f"{i:032x}" for i in range(n)], "text": [f"caption {rng.random()}" * rng.randint(1, 4) for _ in range(n)]})
    keys = {
        "ints": [rng.randrange(840) for _ in range(n)],  # sorted in their 16-bit form
        "large ints": [rng.choice([-5, 70_000, 1 << 40, 3, 65_535, 65_536]) for _ in range(n)],  # sorted as they are
        "strings": [f"shard-{rng.randrange(12):05d}" for _ in range(n)],
        "one key": [7] * n,
    }.get(kind, [3] * n)
    got = list(schema.split_by_key(table, keys))
    want = _split_by_filter(table, keys)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert all(type(k) in (int, str) for k, _ in got)
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert a.equals(b)
    if kind == "ints":  # sub-tables are compact: pickled, each carries its own rows only
        total = sum(len(pickle.dumps(t)) for _, t in got)
        assert total < 2 * len(pickle.dumps(table))


def test_split_by_key_compacts_a_sliced_batch_with_one_key():
    import pickle

    big = pa.table({"uid": [f"{i:032x}" for i in range(20000)]})
    part = big.slice(100, 10)
    ((key, table),) = schema.split_by_key(part, [4] * 10)
    assert key == 4 and table.equals(part)
    assert len(pickle.dumps(table)) < len(pickle.dumps(big)) / 20


def test_uids_pack_to_16_bytes_in_the_same_order():
    import pyarrow as pa
    import pyarrow.compute as pc

    from curate import schema

    uids = [schema.make_uid(f"https://example.com/{i}.jpg", f"caption {i}") for i in range(500)]
    packed = schema.pack_uids(pa.chunked_array([pa.array(uids[:200]), pa.array(uids[200:])]))
    assert packed.type == schema.PACKED_UID and packed.nbytes == 16 * 500
    assert packed[0].as_py() == bytes.fromhex(uids[0])
    assert schema.unpack_uids(packed).to_pylist() == uids
    assert schema.unpack_uids(packed.slice(7, 30)).to_pylist() == uids[7:37]
    assert schema.unpack_uids(schema.pack_uids(pa.array(uids).slice(3, 5))).to_pylist() == uids[3:8]
    assert pc.array_sort_indices(packed).to_pylist() == sorted(range(500), key=uids.__getitem__)
    for other in (["A" * 32], ["ab"], ["g" * 32], [uids[0], None], [uids[0], "x"]):
        kept = schema.pack_uids(pa.array(other, pa.string()))
        assert kept.type == pa.string() and kept.to_pylist() == other  # anything else: as it was
    assert schema.unpack_uids(pa.array(["u1"])).to_pylist() == ["u1"]
