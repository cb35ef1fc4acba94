"""Zero-shot classification and image↔text retrieval of an open_clip model.

Zero-shot follows CLIP: each class's text embedding is the normalised mean of its prompt
templates' normalised embeddings; an image is assigned the class of highest cosine.
Retrieval ranks all texts per image (and all images per text) by cosine; R@k is the share
of queries whose own pair is among the top k.
"""

from __future__ import annotations

import numpy as np

TEMPLATES = {
    "default": (
        "a photo of a {}.",
        "a photo of the {}.",
        "a {}.",
        "an image of a {}.",
        "a picture of a {}.",
        "a product photo of a {}.",
    ),
    "digits": ('a photo of the number: "{}".', "the number {}.", "a digit {}.", "{}"),
}


def _batches(items, size):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def encode_images(model, preprocess, images, batch_size=256, device="cpu"):
    import torch

    feats = []
    with torch.no_grad():
        for chunk in _batches(images, batch_size):
            x = torch.stack([preprocess(im) for im in chunk]).to(device)
            f = model.encode_image(x).float()
            feats.append(torch.nn.functional.normalize(f, dim=-1).cpu())
    return torch.cat(feats).numpy()


def encode_texts(model, tokenizer, texts, batch_size=512, device="cpu"):
    import torch

    feats = []
    with torch.no_grad():
        for chunk in _batches(list(texts), batch_size):
            f = model.encode_text(tokenizer(chunk).to(device)).float()
            feats.append(torch.nn.functional.normalize(f, dim=-1).cpu())
    return torch.cat(feats).numpy()


def classifier(model, tokenizer, classnames, templates, device="cpu") -> np.ndarray:
    """(classes, dim) zero-shot weights: normalised mean of normalised template embeddings."""
    weights = []
    for name in classnames:
        e = encode_texts(model, tokenizer, [t.format(name) for t in templates], device=device).mean(0)
        weights.append(e / np.linalg.norm(e))
    return np.stack(weights)


def accuracy_from_logits(logits: np.ndarray, labels: np.ndarray) -> dict:
    """top-1, top-5 (when >= 5 classes) and mean per-class recall."""
    top = np.argsort(-logits, axis=1, kind="stable")
    out = {"top1": float((top[:, 0] == labels).mean()), "n": int(len(labels))}
    if logits.shape[1] >= 5:
        out["top5"] = float((top[:, :5] == labels[:, None]).any(1).mean())
    recalls = [float((top[labels == c, 0] == c).mean()) for c in np.unique(labels)]
    out["mean_per_class_recall"] = float(np.mean(recalls))
    return out


def zero_shot(model, tokenizer, preprocess, dataset, templates, device="cpu") -> dict:
    model.eval()
    weights = classifier(model, tokenizer, dataset.classnames, templates, device)
    feats = encode_images(model, preprocess, dataset.images, device=device)
    return accuracy_from_logits(feats @ weights.T, dataset.labels)


def recall_at(sim: np.ndarray, ks=(1, 5, 10)) -> dict:
    """sim[i, j]: query i vs candidate j; candidate i is query i's match."""
    own = sim[np.arange(len(sim)), np.arange(len(sim))]
    rank = (sim > own[:, None]).sum(1)  # ties count in the query's favour
    return {f"R@{k}": float((rank < k).mean()) for k in ks}


def retrieval(model, tokenizer, preprocess, dataset, device="cpu") -> dict:
    model.eval()
    img = encode_images(model, preprocess, dataset.images, device=device)
    txt = encode_texts(model, tokenizer, dataset.texts, device=device)
    sim = img @ txt.T
    i2t, t2i = recall_at(sim), recall_at(sim.T)
    out = {f"image_to_text_{k}": v for k, v in i2t.items()}
    out.update({f"text_to_image_{k}": v for k, v in t2i.items()})
    out["n"] = len(dataset.texts)
    return out


def load_dataset(spec: str, limit: int | None):
    """'fashion-mnist', 'fashion-mnist-train', 'mnist', 'folder:<path>' → (set, templates)."""
    from curate.io import labelled

    if spec in ("fashion-mnist", "fashion-mnist-test"):
        return labelled.fashion_mnist("test", limit), TEMPLATES["default"]
    if spec == "fashion-mnist-train":
        return labelled.fashion_mnist("train", limit), TEMPLATES["default"]
    if spec in ("mnist", "mnist-digits"):
        return labelled.mnist_digits(limit), TEMPLATES["digits"]
    if spec.startswith("folder:"):
        return labelled.image_folder(spec[len("folder:") :], limit), TEMPLATES["default"]
    raise ValueError(f"unknown dataset {spec!r}: fashion-mnist, fashion-mnist-train, mnist or folder:<path>")


def load_retrieval(spec: str, limit: int | None):
    from curate.io import labelled

    if spec.startswith("emoji"):
        vendor = spec.split(":", 1)[1] if ":" in spec else "google"
        return labelled.emoji_retrieval(vendor, limit)
    raise ValueError(f"unknown retrieval set {spec!r}: emoji[:google|twitter]")


def evaluate(model_name, pretrained, datasets=("fashion-mnist",), retrieval_sets=("emoji:google",),
             limit=None, retrieval_limit=None, device="cpu", loaded=None) -> dict:
    """All requested evaluations of one model; `loaded` caches datasets across calls."""
    from curate.validate import models

    model, _, preprocess, tokenizer = models.create(model_name, pretrained, device=device)
    loaded = {} if loaded is None else loaded
    results = {"model": model_name, "pretrained": pretrained, "zero_shot": {}, "retrieval": {}}
    for spec in datasets:
        if ("zs", spec) not in loaded:
            loaded[("zs", spec)] = load_dataset(spec, limit)
        ds, templates = loaded[("zs", spec)]
        results["zero_shot"][spec] = zero_shot(model, tokenizer, preprocess, ds, templates, device)
    for spec in retrieval_sets:
        if ("rt", spec) not in loaded:
            loaded[("rt", spec)] = load_retrieval(spec, retrieval_limit)
        results["retrieval"][spec] = retrieval(model, tokenizer, preprocess, loaded[("rt", spec)], device)
    return results
