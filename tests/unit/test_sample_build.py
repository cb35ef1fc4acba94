"""The sample pool builder: deterministic, composition as its manifest says, every defect
present, and ingest removes exactly the rows the manifest predicts for the ingest stage."""

import json

import pyarrow.parquet as pq
import pytest

from curate import config as cfg
from curate import pipeline
from curate.io import shards
from curate.sample import build as b
from curate.sample import captions

SIZE = 600


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    doc = b.build_sample(out, size=SIZE, seed=0, port=8765)
    return out, doc, pq.read_table(out / "manifest.parquet").to_pylist()


def test_same_seed_same_bytes(built, tmp_path):
    out, _, _ = built
    b.build_sample(tmp_path, size=SIZE, seed=0, port=8765)
    for name in ("pool.parquet", "manifest.parquet", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_other_seed_other_pool(built, tmp_path):
    out, _, _ = built
    b.build_sample(tmp_path, size=SIZE, seed=1, port=8765)
    assert (tmp_path / "pool.parquet").read_bytes() != (out / "pool.parquet").read_bytes()


def test_pool_matches_manifest(built):
    out, doc, rows = built
    pool = pq.read_table(out / "pool.parquet")
    assert pool.column_names == ["url", "text"]
    assert pool.num_rows == len(rows) == doc["rows"] == SIZE
    assert pool["url"].to_pylist() == [r["url"] for r in rows]
    assert pool["text"].to_pylist() == [r["text"] for r in rows]
    assert [r["row"] for r in rows] == list(range(SIZE))
    assert json.loads((out / "manifest.json").read_text()) == doc


def test_composition_counts(built):
    _, doc, rows = built
    def count(key):
        out = {}
        for r in rows:
            out[r[key]] = out.get(r[key], 0) + 1
        return out
    assert doc["kinds"] == count("kind")
    assert doc["defects"] == count("defect")
    expected = {}
    for r in rows:
        s = r["expect_stage"] or "kept"
        expected.setdefault(s, {})
        expected[s][r["expect_reason"] or "kept"] = expected[s].get(r["expect_reason"] or "kept", 0) + 1
    assert doc["expected"] == expected
    fashion = count("kind")["fashion"] / SIZE
    assert 0.25 <= fashion <= 0.35


def test_every_defect_kind_present(built):
    _, doc, rows = built
    injected = {d.name for d in b.DEFECTS}
    assert injected <= set(doc["defects"]), injected - set(doc["defects"])
    for d in b.DEFECTS:  # each with its reasons documented
        assert doc["rates"][d.name]["why"]


def test_urls_follow_their_defect(built):
    _, _, rows = built
    for r in rows:
        d, url = r["defect"], r["url"]
        if d == "missing_url":
            assert url is None
        elif d == "bad_url_scheme":
            assert url.startswith("ftp://")
        elif d == "refused_connection":
            assert url.startswith(f"http://127.0.0.1:{b.REFUSED_PORT}/img/")
        elif d in b.URL_ROUTES:
            assert url.startswith(f"http://127.0.0.1:8765/{b.URL_ROUTES[d]}/"), (d, url)
        else:
            assert url.startswith("http://127.0.0.1:8765/img/"), (d, url)


def test_images_exist_with_their_md5(built):
    import hashlib

    out, _, rows = built
    for r in rows:
        data = (out / "images" / r["image"]).read_bytes()
        assert hashlib.md5(data).hexdigest() == r["image_md5"]


def test_fashion_captions_name_their_class(built):
    _, _, rows = built
    fashion = [r for r in rows if r["kind"] == "fashion" and r["defect"] in ("none", "redirect")]
    assert len(fashion) > 50
    for r in fashion:
        words = captions.FASHION_SYNONYMS[r["label"]]
        assert any(w in r["text"].lower() for w in words), r["text"]
        assert r["concept"] == captions.FASHION_CLASSES[r["label"]]


def test_mismatched_captions_come_from_other_concepts(built):
    _, _, rows = built
    mism = [r for r in rows if r["defect"] == "mismatched_caption"]
    assert mism and all(r["expect_stage"] in ("capfilt", "dedup_text", "dedup_images") for r in mism)
    by_text = {}
    for r in rows:
        by_text.setdefault(r["text"], set()).add(r["concept"])
    # The caption is written for another item: no other row of the same concept carries it
    # unless that row is itself a copy.
    assert any(r["concept"] not in (by_text[r["text"]] - {r["concept"]}) for r in mism)


def test_reposted_pairs_are_the_same_image_with_an_edited_caption(built):
    """Issue 14: the injected duplicate is the same pair again (same image bytes under another
    URL, caption edited), expected at dedup_images; a near-duplicate caption on another image
    is never a defect."""
    _, _, rows = built
    reposts = [r for r in rows if r["defect"] == "reposted_pair"]
    assert reposts
    for r in reposts:
        group = [x for x in rows if x["image_group"] == r["image_group"]] if r["image_group"] else []
        if r["expect_stage"] == "dedup_images":
            assert len(group) >= 2 and group[0]["row"] != r["row"]
            assert any(x["text"] != r["text"] and x["url"] != r["url"] for x in group)
    assert sum(r["expect_stage"] == "dedup_images" for r in reposts) >= 0.8 * len(reposts)
    assert not any(r["expect_stage"] == "dedup_text" for r in rows)
    by_group = {}
    for r in rows:
        if r["text_group"] is not None:
            by_group.setdefault(r["text_group"], []).append(r)
    # Some text groups span different images (emoji vendors, shop templates): clean rows.
    mixed = [g for g in by_group.values() if len({x["image_md5"] for x in g}) > 1]
    assert mixed
    for g in mixed:
        for x in g:
            if x["image_group"] is None and x["defect"] == "none":
                assert x["expect_stage"] is None


def test_groups_keep_their_first_member(built):
    _, _, rows = built
    for col, stage in (("image_group", "dedup_images"),):
        groups = {}
        for r in rows:
            if r[col] is not None:
                groups.setdefault(r[col], []).append(r)
        assert groups, col
        for members in groups.values():
            assert len(members) >= 2
            assert members[0]["expect_stage"] != stage
            assert all(m["expect_stage"] == stage for m in members[1:])
    for r in rows:  # duplicate images in a group share bytes
        if r["image_group"] is not None:
            same = [x for x in rows if x["image_group"] == r["image_group"]]
            assert len({x["image_md5"] for x in same}) == 1


def test_uids_are_the_schema_rule(built):
    from curate import schema

    _, _, rows = built
    for r in rows:
        if r["uid"] is not None:
            assert r["uid"] == schema.make_uid(schema.normalise_url(r["url"]), r["text"])


def test_ingest_removes_exactly_what_the_manifest_predicts(built, tmp_path, beam_args):
    out, _, rows = built
    config = cfg.PipelineConfig(
        input=str(out / "pool.parquet"), output=str(tmp_path / "run"),
        stages={"ingest": cfg.IngestConfig()},
    )
    stats = pipeline.run(config, beam_args)
    removed = shards.read_table(str(tmp_path / "run" / "removed"))
    got = {(r["source_row"], r["reason"]) for r in removed.to_pylist()}
    want = {(r["row"], r["expect_reason"]) for r in rows if r["expect_stage"] == "ingest"}
    assert got == want
    assert {r["reason"] for r in removed.to_pylist()} == {"missing_url", "bad_url_scheme", "duplicate_pair"}
    kept = shards.read_table(str(tmp_path / "run" / "kept"))
    assert sorted(kept["uid"].to_pylist()) == sorted(
        r["uid"] for r in rows if r["expect_stage"] != "ingest"
    )
    assert stats["input"] == SIZE and stats["kept"] + stats["removed"] == SIZE


def test_too_small_is_refused(tmp_path):
    with pytest.raises(ValueError, match="size"):
        b.build_sample(tmp_path, size=10)


def test_digits_share_adds_digit_pages_the_mnist_eval_never_sees(built, tmp_path):
    _, default_doc, _ = built
    assert "digits" not in default_doc["kinds"] and "digits_share" not in default_doc
    doc = b.build_sample(tmp_path, size=SIZE, seed=0, port=8765, digits_share=0.1)
    rows = [r for r in pq.read_table(tmp_path / "manifest.parquet").to_pylist() if r["kind"] == "digits"]
    assert doc["digits_share"] == 0.1 and doc["kinds"]["digits"] == len(rows)
    assert 0.08 * SIZE <= len(rows) <= 0.12 * SIZE
    for r in rows:
        _, digit, position = r["origin"].split("/")
        assert digit == r["concept"] and int(position) % 2 == 0  # the eval half is the odd positions
        if r["defect"] == "none":
            assert digit in r["text"], r["text"]
    from curate.io.labelled import mnist_arrays

    pool_px = {bytes(a) for a in mnist_arrays("pool")[0]}
    assert not any(bytes(a) in pool_px for a in mnist_arrays("eval")[0][:500])
