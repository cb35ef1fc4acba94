"""What the HTML report shows, read from a run folder: a fixed sample of rows per reason,
duplicate partners, score histograms, side files, image thumbnails.

Every choice is deterministic: the rows shown for a group (a stage's removal reason, the
kept pairs) are the ``per_group`` rows with the smallest ``hash(uid, "report", group)``,
taken shard by shard with a bounded heap, so the same run gives the same report and memory
and output stay bounded at any pool size. Score histograms are accumulated per shard over
fixed bins. Images are read back from the run's webdataset tars (``<run>/images``, or the
images folder of the run whose ``kept/`` this one read) by uid, through ``curate.io.tars``.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import io
import posixpath
import re
from dataclasses import dataclass, field

import numpy as np

from curate.io import shards, tars
from curate.io.pool import match_files

# Per group shown: removed examples per reason, kept pairs beside each reason, pairs per
# CapFilt table and duplicate clusters per duplicate reason. With THUMB_PIXELS and
# THUMB_QUALITY this bounds the file: ~5 KB a thumbnail, a few hundred thumbnails.
EXAMPLES_PER_REASON = 6
KEPT_PER_REASON = 3
CAPFILT_ROWS = 12
CLUSTERS_PER_REASON = 6
MAX_REASONS = 60  # a run with more reasons than this shows the largest ones
THUMB_PIXELS = 96
THUMB_QUALITY = 80
MAX_TEXT = 240
# Score columns with a known range: histograms over fixed bins, accumulated shard by shard.
SCORE_RANGE = (-1.0, 1.0)
SCORE_BINS = 400
# Removal reasons whose detail names the pair (uid) the removed one duplicates.
DUPLICATE_REASONS = ("duplicate_image_exact", "duplicate_image_perceptual", "semantic_duplicate",
                     "text_cluster_cap", "eval_overlap")
# Stages before download: their removed pairs never had an image fetched.
BEFORE_DOWNLOAD = ("ingest", "filter", "dedup_text", "balance")
UID = re.compile(r"\b[0-9a-f]{32}\b")
NUMBER = r"(-?\d+(?:\.\d+)?(?:e-?\d+)?|none)"
CAPFILT_DETAIL = re.compile(rf"clip_score={NUMBER} synthetic_score={NUMBER}")
COSINE_DETAIL = re.compile(r"cosine (-?\d+\.\d+)")
KEPT_COLUMNS = ("uid", "text", "text_cluster", "text_cluster_size", "clip_score", "synthetic_caption",
                "synthetic_score", "semantic_cosine", "seed_cosine", "shard", "key")
REMOVED_COLUMNS = ("uid", "text", "stage", "reason", "detail")


def sample_key(uid: str, group: str) -> int:
    """The report's fixed order inside a group: a hash of (uid, "report", group)."""
    return int.from_bytes(hashlib.blake2b(f"{uid}\x00report\x00{group}".encode(), digest_size=8).digest(), "big")


@dataclass
class Sample:
    """The `size` rows of smallest sample_key per group, fed shard by shard."""

    size: int
    heaps: dict[str, list] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, group: str, row: dict) -> None:
        self.counts[group] = self.counts.get(group, 0) + 1
        heap = self.heaps.setdefault(group, [])
        # the count breaks ties between rows of one uid (ingest's duplicate_pair rows)
        item = (-sample_key(row["uid"], group), row["uid"], -self.counts[group], row)
        if len(heap) < self.size:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)

    def rows(self, group: str) -> list[dict]:
        return [r for *_, r in sorted(self.heaps.get(group, []), key=lambda x: (-x[0], x[1], -x[2]))]


@dataclass
class Histogram:
    """Counts of a score over SCORE_BINS fixed bins, split kept / removed."""

    kept: np.ndarray = field(default_factory=lambda: np.zeros(SCORE_BINS, np.int64))
    removed: np.ndarray = field(default_factory=lambda: np.zeros(SCORE_BINS, np.int64))

    def add(self, values, removed: bool) -> None:
        values = np.asarray([v for v in values if v is not None], np.float64)
        values = values[np.isfinite(values)]
        lo, hi = SCORE_RANGE
        idx = np.clip(((values - lo) / (hi - lo) * SCORE_BINS).astype(np.int64), 0, SCORE_BINS - 1)
        counts = np.bincount(idx, minlength=SCORE_BINS)
        if removed:
            self.removed += counts
        else:
            self.kept += counts

    @property
    def total(self) -> int:
        return int(self.kept.sum() + self.removed.sum())


def _files(folder: str) -> list[str]:
    pattern = shards.join(folder, "*.parquet")
    return sorted(p for p in match_files(pattern) if p.endswith(".parquet")) if shards.exists(pattern) else []


def _read(path: str, wanted) -> list[dict]:
    """Rows of one shard as dicts, only the wanted columns it has (never the embeddings)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(io.BytesIO(shards.read_bytes(path)))
    cols = [c for c in wanted if c in pf.schema_arrow.names]
    return [row for rb in pf.iter_batches(columns=cols) for row in rb.to_pylist()]


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 1] + "…"


def _score(x: str) -> float | None:
    return None if x == "none" else float(x)


@dataclass
class RunView:
    """Everything the HTML report shows of one run."""

    run: str
    stats: dict
    config: dict | None
    removed: Sample  # per "stage/reason"
    kept: Sample  # "kept": KEPT_PER_REASON pairs for each reason, shown beside it
    capfilt: Sample  # "kept" and "removed"
    partners: dict[str, dict]  # uid -> row of a pair that a sampled duplicate duplicates
    histograms: dict[str, Histogram]
    thresholds: dict[str, float]
    balance: dict | None
    capfilt_side: dict | None
    images: dict[str, bytes]  # uid -> thumbnail JPEG
    image_source: dict[str, str]  # uid -> why it has no image, when it has none
    groups: list[str] = field(default_factory=list)  # "stage/reason", largest first
    clusters: dict[str, list[dict]] = field(default_factory=dict)  # group -> sampled duplicates
    partner_of: dict[str, str] = field(default_factory=dict)  # duplicate uid -> the uid it duplicates


def read_side(run: str, name: str):
    path = shards.join(run, name)
    if not shards.exists(path):
        return None
    if name.endswith(".yaml"):
        import yaml

        return yaml.safe_load(shards.read_bytes(path))
    return shards.read_json(path)


def image_folders(run: str, config: dict | None) -> list[str]:
    """Where the run's images are: its own images/ and, for a stage run that read another
    run's kept/ (capfilt after a `curate run`), that run's images/."""
    folders = [shards.join(run, "images")]
    source = (config or {}).get("input")
    if isinstance(source, str):
        parent = posixpath.dirname(source.rstrip("/").split("*")[0].rstrip("/"))
        if posixpath.basename(source.rstrip("/")) == "kept" or source.rstrip("/").endswith("/kept"):
            folders.append(shards.join(parent, "images"))
    return [f for f in folders if _files(f)]


def image_index(folders: list[str], uids: set[str]) -> dict[str, tuple[str, str]]:
    """uid -> (tar, key) for the wanted uids the download stage fetched. A tar is looked for
    beside its result Parquet when the stored path is gone (a run folder moved)."""
    found: dict[str, tuple[str, str]] = {}
    for folder in folders:
        for path in _files(folder):
            for row in _read(path, ("uid", "key", "shard", "status")):
                if row["uid"] in uids and row.get("status") == "success" and row.get("shard"):
                    tar = row["shard"]
                    if not shards.exists(tar):
                        tar = shards.join(folder, posixpath.basename(tar))
                    found[row["uid"]] = (tar, row["key"])
    return found


def thumbnail(data: bytes) -> bytes | None:
    """A JPEG at most THUMB_PIXELS on a side; None when the bytes are not an image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (THUMB_PIXELS, THUMB_PIXELS))  # JPEG: decode at a reduced scale
            im.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
            im = im.convert("RGB")
            out = io.BytesIO()
            im.save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
            return out.getvalue()
    except Exception:  # noqa: BLE001 - a hostile or broken image: shown as "unreadable"
        return None


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def gather(run: str) -> RunView:
    """Read a run folder: stats.json (required), kept/ and removed/ shards, side files."""
    stats = shards.read_json(shards.join(run, "stats.json"))
    config = read_side(run, "config.yaml")
    groups = [f"{s['stage']}/{r}" for s in stats["stages"] for r in s["removed_by_reason"]]
    # the largest MAX_REASONS reasons, shown in pipeline order
    largest = set(sorted(groups, key=lambda g: -_reason_count(stats, g))[:MAX_REASONS])
    groups = [g for g in groups if g in largest]
    removed = Sample(EXAMPLES_PER_REASON)
    kept = Sample(KEPT_PER_REASON * max(1, len(groups)))  # dealt out to the reasons in turn
    capfilt = Sample(CAPFILT_ROWS)
    clusters: dict[str, Sample] = {}
    hists: dict[str, Histogram] = {}

    removed_scores: dict[str, list[float]] = {}
    kept_scores: dict[str, list[float]] = {}
    for path in _files(shards.join(run, "removed")):
        for row in _read(path, REMOVED_COLUMNS):
            group = f"{row['stage']}/{row['reason']}"
            row["text"] = _short(row["text"])
            removed.add(group, row)
            if row["reason"] == "low_clip_score":
                m = CAPFILT_DETAIL.search(row.get("detail") or "")
                if m:
                    row["clip_score"], row["synthetic_score"] = _score(m[1]), _score(m[2])
                    capfilt.add("removed", row)
                    removed_scores.setdefault("clip_score", []).append(row["clip_score"])
            if row["reason"] == "semantic_duplicate":
                m = COSINE_DETAIL.search(row.get("detail") or "")
                if m:
                    removed_scores.setdefault("semantic_cosine", []).append(float(m[1]))
            if row["reason"] in DUPLICATE_REASONS:
                clusters.setdefault(group, Sample(CLUSTERS_PER_REASON)).add(group, row)
        _flush(hists, removed_scores, removed=True)

    for path in _files(shards.join(run, "kept")):
        for row in _read(path, KEPT_COLUMNS):
            row["text"] = _short(row["text"])
            kept.add("kept", row)
            if row.get("clip_score") is not None:
                capfilt.add("kept", row)
            for col in ("clip_score", "semantic_cosine"):
                if row.get(col) is not None:
                    kept_scores.setdefault(col, []).append(row[col])
        _flush(hists, kept_scores, removed=False)

    # Partners of the sampled duplicates: the pair each one duplicates (kept, or itself
    # removed later), found in a second pass over the shards.
    wanted: dict[str, str] = {}
    for sample in clusters.values():
        for group in sample.heaps:
            for row in sample.rows(group):
                other = _partner(row)
                if other:
                    wanted[row["uid"]] = other
    partners: dict[str, dict] = {}
    need = set(wanted.values())
    if need:
        for sub, cols in (("kept", KEPT_COLUMNS), ("removed", REMOVED_COLUMNS)):
            for path in _files(shards.join(run, sub)):
                for row in _read(path, cols):
                    if row["uid"] in need and row["uid"] not in partners:
                        row["text"] = _short(row["text"])
                        row["where"] = sub
                        partners[row["uid"]] = row

    _eval_partners(config, clusters.get("decontaminate/eval_overlap"), wanted, partners)

    thresholds: dict[str, float] = {}
    capfilt_side = read_side(run, "capfilt.json")
    if capfilt_side and capfilt_side.get("threshold") is not None:
        thresholds["clip_score"] = float(capfilt_side["threshold"])
    eps = ((config or {}).get("stages") or {}).get("semdedup", {}) or {}
    if "semantic_cosine" in hists and eps.get("eps") is not None:
        thresholds["semantic_cosine"] = 1.0 - float(eps["eps"])

    view = RunView(run=run, stats=stats, config=config, removed=removed, kept=kept, capfilt=capfilt,
                   partners=partners, histograms=hists, thresholds=thresholds,
                   balance=read_side(run, "balance.json"), capfilt_side=capfilt_side, images={},
                   image_source={}, groups=groups, clusters={g: s.rows(g) for g, s in clusters.items()},
                   partner_of=wanted)
    _load_images(view)
    return view


EVAL_NAME = re.compile(r"(?:to|of) (\S+)$")


def _eval_partners(config: dict | None, sample: Sample | None, wanted: dict, partners: dict) -> None:
    """For the sampled eval_overlap removals, the evaluation image each one copies, as a
    partner row ``eval:<name>`` with its image bytes (loaded from the set decontaminate used)."""
    spec = (((config or {}).get("stages") or {}).get("decontaminate") or {}).get("eval_images")
    if sample is None or not spec:
        return
    names = {}
    for row in sample.rows("decontaminate/eval_overlap"):
        m = EVAL_NAME.search(row.get("detail") or "")
        if m:
            names[row["uid"]] = m[1]
    if not names:
        return
    from curate.io.evalset import load_eval_images

    try:
        images = dict(load_eval_images(spec))
    except (OSError, ValueError, StopIteration):  # the set is not on this machine: detail only
        return
    for uid, name in names.items():
        if name in images:
            wanted[uid] = f"eval:{name}"
            partners[f"eval:{name}"] = {"uid": f"eval:{name}", "text": f"evaluation image {name}", "where": "eval",
                                        "image": images[name]}


def _flush(hists: dict[str, Histogram], scores: dict[str, list[float]], removed: bool) -> None:
    """Add one shard's scores to the histograms and empty the lists."""
    for col, values in scores.items():
        hists.setdefault(col, Histogram()).add(values, removed)
    scores.clear()


def _reason_count(stats: dict, group: str) -> int:
    stage, reason = group.split("/", 1)
    return next((s["removed_by_reason"].get(reason, 0) for s in stats["stages"] if s["stage"] == stage), 0)


def _partner(row: dict) -> str | None:
    if row["reason"] == "text_cluster_cap":
        m = UID.search(row.get("detail") or "")
        return m[0] if m and m[0] != row["uid"] else None
    for m in UID.finditer(row.get("detail") or ""):
        if m[0] != row["uid"]:
            return m[0]
    return None


def kept_beside(view: RunView, group: str) -> list[dict]:
    """The kept pairs shown beside a reason: its own slice of the kept sample."""
    rows = view.kept.rows("kept")
    if not rows:
        return []
    start = view.groups.index(group) * KEPT_PER_REASON
    return [rows[(start + j) % len(rows)] for j in range(min(KEPT_PER_REASON, len(rows)))]


def shown_rows(view: RunView) -> list[dict]:
    rows = [r for g in view.removed.heaps for r in view.removed.rows(g)]
    rows += [r for g in view.kept.heaps for r in view.kept.rows(g)]
    rows += [r for g in view.capfilt.heaps for r in view.capfilt.rows(g)]
    rows += [r for rs in view.clusters.values() for r in rs]
    rows += list(view.partners.values())
    return rows


def _load_images(view: RunView) -> None:
    rows = shown_rows(view)
    for r in rows:  # evaluation images come with their bytes
        if r.get("image"):
            thumb = thumbnail(r["image"])
            if thumb:
                view.images[r["uid"]] = thumb
    uids = {r["uid"] for r in rows}
    index = image_index(image_folders(view.run, view.config), uids)
    for r in rows:  # kept rows carry their own tar and key
        if r["uid"] not in index and r.get("shard") and r.get("key") and shards.exists(r["shard"]):
            index[r["uid"]] = (r["shard"], r["key"])
    uid_list = sorted(index)
    raw = tars.read_images([index[u][0] for u in uid_list], [index[u][1] for u in uid_list])
    made: dict[bytes, bytes | None] = {}  # one thumbnail per distinct image (exact duplicates)
    for uid, data in zip(uid_list, raw, strict=True):
        if data:
            digest = hashlib.sha256(data).digest()
            if digest not in made:
                made[digest] = thumbnail(data)
        thumb = made[digest] if data else None
        if thumb:
            view.images[uid] = thumb
        else:
            view.image_source[uid] = "image unreadable"
    for r in rows:
        if r["uid"] in view.images or r["uid"] in view.image_source:
            continue
        stage = r.get("stage")
        if stage in BEFORE_DOWNLOAD:
            view.image_source[r["uid"]] = "no image: removed before download"
        elif stage == "download":
            view.image_source[r["uid"]] = "no image: download failed"
        else:
            view.image_source[r["uid"]] = "no image in this run's shards"
