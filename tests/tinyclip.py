"""A tiny open_clip model built from scratch, saved like `curate train` saves one."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def make_checkpoint(folder: Path, name: str = "test-tiny-clip", seed: int = 0) -> tuple[str, str]:
    """(model config .json path, checkpoint path) of a randomly initialised tiny CLIP."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / f"{name}.json"
    cfg_path.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(cfg_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    ckpt = folder / "model.pt"
    torch.save({"state_dict": model.state_dict(), "model": name, "step": 1}, ckpt)
    return str(cfg_path), str(ckpt)
