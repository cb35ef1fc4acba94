"""DedupByMinHash in a pipeline: caption clusters and their sizes as columns, only spam-size
clusters capped (hash-chosen), the same clusters as the pure functions give."""

import pytest

from curate.config import DedupTextConfig
from curate.ops import textdup
from curate.ops.components import union_find
from tests.transforms.text_stage_helpers import pairs, run_stages


def test_clusters_are_columns_and_nothing_is_removed_below_the_cap(tmp_path, beam_args):
    texts = [
        "red sports car for sale",
        "Red sports car for sale!",  # same words
        "red sports car for sael",  # typo
        "blue sports car for sale",  # another car: its own cluster
        "a bowl of ramen noodles",
        "?!",  # no words: never a candidate
        "?!",
        # issue 14's table: different products, each its own caption
        "red Nike Air Max 90 running shoe",
        "blue Nike Air Max 90 running shoe",
        "Black T-shirt size M",
        "Black T-shirt size XL",
        "handwritten digit four",
        "handwritten digit five",
    ]
    table = pairs(texts)
    uids = table["uid"].to_pylist()
    kept, removed, stats = run_stages(tmp_path, table, {"dedup_text": DedupTextConfig(rows_per_partition=2)}, beam_args)
    (s,) = stats["stages"]
    assert (s["in"], s["kept"], s["removed"]) == (13, 13, 0)
    assert removed.num_rows == 0
    rows = {r["uid"]: r for r in kept.to_pylist()}
    root = min(uids[:3])
    assert [rows[u]["text_cluster"] for u in uids[:3]] == [root] * 3
    assert [rows[u]["text_cluster_size"] for u in uids[:3]] == [3] * 3
    for u in uids[3:]:
        assert (rows[u]["text_cluster"], rows[u]["text_cluster_size"]) == (u, 1)


def _spam(n):
    variants = ["Click here to WIN a free iPhone", "click here to win a free iphone!!", "Click here to win the free iPhone | Best Deals"]
    return [variants[i % 3] + "!" * (i // 3) for i in range(n)]


@pytest.mark.parametrize("seed", [0, 5])
def test_spam_cluster_is_capped_by_hash(tmp_path, beam_args, seed):
    texts = _spam(12) + ["red apple on a table", "green apple on a table"]
    table = pairs(texts)
    uids = table["uid"].to_pylist()
    c = DedupTextConfig(max_cluster_size=5)
    kept, removed, stats = run_stages(tmp_path, table, {"dedup_text": c}, beam_args, seed=seed)
    (s,) = stats["stages"]
    assert (s["in"], s["kept"], s["removed"]) == (14, 7, 7)
    assert s["removed_by_reason"] == {"text_cluster_cap": 7}
    expected = set(textdup.capped(uids[:12], 5, "dedup_text", seed))
    assert set(removed["uid"].to_pylist()) == expected and len(expected) == 7
    assert all(d.endswith("of 12 near-duplicate captions, 5 kept") for d in removed["detail"].to_pylist())
    sizes = dict(zip(kept["uid"].to_pylist(), kept["text_cluster_size"].to_pylist(), strict=True))
    assert sorted(sizes[u] for u in uids[:12] if u in sizes) == [12] * 5
    assert sizes[uids[12]] == 1 and sizes[uids[13]] == 1  # red / green apple: not duplicates


def test_capped_choice_depends_on_seed_not_order():
    members = [f"{i:032x}" for i in range(50)]
    a = textdup.capped(members, 10, "dedup_text", 0)
    assert a == textdup.capped(list(reversed(members)), 10, "dedup_text", 0)
    assert a != textdup.capped(members, 10, "dedup_text", 1)
    assert len(a) == 40 and textdup.capped(members, 0, "dedup_text", 0) == []


@pytest.mark.slow
def test_dedup_sample_pool(tmp_path, beam_args):
    try:
        from curate.sample import build

        rows = build._assemble(2000, 0)
    except (FileNotFoundError, OSError):
        pytest.skip("sample sources not installed (scripts/setup.sh)")
    rows = [r for r in rows if r.text]
    table = pairs([r.text for r in rows])
    uids = table["uid"].to_pylist()
    c = DedupTextConfig()
    kept, removed, _ = run_stages(tmp_path, table, {"dedup_text": c}, beam_args)
    assert kept.num_rows == len(rows) and removed.num_rows == 0  # no spam-size cluster here
    cluster = dict(zip(kept["uid"].to_pylist(), kept["text_cluster"].to_pylist(), strict=True))
    # Same clusters as the pure functions give (verified LSH edges + union-find).
    from tests.unit.test_minhash import _lsh_edges

    edges = _lsh_edges([r.text for r in rows], c)
    label = union_find((uids[i], uids[j]) for i, j in edges)
    assert all(cluster[u] == label.get(u, u) for u in uids)
    # The sample's re-posted captions (same image, edited caption) land in their source's
    # cluster wherever the rule calls the edit a near-duplicate.
    source = {}
    for i, r in enumerate(rows):
        if r.pair is not None and r.defect == "none":
            source.setdefault(r.pair, i)
    near = [(i, source[r.pair]) for i, r in enumerate(rows) if r.defect == "reposted_pair" and r.pair in source]
    found = sum(cluster[uids[i]] == cluster[uids[j]] for i, j in near)
    rule = sum(textdup.near_duplicate(rows[i].text, rows[j].text) for i, j in near)
    print(f"re-posted pairs: {len(near)}, same cluster {found}, rule says near-duplicate {rule}")
    assert near and found >= 0.9 * rule


def test_band_rows_through_exchange_files_same_clusters(tmp_path, beam_args):
    """With an exchange folder the band rows go through files there (only their locations
    through the runner); the clusters equal those of band rows through the runner, and a
    run (``curate.pipeline.run``) leaves no exchange folder behind."""
    import glob

    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from curate.runner import pipeline_options
    from curate.transforms.dedup_text import DedupByMinHash

    words = ["red", "blue", "car", "sale", "bowl", "ramen", "shoe", "digit", "four", "five"]
    texts = [f"{words[i % 10]} {words[(i * 7) % 10]} {words[(i * 3) % 10]} item {i % 40}" for i in range(400)]
    table = pairs(texts)
    batches = [table.slice(i, 50) for i in range(0, table.num_rows, 50)]
    c = DedupTextConfig(rows_per_partition=100)
    exchange = tmp_path / "exchange"
    kept, _, _ = run_stages(tmp_path, table, {"dedup_text": c}, beam_args)
    assert not (tmp_path / "out" / ".exchange").exists()
    reference = dict(zip(kept["uid"].to_pylist(), kept["text_cluster"].to_pylist(), strict=True))
    assert len(set(reference.values())) < len(texts)  # there are clusters to compare
    with beam.Pipeline(options=pipeline_options(beam_args)) as p:
        for name, ex in (("files", str(exchange)), ("runner", None)):
            got = (
                p
                | f"In{name}" >> beam.Create(batches, reshuffle=False)
                | f"Dedup{name}" >> DedupByMinHash(c, 0, ex)
            )
            pairs_out = got.kept | f"Rows{name}" >> beam.FlatMap(
                lambda t: list(zip(t["uid"].to_pylist(), t["text_cluster"].to_pylist(), strict=True))
            )
            assert_that(pairs_out, equal_to(sorted(reference.items())), label=f"Check{name}")
    assert glob.glob(str(exchange / "*.arrows"))  # the band rows went through files


def test_signing_must_see_every_pair():
    """A pair lost before signing would just be kept unclustered; the stage fails instead."""
    from curate.transforms.base import FunnelError
    from curate.transforms.dedup_text import check_signed

    check_signed(2_987_185, 2_987_185)
    with pytest.raises(FunnelError, match="in=2987185 but 2885757 pairs were signed"):
        check_signed(2_987_185, 2_885_757)


def test_packed_and_string_uids_give_the_same_edges():
    """Signing packs make_uid's uids to 16 bytes (schema.pack_uids); a partition where packed
    pieces meet string ones (a batch with any other uid) is verified on the strings. Either
    way the edges are the same, named by the same uids."""
    import collections

    from curate import schema
    from curate.transforms.dedup_text import BucketEdgesFn, SignBatchFn

    words = ["red", "blue", "car", "sale", "bowl", "ramen", "shoe", "digit", "four", "five"]
    texts = [f"{words[i % 10]} {words[(i * 7) % 10]} {words[(i * 3) % 10]} item {i % 40}" for i in range(400)]
    table = pairs(texts)
    c = DedupTextConfig()
    sign, verify = SignBatchFn(c), BucketEdgesFn(c)
    sign.setup()
    verify.setup()
    parts = collections.defaultdict(list)
    for start in range(0, table.num_rows, 100):
        for part, piece in sign.pieces(table.slice(start, 100), 2):
            parts[part].append(piece)
    assert all(p.schema.field("uid").type == schema.PACKED_UID for ps in parts.values() for p in ps)

    def unpacked(piece):
        return piece.set_column(piece.schema.get_field_index("uid"), "uid", schema.unpack_uids(piece["uid"]))

    def edges(pieces_of):
        return sorted(e for part in sorted(parts) for e in verify.process((part, pieces_of(parts[part]))))

    packed = edges(lambda ps: ps)
    strings = edges(lambda ps: [unpacked(p) for p in ps])
    mixed = edges(lambda ps: [unpacked(p) if k % 2 else p for k, p in enumerate(ps)])
    assert packed and packed == strings == mixed
    uids = set(table["uid"].to_pylist())
    assert all(a in uids and b in uids and a < b for a, b in packed)
