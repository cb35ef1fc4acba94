import imagehash
import numpy as np
import pytest
from PIL import Image

from curate.ops import components, image_hash
from tests.imagepool import emoji_images, to_jpeg


def test_phash_equals_imagehash_on_real_images():
    files = emoji_images("google", 120) + emoji_images("twitter", 80)
    images = [image_hash.decode_rgb(to_jpeg(Image.open(f))) for f in files]
    images.append(Image.new("RGB", (40, 30), (200, 10, 10)))  # flat: all AC terms 0
    ours = image_hash.phash_batch(images)
    for img, h in zip(images, ours, strict=True):
        assert f"{int(h):016x}" == str(imagehash.phash(img))


@pytest.mark.parametrize(
    "a, b, expected",
    [(0, 0, 0), (0, 1, 1), (0, 2**64 - 1, 64), (0b1011, 0b0110, 3), (2**63, 0, 1)],
)
def test_hamming(a, b, expected):
    assert int(image_hash.hamming(np.uint64(a), np.uint64(b))) == expected


@pytest.mark.parametrize("k", [0, 1, 4, 7, 15])
def test_bands_cover_64_bits(k):
    bands = image_hash.bands(k)
    assert len(bands) == k + 1
    assert sum(w for _, w in bands) == 64
    assert bands[0][0] == 0 and all(s + w == bands[i + 1][0] for i, (s, w) in enumerate(bands[:-1]))


@pytest.mark.parametrize("k", [1, 3, 6])
def test_banding_finds_every_pair_within_k_once(k):
    rng = np.random.default_rng(k)
    base = rng.integers(0, 2**63, size=40, dtype=np.uint64)
    # plant neighbours at distances 0..k+2 of the base hashes
    hashes = list(base)
    for h in base[:20]:
        bits = rng.choice(64, size=rng.integers(0, k + 3), replace=False)
        hashes.append(np.uint64(int(h) ^ sum(1 << int(b) for b in bits)))
    hashes = np.array(hashes, dtype=np.uint64)
    ids = list(range(len(hashes)))
    brute = {(i, j) for i, j, _ in image_hash.near_pairs(ids, hashes, k)}
    found = []
    buckets = {}
    for i, row in enumerate(image_hash.band_values(hashes, k)):
        for b, v in enumerate(row.tolist()):
            buckets.setdefault((b, v), []).append(i)
    for (b, _), members in buckets.items():
        found += [(i, j) for i, j, _ in image_hash.near_pairs(members, hashes[members], k, band=b)]
    assert len(found) == len(set(found))  # each pair from exactly one bucket
    assert set(found) == brute
    assert any(d > 0 for _, _, d in image_hash.near_pairs(ids, hashes, k))


def test_pixel_sha_same_pixels_different_encoding():
    img = Image.open(emoji_images("google", 1)[0])
    rgb = image_hash.decode_rgb(to_jpeg(img))
    import io

    png = io.BytesIO()
    rgb.save(png, "PNG")
    assert image_hash.pixel_sha256(image_hash.decode_rgb(png.getvalue())) == image_hash.pixel_sha256(rgb)


@pytest.mark.parametrize("data", [None, b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_decode_errors(data):
    with pytest.raises(image_hash.DecodeError) as first:
        image_hash.decode_rgb(data)
    with pytest.raises(image_hash.DecodeError) as again:  # the reason is data, the same every run
        image_hash.decode_rgb(bytes(data) if data is not None else None)
    assert str(first.value) == str(again.value) and " at 0x" not in str(first.value)


def _star_rounds(edges, rounds):
    """The distributed algorithm run sequentially (what the Beam transform does)."""
    from collections import defaultdict

    for _ in range(rounds):
        adj = defaultdict(set)
        for u, v in edges:
            if u != v:
                adj[u].add(v)
                adj[v].add(u)
        edges = [e for u, n in adj.items() for e in components.large_star(u, n)]
        smaller = defaultdict(set)
        for u, v in edges:
            if u != v:
                a, b = (u, v) if u > v else (v, u)
                smaller[a].add(b)
        edges = [e for u, n in smaller.items() for e in components.small_star(u, n)]
    return edges


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rounds", [1, 3])
def test_star_rounds_plus_finish_equal_union_find(seed, rounds):
    rng = np.random.default_rng(seed)
    n = 200
    edges = [tuple(map(int, rng.integers(0, n, 2))) for _ in range(150)]
    edges += [(i, i + 1) for i in range(0, 60)]  # a long chain: needs the exact finish
    edges = [(u, v) for u, v in edges if u != v]
    expected = components.components_reference(edges)
    final = _star_rounds(edges, rounds)
    from collections import defaultdict

    adj = defaultdict(set)
    for u, v in final:
        adj[u].add(v)
        adj[v].add(u)
    label = {u: components.provisional_label(u, nb) for u, nb in adj.items()}
    residual = [(label[u], label[v]) for u, v in final if label[u] != label[v]]
    roots = components.union_find(residual)
    got = {u: roots.get(label[u], label[u]) for u in label}
    assert got == expected


def test_decide_cluster_compares_with_kept_images_directly_not_through_chains():
    from curate.ops import dedup_images as ops

    a = ops.node_id("a" * 32, 100, "sa", 0x0)
    b = ops.node_id("b" * 32, 90, "sb", 0xF)  # 4 bits from a
    c = ops.node_id("c" * 32, 80, "sc", 0xFF)  # 8 bits from a, 4 from b (a chain)
    d = ops.node_id("d" * 32, 70, "sa", 0x0)  # a's pixels
    members = [(a, "red fox"), (b, "a tractor"), (c, "a boat"), (d, "owl at night")]
    got = {u[0]: (r, det) for u, _, r, det in ops.decide_cluster(members, "remove", 4)}
    assert got["a"] == (None, None)
    assert got["b"][0] == "duplicate_image_perceptual" and got["b"][1].endswith("other caption")
    assert got["c"] == (None, None)  # b was removed: c is 8 bits from the only kept image
    assert got["d"][0] == "duplicate_image_exact"
    exact = {u[0]: r for u, _, r, _ in ops.decide_cluster(members, "exact", 4)}
    assert exact == {"a": None, "b": None, "c": None, "d": "duplicate_image_exact"}
    captioned = [(a, "red fox"), (b, "Red fox!"), (c, "red fox | Shutterstock"), (d, "owl")]
    same = {u[0]: r for u, _, r, _ in ops.decide_cluster(captioned, "keep", 4)}
    assert same == {"a": None, "b": "duplicate_image_perceptual", "c": None, "d": None}
