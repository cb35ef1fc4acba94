"""Image hashes as pure functions: decoding, exact pixel hash, 64-bit pHash, Hamming banding.

- ``pixel_sha256``: sha256 over the decoded RGB pixels and the image size, so the same
  picture re-encoded (PNG vs lossless WebP, different metadata) is an exact duplicate while a
  different crop is not.
- ``phash``: identical to ``imagehash.phash(image)`` (hash_size 8, highfreq_factor 4: grey
  32x32 LANCZOS thumbnail, 2-D DCT-II as scipy.fftpack computes it, the 8x8 low-frequency
  block compared with its median), packed into a uint64 with the first bit as the most
  significant one, so ``f"{h:016x}" == str(imagehash.phash(image))``. Computed for a whole
  batch at once (one DCT over a stack).
- Near-duplicates are pairs with Hamming distance <= k. ``band_keys`` splits the 64 bits into
  k+1 bands: two hashes within distance k agree on at least one band (pigeonhole), so grouping
  by (band, band value) finds every candidate pair; ``near_pairs`` verifies them exactly.
"""

from __future__ import annotations

import hashlib
import io
import re

import numpy as np
from PIL import Image

HASH_BITS = 64
# Pillow refuses images above ~179M pixels only with a warning; a crafted PNG can still ask
# for gigabytes. Downloaded images are resized already, so this is only a safety net.
DEFAULT_MAX_PIXELS = 64_000_000


class DecodeError(ValueError):
    """An image that cannot be decoded (or is too large to decode safely)."""


def decode_rgb(data: bytes | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Bytes → an RGB image; transparent pixels composited on white (as img2dataset does)."""
    if data is None:
        raise DecodeError("image missing from its shard")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > max_pixels:
            raise DecodeError(f"{img.width}x{img.height} is over {max_pixels} pixels")
        img.load()
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        return img.convert("RGB")
    except DecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # PIL names the file object by its address ("<_io.BytesIO object at 0x7f...>"): the
        # reason must be the same in every run, so addresses are masked
        message = re.sub(r" at 0x[0-9a-fA-F]+>", ">", str(e))
        raise DecodeError(f"{type(e).__name__}: {message}"[:200]) from e


def pixel_sha256(img: Image.Image) -> str:
    h = hashlib.sha256()
    h.update(f"{img.width}x{img.height}:".encode())
    h.update(img.convert("RGB").tobytes())
    return h.hexdigest()


def phash_batch(images: list[Image.Image]) -> np.ndarray:
    """uint64 pHash of each image, equal to ``imagehash.phash``."""
    import scipy.fftpack

    if not images:
        return np.zeros(0, dtype=np.uint64)
    pixels = np.stack(
        [np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS)) for img in images]
    )
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=1), axis=2)
    low = dct[:, :8, :8].reshape(len(images), 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def phash(img: Image.Image) -> int:
    return int(phash_batch([img])[0])


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64."""
    x = np.asarray(x, dtype=np.uint64)
    flat = np.ascontiguousarray(x.reshape(-1))
    counts = _POPCOUNT8[flat.view(np.uint8).reshape(-1, 8)].sum(axis=1, dtype=np.int64)
    return counts.reshape(x.shape)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between uint64 hashes (broadcasting)."""
    return popcount(np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64)))


def bands(max_distance: int) -> list[tuple[int, int]]:
    """k+1 contiguous (shift, width) bands covering the 64 bits."""
    if not 0 <= max_distance < HASH_BITS:
        raise ValueError(f"max_distance must be in [0, {HASH_BITS - 1}], got {max_distance}")
    n = max_distance + 1
    edges = [round(i * HASH_BITS / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(n)]


def band_values(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """(len(hashes), k+1) array: the value of each band of each hash."""
    h = np.asarray(hashes, np.uint64)
    out = np.empty((len(h), max_distance + 1), dtype=np.uint64)
    for i, (shift, width) in enumerate(bands(max_distance)):
        out[:, i] = (h >> np.uint64(shift)) & np.uint64((1 << width) - 1)
    return out


def band_keys(hashes: np.ndarray, max_distance: int) -> list[list[str]]:
    """Per hash, one key per band: "band:value". Equal keys → candidate pair."""
    vals = band_values(hashes, max_distance)
    return [[f"{b}:{int(v)}" for b, v in enumerate(row)] for row in vals]


def near_pairs(
    ids: list, hashes: np.ndarray, max_distance: int, band: int | None = None
) -> list[tuple[object, object, int]]:
    """Verified pairs (id_i, id_j, distance) with distance <= max_distance, i < j.

    With ``band`` set (the bucket came from that band), a pair is emitted only if ``band`` is
    the first band the two hashes agree on, so a pair found in several buckets is emitted
    once overall."""
    h = np.asarray(hashes, np.uint64)
    if len(h) < 2:
        return []
    dist = hamming(h[:, None], h[None, :])
    ii, jj = np.nonzero(np.triu(dist <= max_distance, k=1))
    if band is not None and len(ii):
        vals = band_values(h, max_distance)
        same = vals[ii] == vals[jj]  # (pairs, bands)
        first = np.argmax(same, axis=1)
        keep = first == band
        ii, jj = ii[keep], jj[keep]
    return [(ids[i], ids[j], int(dist[i, j])) for i, j in zip(ii, jj, strict=True)]
