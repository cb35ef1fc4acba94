"""Training batches from exported webdataset tars, two ways, both deterministic in the seed.

- ``stream_batches``: webdataset streaming, as open_clip's trainer reads the same tars
  (shard shuffle, sample shuffle buffer, decode, preprocess, tokenize) - for real sizes.
- ``CachedSamples``: decode and preprocess every sample once into memory, then draw one
  seeded permutation per epoch - for small CPU runs (tests, the sample comparison), where
  JPEG decoding would otherwise cost more than the model. Resume is exact: batch i of a run
  depends only on (seed, i).
"""

from __future__ import annotations

import random


def expand(pattern: str) -> list[str]:
    """A brace-expanded shard list (open_clip's --train-data syntax, '::' joins lists)."""
    import braceexpand

    urls = []
    for part in pattern.split("::"):
        urls.extend(braceexpand.braceexpand(part))
    return urls


def read_samples(pattern: str):
    """(key, PIL image, caption) of every sample in the tars, in tar order."""
    import webdataset as wds

    pipeline = wds.DataPipeline(
        wds.SimpleShardList(expand(pattern)),
        wds.tarfile_to_samples(),
        wds.decode("pilrgb"),
        wds.to_tuple("__key__", "jpg;png;jpeg;webp", "txt"),
    )
    yield from pipeline


class CachedSamples:
    """Every sample preprocessed once: images (N, 3, H, W) and tokens (N, L)."""

    def __init__(self, pattern: str, preprocess, tokenizer, limit: int | None = None):
        import torch

        images, texts = [], []
        for _, image, text in read_samples(pattern):
            images.append(preprocess(image))
            texts.append(text)
            if limit and len(images) >= limit:
                break
        if not images:
            raise ValueError(f"no samples in {pattern}")
        self.images = torch.stack(images)
        self.tokens = tokenizer(texts)

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, batch_size: int, seed: int, start_step: int = 0):
        """Endless batches; step i is batch (i mod per_epoch) of epoch i // per_epoch's
        permutation (drop-last, like open_clip's training loader)."""
        import torch

        n = len(self)
        if batch_size > n:
            raise ValueError(f"batch_size {batch_size} is larger than the dataset ({n} samples)")
        per_epoch = n // batch_size
        step = start_step
        while True:
            epoch, offset = divmod(step, per_epoch)
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
            for b in range(offset, per_epoch):
                idx = perm[b * batch_size : (b + 1) * batch_size]
                yield self.images[idx], self.tokens[idx]
                step += 1


def stream_batches(pattern: str, preprocess, tokenizer, batch_size: int, seed: int, workers: int = 0):
    """Endless batches streamed from the tars (epoch e reshuffles shards and samples with
    seed + e). Resume starts a fresh epoch: streaming position is not checkpointed."""
    import torch
    import webdataset as wds

    urls = expand(pattern)
    epoch = 0
    while True:
        rng = random.Random(seed * 100_003 + epoch)
        shard_list = list(urls)
        rng.shuffle(shard_list)
        pipeline = wds.DataPipeline(
            wds.SimpleShardList(shard_list),
            wds.split_by_worker,
            wds.tarfile_to_samples(),
            wds.shuffle(1000, initial=100, rng=random.Random(seed * 100_003 + epoch + 1)),
            wds.decode("pilrgb"),
            wds.to_tuple("jpg;png;jpeg;webp", "txt"),
            wds.map_tuple(preprocess, lambda t: tokenizer([t])[0]),
            wds.batched(batch_size, partial=False),
        )
        loader = torch.utils.data.DataLoader(pipeline, batch_size=None, num_workers=workers)
        got = False
        for images, tokens in loader:
            got = True
            yield images, tokens
        if not got:
            raise ValueError(f"no full batch of {batch_size} in {pattern}")
        epoch += 1
