"""`curate eval`: zero-shot classification and retrieval of an open_clip model, as JSON."""

from __future__ import annotations

HELP = "evaluate a CLIP: zero-shot classification (Fashion-MNIST, MNIST, image folders) and retrieval (emoji)"
DESCRIPTION = """Zero-shot classification with class names and prompt templates, and image<->text retrieval
(R@1/5/10), on locally installed sets:
  --dataset fashion-mnist | fashion-mnist-train | mnist | folder:<root with one folder per class>
  --retrieval emoji:google | emoji:twitter   (64 px renders vs their CLDR names)
Example:
  curate eval --model curate-tiny-vit --pretrained out/train/model.pt --dataset fashion-mnist \\
      --retrieval emoji:google --output out/eval.json"""


def add_arguments(parser) -> None:
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model name (default: ViT-B-32)")
    parser.add_argument("--pretrained", default=None, help="checkpoint path (curate train's model.pt) or open_clip pretrained tag")
    parser.add_argument("--dataset", action="append", default=None, help="zero-shot set (repeatable; default: fashion-mnist)")
    parser.add_argument("--retrieval", action="append", default=None, help="retrieval set (repeatable; default: none)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per zero-shot set (class-balanced)")
    parser.add_argument("--retrieval-limit", type=int, default=None, help="at most this many pairs per retrieval set")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--output", default=None, help="write the results JSON here (default: print only)")


def main(args, beam_args) -> int:
    import json

    import torch

    from curate.config import check_named_path
    from curate.io import shards
    from curate.validate.evaluate import evaluate

    check_named_path(args.model, "--model")
    check_named_path(args.pretrained, "--pretrained")

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    results = evaluate(
        args.model,
        args.pretrained,
        datasets=tuple(args.dataset or ["fashion-mnist"]),
        retrieval_sets=tuple(args.retrieval or []),
        limit=args.limit,
        retrieval_limit=args.retrieval_limit,
        device=device,
    )
    text = json.dumps(results, indent=2, sort_keys=True)
    if args.output:
        shards.write_bytes(args.output, (text + "\n").encode())
    print(text)
    return 0
