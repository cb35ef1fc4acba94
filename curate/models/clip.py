"""``OpenClipImageEmbedder``: Beam RunInference model handler for open_clip image embeddings.

Elements are pair batches (``pyarrow.Table`` with ``shard`` and ``key``), not single images:
records travel as batches through the whole pipeline, so RunInference gets one batch per
call (``batch_elements_kwargs``) and the handler runs the model over it in chunks of
``batch_size`` images. The model is loaded once per worker (RunInference's shared handle);
torch and open_clip are imported in ``load_model``.

Which model:

- ``model`` = an open_clip name (``ViT-B-32``...) with ``pretrained`` = a tag
  (``laion2b_s34b_b79k``, downloaded where the network allows) or a checkpoint file;
- ``model`` = a model config ``.json`` file (registered under its file stem);
- ``model`` = ``local-dir:<folder>`` or ``hf-hub:<repo>`` (``pretrained`` ignored);
- ``model`` = ``""`` with ``pretrained`` = a checkpoint written by ``curate train`` (its
  ``model`` / ``name`` entry names the config).

The curate-* small configs shipped with the package are registered first, so checkpoints of
``curate train`` load by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from curate.ops import image_hash


@dataclass
class Embedded:
    """What the handler returns per batch: rows that decoded (indices into the batch), their
    normalised float16 embeddings, and (index, error) for the rest."""

    ok: list[int]
    embeddings: np.ndarray
    errors: list[tuple[int, str]]


@dataclass
class LoadedModel:
    model: Any
    preprocess: Any
    device: str


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _register_configs(model: str) -> str:
    """Register shipped and user config files with open_clip; returns the model name."""
    import open_clip

    try:  # curate-tiny-vit etc. (curate.validate ships them)
        from curate.validate import models as shipped

        shipped.register()
    except ImportError:
        pass
    if model.endswith(".json") and os.path.isfile(model):
        open_clip.add_model_config(model)
        return os.path.splitext(os.path.basename(model))[0]
    return model


def _name_from_checkpoint(path: str) -> str:
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    name = ckpt.get("model") or ckpt.get("name") if isinstance(ckpt, dict) else None
    if not isinstance(name, str):
        raise ValueError(f"{path}: checkpoint names no model; pass --model")
    return name


def init_unset_parameters(net) -> None:
    """Give open_clip's never-initialised parameters a value. CoCa's text decoder
    (MultimodalTransformer) allocates ``text_projection`` with ``torch.empty`` and nothing
    initialises it (open_clip issue #554; the fix in PR #551 was not merged), so a CoCa built
    without pretrained weights holds whatever memory it got: in a long test run logits reached
    1e18 and every sampled caption was empty. Initialised as CLIP's text projection is
    (normal, std = width ** -0.5); loading weights overwrites it."""
    import torch

    proj = getattr(getattr(net, "text_decoder", None), "text_projection", None)
    if proj is not None:
        with torch.no_grad():
            torch.nn.init.normal_(proj, std=proj.shape[0] ** -0.5)


def stage_model(model: str, pretrained: str, embed_config) -> tuple[str, str]:
    """(model, pretrained) for a stage that embeds reference images (eval set, seeds): its
    own `model` when it names one, else the run's embed stage's ('', '' when neither)."""
    if model:
        return model, pretrained
    return (embed_config.model, embed_config.pretrained) if embed_config else ("", "")


def load_open_clip(model: str, pretrained: str, device: str) -> LoadedModel:
    """The eval-mode image model and its preprocessing (the validation transform)."""
    import open_clip

    if not model:
        if not pretrained or not os.path.isfile(pretrained):
            raise ValueError("model is empty: pretrained must then be a checkpoint file")
        model = _name_from_checkpoint(pretrained)
    name = _register_configs(model)
    device = resolve_device(device)
    if name.startswith(("local-dir:", "hf-hub:")):
        net, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
    else:
        net, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained or None, device=device
        )
        if not pretrained:
            init_unset_parameters(net)
    net.eval()
    return LoadedModel(net, preprocess, device)


def embed_images(loaded: LoadedModel, images: list, batch_size: int) -> np.ndarray:
    """PIL images → (n, d) L2-normalised float32 embeddings."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            x = torch.stack([loaded.preprocess(img) for img in chunk]).to(loaded.device)
            feats = loaded.model.encode_image(x).float()
            feats = torch.nn.functional.normalize(feats, dim=-1)
            out.append(feats.cpu().numpy())
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)


def table_images(table: pa.Table, read_images=None) -> tuple[pa.Table, list[bytes | None]]:
    """(the pair batch without image bytes, its rows' image bytes): the bytes a model batch
    carries (``ModelBatches``), else ``read_images(table)``, else read from the tars."""
    from curate.io import tars
    from curate.ops import model_batches

    table, data = model_batches.take_images(table)
    return table, data if data is not None else tars.read_pair_images(table, read_images)


def decode_all(images: list[bytes | None], max_pixels: int):
    """(decoded images, their indices, (index, error) for the rest)."""
    decoded, ok, errors = [], [], []
    for i, data in enumerate(images):
        try:
            decoded.append(image_hash.decode_rgb(data, max_pixels))
            ok.append(i)
        except image_hash.DecodeError as e:
            errors.append((i, str(e)))
    return decoded, ok, errors


class OpenClipImageEmbedder(ModelHandler[pa.Table, PredictionResult, LoadedModel]):
    """RunInference handler: pair batch → ``PredictionResult(batch, Embedded)``."""

    def __init__(
        self,
        model: str,
        pretrained: str = "",
        device: str = "auto",
        batch_size: int = 64,
        max_pixels: int = image_hash.DEFAULT_MAX_PIXELS,
        read_images=None,
    ):
        super().__init__()
        self.model_name = model
        self.pretrained = pretrained
        self.device = device
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        # (table) -> list of image bytes; the default reads webdataset members
        self.read_images = read_images

    def load_model(self) -> LoadedModel:
        return load_open_clip(self.model_name, self.pretrained, self.device)

    def run_inference(
        self, batch: Sequence[pa.Table], model: LoadedModel, inference_args=None
    ) -> Iterable[PredictionResult]:
        for table in batch:
            table, data = table_images(table, self.read_images)
            decoded, ok, errors = decode_all(data, self.max_pixels)
            emb = embed_images(model, decoded, self.batch_size).astype(np.float16)
            yield PredictionResult(table, Embedded(ok, emb, errors), self.model_name)

    def get_num_bytes(self, batch: Sequence[pa.Table]) -> int:
        return sum(t.nbytes for t in batch)

    def batch_elements_kwargs(self):
        # elements are already batches of pairs: one per call
        return {"min_batch_size": 1, "max_batch_size": 1}

    def get_metrics_namespace(self) -> str:
        return "embed"
