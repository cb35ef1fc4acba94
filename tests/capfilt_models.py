"""Tiny CoCa (captioner) and CLIP (filter) models built from scratch for the capfilt tests and
benchmark, saved the way `curate train` saves a checkpoint and loaded back through the same
config-file / checkpoint path a user gives (`--captioner-model x.json --captioner-pretrained
model.pt`)."""

from __future__ import annotations

import json
from pathlib import Path

from curate.models.clip import init_unset_parameters
from tests.tinyclip import make_checkpoint as make_clip_checkpoint  # noqa: F401  (the filter)

# CoCa needs an attentional pooler and token outputs; the vocabulary stays CLIP's BPE size
# (start/end tokens are 49406/49407) so open_clip's tokenizer decodes what it samples.
TINY_COCA = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 32, "layers": 1, "width": 64, "patch_size": 8,
        "attentional_pool": True, "attn_pooler_heads": 2, "attn_pooler_queries": 8, "output_tokens": True,
    },
    "text_cfg": {
        "context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
        "embed_cls": True, "output_tokens": True,
    },
    "multimodal_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1, "attn_pooler_heads": 2},
    "custom_text": True,
}


def make_coca_checkpoint(folder: Path, name: str = "test-tiny-coca", seed: int = 0) -> tuple[str, str]:
    """(model config .json path, checkpoint path) of a randomly initialised tiny CoCa."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / f"{name}.json"
    cfg_path.write_text(json.dumps(TINY_COCA))
    open_clip.add_model_config(cfg_path)
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    init_unset_parameters(model)  # else text_projection is uninitialised memory (open_clip #554)
    # Near-uniform next-token distributions: a random init can be peaked enough that top-p
    # keeps one token, and then the sampling seed would not show in the captions.
    with torch.no_grad():
        model.text_decoder.text_projection.mul_(0.01)
    ckpt = folder / "coca.pt"
    torch.save({"state_dict": model.state_dict(), "model": name, "step": 1}, ckpt)
    return str(cfg_path), str(ckpt)
