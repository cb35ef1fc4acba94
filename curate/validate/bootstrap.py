"""The stages after a first pass that need models, with models bootstrapped from the pool
itself (no downloaded weights): BLIP's CapFilt with cross-fitted filters (`curate
train-filter`), embeddings from the first filter's image tower, and DINOv2-style retrieval
from a seed set of Fashion-MNIST training images the pool does not use.

Shared by `curate demo` and benchmarks/compare_sample.py."""

from __future__ import annotations

from pathlib import Path


def write_seed_images(sample, folder, count: int) -> str:
    """The retrieval seed set: `count` Fashion-MNIST training images (equal per class, lowest
    indices first) that the sample pool does not use, as 28-pixel PNGs like the eval set's.
    The pool's own images and the test split (the evaluation) are never seeds."""
    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    from curate.io.labelled import fashion_mnist_arrays

    sample, folder = Path(sample), Path(folder)
    used = {o for o in pq.read_table(sample / "manifest.parquet", columns=["origin"])["origin"].to_pylist()
            if o and o.startswith("fashion-mnist/train/")}
    images, labels = fashion_mnist_arrays("train")
    free = [i for i in range(len(labels)) if f"fashion-mnist/train/{i}" not in used]
    per_class = count // 10
    chosen = [i for c in range(10) for i in [j for j in free if labels[j] == c][:per_class]]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    for i in chosen:
        Image.fromarray(np.asarray(images[i], np.uint8), mode="L").save(folder / f"train-{i:05d}.png")
    return str(folder)


def filter_paths(filter_dir) -> dict[str, str]:
    """Where `curate train-filter --output filter_dir` puts what the later stages load:
    filters.json (capfilt's filter set) and the first fold's checkpoint (the image tower
    that embed, and retrieve through it, use)."""
    filter_dir = Path(filter_dir)
    return {"filters": str(filter_dir / "filters.json"), "tower": str(filter_dir / "fold-0" / "model.pt")}


def bootstrapped_stages(
    filter_dir, model: str, capfilt_keep: float, seeds: str | None = None, neighbours: int = 4,
    balance_clusters: bool = False,
) -> dict[str, dict]:
    """Stage settings of the second pass (as in a pipeline config's `stages`): capfilt with
    the cross-fitted filters in `filter_dir` (no captioner: a CoCa cannot be pretrained
    here), keeping the top `capfilt_keep` percent by CLIP score; with `seeds` (a folder of
    seed images) also embed with the first filter's image tower and retrieve `neighbours`
    pool images per seed; with `balance_clusters` embed the same way and balance by
    hierarchical k-means (default settings) last."""
    paths = filter_paths(filter_dir)
    stages: dict[str, dict] = {"capfilt": {
        "filter_model": "", "filter_pretrained": paths["filters"],
        "captioner_model": "none", "keep_top_percent": capfilt_keep, "device": "cpu",
    }}
    if seeds or balance_clusters:
        stages = {"embed": {"model": model, "pretrained": paths["tower"], "device": "cpu"}, **stages}
    if seeds:
        stages["retrieve"] = {"seed_images": seeds, "neighbours": neighbours, "device": "cpu"}
    if balance_clusters:
        stages["balance_clusters"] = {}
    return stages
