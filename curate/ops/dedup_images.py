"""Image dedup decisions as pure functions (stage ``dedup_images``).

Node ids: every decodable image becomes a node id string
``"<rank>:<uid>:<pixel_sha256>:<phash hex>"`` whose string order is the keep rule:

    **kept member of a duplicate cluster = the largest image** (original_width x
    original_height as downloaded, else width x height, else the decoded size), ties broken
    by the smallest uid.

``rank`` is ``10**13 - pixels`` zero-padded, so the component's smallest node (what
``ConnectedComponents`` returns) is the kept one, and the id carries what the decision needs
(no join back to the pixels).

Reasons:

- ``decode_error``: the image is missing from its shard or cannot be decoded
- ``duplicate_image_exact``: same decoded pixels (``pixel_sha256``) as the cluster's kept image
- ``duplicate_image_perceptual``: in the same cluster (chains of pHash Hamming distance
  <= ``max_distance``) with different pixels; the detail names the kept uid and the distance
  to it (which can exceed ``max_distance`` through a chain)

Pairs, not images (``decide_cluster``): a member whose image duplicates a kept member's and
whose caption is a near-duplicate (``curate.ops.textdup``) of that member's is the same pair
seen again and is always removed (detail ``...; same caption``). Under another caption
(detail ``...; other caption``) it is removed when the pixels are the same
(``other_captions="exact"``, the default), whenever the image is a duplicate (``"remove"``),
or never (``"keep"``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate import schema
from curate.io import tars
from curate.ops import image_hash, textdup

STAGE = "dedup_images"
_RANK_BASE = 10**13


def node_id(uid: str, pixels: int, sha: str, phash: int) -> str:
    return f"{_RANK_BASE - min(int(pixels), _RANK_BASE - 1):014d}:{uid}:{sha}:{int(phash):016x}"


def parse_node(node: str) -> tuple[str, str, int]:
    """(uid, pixel_sha256, phash) of a node id."""
    _, uid, sha, ph = node.split(":")
    return uid, sha, int(ph, 16)


def _pixels(table: pa.Table, name_w: str, name_h: str) -> list[int | None]:
    if name_w not in table.column_names or name_h not in table.column_names:
        return [None] * table.num_rows
    return [
        w * h if w is not None and h is not None else None
        for w, h in zip(table[name_w].to_pylist(), table[name_h].to_pylist(), strict=True)
    ]


def hash_batch(table: pa.Table, max_pixels: int, images: list[bytes | None] | None = None):
    """A pair batch → (kept batch with pixel_sha256 and phash, removed decode errors,
    node ids of the kept rows)."""
    if images is None:
        images = tars.read_images(table["shard"].to_pylist(), table["key"].to_pylist())
    original = _pixels(table, "original_width", "original_height")
    resized = _pixels(table, "width", "height")
    ok, decoded, errors, bad = [], [], [], []
    for i, data in enumerate(images):
        try:
            decoded.append(image_hash.decode_rgb(data, max_pixels))
            ok.append(i)
        except image_hash.DecodeError as e:
            bad.append(i)
            errors.append(str(e))
    shas = [image_hash.pixel_sha256(img) for img in decoded]
    phashes = image_hash.phash_batch(decoded)
    kept = table.take(pa.array(ok, pa.int64()))
    kept = schema.with_column(kept, "pixel_sha256", pa.array(shas, pa.string()))
    kept = schema.with_column(kept, "phash", pa.array(phashes, pa.uint64()))
    uids = kept["uid"].to_pylist()
    nodes = [
        node_id(
            uid,
            original[i] or resized[i] or img.width * img.height,
            sha,
            ph,
        )
        for uid, i, img, sha, ph in zip(uids, ok, decoded, shas, phashes.tolist(), strict=True)
    ]
    removed = schema.removed(table.take(pa.array(bad, pa.int64())), STAGE, "decode_error", errors)
    return kept, removed, nodes


def exact_groups(nodes: list[str]):
    """Nodes sharing one pixel hash → (edges to the group's smallest node, that node)."""
    nodes = sorted(set(nodes))
    rep = nodes[0]
    return [(n, rep) for n in nodes[1:]], rep


def decide(node: str, root: str) -> tuple[str, str, str | None, str | None]:
    """(uid, kept uid, reason or None, detail) for a node of a duplicate cluster."""
    uid, sha, ph = parse_node(node)
    root_uid, root_sha, root_ph = parse_node(root)
    if node == root:
        return uid, root_uid, None, None
    if sha == root_sha:
        return uid, root_uid, "duplicate_image_exact", f"same pixels as {root_uid}"
    dist = int(image_hash.hamming(np.uint64(ph), np.uint64(root_ph)))
    return uid, root_uid, "duplicate_image_perceptual", f"near {root_uid} (phash hamming {dist})"


def decide_cluster(
    members: list[tuple[str, str | None]], other_captions: str = "exact", max_distance: int = 4
) -> list[tuple[str, str, str | None, str | None]]:
    """(uid, cluster's kept uid, reason or None, detail) for every member of one image
    cluster, given (node id, caption) per member.

    Members are taken in node order (the keep rule: largest image, then smallest uid). A
    member is a duplicate of a kept member when its pixels are the same or its pHash is
    within `max_distance` of that member's *directly* (a chain of near pairs through
    connected components can join images 8 or 10 bits apart; the component only says where
    to look). It is removed when it is such a duplicate and its caption is a near-duplicate
    of that member's (the same pair again), or, by `other_captions`: ``remove`` whatever the
    caption, ``exact`` under another caption only when the pixels are the same, ``keep``
    never. Otherwise it is kept, and later members are compared with it too."""
    members = sorted(members)
    root_uid = parse_node(members[0][0])[0]
    kept: list[tuple[str, str, int, str | None]] = []  # (node, sha, phash, caption)
    out = []
    for node, text in members:
        uid, sha, ph = parse_node(node)
        exact = [k for k in kept if k[1] == sha]
        near = [k for k in kept if k[1] != sha
                and int(image_hash.hamming(np.uint64(ph), np.uint64(k[2]))) <= max_distance]
        match = next((k for k in exact + near if textdup.near_duplicate(text, k[3])), None)
        caption = "same"
        if match is None:
            caption = "other"
            if other_captions == "remove" and (exact or near):
                match = (exact + near)[0]
            elif other_captions == "exact" and exact:
                match = exact[0]
        if match is None:
            kept.append((node, sha, ph, text))
            out.append((uid, root_uid, None, None))
            continue
        _, _, reason, detail = decide(node, match[0])
        out.append((uid, root_uid, reason, f"{detail}; {caption} caption"))
    return out
