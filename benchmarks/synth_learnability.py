"""Can the cues be read? A small CNN trained from scratch on CPU predicts each latent attribute from images.

    python benchmarks/synth_learnability.py DATA_DIR [--px 64] [--epochs 10] [--threads 2]

DATA_DIR is a `datagen synth` dataset. The CNN trains on the train split and reports, on validation + test,
the accuracy of each attribute the title is built from (silhouette, size, line, pattern, material, colour,
trim, detail), of category3, and the median absolute percentage error of a log-price head. It is a probe of
the renderer, not the product's model: attributes it reads poorly are the ones whose visual cue is too weak.

It also answers as the product's model must: the title is assembled from the predicted attributes and
taxonomy entry by the generator's own title builder (``datagen.titles.build_title``), the category is the
predicted entry's, and both are scored with the evaluation's metrics (category accuracy, mean rapidfuzz
``token_sort_ratio``). With ``--px 112`` (the tiny default's view) and no time limit this is a reference for
how far an image model trained on the same images gets, beside the oracle's ceiling
(``datagen.oracle.oracle_ceiling``), which knows the attributes.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from contracts.dataset.reader import IMAGE_PATH, load_image, read_dataset, read_latents
from datagen.oracle import dataset_profile, oracle_ceiling
from datagen.titles import build_title

HEADS = (
    "category3_code",
    "silhouette",
    "size",
    "line",
    "pattern",
    "material",
    "colour",
    "trim",
    "detail",
    "entry",
)
TITLE_PARTS = ("size", "line", "pattern", "material", "colour", "trim", "detail")


def _tensors(frame, latents, px: int):
    images = np.stack([np.asarray(load_image(p).resize((px, px))) for p in frame[IMAGE_PATH]])
    rows = latents.loc[frame["product_code"].to_numpy()]
    x = torch.tensor(images).permute(0, 3, 1, 2).float() / 255
    return x, rows, np.log(frame["full_price"].to_numpy()), frame


class ProbeNet(nn.Module):
    """Four conv blocks, a small dense layer, one linear head per attribute plus a price head."""

    def __init__(self, classes: dict[str, int]) -> None:
        super().__init__()

        def block(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(
            block(3, 32), block(32, 64), block(64, 96), block(96, 128), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
            nn.Linear(128 * 9, 256), nn.ReLU(), nn.Dropout(0.2),
        )  # fmt: skip
        self.heads = nn.ModuleDict({h: nn.Linear(256, n) for h, n in classes.items()})
        self.price = nn.Linear(256, 1)

    def forward(self, x):
        z = self.features(x)
        return {h: m(z) for h, m in self.heads.items()}, self.price(z).squeeze(-1)


def _answers(out: dict, vocab: dict, frame, profile) -> dict:
    """Category accuracy and mean title score of the answers the predicted attributes make."""
    from rapidfuzz.fuzz import token_sort_ratio

    picks = {h: [vocab[h][i] for i in out[h].argmax(1).tolist()] for h in ("entry", *TITLE_PARTS)}
    hits, scores = [], []
    for i, (title, category) in enumerate(zip(frame["title"], frame["category3_code"], strict=True)):
        entry = profile.taxonomy[int(picks["entry"][i])]
        predicted = build_title({h: picks[h][i] for h in TITLE_PARTS}, entry, profile)
        hits.append(entry.category3 == category)
        scores.append(token_sort_ratio(predicted, title))
    return {"answer_category_accuracy": float(np.mean(hits)), "answer_title_score": float(np.mean(scores))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir")
    parser.add_argument("--px", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    frames = read_dataset(args.data_dir)
    latents = read_latents(args.data_dir).set_index("product_code")
    xtr, ltr, ptr, _ = _tensors(frames["train"], latents, args.px)
    evals = [_tensors(frames[s], latents, args.px) for s in ("validation", "test") if s in frames]
    xte = torch.cat([e[0] for e in evals])
    lte = pd.concat([e[1] for e in evals])
    pte = np.concatenate([e[2] for e in evals])
    fte = pd.concat([e[3] for e in evals])
    vocab = {h: sorted(set(ltr[h]) | set(lte[h])) for h in HEADS}
    ytr = {h: torch.tensor([vocab[h].index(v) for v in ltr[h]]) for h in HEADS}
    yte = {h: torch.tensor([vocab[h].index(v) for v in lte[h]]) for h in HEADS}
    mean, sd = ptr.mean(), ptr.std()
    ptr_t = torch.tensor((ptr - mean) / sd).float()

    net = ProbeNet({h: len(v) for h, v in vocab.items()})
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    steps = args.epochs * math.ceil(len(xtr) / 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    start = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            b = perm[i : i + 64]
            # light augmentation: horizontal shifts only, so scale (the size cue) is untouched
            xb = torch.roll(xtr[b], shifts=int(torch.randint(-2, 3, ()).item()), dims=3)
            out, price = net(xb)
            loss = sum(nn.functional.cross_entropy(out[h], ytr[h][b]) for h in HEADS)
            loss = loss + nn.functional.mse_loss(price, ptr_t[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(
            f"epoch {epoch + 1}/{args.epochs}  loss {loss.item():.3f}  {time.time() - start:.0f} s",
            flush=True,
        )

    net.eval()
    with torch.no_grad():
        out, price = net(xte)
    result = {f"{h}_accuracy": float((out[h].argmax(1) == yte[h]).float().mean()) for h in HEADS}
    predicted = np.exp(price.numpy() * sd + mean)
    result["price_median_ape_pct"] = float(np.median(np.abs(predicted - np.exp(pte)) / np.exp(pte)) * 100)
    result.update(_answers(out, vocab, fte, dataset_profile(args.data_dir)))
    result["train_seconds"] = time.time() - start
    result["eval_rows"] = len(xte)
    print(json.dumps({"probe": result, "oracle": oracle_ceiling(args.data_dir)}, indent=1))


if __name__ == "__main__":
    main()
