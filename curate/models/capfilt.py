"""``CapFiltScorer``: Beam RunInference model handler for CapFilt (stage ``capfilt``).

Per pair batch (``pyarrow.Table`` with ``shard``, ``key``, ``uid``, ``text``) it reads and
decodes the images once, lets the captioner (an open_clip CoCa model) write one caption per
image by nucleus sampling, and lets the filter (any open_clip CLIP model) score the web and
the synthetic caption: the cosine of the L2-normalised image and text embeddings. Captioner
and filter are separate models (BLIP found shared weights hurt). Both are loaded once per
worker (RunInference's shared handle) through ``curate.models.clip.load_open_clip``, so they
take the same names, tags, config files and ``curate train`` checkpoints as stage ``embed``.
The filter may also be a cross-fitted set (``curate train-filter``'s ``filters.json``): one
model per fold, and each pair is scored by its fold's model (``ops.fold_of``), the one
trained without it.

Sampling is our own loop over CoCa's forward rather than ``CoCa.generate``: ``generate``
draws from torch's global generator (one stream for the whole batch; racy between threads)
and needs the ``transformers`` package. Here every pair has its own ``torch.Generator``
seeded from (uid, "capfilt", seed), and draws one uniform number per token, so a pair's
caption does not depend on which other pairs share its batch. The decoding rules follow
open_clip's ``generate(generation_type="top_p")``: start token, end token forbidden before
``min_tokens``, end token forced at ``max_tokens``, nucleus (top-p) sampling at temperature 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from curate.models.clip import LoadedModel, decode_all, load_open_clip, table_images
from curate.ops import capfilt as ops
from curate.ops import image_hash

SOT, EOT = 49406, 49407  # open_clip's (CLIP BPE) start / end tokens


@dataclass
class Scored:
    """What the handler returns per batch: rows that decoded (indices into the batch),
    their scores and captions, and (index, error) for the rest."""

    ok: list[int]
    clip_score: np.ndarray
    captions: list[str] | None
    synthetic_score: np.ndarray | None
    errors: list[tuple[int, str]]


@dataclass
class CapFiltModels:
    """``filters``: one model, or one per fold of a cross-fitted set (row of fold k scored by
    ``filters[k]``, see ``ops.fold_of`` with ``fold_seed``)."""

    filters: list[LoadedModel]
    tokenizer: Any
    captioner: LoadedModel | None
    fold_seed: int = 0


# A cross-fitted filter set (``curate train-filter``): a JSON file naming one checkpoint per
# fold, given as the filter's ``pretrained``.
FILTER_SET_KIND = "curate-cross-fitted-filter"


@dataclass(frozen=True)
class FilterSet:
    model: str  # open_clip name every fold's checkpoint loads with
    checkpoints: tuple[str, ...]  # fold k's model; absolute paths
    fold_seed: int

    @property
    def folds(self) -> int:
        return len(self.checkpoints)


def read_filter_set(path: str) -> FilterSet | None:
    """The filter set a ``.json`` file describes, or None for any other file (a checkpoint).
    Checkpoint paths in the file are relative to its folder."""
    import json
    import os

    if not path.endswith(".json") or not os.path.isfile(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("kind") != FILTER_SET_KIND:
        raise ValueError(f"{path}: not a filter set (kind must be {FILTER_SET_KIND!r}; `curate train-filter` writes one)")
    checkpoints = doc.get("checkpoints") or []
    if not isinstance(checkpoints, list) or not checkpoints or len(checkpoints) != doc.get("folds"):
        raise ValueError(f"{path}: 'checkpoints' must list one checkpoint per fold ({doc.get('folds')} folds)")
    base = os.path.dirname(os.path.abspath(path))
    paths = tuple(os.path.join(base, c) for c in checkpoints)
    missing = [c for c in paths if not os.path.isfile(c)]
    if missing:
        raise ValueError(f"{path}: checkpoints not found: {missing}")
    return FilterSet(str(doc["model"]), paths, int(doc.get("fold_seed", 0)))


def model_name(model: str, pretrained: str) -> str:
    """The open_clip name ``load_open_clip`` resolves ``model`` to (for the tokenizer)."""
    import os

    from curate.models import clip

    if not model:
        model = clip._name_from_checkpoint(pretrained)
    if model.endswith(".json") and os.path.isfile(model):
        clip._register_configs(model)
        return os.path.splitext(os.path.basename(model))[0]
    return model


def load_filters(model: str, pretrained: str, device: str) -> tuple[list[LoadedModel], Any, int]:
    """(eval-mode CLIPs, their tokenizer, fold seed): one model, or every fold's model when
    ``pretrained`` is a filter set (its own model name wins over ``model``)."""
    import open_clip

    fs = read_filter_set(pretrained) if pretrained else None
    if fs is None:
        loaded = load_open_clip(model, pretrained, device)
        return [loaded], open_clip.get_tokenizer(model_name(model, pretrained)), 0
    filters = [load_open_clip(fs.model, c, device) for c in fs.checkpoints]
    return filters, open_clip.get_tokenizer(model_name(fs.model, fs.checkpoints[0])), fs.fold_seed


def load_captioner(model: str, pretrained: str, device: str) -> LoadedModel:
    loaded = load_open_clip(model, pretrained, device)
    if not hasattr(loaded.model, "text_decoder"):
        raise ValueError(f"captioner {model or pretrained!r} is not a CoCa model (no text decoder)")
    return loaded


def nucleus_sample(logits, u, top_p: float):
    """One token per row: the smallest set of most probable tokens whose mass reaches
    ``top_p``, renormalised, sampled by inverse CDF with the row's uniform number ``u``."""
    import torch

    probs = torch.softmax(logits.double(), dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
    before = sorted_p.cumsum(-1) - sorted_p  # mass of the more probable tokens
    sorted_p = sorted_p * (before < top_p)  # the top token always stays (before = 0)
    cdf = sorted_p.cumsum(-1)
    target = (u.double() * cdf[:, -1]).unsqueeze(1)
    pick = torch.searchsorted(cdf, target, right=True).clamp(max=cdf.shape[1] - 1)
    return order.gather(1, pick).squeeze(1)


def generate_tokens(model, images, seeds: list[int], top_p: float, max_tokens: int, min_tokens: int):
    """(n, <= max_tokens) token ids, start token first; 0 (pad) after the end token."""
    import torch

    device = images.device
    n = images.shape[0]
    u = torch.stack(
        [torch.rand(max_tokens, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in seeds]
    ).to(device)
    image_latent, image_embs = model._encode_image(images)
    out = torch.full((n, 1), SOT, dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    pad = getattr(model, "pad_id", 0)
    for step in range(1, max_tokens):
        if step == max_tokens - 1:
            token = torch.full((n,), EOT, dtype=torch.long, device=device)
        else:
            logits = model(
                images, out, image_latent=image_latent, image_embs=image_embs, output_labels=False
            )["logits"][:, -1].float()
            if step < min_tokens:
                logits[:, EOT] = -float("inf")
            token = nucleus_sample(logits, u[:, step], top_p)
        token = torch.where(done, torch.full_like(token, pad), token)
        out = torch.cat([out, token[:, None]], dim=1)
        done |= token == EOT
        if bool(done.all()):
            break
    return out


def caption_images(
    loaded: LoadedModel, images: list, seeds: list[int], top_p: float, max_tokens: int, min_tokens: int, batch_size: int
) -> list[str]:
    """PIL images → one synthetic caption each (deterministic per seed)."""
    import open_clip
    import torch

    captions: list[str] = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.stack([loaded.preprocess(img) for img in images[start : start + batch_size]])
            tokens = generate_tokens(
                loaded.model, x.to(loaded.device), seeds[start : start + batch_size], top_p, max_tokens, min_tokens
            )
            captions += [ops.clean_caption(open_clip.decode(t)) for t in tokens.cpu()]
    return captions


def image_features(loaded: LoadedModel, images: list, batch_size: int):
    """PIL images → (n, d) L2-normalised float32 torch tensor (on the model's device)."""
    import torch

    feats = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.stack([loaded.preprocess(img) for img in images[start : start + batch_size]])
            feats.append(torch.nn.functional.normalize(loaded.model.encode_image(x.to(loaded.device)).float(), dim=-1))
    return torch.cat(feats) if feats else None


def text_scores(loaded: LoadedModel, tokenizer, image_feats, texts: list[str], batch_size: int) -> np.ndarray:
    """Cosine of each image embedding with the embedding of its own text."""
    import torch

    scores = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            tokens = tokenizer([t or "" for t in texts[start : start + batch_size]]).to(loaded.device)
            t = torch.nn.functional.normalize(loaded.model.encode_text(tokens).float(), dim=-1)
            scores.append((image_feats[start : start + batch_size] * t).sum(-1).cpu().numpy())
    return np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32)


class CapFiltScorer(ModelHandler[pa.Table, PredictionResult, CapFiltModels]):
    """RunInference handler: pair batch → ``PredictionResult(batch, Scored)``."""

    def __init__(
        self,
        filter_model: str,
        filter_pretrained: str = "",
        captioner_model: str = "",
        captioner_pretrained: str = "",
        device: str = "auto",
        batch_size: int = 32,
        top_p: float = 0.9,
        max_tokens: int = 30,
        min_tokens: int = 5,
        seed: int = 0,
        max_pixels: int = image_hash.DEFAULT_MAX_PIXELS,
        read_images=None,
    ):
        super().__init__()
        self.filter_model = filter_model
        self.filter_pretrained = filter_pretrained
        self.captioner_model = captioner_model
        self.captioner_pretrained = captioner_pretrained
        self.device = device
        self.batch_size = batch_size
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens
        self.seed = seed
        self.max_pixels = max_pixels
        # (table) -> list of image bytes; the default reads webdataset members
        self.read_images = read_images

    @property
    def captions(self) -> bool:
        return bool(self.captioner_model or self.captioner_pretrained)

    def load_model(self) -> CapFiltModels:
        filters, tokenizer, fold_seed = load_filters(self.filter_model, self.filter_pretrained, self.device)
        cap = (
            load_captioner(self.captioner_model, self.captioner_pretrained, self.device)
            if self.captions
            else None
        )
        return CapFiltModels(filters, tokenizer, cap, fold_seed)

    def score(self, table: pa.Table, models: CapFiltModels) -> Scored:
        """Scores of one pair batch (``table`` may carry its image bytes, see ``table_images``)."""
        table, data = table_images(table, self.read_images)
        decoded, ok, errors = decode_all(data, self.max_pixels)
        if not decoded:
            empty = np.zeros(0, np.float32)
            if models.captioner is None:
                return Scored(ok, empty, None, None, errors)
            return Scored(ok, empty, [], empty, errors)
        texts = table["text"].take(ok).to_pylist()
        uids = table["uid"].take(ok).to_pylist()
        captions = synthetic = None
        if models.captioner is not None:
            seeds = ops.caption_seeds(uids, self.seed)
            captions = caption_images(
                models.captioner, decoded, seeds, self.top_p, self.max_tokens, self.min_tokens, self.batch_size
            )
            synthetic = np.zeros(len(ok), np.float32)
        web = np.zeros(len(ok), np.float32)
        folds = ops.fold_of(uids, len(models.filters), models.fold_seed)
        for k, filt in enumerate(models.filters):  # a row is scored by its fold's model only
            rows = np.flatnonzero(folds == k)
            if not len(rows):
                continue
            feats = image_features(filt, [decoded[i] for i in rows], self.batch_size)
            web[rows] = text_scores(filt, models.tokenizer, feats, [texts[i] for i in rows], self.batch_size)
            if captions is not None:
                synthetic[rows] = text_scores(filt, models.tokenizer, feats, [captions[i] for i in rows], self.batch_size)
        return Scored(ok, web, captions, synthetic, errors)

    def run_inference(
        self, batch: Sequence[pa.Table], model: CapFiltModels, inference_args=None
    ) -> Iterable[PredictionResult]:
        from curate.ops.model_batches import take_images

        for table in batch:
            yield PredictionResult(take_images(table)[0], self.score(table, model), "capfilt")

    def get_num_bytes(self, batch: Sequence[pa.Table]) -> int:
        return sum(t.nbytes for t in batch)

    def batch_elements_kwargs(self):
        # elements are already batches of pairs: one per call
        return {"min_batch_size": 1, "max_batch_size": 1}

    def get_metrics_namespace(self) -> str:
        return "capfilt"
