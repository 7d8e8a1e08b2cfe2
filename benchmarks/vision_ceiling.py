"""How far the tiny default's image encoder gets at telling the category when trained on the label itself.

    python benchmarks/vision_ceiling.py           # 3,040 rows, seed 0, 40 epochs (~3 min on 2 cores)
    python benchmarks/vision_ceiling.py --data DIR --epochs 20

The tiny default learns its image encoder from scratch through the answer's loss. This script takes the same
encoder (the tiny preset with the default's sizes, freshly initialised, the global 112-pixel view the decoder
reads, the image tokens it gives the decoder) and trains it directly on `category3_code` with a linear head on
those tokens in their layout, as the warm-up's head reads them (cross-entropy, AdamW, one-cycle schedule,
the finetune's mirror and shift augmentation). Its validation and test accuracy bound what the encoder can be
expected to give the decoder with this much data and training time: a ceiling of the model's data
efficiency, not of the generator (the category is a function of the rendered silhouette, so the oracle's
accuracy is 1.0).

Prints the accuracy every 5 epochs and the wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.train_default import ensure_dataset  # noqa: E402
from contracts.dataset.reader import IMAGE_PATH, load_image, read_dataset  # noqa: E402
from finetune.encoder_warmup import augment_views, head_features, head_width, trained_parameters  # noqa: E402
from finetune.presets import load_model  # noqa: E402
from finetune.setup import TINY_DEFAULT_OVERRIDES  # noqa: E402


def global_views(processor, paths) -> torch.Tensor:
    """(n, 3, c, c) normalised global views, as the finetune feeds them."""
    return torch.stack([processor.image_processor([load_image(p)])["pixel_values"][0, 0] for p in paths])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="DATASET dir [default: synthesize --rows/--seed under --work]")
    ap.add_argument("--work", default="bench_vision_ceiling", help="where the dataset is synthesized")
    ap.add_argument("--rows", type=int, default=3040)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shift", type=float, default=0.14, help="augmentation: fraction of the side; 0: none")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads; 0: torch's default")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = Path(args.data) if args.data else Path(args.work) / "data"
    if not args.data:
        ensure_dataset(data, args.rows, args.seed)
    splits = read_dataset(data, splits=["train", "validation", "test"])
    model, processor = load_model(
        "tiny", dtype=torch.float32, seed=args.seed, overrides=TINY_DEFAULT_OVERRIDES
    )
    encoder = model.model.vision_embed_tokens
    del model.model.layers, model.lm_head  # only the image encoder is trained

    start = time.perf_counter()
    views = {name: global_views(processor, frame[IMAGE_PATH]) for name, frame in splits.items()}
    classes = sorted(set(splits["train"]["category3_code"].astype(str)))
    index = {c: i for i, c in enumerate(classes)}
    labels = {
        name: torch.tensor([index.get(c, -1) for c in frame["category3_code"].astype(str)])
        for name, frame in splits.items()
    }
    print(
        f"{len(views['train'])} training images, {len(classes)} categories; encoded in "
        f"{time.perf_counter() - start:.0f} s"
    )

    head = nn.Linear(head_width(encoder), len(classes))
    params = trained_parameters(encoder) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    steps_per_epoch = len(views["train"]) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, args.lr, total_steps=args.epochs * steps_per_epoch
    )
    gen = torch.Generator().manual_seed(args.seed)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return head(head_features(encoder, x))

    def accuracy(name: str) -> float:
        encoder.eval()
        with torch.no_grad():
            return float((logits(views[name]).argmax(1) == labels[name]).float().mean())

    start = time.perf_counter()
    history = []
    for epoch in range(1, args.epochs + 1):
        encoder.train()
        order = torch.randperm(len(views["train"]), generator=gen)
        for k in range(steps_per_epoch):
            batch = order[k * args.batch_size : (k + 1) * args.batch_size]
            x = augment_views(views["train"][batch], gen, args.shift)
            loss = nn.functional.cross_entropy(logits(x), labels["train"][batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch % 5 == 0 or epoch == args.epochs:
            row = {
                "epoch": epoch,
                "train_loss": loss.item(),
                "validation": accuracy("validation"),
                "test": accuracy("test"),
                "seconds": time.perf_counter() - start,
            }
            history.append(row)
            print(
                f"epoch {epoch:3d}  train loss {row['train_loss']:.3f}  validation accuracy "
                f"{row['validation']:.3f}  test accuracy {row['test']:.3f}  {row['seconds']:.0f} s",
                flush=True,
            )
    majority = float((labels["test"] == torch.bincount(labels["train"]).argmax()).float().mean())
    figures = {
        "classes": len(classes),
        "history": history,
        "test_accuracy": history[-1]["test"],
        "majority_test_accuracy": majority,
        "threads": torch.get_num_threads(),
    }
    print(
        f"test: category accuracy {figures['test_accuracy']:.3f} (majority class {majority:.3f}); "
        f"{args.epochs} epochs in {history[-1]['seconds']:.0f} s, {figures['threads']} threads"
    )
    return figures


if __name__ == "__main__":
    main()
