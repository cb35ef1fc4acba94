"""open_clip models by name: the standard ones (ViT-B-32...) plus small configurations
shipped in ``curate/data/*.json`` for CPU runs (tests, the demo, the sample comparison).

``register()`` adds the shipped configs to open_clip's registry, so
``open_clip.create_model_and_transforms("curate-tiny-vit", pretrained="<ckpt>.pt")``
works once ``curate.validate.models`` is imported (the embedder model handler does).
"""

from __future__ import annotations

import functools
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent.parent / "data"
SMALL_MODELS = ("curate-micro-vit", "curate-micro-rn", "curate-tiny-vit", "curate-small-vit")


@functools.cache
def register() -> tuple[str, ...]:
    import open_clip

    for name in SMALL_MODELS:
        open_clip.add_model_config(CONFIG_DIR / f"{name}.json")
    return SMALL_MODELS


def create(name: str, pretrained: str | None = None, device: str = "cpu", precision: str = "fp32"):
    """(model, preprocess_train, preprocess_val, tokenizer) for an open_clip model name and
    an optional pretrained tag or checkpoint path."""
    import open_clip

    register()
    model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
        name, pretrained=pretrained or None, device=device, precision=precision
    )
    tokenizer = open_clip.get_tokenizer(name)
    return model, preprocess_train, preprocess_val, tokenizer


def image_size(model) -> int:
    size = model.visual.image_size
    return size[0] if isinstance(size, (tuple, list)) else int(size)
