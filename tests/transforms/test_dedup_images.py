import io

import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate import config as cfg
from curate import pipeline
from curate.io.shards import read_table
from curate.ops import components, image_hash
from curate.ops import dedup_images as ops
from tests.imagepool import emoji_images, to_jpeg, write_pool


def _run(tmp_path, table, beam_args, **settings):
    pool = tmp_path / "in.parquet"
    pq.write_table(table, pool)
    out = tmp_path / "out"
    stats = pipeline.run(
        cfg.PipelineConfig(
            input=str(pool),
            output=str(out),
            stages={"dedup_images": cfg.DedupImagesConfig(**settings)},
        ),
        beam_args,
    )
    return stats, read_table(str(out / "kept" / "*.parquet")), read_table(str(out / "removed" / "*.parquet"))




@pytest.fixture(scope="module")
def planted():
    files = emoji_images("google", 40)
    items = [(f.name, to_jpeg(Image.open(f))) for f in files]
    for f in files[:5]:  # byte-identical copies under another name
        items.append((f"copy-{f.name}", to_jpeg(Image.open(f))))
    for f in files[5:10]:  # smaller re-encodes: perceptual, the original is kept
        items.append((f"small-{f.name}", to_jpeg(Image.open(f).convert("RGBA").resize((48, 48)), 80)))
    for f in files[10:12]:  # same picture as PNG: same pixels after decoding? no: JPEG vs PNG
        img = image_hash.decode_rgb(items[files.index(f)][1])
        buf = io.BytesIO()
        img.save(buf, "PNG")
        items.append((f"png-{f.name}", buf.getvalue()))
    items.append(("missing.png", None))
    items.append(("corrupt.png", b"\x89PNG\r\n\x1a\n garbage"))
    return items


def test_dedup_images_matches_brute_force(tmp_path, beam_args, planted):
    table = write_pool(tmp_path / "tars", planted, per_tar=16)
    k = 4
    stats, kept, removed = _run(tmp_path, table, beam_args, max_distance=k, cc_rounds=2, other_captions="remove")

    # brute-force reference over the decodable images
    rows = table.to_pylist()
    good = [(r, image_hash.decode_rgb(d)) for r, (_, d) in zip(rows, planted, strict=True) if d and not d.startswith(b"\x89PNG\r\n\x1a\n g")]
    hashes = image_hash.phash_batch([img for _, img in good])
    shas = [image_hash.pixel_sha256(img) for _, img in good]
    nodes = [ops.node_id(r["uid"], img.width * img.height, s, int(h)) for (r, img), s, h in zip(good, shas, hashes, strict=True)]
    edges = [(nodes[i], nodes[j]) for i in range(len(nodes)) for j in range(i + 1, len(nodes))
             if shas[i] == shas[j] or int(image_hash.hamming(hashes[i], hashes[j])) <= k]
    roots = components.components_reference(edges)
    clusters = {}
    for n in nodes:
        clusters.setdefault(roots.get(n, n), []).append(n)
    expected = {}
    for members in clusters.values():  # in keep order, each against the images kept so far
        root_uid = ops.parse_node(min(members))[0]
        kept_nodes = []
        for n in sorted(members):
            uid, sha, ph = ops.parse_node(n)
            same = [x for x in kept_nodes if ops.parse_node(x)[1] == sha]
            near = [x for x in kept_nodes if int(image_hash.hamming(ph, ops.parse_node(x)[2])) <= k]
            if same:
                expected[uid] = (root_uid, "duplicate_image_exact")
            elif near:
                expected[uid] = (root_uid, "duplicate_image_perceptual")
            else:
                kept_nodes.append(n)
                expected[uid] = (root_uid, None)

    assert stats["stages"][0]["in"] == len(planted)
    got_kept = dict(zip(kept["uid"].to_pylist(), kept["image_cluster"].to_pylist(), strict=True))
    assert got_kept == {u: c for u, (c, r) in expected.items() if r is None}
    got_removed = {u: r for u, r in zip(removed["uid"].to_pylist(), removed["reason"].to_pylist(), strict=True)}
    assert {u: r for u, r in got_removed.items() if r != "decode_error"} == {
        u: r for u, (_, r) in expected.items() if r is not None
    }
    # the planted cases
    by_name = {r["text"]: r["uid"] for r in rows}
    name_of = {v: k for k, v in by_name.items()}
    reasons = {name_of[u]: r for u, r in got_removed.items()}
    assert reasons["missing.png"] == "decode_error" and reasons["corrupt.png"] == "decode_error"
    files = [n for n, _ in planted[:40]]
    for f in files[:5]:
        assert "duplicate_image_exact" in (reasons.get(f"copy-{f}"), reasons.get(f))
    for f in files[5:10]:
        assert reasons[f"small-{f}"] == "duplicate_image_perceptual"
        assert by_name[f] in got_kept or reasons[f] != "duplicate_image_perceptual"  # larger kept
    for f in files[10:12]:  # PNG of the decoded JPEG: same pixels
        assert "duplicate_image_exact" in (reasons.get(f"png-{f}"), reasons.get(f))
    assert set(kept.column_names) >= {"pixel_sha256", "phash", "image_cluster"}


def test_dedup_images_exact_only(tmp_path, beam_args, planted):
    table = write_pool(tmp_path / "tars", planted[:45], per_tar=50)
    stats, kept, removed = _run(tmp_path, table, beam_args, max_distance=0)
    reasons = removed["reason"].to_pylist()
    assert reasons.count("duplicate_image_exact") == 5
    assert kept.num_rows == 40


def _captioned_pool(tmp_path, planted):
    """Emoji images served several times under different captions, and different images
    under near-identical captions (issue 14's table)."""
    (_, da), (_, db), (_, dc), (_, dd) = [planted[i] for i in range(4)]
    big, small = planted[5][1], planted[45][1]  # an image and its smaller re-encode (pHash near)
    items = [
        (da, "red Nike Air Max 90 running shoe"),
        (da, "Red Nike Air Max 90 running shoe | Shutterstock"),  # re-post, same caption
        (da, "red Nike Air-Max 90 runing shoe"),  # re-post, typo
        (da, "a cartoon face icon"),  # same pixels, other caption
        (db, "Black T-shirt size M"),
        (dc, "Black T-shirt size XL"),  # another image: a pair of its own
        (dd, "handwritten digit four"),
        (big, "handwritten digit five"),
        (small, "Handwritten digit five!"),  # pHash-near copy, same caption
        (small, "a yellow smiley sticker"),  # pHash-near copy, other caption
    ]
    table = write_pool(tmp_path / "tars", [(f"{i}.png", data) for i, (data, _) in enumerate(items)])
    from curate import schema

    texts = [t for _, t in items]
    uids = [schema.make_uid(u, t) for u, t in zip(table["url"].to_pylist(), texts, strict=True)]
    table = table.set_column(table.schema.get_field_index("text"), "text", pyarrow.array(texts))
    table = table.set_column(table.schema.get_field_index("uid"), "uid", pyarrow.array(uids))
    return table, uids


import pyarrow  # noqa: E402


@pytest.mark.parametrize("other_captions", ["exact", "remove", "keep"])
def test_pairs_not_images(tmp_path, beam_args, planted, other_captions):
    table, uids = _captioned_pool(tmp_path, planted)
    stats, kept, removed = _run(tmp_path, table, beam_args, other_captions=other_captions)
    got = dict(zip(removed["uid"].to_pylist(), removed["detail"].to_pylist(), strict=True))
    reason = dict(zip(removed["uid"].to_pylist(), removed["reason"].to_pylist(), strict=True))
    root = min(uids[:4])  # same pixels, same size: the smallest uid is kept
    shoe = min(uids[:3])  # the shoe pair kept: the root, or the first after it in keep order
    near = set(uids[:3]) - {shoe}
    for u in near:  # the same pair again: removed whatever the setting
        assert got[u].endswith("same caption") and reason[u] == "duplicate_image_exact"
    # The larger image is kept; its pHash-near copy under the same caption goes in every mode.
    assert uids[7] not in got
    assert reason[uids[8]] == "duplicate_image_perceptual" and got[uids[8]].endswith("same caption")
    if other_captions in ("exact", "remove"):  # same pixels, other caption: removed
        assert set(got) & set(uids[:4]) == set(uids[:4]) - {root}
        assert all(got[u].endswith("other caption") for u in {uids[3], shoe} - {root})
    else:
        assert set(got) & set(uids[:4]) == near  # the shoe pair and the face pair both kept
    if other_captions == "remove":  # pHash-near, other caption: removed only here
        assert reason[uids[9]] == "duplicate_image_perceptual" and got[uids[9]].endswith("other caption")
    else:
        assert uids[9] not in got
    clusters = dict(zip(kept["uid"].to_pylist(), kept["image_cluster"].to_pylist(), strict=True))
    assert all(clusters[u] == root for u in uids[:4] if u in clusters)
    # Different images with near-identical captions (the table): all kept.
    assert set(uids[4:8]) <= set(kept["uid"].to_pylist())
    s = stats["stages"][0]
    assert s["in"] == s["kept"] + s["removed"] == 10
