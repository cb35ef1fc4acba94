"""Build the sample web pool: real images and alt-texts plus the failures real pools have.

``build_sample(output_dir, size, seed, port)`` writes::

    <output_dir>/images/          the files ``SampleServer`` serves (``/img/<file>``)
    <output_dir>/pool.parquet     the raw pool: ``url``, ``text`` (DataComp's column names)
    <output_dir>/manifest.parquet one row per pool row: ground truth (see MANIFEST_COLUMNS)
    <output_dir>/manifest.json    composition, defect counts, rates and why those rates

Same ``size`` + ``seed`` (+ ``port``) give byte-identical ``pool.parquet`` and manifests.

Each row carries at most one injected defect. ``expect_stage`` / ``expect_reason`` say
what a correct pipeline does with the row: the first stage (in pipeline order) that should
remove it, or null if it should be kept. Duplicate groups keep their first row (pool order)
nominally; a stage that keeps another member is still right if exactly one survives, so
score dedup stages per group (``image_group``). What is a duplicate follows the pipeline's
rule (docs/DEDUP.md): the same *pair* again, i.e. the same image under the same or an
edited caption (``reposted_pair``, and the re-served ``duplicate_image`` copies, whose
captions dedup_images' default ``other_captions: remove`` also removes). A near-duplicate
caption on a *different* image (an emoji name drawn by two vendors, a shop template on two
garments) is a clean row; ``text_group`` records such rows (same folded text, or an injected
re-post) for inspection and expects nothing of them. Reason names
for download are those of ``curate.ops.download``; for filter, dedup and capfilt they name the
defect class, and those stages may use finer names of their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import shutil
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from curate import schema
from curate.sample import captions, sources
from curate.sample.server import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SLOW_SECONDS, REFUSED_PORT

DEFAULT_SIZE = 3000
MIN_SIZE = 100
REDIRECT_CHAIN = 40  # > urllib's 10 and requests' 30 redirects: every client gives up

# Pipeline order (DESIGN.md): what `expect_stage` is ordered by.
STAGE_ORDER = ("ingest", "filter", "dedup_text", "balance", "download", "dedup_images",
               "embed", "semdedup", "capfilt", "retrieve", "export")

IMG2DATASET_277 = "https://github.com/rom1504/img2dataset/issues/277"


@dataclasses.dataclass(frozen=True)
class DefectSpec:
    name: str
    rate: float  # share of pool rows
    stage: str | None  # first stage that should remove the row (None: keep)
    reason: str | None
    why: str


# The share of each defect, and where it comes from. The reference pool for failure rates is
# one img2dataset shard (10,000 LAION-400M URLs, Feb 2023) whose status counts a user posted
# in img2dataset issue #277: success 8542, HTTP 404 608, 403 141, DNS failure 139, image
# decoding error 83, X-Robots-Tag opt-out 30, connection refused 10, no route to host 8...
DEFECTS: tuple[DefectSpec, ...] = (
    DefectSpec("missing_url", 0.003, "ingest", "missing_url",
               "no published share; malformed rows are rare in released pools (they are "
               "cleaned before release), a handful are kept so ingest has work"),
    DefectSpec("bad_url_scheme", 0.003, "ingest", "bad_url_scheme",
               "no published share; ftp:// and other non-http sources in extracted img src "
               "attributes, a handful as for missing_url"),
    DefectSpec("exact_duplicate", 0.02, "ingest", "duplicate_pair",
               "the same (url, alt-text) pair extracted from several pages or crawls; "
               "LAION-400M/5B deduplicated by URL+text before release, so raw extractions hold "
               "them; 2% chosen, no exact published share"),
    DefectSpec("boilerplate_text", 0.06, "filter", "boilerplate",
               "WebAIM Million: 53.1% of home pages have an image with missing alt text "
               "(a page-level figure); LAION-5B drops alt-texts under 5 characters and "
               "DataComp's basic filter captions under 2 words because such texts are common. "
               "6% of rows chosen as a conservative per-image share"),
    DefectSpec("non_english", 0.10, "filter", "non_english",
               "LAION-5B: 2.32B of 5.85B pairs are English (39.7%), 2.26B other languages, "
               "1.27B undetermined. Real pools are mostly non-English; 10% is used so a "
               "3,000-row sample keeps enough English pairs for later stages. The language "
               "filter is scored per row, so the share does not flatter it"),
    DefectSpec("reposted_pair", 0.03, "dedup_images", "duplicate_image",
               "the same image re-hosted under another URL with a small edit to its caption "
               "(a typo, a dropped or added word, a changed suffix): the same pair seen again. "
               "Webster et al. 2023 find ~30% of LAION-2B images duplicated, their texts often "
               "nearly so; 3% injected. A near-duplicate caption on a different image is not "
               "a defect (two pairs worth keeping; their frequency is balancing's job)"),
    DefectSpec("dead_link", 0.06, "download", "http_404",
               f"HTTP 404 = 608 of 10,000 (6.1%) in {IMG2DATASET_277}; rom1504 there: about "
               "1% link rot per month"),
    DefectSpec("refused_connection", 0.015, "download", "connection_refused",
               f"unreachable hosts in {IMG2DATASET_277}: DNS failures 139 + refused 10 + no "
               "route 8 = 1.6% (a loopback sample can only refuse)"),
    DefectSpec("slow_response", 0.01, "download", "timeout",
               "no count in the issue's excerpt; img2dataset issue #437 reports URLs that "
               "never finish; 1% chosen. Each costs a download thread ~10 s"),
    DefectSpec("truncated_image", 0.004, "download", "truncated",
               f"image decoding errors 83 of 10,000 (0.83%) in {IMG2DATASET_277}, split "
               "between truncated, corrupt and non-image responses"),
    DefectSpec("corrupt_image", 0.003, "download", "decode_error",
               "part of the 0.83% decoding errors (see truncated_image)"),
    DefectSpec("non_image", 0.003, "download", "not_an_image",
               "part of the 0.83% decoding errors: an HTML page where an image was expected"),
    DefectSpec("redirect", 0.03, None, None,
               "not a failure: CDNs and moved pages answer with 302; a valid redirect must "
               "be followed and kept. 3% chosen, no published share"),
    DefectSpec("redirect_chain", 0.003, "download", "too_many_redirects",
               f"redirect loops/chains are among the rare errors in {IMG2DATASET_277}; "
               f"{REDIRECT_CHAIN} hops exceed every client's limit"),
    DefectSpec("noai_optout", 0.003, "download", "opt_out",
               f"'Use of image disallowed by X-Robots-Tag directive' 30 of 10,000 (0.3%) in "
               f"{IMG2DATASET_277}"),
    DefectSpec("duplicate_image", 0.05, "dedup_images", "duplicate_image",
               "Webster et al. 2023 (arXiv:2303.12733): ~700M, about 30% of LAION-2B images "
               "are duplicates (mostly near-duplicates); 5% exact re-served copies injected, "
               "each under a freshly written caption of the same item, plus OpenClipArt's "
               "natural md5 duplicates (the same clip in several categories); "
               "perceptual/semantic near-duplicates are left to the sources. Removed under "
               "dedup_images' default other_captions: remove (a repeated image is memorised)"),
    DefectSpec("mismatched_caption", 0.05, "capfilt", "mismatched_caption",
               "LAION's CLIP-score filter (0.28) kept only ~10% of Common Crawl candidates; "
               "most of the rest are weakly related rather than swapped. 5% outright "
               "mismatches (captions rotated between unrelated images) give a measurable slice"),
)
DEFECT_BY_NAME = {d.name: d for d in DEFECTS}
# Labels given to natural duplicates found after assembly (not injected on purpose).
NATURAL = {
    "duplicate_image": ("dedup_images", "duplicate_image"),
}
NATURAL_CLIPART_PAIR_RATE = 0.01  # rows in OpenClipArt md5-duplicate pairs (both members)

# Source shares of the base rows. Fashion-MNIST is a large share with class-bearing captions:
# a benchmark trains a CLIP on curated vs random subsets and evaluates zero-shot Fashion-MNIST.
KIND_SHARES = {
    "fashion": 0.30,
    "clipart": 0.30,
    "emoji_google": 0.10,
    "emoji_twitter": 0.10,
    "openmoji": 0.20,
}

URL_ROUTES = {
    "dead_link": "dead",
    "slow_response": "slow",
    "truncated_image": "truncated",
    "corrupt_image": "corrupt",
    "non_image": "html",
    "redirect": "redirect",
    "redirect_chain": f"redirect-chain/{REDIRECT_CHAIN}",
    "noai_optout": "noai",
}

MANIFEST_COLUMNS = {
    "row": "row index in pool.parquet (ingest's source_row)",
    "url": "as in the pool (null for missing_url)",
    "text": "as in the pool",
    "uid": "schema.make_uid(normalised url, text); null where ingest rejects the URL",
    "kind": "clipart | emoji_google | emoji_twitter | openmoji | fashion | digits",
    "concept": "clipart file id, emoji unified codepoint, Fashion-MNIST class name, or the digit",
    "label": "Fashion-MNIST class index (null for other kinds)",
    "origin": "the source file or dataset index the image came from",
    "image": "file under images/ the URL's route is based on",
    "image_md5": "md5 of that file",
    "defect": "'none' or the injected (or natural duplicate) defect",
    "expect_stage": "first stage that should remove the row; null: kept",
    "expect_reason": "the reason it should give",
    "text_group": "rows reaching dedup_text with the same folded text or an injected re-posted caption (informational: a near-duplicate caption on another image is clean)",
    "image_group": "rows reaching dedup_images with the same image bytes",
}

SOURCES = {
    "clipart": "OpenClipArt (Debian openclipart-png/-svg), public domain",
    "emoji_google": "emoji-datasource-google 64px (Noto Emoji, Apache-2.0); names: emojibase-data (MIT)",
    "emoji_twitter": "emoji-datasource-twitter 64px (Twemoji, CC-BY-4.0); names: emojibase-data (MIT)",
    "openmoji": "OpenMoji colour SVGs rendered with cairosvg (CC-BY-SA-4.0)",
    "fashion": "Fashion-MNIST train split (Debian dataset-fashion-mnist, MIT), upscaled to 64px",
}


def _rng(seed: int, purpose: str) -> random.Random:
    return random.Random(f"curate-sample:{seed}:{purpose}")


def defect_counts(size: int) -> dict[str, int]:
    """Rows per defect for a pool of `size`: the rate times the size, at least one."""
    return {d.name: max(1, round(d.rate * size)) for d in DEFECTS}


@dataclasses.dataclass
class _Row:
    item: sources.Item
    text: str
    defect: str = "none"
    url: str | None = None
    route: str = "img"
    file: str = ""  # under images/
    pair: int | None = None  # id shared by an original and its injected copy
    link: int | None = None  # near-duplicate link id


def _caption(item: sources.Item, rng: random.Random) -> str:
    m = item.meta
    if item.kind == "fashion":
        return captions.fashion_caption(item.label, m["mean_foreground"], rng)
    if item.kind == "digits":
        return captions.digit_caption(m["digit"], rng)
    if item.kind == "clipart":
        return captions.clipart_caption(m["title"], m["keywords"], m["description"], rng)
    if item.kind == "openmoji":
        return captions.openmoji_caption(m["annotation"], m["tags"], rng)
    return captions.emoji_caption(m["label"], m["tags"], m["short_name"], m["vendor"], rng)


def kind_shares(digits_share: float = 0.0) -> dict[str, float]:
    """KIND_SHARES, or with handwritten digits taking `digits_share` of the base rows and
    the other kinds scaled down to the rest (zero-shot MNIST needs digit pages to learn from;
    the default pool has none, so that its earlier measurements stay reproducible)."""
    if not 0.0 <= digits_share < 1.0:
        raise ValueError(f"digits_share must be in [0, 1), got {digits_share!r}")
    if digits_share == 0.0:
        return dict(KIND_SHARES)
    return {**{k: v * (1.0 - digits_share) for k, v in KIND_SHARES.items()}, "digits": digits_share}


def _kind_counts(n_base: int, shares: dict[str, float] = KIND_SHARES) -> dict[str, int]:
    counts = {k: round(share * n_base) for k, share in shares.items()}
    counts["clipart"] += n_base - sum(counts.values())
    return counts


def _pick_items(counts: dict[str, int], n_pairs: int, seed: int):
    """Base items per kind, plus the OpenClipArt natural-duplicate pairs (as a list of pairs)."""
    rng = _rng(seed, "items")
    pngs = sources.clipart_pngs()
    by_md5: dict[str, list[str]] = {}
    for p in pngs:
        by_md5.setdefault(sources.md5_file(p), []).append(p)
    groups = sorted((sorted(v) for v in by_md5.values() if len(v) > 1), key=lambda g: g[0])
    pair_groups = rng.sample(groups, min(n_pairs, len(groups)))
    pairs = [(sources.clipart_item(g[0]), sources.clipart_item(g[1])) for g in pair_groups]
    used = {p for g in pair_groups for p in g}
    singles = [p for p in pngs if p not in used]
    n_single = max(0, counts["clipart"] - 2 * len(pairs))
    items = {"clipart": [sources.clipart_item(p) for p in rng.sample(singles, n_single)]}
    for vendor in ("google", "twitter"):
        pool = sources.emoji_items(vendor)
        items[f"emoji_{vendor}"] = rng.sample(pool, min(counts[f"emoji_{vendor}"], len(pool)))
    om = sources.openmoji_items()
    items["openmoji"] = rng.sample(om, min(counts["openmoji"], len(om)))
    images, labels = sources.fashion_arrays("train")
    idx = rng.sample(range(len(labels)), counts["fashion"])
    items["fashion"] = [
        sources.fashion_item(i, images[i], int(labels[i]), captions.FASHION_CLASSES[labels[i]])
        for i in idx
    ]
    if counts.get("digits"):
        items["digits"] = rng.sample(sources.digit_items(), counts["digits"])
    spare = {"images": images, "labels": labels, "used": set(idx)}
    return items, pairs, spare


def _assemble(size: int, seed: int, digits_share: float = 0.0):
    counts = defect_counts(size)
    n_derived = counts["exact_duplicate"] + counts["reposted_pair"] + counts["duplicate_image"]
    n_pairs = max(1, round(NATURAL_CLIPART_PAIR_RATE * size / 2))
    n_base = size - n_derived
    shares = kind_shares(digits_share)
    items, pairs, _ = _pick_items(_kind_counts(n_base, shares), n_pairs, seed)

    rng = _rng(seed, "captions")
    base: list[_Row] = []
    for kind in shares:
        base.extend(_Row(it, _caption(it, rng)) for it in items[kind])
    pair_rows: list[_Row] = []
    for pid, (a, b) in enumerate(pairs):
        pair_rows.append(_Row(a, _caption(a, rng), pair=10_000 + pid))
        pair_rows.append(_Row(b, _caption(b, rng), defect="duplicate_image", pair=10_000 + pid))
    _rng(seed, "order-base").shuffle(base)

    # In-place defects on distinct base rows, in a fixed order.
    drng = _rng(seed, "defects")
    candidates = list(range(len(base)))
    drng.shuffle(candidates)
    in_place = [d.name for d in DEFECTS if d.name not in
                ("exact_duplicate", "reposted_pair", "duplicate_image")]
    pos = 0
    for name in in_place:
        for i in candidates[pos : pos + counts[name]]:
            base[i].defect = name
        pos += counts[name]
    clean = candidates[pos:]

    # Texts of text defects and the caption rotation of mismatches.
    trng = _rng(seed, "texts")
    mismatched = [i for i in range(len(base)) if base[i].defect == "mismatched_caption"]
    originals = [base[i].text for i in mismatched]
    for k, i in enumerate(mismatched):
        base[i].text = originals[(k + 1) % len(originals)]
        other = base[mismatched[(k + 1) % len(mismatched)]].item
        if other.concept == base[i].item.concept or len(mismatched) < 2:
            base[i].defect = "none"  # rotation landed on the same concept: not a mismatch
    for row in base:
        if row.defect == "boilerplate_text":
            row.text = captions.boilerplate(trng)
        elif row.defect == "non_english":
            row.text, _ = captions.non_english(trng, row.item.label)

    # Derived rows from distinct clean base rows.
    derived: list[_Row] = []
    picks = drng.sample(clean, min(len(clean), n_derived))
    n_exact, n_near = counts["exact_duplicate"], counts["reposted_pair"]
    for pid, i in enumerate(picks):
        src = base[i]
        src.pair = pid
        if pid < n_exact:
            derived.append(dataclasses.replace(src, defect="exact_duplicate"))
        elif pid < n_exact + n_near:  # the same image re-hosted, its caption edited
            text = captions.near_duplicate(src.text, trng)
            derived.append(_Row(src.item, text, defect="reposted_pair", pair=pid,
                                file=f"copies/near-{pid:05d}-{Path(src.item.file).name}"))
        else:
            derived.append(_Row(src.item, _caption(src.item, trng), defect="duplicate_image",
                                pair=pid, file=f"copies/{pid:05d}-{Path(src.item.file).name}"))
    rows = base + pair_rows + derived
    _rng(seed, "order-all").shuffle(rows)
    _order_pairs(rows)
    return rows


def _order_pairs(rows: list[_Row]) -> None:
    """In each (original, copy) pair the later row in pool order carries the defect: that is
    the one a pipeline keeping the first occurrence removes."""
    by_pair: dict[int, list[_Row]] = {}
    for r in rows:
        if r.pair is not None:
            by_pair.setdefault(r.pair, []).append(r)
    for members in by_pair.values():
        if len(members) != 2:
            continue
        first, second = members  # rows are in pool order
        if first.defect != "none" and second.defect == "none":
            first.defect, second.defect = "none", first.defect


def _finish_urls(rows: list[_Row], base_url: str, refused_port: int) -> None:
    for r in rows:
        if not r.file:
            r.file = r.item.file
        path = quote(r.file)
        if r.defect == "missing_url":
            r.url = None
        elif r.defect == "bad_url_scheme":
            r.url = f"ftp://{DEFAULT_HOST}/img/{path}"
        elif r.defect == "refused_connection":
            r.url = f"http://{DEFAULT_HOST}:{refused_port}/img/{path}"
        else:
            r.route = URL_ROUTES.get(r.defect, "img")
            r.url = f"{base_url}/{r.route}/{path}"


class _Groups:
    """Union-find over row indices."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, i: int) -> int:
        self.parent.setdefault(i, i)
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in self.parent:
            out.setdefault(self.find(i), []).append(i)
        return sorted((sorted(g) for g in out.values() if len(g) > 1), key=lambda g: g[0])


def _expectations(rows: list[_Row], md5s: list[str]):
    """(expect_stage, expect_reason, text_group, image_group) per row, in pipeline order."""
    n = len(rows)
    stage: list[str | None] = [None] * n
    reason: list[str | None] = [None] * n
    text_group: list[str | None] = [None] * n
    image_group: list[str | None] = [None] * n

    def expect(i, name):
        spec = DEFECT_BY_NAME[name]
        stage[i], reason[i] = spec.stage, spec.reason

    # ingest: malformed rows, then exact (normalised url, text) duplicates after the first.
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(rows):
        if r.defect in ("missing_url", "bad_url_scheme"):
            expect(i, r.defect)
            continue
        key = (schema.normalise_url(r.url), r.text)
        if key in seen:
            stage[i], reason[i] = "ingest", "duplicate_pair"
            r.defect = "exact_duplicate"
        seen.add(key)
    for i, r in enumerate(rows):  # filter
        if stage[i] is None and r.defect in ("boilerplate_text", "non_english"):
            expect(i, r.defect)
    # Text groups (informational): exact folded texts and injected re-posted captions.
    g = _Groups()
    first_by_text: dict[str, int] = {}
    link_first: dict[int, int] = {}
    for i, r in enumerate(rows):
        if stage[i] is not None:
            continue
        g.find(i)
        k = captions.text_key(r.text)
        if k in first_by_text:
            g.union(first_by_text[k], i)
        else:
            first_by_text[k] = i
        if r.pair is not None:
            if r.pair in link_first:
                other = rows[link_first[r.pair]]
                if "reposted_pair" in (r.defect, other.defect):
                    g.union(link_first[r.pair], i)
            else:
                link_first[r.pair] = i
    for gid, members in enumerate(g.groups()):
        for i in members:
            text_group[i] = f"t{gid:05d}"
    for i, r in enumerate(rows):  # download
        spec = DEFECT_BY_NAME.get(r.defect)
        if stage[i] is None and spec is not None and spec.stage == "download":
            expect(i, r.defect)
    # dedup_images: same served bytes among rows that download.
    first_by_md5: dict[str, list[int]] = {}
    for i in range(n):
        if stage[i] is None:
            first_by_md5.setdefault(md5s[i], []).append(i)
    dup_groups = sorted((m for m in first_by_md5.values() if len(m) > 1), key=lambda m: m[0])
    for gid, members in enumerate(dup_groups):
        for j, i in enumerate(members):
            image_group[i] = f"i{gid:05d}"
            if j > 0:
                stage[i], reason[i] = NATURAL["duplicate_image"]
                if rows[i].defect == "none":
                    rows[i].defect = "duplicate_image"
    for i, r in enumerate(rows):  # capfilt
        if stage[i] is None and r.defect == "mismatched_caption":
            expect(i, r.defect)
    # Labels of rows whose defect an earlier stage pre-empted stay as injected.
    return stage, reason, text_group, image_group


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _origin(path: str) -> str:
    marker = "/node_modules/"
    return "npm:" + path.split(marker, 1)[1] if marker in path else path


def build_sample(
    output_dir: str | Path = "data/sample",
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    port: int = DEFAULT_PORT,
    refused_port: int = REFUSED_PORT,
    host: str = DEFAULT_HOST,
    digits_share: float = 0.0,
) -> dict:
    """Build the sample pool into `output_dir` (see the module docstring); returns the
    manifest.json contents. Replaces an earlier build's images/ in the same folder."""
    if size < MIN_SIZE:
        raise ValueError(f"size must be >= {MIN_SIZE} (every defect kind needs a row), got {size}")
    if port == refused_port:
        raise ValueError("port and refused_port must differ")
    out = Path(output_dir)
    images = out / "images"
    if images.exists():
        if not (out / "manifest.json").exists() and any(images.iterdir()):
            raise ValueError(f"{images} exists and is not from an earlier `curate sample`")
        shutil.rmtree(images)
    images.mkdir(parents=True)

    rows = _assemble(size, seed, digits_share)
    base_url = f"http://{host}:{port}"
    _finish_urls(rows, base_url, refused_port)

    written: dict[str, str] = {}
    md5s = []
    for r in rows:
        if r.file not in written:
            data = r.item.load()
            target = images / r.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written[r.file] = hashlib.md5(data).hexdigest()
        md5s.append(written[r.file])

    stage, reason, text_group, image_group = _expectations(rows, md5s)
    uids = [
        schema.make_uid(schema.normalise_url(r.url), r.text)
        if r.defect not in ("missing_url", "bad_url_scheme") else None
        for r in rows
    ]
    pool = pa.table({"url": pa.array([r.url for r in rows], pa.string()),
                     "text": pa.array([r.text for r in rows], pa.string())})
    manifest = pa.table({
        "row": pa.array(range(len(rows)), pa.int64()),
        "url": pa.array([r.url for r in rows], pa.string()),
        "text": pa.array([r.text for r in rows], pa.string()),
        "uid": pa.array(uids, pa.string()),
        "kind": pa.array([r.item.kind for r in rows], pa.string()),
        "concept": pa.array([r.item.concept for r in rows], pa.string()),
        "label": pa.array([r.item.label for r in rows], pa.int32()),
        "origin": pa.array([_origin(r.item.origin) for r in rows], pa.string()),
        "image": pa.array([r.file for r in rows], pa.string()),
        "image_md5": pa.array(md5s, pa.string()),
        "defect": pa.array([r.defect for r in rows], pa.string()),
        "expect_stage": pa.array(stage, pa.string()),
        "expect_reason": pa.array(reason, pa.string()),
        "text_group": pa.array(text_group, pa.string()),
        "image_group": pa.array(image_group, pa.string()),
    })
    (out / "pool.parquet").write_bytes(_parquet_bytes(pool))
    (out / "manifest.parquet").write_bytes(_parquet_bytes(manifest))
    extra = {"digits_share": digits_share} if digits_share else {}  # default manifests unchanged
    doc = summary(manifest, size=size, seed=seed, host=host, port=port, refused_port=refused_port, **extra)
    (out / "manifest.json").write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return doc


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def summary(manifest: pa.Table, **settings) -> dict:
    """manifest.json: settings, composition, defect counts and rates with their reasons,
    and the expected funnel."""
    n = manifest.num_rows
    defects = _count(manifest["defect"].to_pylist())
    expected: dict[str, dict[str, int]] = {}
    for s, r in zip(manifest["expect_stage"].to_pylist(), manifest["expect_reason"].to_pylist(), strict=True):
        key = s or "kept"
        expected.setdefault(key, {})
        expected[key][r or "kept"] = expected[key].get(r or "kept", 0) + 1
    fashion_labels = [x for x in manifest["label"].to_pylist() if x is not None]
    return {
        **settings,
        "rows": n,
        "slow_seconds": DEFAULT_SLOW_SECONDS,
        "redirect_chain": REDIRECT_CHAIN,
        "kinds": _count(manifest["kind"].to_pylist()),
        "kind_shares": kind_shares(settings.get("digits_share", 0.0)),
        "fashion_classes": {captions.FASHION_CLASSES[k]: v for k, v in _count(fashion_labels).items()},
        "defects": defects,
        "defect_shares": {k: round(v / n, 4) for k, v in defects.items()},
        "rates": {
            d.name: {"rate": d.rate, "expect_stage": d.stage, "expect_reason": d.reason, "why": d.why}
            for d in DEFECTS
        },
        "natural_defects": {
            "duplicate_image": "rows whose image bytes equal an earlier row's, incl. "
            f"OpenClipArt md5 pairs ({NATURAL_CLIPART_PAIR_RATE:.0%} of rows)",
        },
        "not_defects": {
            "text_group": "rows whose folded caption equals another row's on a different image "
            "(an emoji name drawn by two vendors, a shop template on two garments): clean pairs",
        },
        "expected": {k: dict(sorted(v.items())) for k, v in sorted(expected.items(),
                     key=lambda kv: STAGE_ORDER.index(kv[0]) if kv[0] in STAGE_ORDER else 99)},
        "columns": MANIFEST_COLUMNS,
        "sources": SOURCES,
    }
